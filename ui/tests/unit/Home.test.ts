import { render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { backend } from '../../src/lib/backend';
import Home from '../../src/lib/components/Home.svelte';
import { clockTime } from '../../src/lib/format';
import {
  account,
  commandError,
  connectedAccount,
  loginInfo,
  pairRequester,
  reconnectingAccount,
  THIS_DEVICE,
} from '../fixtures/views.js';

vi.mock('../../src/lib/backend', () => import('./mock-backend'));
const mocked = vi.mocked(backend);

function renderHome(shown = connectedAccount()) {
  const onopendiagnostics = vi.fn();
  const result = render(Home, { account: shown, onopendiagnostics });
  return { ...result, onopendiagnostics, shown };
}

describe('Home banner', () => {
  it('says Connected when connected', () => {
    renderHome();
    const banner = screen.getByTestId('status-banner');
    expect(banner).toHaveAttribute('data-state', 'connected');
    expect(banner).toHaveTextContent('Connected');
    expect(within(banner).queryByRole('button', { name: 'Retry now' })).toBeNull();
  });

  it('counts down while reconnecting and retries on demand', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const shown = reconnectingAccount(Date.now(), { retryCount: 3, inMs: 8000 });
    renderHome(shown);
    const banner = screen.getByTestId('status-banner');
    expect(banner).toHaveAttribute('data-state', 'reconnecting');
    expect(screen.getByTestId('banner-headline')).toHaveTextContent('Connection lost — attempt 3, next try in 8s');
    await vi.advanceTimersByTimeAsync(3000);
    expect(screen.getByTestId('banner-headline')).toHaveTextContent('Connection lost — attempt 3, next try in 5s');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(screen.getByTestId('banner-headline')).toHaveTextContent('attempt 3, trying now…');
    within(banner).getByRole('button', { name: 'Retry now' }).click();
    expect(mocked.retryNow).toHaveBeenCalledWith(shown.id);
  });

  it('says No network when the network is down', () => {
    renderHome(reconnectingAccount(Date.now(), { offline: true }));
    expect(screen.getByTestId('status-banner')).toHaveAttribute('data-state', 'offline');
    expect(screen.getByTestId('banner-headline')).toHaveTextContent(/^No network/);
  });

  it('says Connecting… while connecting with a previous session', () => {
    renderHome(account({ session: { status: 'connecting', netState: 'connecting', login: loginInfo() } }));
    expect(screen.getByTestId('status-banner')).toHaveAttribute('data-state', 'connecting');
    expect(screen.getByTestId('banner-headline')).toHaveTextContent('Connecting…');
  });
});

describe('Home session and devices', () => {
  it('shows this session from the login info', () => {
    renderHome();
    const info = screen.getByTestId('session-info');
    expect(within(info).getByTestId('session-address')).toHaveTextContent('192.168.1.20:51234');
    expect(within(info).getByTestId('session-connection')).toHaveTextContent('c-desk-1');
    expect(within(info).getByTestId('session-last-device')).toHaveTextContent('phone-77aa');
    expect(within(info).getByTestId('session-custom-tag')).toHaveTextContent('desktop');
    expect(within(info).getByTestId('session-login-time')).toHaveTextContent('40 minutes ago');
  });

  it('lists the devices with this one first and marked', () => {
    renderHome();
    const rows = screen.getAllByTestId('device-row');
    expect(rows).toHaveLength(3);
    expect(rows[0]).toHaveAttribute('data-device-id', THIS_DEVICE);
    expect(within(rows[0]).getByTestId('this-device')).toHaveTextContent('This device');
    expect(within(rows[0]).queryByRole('button', { name: /Sign out/ })).toBeNull();
    expect(within(rows[1]).queryByTestId('this-device')).toBeNull();
    expect(rows[1]).toHaveTextContent('iPhone or iPad');
    expect(rows[1]).toHaveTextContent('iOS 17.5');
    expect(rows[1]).toHaveTextContent('203.0.113.24');
    expect(within(rows[1]).getByTestId('device-active')).toHaveTextContent('active now');
    expect(within(rows[1]).getByTestId('device-signed-in')).toHaveTextContent('signed in 3 days ago');
    expect(within(rows[2]).getByTestId('device-signed-in')).toHaveTextContent('signed in yesterday');
    expect(screen.queryByTestId('devices-offline')).toBeNull();
  });

  it('asks before kicking: cancel does nothing, confirm kicks that device', async () => {
    const user = userEvent.setup();
    const { shown } = renderHome();
    const kick = screen.getByTestId('kick-phone-77aa');
    await user.click(kick);
    const dialog = screen.getByRole('alertdialog');
    expect(dialog).toHaveTextContent('Sign out this iPhone or iPad?');
    expect(within(dialog).getByRole('button', { name: 'Cancel' })).toHaveFocus();
    await user.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(mocked.kick).not.toHaveBeenCalled();
    expect(kick).toHaveFocus();

    await user.click(kick);
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Sign out' }));
    expect(mocked.kick).toHaveBeenCalledTimes(1);
    expect(mocked.kick).toHaveBeenCalledWith(shown.id, ['phone-77aa']);
    expect(await screen.findByTestId('devices-feedback')).toHaveTextContent('Signed out iPhone or iPad');
    expect(screen.queryByRole('alertdialog')).toBeNull();
  });

  it('Esc cancels the confirmation and Tab stays inside it', async () => {
    const user = userEvent.setup();
    renderHome();
    await user.click(screen.getByTestId('kick-tab-31bc'));
    const dialog = screen.getByRole('alertdialog');
    await user.tab();
    expect(within(dialog).getByRole('button', { name: 'Sign out' })).toHaveFocus();
    await user.tab();
    expect(within(dialog).getByRole('button', { name: 'Cancel' })).toHaveFocus();
    await user.tab({ shift: true });
    expect(within(dialog).getByRole('button', { name: 'Sign out' })).toHaveFocus();
    await user.keyboard('{Escape}');
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(mocked.kick).not.toHaveBeenCalled();
  });

  it('signs out all other devices after confirming', async () => {
    const user = userEvent.setup();
    const { shown } = renderHome();
    await user.click(screen.getByRole('button', { name: 'Sign out all other devices' }));
    const dialog = screen.getByRole('alertdialog');
    expect(dialog).toHaveTextContent('Sign out 2 other devices?');
    expect(mocked.kickOthers).not.toHaveBeenCalled();
    await user.click(within(dialog).getByRole('button', { name: 'Sign out all' }));
    expect(mocked.kickOthers).toHaveBeenCalledWith(shown.id);
    expect(mocked.kick).not.toHaveBeenCalled();
    expect(await screen.findByTestId('devices-feedback')).toHaveTextContent('Signed out 2 other devices');
  });

  it('shows a failed kick', async () => {
    const user = userEvent.setup();
    mocked.kick.mockRejectedValueOnce(commandError('notConnected', { detail: 'the session is reconnecting' }));
    renderHome();
    await user.click(screen.getByTestId('kick-phone-77aa'));
    await user.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Sign out' }));
    expect(await screen.findByTestId('devices-feedback')).toHaveTextContent('Not connected right now');
  });

  it('disables kicking while not connected', () => {
    renderHome(reconnectingAccount());
    expect(screen.getByTestId('kick-phone-77aa')).toBeDisabled();
    expect(screen.getByRole('button', { name: 'Sign out all other devices' })).toBeDisabled();
  });

  it('logs out', async () => {
    const user = userEvent.setup();
    const { shown } = renderHome();
    await user.click(screen.getByRole('button', { name: 'Log out' }));
    expect(mocked.logout).toHaveBeenCalledWith(shown.id);
  });

  it('opens the connection log', async () => {
    const user = userEvent.setup();
    const { onopendiagnostics } = renderHome();
    await user.click(screen.getByRole('button', { name: 'Connection log' }));
    expect(onopendiagnostics).toHaveBeenCalledTimes(1);
  });
});

describe('Home demo tools', () => {
  it('are hidden for real accounts', () => {
    renderHome();
    expect(screen.queryByTestId('demo-tools')).toBeNull();
  });

  it('add a simulated device of the chosen type and sign this app out', async () => {
    const user = userEvent.setup();
    const shown = connectedAccount(Date.now(), { demo: true, demoDevices: ['sim-web-1'] });
    renderHome(shown);
    const tools = screen.getByTestId('demo-tools');
    expect(within(tools).getByTestId('demo-devices')).toHaveTextContent('sim-web-1');
    await user.selectOptions(within(tools).getByLabelText('Simulated device'), 'Android');
    await user.click(within(tools).getByRole('button', { name: 'Add device' }));
    expect(mocked.demoAddDevice).toHaveBeenCalledWith(shown.id, 'Android');
    await user.click(within(tools).getByRole('button', { name: 'Have another device sign me out' }));
    expect(mocked.demoKickMe).toHaveBeenCalledWith(shown.id);
  });
});

describe('Home: Link a new device', () => {
  async function openLink(shown = connectedAccount()) {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const user = userEvent.setup();
    const result = renderHome(shown);
    await user.click(screen.getByTestId('link-device'));
    const dialog = screen.getByTestId('link-dialog');
    const input = within(dialog).getByTestId('link-code-input');
    return { ...result, user, dialog, input };
  }

  it('looks the code up, shows who asked, approves it and says so', async () => {
    const { user, dialog, input, shown } = await openLink();
    const now = Date.now();
    const asked = pairRequester(now);
    mocked.lookupPair.mockResolvedValueOnce(asked);
    expect(dialog).toHaveAttribute('role', 'dialog');
    expect(within(dialog).getByRole('heading', { name: 'Link a new device' })).toBeInTheDocument();
    await waitFor(() => expect(input).toHaveFocus());
    expect(input).toHaveAttribute('placeholder', 'ABCD-EFGH');
    await user.type(input, 'abcd efgh');
    await user.click(within(dialog).getByTestId('link-lookup'));
    expect(mocked.lookupPair).toHaveBeenCalledWith(shown.id, 'abcd efgh');

    expect(within(dialog).getByRole('heading', { name: 'Is this you?' })).toBeInTheDocument();
    const requester = within(dialog).getByTestId('link-requester');
    expect(requester).toHaveTextContent('Mac');
    expect(requester).toHaveTextContent('macOS 14.5');
    expect(requester).toHaveTextContent('203.0.113.57');
    expect(requester).toHaveTextContent('vestibule-desktop 0.1.0');
    expect(requester).toHaveTextContent(`asked at ${clockTime(asked.requestedAt)} (12 seconds ago)`);
    expect(requester.querySelector('svg[data-type="Mac"]')).not.toBeNull();
    expect(dialog).toHaveTextContent(
      'Only approve a device that is yours and in front of you. Anyone you approve can use your account.',
    );
    // Cancel is the safe choice.
    expect(within(dialog).getByTestId('link-cancel')).toHaveFocus();
    expect(mocked.approvePair).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(3000);
    expect(requester).toHaveTextContent('(15 seconds ago)');

    await user.click(within(dialog).getByTestId('link-approve'));
    expect(mocked.approvePair).toHaveBeenCalledWith(shown.id, 'abcd efgh');
    expect(screen.queryByTestId('link-dialog')).toBeNull();
    expect(screen.getByTestId('link-done')).toHaveTextContent(
      'Signed in the new device. It appears in your devices as New.',
    );
    expect(screen.getByTestId('link-device')).toHaveFocus();
  });

  it('Enter in the field continues', async () => {
    const { user, input, shown } = await openLink();
    await user.type(input, 'ABCD-EFGH{Enter}');
    expect(mocked.lookupPair).toHaveBeenCalledWith(shown.id, 'ABCD-EFGH');
    expect(await screen.findByTestId('link-requester')).toBeInTheDocument();
  });

  it("shows the gateway's refusal; the code can be fixed and looked up again", async () => {
    const { user, dialog, input, shown } = await openLink();
    mocked.lookupPair.mockRejectedValueOnce(commandError('rejected', { serverCode: 404, detail: 'no such code' }));
    await user.type(input, 'ABCD-EFGJ');
    await user.click(within(dialog).getByTestId('link-lookup'));
    const error = within(dialog).getByTestId('link-error');
    const noSuchCode = 'There is no such code. Check it, or ask the new device for a new one.';
    expect(error).toHaveTextContent(noSuchCode);
    expect(error).toHaveAttribute('role', 'alert');
    expect(input).toHaveAttribute('aria-invalid', 'true');
    expect(input).toHaveAccessibleDescription(noSuchCode);
    expect(input).toHaveValue('ABCD-EFGJ');
    expect(input).toHaveFocus();
    expect(screen.queryByTestId('link-requester')).toBeNull();

    await user.clear(input);
    expect(within(dialog).queryByTestId('link-error')).toBeNull();
    await user.type(input, 'ABCD-EFGH');
    await user.click(within(dialog).getByTestId('link-lookup'));
    expect(mocked.lookupPair).toHaveBeenLastCalledWith(shown.id, 'ABCD-EFGH');
    expect(within(dialog).getByTestId('link-requester')).toBeInTheDocument();
  });

  it('a refused approval goes back to the code, said from its result code', async () => {
    const { user, dialog, input } = await openLink();
    mocked.approvePair.mockRejectedValueOnce(commandError('rejected', { serverCode: 410 }));
    await user.type(input, 'ABCD-EFGH');
    await user.click(within(dialog).getByTestId('link-lookup'));
    await user.click(within(dialog).getByTestId('link-approve'));
    expect(screen.getByTestId('link-dialog')).toBeInTheDocument();
    expect(within(dialog).getByTestId('link-error')).toHaveTextContent('This code has expired; ask for a new one.');
    expect(within(dialog).getByTestId('link-code-input')).toHaveValue('ABCD-EFGH');
    expect(screen.queryByTestId('link-done')).toBeNull();
  });

  it('checks the length of the code before asking', async () => {
    const { user, dialog, input } = await openLink();
    await user.click(within(dialog).getByTestId('link-lookup'));
    expect(within(dialog).getByTestId('link-error')).toHaveTextContent('Enter the code the new device shows.');
    await user.type(input, 'ABC-DEF');
    await user.click(within(dialog).getByTestId('link-lookup'));
    expect(within(dialog).getByTestId('link-error')).toHaveTextContent('A code has 8 letters and digits, like ABCD-EFGH.');
    expect(mocked.lookupPair).not.toHaveBeenCalled();
  });

  it('Esc and Cancel close it; nothing is approved', async () => {
    const { user, dialog, input } = await openLink();
    await user.type(input, 'ABCD-EFGH');
    await user.keyboard('{Escape}');
    expect(screen.queryByTestId('link-dialog')).toBeNull();
    expect(screen.getByTestId('link-device')).toHaveFocus();

    await user.click(screen.getByTestId('link-device'));
    expect(screen.getByTestId('link-code-input')).toHaveValue('');
    await user.type(screen.getByTestId('link-code-input'), 'ABCD-EFGH');
    await user.click(within(screen.getByTestId('link-dialog')).getByTestId('link-lookup'));
    await user.keyboard('{Escape}');
    expect(screen.queryByTestId('link-dialog')).toBeNull();
    expect(dialog).not.toBeInTheDocument();

    await user.click(screen.getByTestId('link-device'));
    await user.click(screen.getByTestId('link-cancel'));
    expect(screen.queryByTestId('link-dialog')).toBeNull();
    expect(mocked.approvePair).not.toHaveBeenCalled();
    expect(screen.queryByTestId('link-done')).toBeNull();
  });

  it('is disabled while not connected', () => {
    renderHome(reconnectingAccount());
    const link = screen.getByTestId('link-device');
    expect(link).toBeDisabled();
    expect(link).toHaveAccessibleName('Link a new device');
    expect(link).toHaveAttribute('title', 'Available once connected');
  });
});
