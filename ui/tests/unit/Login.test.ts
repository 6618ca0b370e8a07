import { fireEvent, render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { backend } from '../../src/lib/backend';
import Login from '../../src/lib/components/Login.svelte';
import { clockTime, onDayAtTime } from '../../src/lib/format';
import {
  account,
  connectedAccount,
  disconnect,
  kickedAccount,
  revokedAccount,
  unknownSessionAccount,
  view,
  viewWith,
} from '../fixtures/views.js';

vi.mock('../../src/lib/backend', () => import('./mock-backend'));
const mocked = vi.mocked(backend);

describe('Login', () => {
  it('prefills from the defaults, leaves the token empty', () => {
    render(Login, { view: view({ defaults: { url: 'wss://a.example/v1/ws', appKey: 'k1', account: 'zoe' } }) });
    expect(screen.getByLabelText('Server')).toHaveValue('wss://a.example/v1/ws');
    expect(screen.getByLabelText('App key')).toHaveValue('k1');
    expect(screen.getByLabelText('Account')).toHaveValue('zoe');
    expect(screen.getByLabelText('Token')).toHaveValue('');
    expect(screen.getByLabelText('Token')).toHaveAttribute('type', 'password');
  });

  it('prefills from the signed-out active account', () => {
    const shown = account({ url: 'wss://b.example/v1/ws', appKey: 'k2', account: 'bob', session: { status: 'signedOut' } });
    render(Login, { view: viewWith(shown) });
    expect(screen.getByLabelText('Server')).toHaveValue('wss://b.example/v1/ws');
    expect(screen.getByLabelText('App key')).toHaveValue('k2');
    expect(screen.getByLabelText('Account')).toHaveValue('bob');
  });

  it('submits the form to backend.login', async () => {
    const user = userEvent.setup();
    render(Login, { view: view({ defaults: { url: '', appKey: '', account: '' } }) });
    await user.type(screen.getByLabelText('Server'), 'wss://chat.example.com/v1/ws');
    await user.type(screen.getByLabelText('App key'), 'acme');
    await user.type(screen.getByLabelText('Account'), 'alice');
    await user.type(screen.getByLabelText('Token'), 's3cret');
    await user.click(screen.getByRole('checkbox', { name: 'Remember me' }));
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(mocked.login).toHaveBeenCalledTimes(1);
    expect(mocked.login).toHaveBeenCalledWith({
      url: 'wss://chat.example.com/v1/ws',
      appKey: 'acme',
      account: 'alice',
      token: 's3cret',
      remember: true,
    });
  });

  it('does not call login with empty fields, and says which', async () => {
    const user = userEvent.setup();
    render(Login, { view: view() });
    await user.type(screen.getByLabelText('Account'), 'alice');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(mocked.login).not.toHaveBeenCalled();
    expect(screen.getByText('Enter your token.')).toBeInTheDocument();
    expect(screen.getByLabelText('Token')).toHaveAttribute('aria-invalid', 'true');
    expect(screen.getByLabelText('Token')).toHaveFocus();
  });

  it('shows a CommandError inline', async () => {
    const user = userEvent.setup();
    mocked.login.mockRejectedValueOnce({ code: 'invalidInput', message: 'token is required' });
    render(Login, { view: view() });
    await user.type(screen.getByLabelText('Account'), 'alice');
    await user.type(screen.getByLabelText('Token'), 'x');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(await screen.findByTestId('login-error')).toHaveTextContent('token is required');
  });

  it('disables remember-me and shows why when there is no keychain', async () => {
    const user = userEvent.setup();
    render(Login, {
      view: view({ keychain: { available: false, reason: 'No Secret Service is running.' } }),
    });
    const remember = screen.getByRole('checkbox', { name: 'Remember me' });
    expect(remember).toBeDisabled();
    expect(remember).not.toBeChecked();
    expect(screen.getByTestId('remember-reason')).toHaveTextContent('No Secret Service is running.');
    expect(remember).toHaveAccessibleDescription(/No Secret Service is running/);
    await user.type(screen.getByLabelText('Account'), 'alice');
    await user.type(screen.getByLabelText('Token'), 'x');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(mocked.login).toHaveBeenCalledWith(expect.objectContaining({ remember: false }));
  });

  it('enables remember-me when the keychain works', () => {
    render(Login, { view: view() });
    expect(screen.getByRole('checkbox', { name: 'Remember me' })).toBeEnabled();
    expect(screen.queryByTestId('remember-reason')).toBeNull();
  });

  it('shows why the account was signed out: device type, OS and IP', () => {
    render(Login, { view: viewWith(kickedAccount()) });
    const reason = screen.getByTestId('signed-out-reason');
    expect(within(reason).getByTestId('signed-out-title')).toHaveTextContent('Signed out by another of your devices');
    const by = within(reason).getByTestId('signed-out-detail');
    expect(by).toHaveTextContent('Android device');
    expect(by).toHaveTextContent('Android 14');
    expect(by).toHaveTextContent('198.51.100.7');
    expect(by).toHaveTextContent('2 min ago');
  });

  it('phrases an expired token as an expiry', () => {
    const expired = account({
      session: { status: 'needsToken', lastDisconnect: disconnect({ kind: 'kicked', reason: 'tokenExpired' }) },
    });
    render(Login, { view: viewWith(expired) });
    expect(screen.getByTestId('signed-out-title')).toHaveTextContent('Your session expired');
  });

  it('offers the demo and logs in to it', async () => {
    const user = userEvent.setup();
    render(Login, {
      view: view({ demo: { url: 'ws://127.0.0.1:40404/v1/ws', appKey: 'demo', suggestedAccounts: ['alice', 'bob'] } }),
    });
    const panel = screen.getByTestId('demo-panel');
    expect(within(panel).getByRole('heading', { name: 'Try the demo' })).toBeInTheDocument();
    await user.click(within(panel).getByRole('button', { name: 'Sign in to the demo as bob' }));
    expect(mocked.loginDemo).toHaveBeenCalledWith('bob');
  });

  it('offers to start the demo when it is not running', async () => {
    const user = userEvent.setup();
    render(Login, { view: view() });
    expect(screen.queryByTestId('demo-panel')).toBeNull();
    await user.click(screen.getByRole('button', { name: 'Start the demo' }));
    expect(mocked.startDemo).toHaveBeenCalledTimes(1);
  });

  it('shows "Connecting…" instead of the form while the first connection is under way', () => {
    render(Login, { view: viewWith(account({ session: { status: 'connecting', netState: 'connecting' } })) });
    expect(screen.getByTestId('login-progress')).toHaveTextContent('Connecting…');
    expect(screen.queryByTestId('login-form')).toBeNull();
  });

  it("shows can't-reach with a live countdown, Retry now and Cancel (= logout)", async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const now = Date.now();
    const shown = account({
      session: {
        status: 'reconnecting',
        netState: 'connecting',
        retry: { retryCount: 2, delayMs: 5000, nextRetryAt: now + 5000 },
        lastDisconnect: disconnect({ kind: 'lost', closeCode: null }, { message: 'connection refused' }),
      },
    });
    render(Login, { view: viewWith(shown) });
    const progress = screen.getByTestId('login-progress');
    expect(progress).toHaveTextContent("Can't reach the server");
    expect(screen.getByTestId('login-retry-text')).toHaveTextContent('Attempt 2, next try in 5s');
    expect(progress).toHaveTextContent('connection refused');
    await vi.advanceTimersByTimeAsync(2000);
    expect(screen.getByTestId('login-retry-text')).toHaveTextContent('Attempt 2, next try in 3s');
    await fireEvent.click(screen.getByRole('button', { name: 'Retry now' }));
    expect(mocked.retryNow).toHaveBeenCalledWith(shown.id);
    await fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    expect(mocked.logout).toHaveBeenCalledWith(shown.id);
  });

  it('says the others stay connected when adding an account', () => {
    render(Login, { view: view({ accounts: [connectedAccount()], active: null }) });
    expect(screen.getByText(/other accounts stay connected/)).toBeInTheDocument();
  });

  describe('a remembered session that had ended while the app was closed', () => {
    // Local times, so the text does not depend on the time zone.
    const endedAt = new Date(2025, 11, 1, 10, 2).getTime();
    const now = new Date(2025, 11, 3, 9, 0).getTime();

    function renderRevoked(shown: ReturnType<typeof account>) {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
      vi.setSystemTime(now);
      render(Login, { view: viewWith(shown) });
      return {
        title: screen.getByTestId('signed-out-title'),
        detail: screen.getByTestId('signed-out-detail'),
        reason: screen.getByTestId('signed-out-reason'),
      };
    }

    it('byDevice: which device, and when', () => {
      const { title, detail, reason } = renderRevoked(revokedAccount(now, { at: endedAt }));
      expect(title).toHaveTextContent('Signed out by another of your devices');
      expect(detail).toHaveTextContent(
        `Signed out by your iPhone (iOS 17.5, 203.0.113.24) ${onDayAtTime(endedAt, now)}. If that wasn't you, change your token.`,
      );
      expect(detail.textContent).toContain(` at ${clockTime(endedAt)}`);
      expect(detail).toHaveAttribute('data-kicked-by', 'phone-77aa');
      expect(reason).toHaveTextContent('Code 420');
      // The form is there to sign in again, prefilled.
      expect(screen.getByLabelText('Account')).toHaveValue('alice');
      expect(screen.getByLabelText('Token')).toHaveValue('');
    });

    it('admin', () => {
      const { title, detail } = renderRevoked(revokedAccount(now, { reason: 'admin', by: null, at: endedAt }));
      expect(title).toHaveTextContent('Signed out by the administrator');
      expect(detail).toHaveTextContent(`Signed out by the server administrator ${onDayAtTime(endedAt, now)}.`);
      expect(detail).not.toHaveAttribute('data-kicked-by');
    });

    it('idle', () => {
      const { title, detail } = renderRevoked(revokedAccount(now, { reason: 'idle', by: null, at: endedAt }));
      expect(title).toHaveTextContent('Signed out for inactivity');
      expect(detail).toHaveTextContent(
        `This device was signed out after a long time without use ${onDayAtTime(endedAt, now)}. Sign in again to continue.`,
      );
    });

    it('421: the server no longer knows this sign-in', () => {
      const { title, detail, reason } = renderRevoked(unknownSessionAccount(now));
      expect(title).toHaveTextContent('Sign in again');
      expect(detail).toHaveTextContent("The server no longer knows this device's sign-in (421)");
      expect(detail).toHaveTextContent('Sign in again to continue.');
      expect(reason).not.toHaveTextContent('expired');
    });
  });
});
