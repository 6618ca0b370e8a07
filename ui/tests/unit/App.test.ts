// The whole app against a scripted subscription: the page follows the view.
import { render, screen, waitFor } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../../src/App.svelte';
import { backend } from '../../src/lib/backend';
import type { SessionView } from '../../src/lib/bindings/SessionView';
import type { TimelineUpdate } from '../../src/lib/bindings/TimelineUpdate';
import {
  account,
  connectedAccount,
  entry,
  kickedAccount,
  PAIR_CODE,
  pairingShowing,
  sampleTimeline,
  sampleTimelines,
  timelineUpdate,
  view,
  viewWith,
} from '../fixtures/views.js';

vi.mock('../../src/lib/backend', () => import('./mock-backend'));
const mocked = vi.mocked(backend);

function start() {
  let push: (v: SessionView) => void = () => {};
  mocked.subscribe.mockImplementationOnce(async (onView) => {
    push = onView;
  });
  render(App);
  return { push: (v: SessionView) => push(v) };
}

describe('App', () => {
  it('subscribes once and shows a splash until the first view', async () => {
    const { push } = start();
    expect(mocked.subscribe).toHaveBeenCalledTimes(1);
    expect(screen.getByTestId('splash')).toBeInTheDocument();
    push(view());
    expect(await screen.findByTestId('login-page')).toBeInTheDocument();
    expect(screen.queryByTestId('sidebar')).toBeNull();
  });

  it('follows the view: login → home → diagnostics → kicked → login with the reason', async () => {
    const user = userEvent.setup();
    const { push } = start();
    const connected = connectedAccount();
    push(viewWith(account({ session: { status: 'connecting', netState: 'connecting' } })));
    expect(await screen.findByTestId('login-progress')).toHaveTextContent('Connecting…');

    push(viewWith(connected));
    expect(await screen.findByTestId('home-page')).toBeInTheDocument();
    expect(screen.getByTestId('sidebar')).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Connection log' }));
    expect(screen.getByTestId('diagnostics-page')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Back' }));
    expect(screen.getByTestId('home-page')).toBeInTheDocument();

    await user.click(screen.getByRole('button', { name: 'Connection log' }));
    push(viewWith(kickedAccount()));
    expect(await screen.findByTestId('login-page')).toBeInTheDocument();
    expect(screen.getByTestId('signed-out-title')).toHaveTextContent('Signed out by another of your devices');
  });

  it('switches and adds accounts from the sidebar', async () => {
    const user = userEvent.setup();
    const { push } = start();
    const alice = connectedAccount();
    const bob = connectedAccount(Date.now(), { account: 'bob' });
    push(view({ accounts: [alice, bob], active: alice.id }));
    await screen.findByTestId('home-page');
    await user.click(screen.getByTestId('switch-bob'));
    expect(mocked.switchAccount).toHaveBeenCalledWith(bob.id);
    await user.click(screen.getByRole('button', { name: 'Add account' }));
    expect(mocked.switchAccount).toHaveBeenCalledWith(null);
  });

  it('forgets an account only after confirming', async () => {
    const user = userEvent.setup();
    const { push } = start();
    const alice = connectedAccount();
    push(viewWith(alice));
    await screen.findByTestId('home-page');
    await user.click(screen.getByRole('button', { name: 'Forget alice' }));
    expect(mocked.forgetAccount).not.toHaveBeenCalled();
    await user.click(screen.getByRole('button', { name: 'Forget account' }));
    expect(mocked.forgetAccount).toHaveBeenCalledWith(alice.id);
  });

  it('subscribes to the timeline once at start and the connection log shows what it streams', async () => {
    const user = userEvent.setup();
    let pushTimeline: (u: TimelineUpdate) => void = () => {};
    mocked.subscribeTimeline.mockImplementationOnce(async (onUpdate) => {
      pushTimeline = onUpdate;
    });
    const { push } = start();
    expect(mocked.subscribeTimeline).toHaveBeenCalledTimes(1);
    const connected = connectedAccount();
    const shown = viewWith(connected);
    for (const update of sampleTimelines(shown)) pushTimeline(update);
    push(shown);
    await screen.findByTestId('home-page');
    await user.click(screen.getByRole('button', { name: 'Connection log' }));
    expect(screen.getAllByTestId('timeline-entry')).toHaveLength(sampleTimeline().length);
    expect(screen.getAllByTestId('timeline-text')[0]).toHaveTextContent('414');

    pushTimeline(timelineUpdate(connected.id, [entry({ type: 'retryNow' }, 'retry now')]));
    await waitFor(() => expect(screen.getAllByTestId('timeline-text')[0]).toHaveTextContent('You asked to retry now'));
    expect(screen.getAllByTestId('timeline-entry')).toHaveLength(sampleTimeline().length + 1);
    push(shown);
    expect(mocked.subscribeTimeline).toHaveBeenCalledTimes(1);
    expect(screen.queryByTestId('timeline-error')).toBeNull();
  });

  it('keeps working when the timeline subscription fails, and says so in the connection log', async () => {
    const user = userEvent.setup();
    mocked.subscribeTimeline.mockRejectedValueOnce('Command subscribe_timeline not allowed by ACL');
    const { push } = start();
    push(viewWith(connectedAccount()));
    expect(await screen.findByTestId('home-page')).toBeInTheDocument();
    await user.click(screen.getByRole('button', { name: 'Connection log' }));
    const error = await screen.findByTestId('timeline-error');
    expect(error).toHaveTextContent('The connection log is not available: Something went wrong inside Vestibule.');
    expect(error).not.toHaveTextContent('ACL');
  });

  it('says so when subscribing fails', async () => {
    mocked.subscribe.mockRejectedValueOnce('Command subscribe not allowed by ACL');
    render(App);
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Vestibule could not start: Something went wrong inside Vestibule.');
    expect(alert).not.toHaveTextContent('ACL');
  });

  it('Sign in with another device: the code shows until approval, then the new account connects and Home shows', async () => {
    const user = userEvent.setup();
    const { push } = start();
    push(view());
    await user.click(await screen.findByTestId('pair-start'));
    expect(mocked.startPairing).toHaveBeenCalledTimes(1);
    push(view({ pairing: pairingShowing() }));
    expect(await screen.findByTestId('pair-code')).toHaveTextContent(PAIR_CODE);

    // Approved: no more pairing, a new active account connecting with its own session.
    const opened = account({ remembered: false, session: { status: 'connecting', netState: 'connecting' } });
    push(viewWith(opened));
    expect(await screen.findByTestId('login-progress')).toHaveTextContent('Connecting…');
    expect(screen.queryByTestId('pairing')).toBeNull();
    push(viewWith(connectedAccount()));
    expect(await screen.findByTestId('home-page')).toBeInTheDocument();
  });
});
