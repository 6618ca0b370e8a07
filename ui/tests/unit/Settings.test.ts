// Settings: every control says what it changes and changes it through the
// backend; the update states are said as sentences; the theme lands on the document.
import { render, screen, waitFor } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import App from '../../src/App.svelte';
import { backend } from '../../src/lib/backend';
import type { SessionView } from '../../src/lib/bindings/SessionView';
import Settings from '../../src/lib/components/Settings.svelte';
import { applyTheme } from '../../src/lib/theme';
import { connectedAccount, settings, view, viewWith } from '../fixtures/views.js';

vi.mock('../../src/lib/backend', () => import('./mock-backend'));
const mocked = vi.mocked(backend);

function renderSettings(shown: SessionView = view()) {
  const onback = vi.fn();
  const result = render(Settings, { view: shown, onback });
  return { ...result, onback };
}

describe('Settings', () => {
  it('changes the language, the theme, the close action and the notifications through the backend', async () => {
    const user = userEvent.setup();
    renderSettings();
    await user.selectOptions(screen.getByLabelText('Language'), '简体中文');
    expect(mocked.updateSettings).toHaveBeenLastCalledWith({ language: 'zh-CN' });
    await user.selectOptions(screen.getByLabelText('Theme'), 'Dark');
    expect(mocked.updateSettings).toHaveBeenLastCalledWith({ theme: 'dark' });
    await user.click(screen.getByLabelText('Quits Vestibule'));
    expect(mocked.updateSettings).toHaveBeenLastCalledWith({ closeAction: 'quit' });
    await user.click(screen.getByLabelText('When an account is signed out'));
    expect(mocked.updateSettings).toHaveBeenLastCalledWith({ notifySignedOut: false });
    await user.click(screen.getByLabelText('When a new device signs in to an account'));
    expect(mocked.updateSettings).toHaveBeenLastCalledWith({ notifyNewSignIn: false });
    await user.click(screen.getByLabelText('Check for updates once a day'));
    expect(mocked.updateSettings).toHaveBeenLastCalledWith({ checkUpdates: true });
  });

  it('shows the saved settings, not defaults', () => {
    renderSettings(view({ settings: settings({ language: 'zh-CN', theme: 'light', closeAction: 'quit' }) }));
    expect(screen.getByLabelText('Language')).toHaveValue('zh-CN');
    expect(screen.getByLabelText('Theme')).toHaveValue('light');
    expect(screen.getByLabelText('Quits Vestibule')).toBeChecked();
    expect(screen.getByLabelText('Keeps Vestibule running in the tray')).not.toBeChecked();
  });

  it('starts at login when asked, and shows what the system says back', async () => {
    const user = userEvent.setup();
    mocked.autostart.mockResolvedValueOnce(false);
    renderSettings();
    const box = screen.getByLabelText(/Start Vestibule when I sign in/);
    await waitFor(() => expect(box).toBeEnabled());
    expect(box).not.toBeChecked();
    await user.click(box);
    expect(mocked.setAutostart).toHaveBeenCalledWith(true);
    await waitFor(() => expect(box).toBeChecked());
  });

  it('a refused autostart is said, and the box shows the truth', async () => {
    const user = userEvent.setup();
    mocked.autostart.mockResolvedValue(false);
    mocked.setAutostart.mockRejectedValueOnce({ code: 'storage', field: null, serverCode: null, retryAfterMs: null, detail: 'x' });
    renderSettings();
    const box = screen.getByLabelText(/Start Vestibule when I sign in/);
    await waitFor(() => expect(box).toBeEnabled());
    await user.click(box);
    await waitFor(() => expect(screen.getByTestId('settings-error')).toBeInTheDocument());
    expect(box).not.toBeChecked();
    mocked.autostart.mockReset();
  });

  it('checks for updates and says what it found', async () => {
    const user = userEvent.setup();
    renderSettings();
    const status = screen.getByTestId('settings-update-status');
    await waitFor(() => expect(status).toHaveTextContent('Not checked yet.'));
    mocked.checkForUpdates.mockResolvedValueOnce({ kind: 'available', version: '0.2.0', notes: 'Faster.' });
    await user.click(screen.getByRole('button', { name: 'Check now' }));
    await waitFor(() => expect(status).toHaveTextContent('Version 0.2.0 is available.'));
    expect(screen.getByTestId('settings-update-notes')).toHaveTextContent('Faster.');
    await user.click(screen.getByRole('button', { name: 'Install and restart' }));
    expect(mocked.installUpdate).toHaveBeenCalled();
  });

  it.each([
    [{ kind: 'couldNotCheck' } as const, 'Could not check for updates.'],
    [{ kind: 'badSignature', version: '0.2.0' } as const, "its signature is not Vestibule's"],
    [{ kind: 'installFailed', version: '0.2.0' } as const, 'could not be installed'],
  ])('says %o in words', async (status, words) => {
    const user = userEvent.setup();
    renderSettings();
    mocked.checkForUpdates.mockResolvedValueOnce(status);
    await user.click(screen.getByRole('button', { name: 'Check now' }));
    await waitFor(() => expect(screen.getByTestId('settings-update-status')).toHaveTextContent(words));
  });

  it('opens the folders and exports an account’s diagnostics', async () => {
    const user = userEvent.setup();
    const shown = connectedAccount();
    renderSettings(viewWith(shown));
    await user.click(await screen.findByRole('button', { name: 'Open the folder: Logs' }));
    expect(mocked.openFolder).toHaveBeenCalledWith('logs');
    await user.click(screen.getByRole('button', { name: `Export the diagnostics of ${shown.account}` }));
    expect(mocked.exportDiagnostics).toHaveBeenCalledWith(shown.id);
    await waitFor(() => expect(screen.getByTestId('settings-export-result')).toHaveTextContent('diag.json'));
  });

  it('Back goes back', async () => {
    const user = userEvent.setup();
    const { onback } = renderSettings();
    await user.click(screen.getByRole('button', { name: 'Back' }));
    expect(onback).toHaveBeenCalled();
  });
});

describe('the theme', () => {
  it('follows the choice, and the system when asked to', () => {
    applyTheme('dark');
    expect(document.documentElement.dataset.theme).toBe('dark');
    applyTheme('light');
    expect(document.documentElement.dataset.theme).toBe('light');
    applyTheme('system');
    const systemDark = matchMedia('(prefers-color-scheme: dark)').matches;
    expect(document.documentElement.dataset.theme).toBe(systemDark ? 'dark' : 'light');
  });
});

describe('Settings in the app', () => {
  function start(first: SessionView) {
    let push: (v: SessionView) => void = () => {};
    let openFromTray: () => void = () => {};
    mocked.subscribe.mockImplementationOnce(async (onView) => {
      push = onView;
      onView(first);
    });
    mocked.onOpenSettings.mockImplementationOnce(async (handler) => {
      openFromTray = handler;
      return () => {};
    });
    render(App);
    return { push: (v: SessionView) => push(v), openFromTray: () => openFromTray() };
  }

  it('opens from the sidebar, puts the focus on its heading, and goes back', async () => {
    const user = userEvent.setup();
    start(viewWith(connectedAccount()));
    await screen.findByTestId('home-page');
    await user.click(screen.getByTestId('open-settings'));
    const heading = await screen.findByRole('heading', { level: 1, name: 'Settings' });
    await waitFor(() => expect(heading).toHaveFocus());
    await user.click(screen.getByRole('button', { name: 'Back' }));
    await screen.findByTestId('home-page');
    await waitFor(() => expect(screen.getByRole('heading', { level: 1 })).toHaveFocus());
  });

  it('opens from the login page when there is no account, and from the tray', async () => {
    const user = userEvent.setup();
    const app = start(view());
    await screen.findByTestId('login-page');
    await user.click(screen.getByTestId('open-settings'));
    await screen.findByTestId('settings-page');
    await user.click(screen.getByRole('button', { name: 'Back' }));
    await screen.findByTestId('login-page');
    app.openFromTray();
    await screen.findByTestId('settings-page');
  });

  it('a kick underneath closes Settings: the person lands on Login with the reason', async () => {
    const user = userEvent.setup();
    const shown = connectedAccount();
    const app = start(viewWith(shown));
    await screen.findByTestId('home-page');
    await user.click(screen.getByTestId('open-settings'));
    await screen.findByTestId('settings-page');
    app.push(viewWith({ ...shown, session: { ...shown.session, status: 'signedOut', login: null } }));
    await screen.findByTestId('login-page');
  });

  it('a login link refills a fresh form over Settings', async () => {
    const user = userEvent.setup();
    const first = view();
    const app = start(first);
    await screen.findByTestId('login-page');
    await user.click(screen.getByTestId('open-settings'));
    await screen.findByTestId('settings-page');
    app.push(view({ defaults: { url: 'wss://im.example.org/ws', appKey: 'k-link', account: 'bob', fromLink: 1 } }));
    await screen.findByTestId('login-page');
    expect(screen.getByLabelText(/Server/)).toHaveValue('wss://im.example.org/ws');
    expect(screen.getByLabelText(/Account/)).toHaveValue('bob');
  });
});
