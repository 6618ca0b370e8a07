import { fireEvent, render, screen, waitFor, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { backend } from '../../src/lib/backend';
import Login from '../../src/lib/components/Login.svelte';
import { clockTime, onDayAtTime } from '../../src/lib/format';
import {
  account,
  commandError,
  connectedAccount,
  disconnect,
  kickedAccount,
  PAIR_CODE,
  PAIR_CODE_RENEWED,
  pairing,
  pairingShowing,
  revokedAccount,
  unknownSessionAccount,
  view,
  viewWith,
} from '../fixtures/views.js';

vi.mock('../../src/lib/backend', () => import('./mock-backend'));
const mocked = vi.mocked(backend);

describe('Login', () => {
  it('prefills from the defaults, leaves the token empty', () => {
    render(Login, { view: view({ defaults: { url: 'wss://a.example/v1/ws', appKey: 'k1', account: 'zoe', fromLink: 0 } }) });
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
    render(Login, { view: view({ defaults: { url: '', appKey: '', account: '', fromLink: 0 } }) });
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

  it('takes a proxy for this server in Advanced, and checks it', async () => {
    const user = userEvent.setup();
    render(Login, { view: view({ defaults: { url: 'wss://chat.example.com/v1/ws', appKey: 'acme', account: 'alice', fromLink: 0 } }) });
    const advanced = screen.getByTestId('login-advanced');
    await user.click(within(advanced).getByText('Advanced'));
    expect(screen.getByRole('radio', { name: "Use the system's proxy settings" })).toBeChecked();
    await user.click(screen.getByRole('radio', { name: 'Through this proxy' }));
    await user.type(screen.getByLabelText('Proxy address'), 'ftp://proxy.example');
    await user.type(screen.getByLabelText('Token'), 's3cret');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(mocked.login).not.toHaveBeenCalled();
    expect(screen.getByText('The proxy address starts with http:// or socks5://.')).toBeInTheDocument();
    await user.clear(screen.getByLabelText('Proxy address'));
    await user.type(screen.getByLabelText('Proxy address'), 'socks5://me:pw@proxy.example:1080');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(mocked.login).toHaveBeenCalledWith(expect.objectContaining({ proxy: 'socks5://me:pw@proxy.example:1080' }));
    mocked.login.mockClear();
    await user.click(screen.getByRole('radio', { name: 'No proxy' }));
    await user.type(screen.getByLabelText('Token'), 's3cret');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(mocked.login).toHaveBeenCalledWith(expect.objectContaining({ proxy: 'direct' }));
  });

  it("opens Advanced with the account's own proxy", () => {
    const shown = account({ proxy: 'http://me@proxy.example:3128', session: { status: 'signedOut' } });
    render(Login, { view: viewWith(shown) });
    expect(screen.getByRole('radio', { name: 'Through this proxy' })).toBeChecked();
    expect(screen.getByLabelText('Proxy address')).toHaveValue('http://me@proxy.example:3128');
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

  it('shows a CommandError inline, said from its code and field, never its detail', async () => {
    const user = userEvent.setup();
    mocked.login.mockRejectedValueOnce(commandError('invalidInput', { field: 'server', detail: 'relative URL without a base' }));
    render(Login, { view: view() });
    await user.type(screen.getByLabelText('Account'), 'alice');
    await user.type(screen.getByLabelText('Token'), 'x');
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    const error = await screen.findByTestId('login-error');
    expect(error).toHaveTextContent('The server address is not valid.');
    expect(error).not.toHaveTextContent('relative URL');
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
    expect(by).toHaveTextContent('2 minutes ago');
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

describe('Login: Sign in with another device', () => {
  it("starts with the form's server, app key and Remember me; no account or token needed", async () => {
    const user = userEvent.setup();
    render(Login, { view: view({ defaults: { url: 'wss://a.example/v1/ws', appKey: 'k1', account: '', fromLink: 0 } }) });
    await user.click(screen.getByRole('checkbox', { name: 'Remember me' }));
    const start = screen.getByTestId('pair-start');
    expect(start).toHaveAccessibleName('Sign in with another device');
    expect(start).toBeEnabled();
    await user.click(start);
    expect(mocked.startPairing).toHaveBeenCalledTimes(1);
    expect(mocked.startPairing).toHaveBeenCalledWith({ url: 'wss://a.example/v1/ws', appKey: 'k1', remember: true });
    expect(mocked.login).not.toHaveBeenCalled();
    expect(screen.queryByText('Enter your token.')).toBeNull();
  });

  it('sends Remember me off when there is no keychain', async () => {
    const user = userEvent.setup();
    render(Login, { view: view({ keychain: { available: false, reason: 'No Secret Service is running.' } }) });
    await user.click(screen.getByTestId('pair-start'));
    expect(mocked.startPairing).toHaveBeenCalledWith(expect.objectContaining({ remember: false }));
  });

  it('is disabled, and says why, while the server or the app key is empty', async () => {
    const user = userEvent.setup();
    render(Login, { view: view({ defaults: { url: 'wss://a.example/v1/ws', appKey: '', account: '', fromLink: 0 } }) });
    const start = screen.getByTestId('pair-start');
    expect(start).toBeDisabled();
    expect(start).toHaveAccessibleDescription(/Enter the server and app key/);
    await user.type(screen.getByLabelText('App key'), 'k1');
    expect(start).toBeEnabled();
    expect(start).toHaveAccessibleDescription(/No token needed/);
    await user.clear(screen.getByLabelText('Server'));
    expect(start).toBeDisabled();
    expect(mocked.startPairing).not.toHaveBeenCalled();
  });

  it('checks the server address first', async () => {
    const user = userEvent.setup();
    render(Login, { view: view({ defaults: { url: 'chat.example.com', appKey: 'k1', account: '', fromLink: 0 } }) });
    await user.click(screen.getByTestId('pair-start'));
    expect(mocked.startPairing).not.toHaveBeenCalled();
    expect(screen.getByText('The address starts with ws:// or wss://.')).toBeInTheDocument();
    expect(screen.getByLabelText('Server')).toHaveFocus();
  });

  it('shows a refused start under the button', async () => {
    const user = userEvent.setup();
    mocked.startPairing.mockRejectedValueOnce(commandError('required', { field: 'appKey', detail: 'appKey is required' }));
    render(Login, { view: view() });
    await user.click(screen.getByTestId('pair-start'));
    expect(await screen.findByTestId('pair-start-error')).toHaveTextContent('Enter the app key.');
    expect(screen.getByTestId('pair-start')).toBeEnabled();
  });

  it('shows "Getting a code…", then the code, its QR code and a live countdown in place of the form; Cancel stops it', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    const user = userEvent.setup();
    const now = Date.now();
    const first = view({ demo: { url: 'ws://127.0.0.1:40404/v1/ws', appKey: 'demo', suggestedAccounts: ['alice'] } });
    const { rerender } = render(Login, { view: first });
    await user.click(screen.getByTestId('pair-start'));

    await rerender({ view: { ...first, pairing: pairing({ kind: 'asking' }) } });
    const panel = screen.getByTestId('pairing');
    expect(screen.queryByTestId('login-form')).toBeNull();
    expect(screen.queryByTestId('demo-panel')).toBeNull();
    expect(within(panel).getByRole('heading', { name: 'Sign in with another device' })).toBeInTheDocument();
    expect(within(panel).getByRole('status')).toHaveTextContent('Getting a code…');
    expect(screen.queryByTestId('pair-code')).toBeNull();

    await rerender({ view: { ...first, pairing: pairingShowing(now) } });
    expect(screen.getByTestId('pair-code').textContent).toBe(PAIR_CODE);
    const qr = screen.getByTestId('pair-qr');
    expect(qr).toHaveAttribute('role', 'img');
    expect(qr.querySelector('svg path')).not.toBeNull();
    expect(qr.innerHTML).not.toContain('<?xml');
    expect(screen.getByTestId('pair-valid')).toHaveTextContent('Valid for 1:42');
    const waiting = screen.getByTestId('pair-waiting');
    expect(waiting).toHaveTextContent('Waiting for approval…');
    expect(waiting).toHaveAttribute('role', 'status');
    expect(panel).toHaveTextContent(
      `On a device that is already signed in, open Vestibule → Link a new device, and enter this code. Or run vestibule-cli approve ${PAIR_CODE}.`,
    );
    await vi.advanceTimersByTimeAsync(2000);
    expect(screen.getByTestId('pair-valid')).toHaveTextContent('Valid for 1:40');

    // A new code replaces the old one before it expires.
    await rerender({ view: { ...first, pairing: pairingShowing(Date.now(), { code: PAIR_CODE_RENEWED, validMs: 120_000 }) } });
    expect(screen.getByTestId('pair-code').textContent).toBe(PAIR_CODE_RENEWED);
    expect(screen.getByTestId('pair-valid')).toHaveTextContent('Valid for 2:00');
    expect(screen.getByTestId('pairing')).toHaveTextContent(`vestibule-cli approve ${PAIR_CODE_RENEWED}`);

    await user.click(screen.getByTestId('pair-cancel'));
    expect(mocked.cancelPairing).toHaveBeenCalledTimes(1);
    await rerender({ view: first });
    expect(screen.queryByTestId('pairing')).toBeNull();
    expect(screen.getByTestId('login-form')).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId('pair-start')).toHaveFocus());
  });

  it('failed: says why; Try again asks again with the same server, app and Remember me', async () => {
    const user = userEvent.setup();
    const failed = pairing(
      { kind: 'failed', error: commandError('rejected', { serverCode: 408, detail: 'pairing request timed out' }) },
      { url: 'wss://b.example/v1/ws', appKey: 'k2', remember: true },
    );
    render(Login, { view: view({ pairing: failed }) });
    expect(screen.getByTestId('pair-error')).toHaveTextContent('The server did not answer in time. Try again.');
    expect(screen.getByTestId('pair-error')).not.toHaveTextContent('timed out');
    expect(screen.queryByTestId('pair-code')).toBeNull();
    await user.click(screen.getByTestId('pair-retry'));
    expect(mocked.startPairing).toHaveBeenCalledWith({ url: 'wss://b.example/v1/ws', appKey: 'k2', remember: true });
    await user.click(screen.getByTestId('pair-cancel'));
    expect(mocked.cancelPairing).toHaveBeenCalledTimes(1);
  });

  it('gives way to the progress of the account it opened', () => {
    const opened = account({ session: { status: 'connecting', netState: 'connecting' } });
    render(Login, { view: viewWith(opened, { pairing: pairingShowing() }) });
    expect(screen.getByTestId('login-progress')).toHaveTextContent('Connecting…');
    expect(screen.queryByTestId('pairing')).toBeNull();
  });
});
