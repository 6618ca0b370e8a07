/**
 * The one door to the Rust side. Every Tauri command the UI uses is wrapped
 * here with its real argument names and types, so components never call
 * `invoke` themselves and tests can replace this module with a mock.
 */
import { Channel, invoke as tauriInvoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import type { AboutView } from './bindings/AboutView';
import type { CommandError } from './bindings/CommandError';
import type { DemoView } from './bindings/DemoView';
import type { DeviceType } from './bindings/DeviceType';
import type { Folder } from './bindings/Folder';
import type { KickResult } from './bindings/KickResult';
import type { LoginRequest } from './bindings/LoginRequest';
import type { PairingRequest } from './bindings/PairingRequest';
import type { PairRequesterView } from './bindings/PairRequesterView';
import type { SessionView } from './bindings/SessionView';
import type { Settings } from './bindings/Settings';
import type { SettingsUpdate } from './bindings/SettingsUpdate';
import type { TimelineUpdate } from './bindings/TimelineUpdate';
import type { UpdateStatus } from './bindings/UpdateStatus';
import { toCommandError } from './errors';

export type { CommandError };

/** Invokes one command; the shape of `@tauri-apps/api/core`'s `invoke`. */
export type Invoke = <T>(cmd: string, args?: Record<string, unknown>) => Promise<T>;

/** Every command of the desktop shell. Each rejects with a `CommandError`. */
export interface Backend {
  /** Streams the whole view: the current one first, then every change. Call once. */
  subscribe(onView: (view: SessionView) => void): Promise<void>;
  /**
   * Streams every account's connection log apart from the view: first one
   * `reset` update per account with its whole history, then the new entries.
   * A `reset` may come again (when the UI fell behind). Call once.
   */
  subscribeTimeline(onUpdate: (update: TimelineUpdate) => void): Promise<void>;
  /** Logs in with the form; resolves to the account id. */
  login(request: LoginRequest): Promise<string>;
  /** Logs in to the embedded demo gateway; resolves to the account id. */
  loginDemo(account: string): Promise<string>;
  logout(accountId: string): Promise<void>;
  kick(accountId: string, deviceIds: string[]): Promise<KickResult>;
  kickOthers(accountId: string): Promise<KickResult>;
  /**
   * Names a device of the account (this one or another): 1–64 characters
   * after trimming, no control characters. Needs the account connected.
   */
  renameDevice(accountId: string, deviceId: string, name: string): Promise<void>;
  retryNow(accountId: string): Promise<void>;
  /** `null` shows the login page to add an account; the others stay connected. */
  switchAccount(accountId: string | null): Promise<void>;
  forgetAccount(accountId: string): Promise<void>;
  startDemo(): Promise<DemoView>;
  /** A simulated second device of a demo account logs in; resolves to its device id. */
  demoAddDevice(accountId: string, deviceType: DeviceType): Promise<string>;
  /** A simulated device signs this app out (to try the signed-out path). */
  demoKickMe(accountId: string): Promise<void>;
  /** Writes the account's diagnostics JSON; resolves to the file's path. */
  exportDiagnostics(accountId: string): Promise<string>;
  /**
   * *Sign in with another device*: asks the server for a code and shows it
   * in `view.pairing` (renewed before it expires) until a signed-in device
   * approves it; then the account opens like a login. A new start replaces
   * the one under way.
   */
  startPairing(request: PairingRequest): Promise<void>;
  /** Stops *Sign in with another device*; `view.pairing` becomes `null`. */
  cancelPairing(): Promise<void>;
  /** *Link a new device*: who waits behind `code` (typed as the person likes: case and dashes do not matter). */
  lookupPair(accountId: string, code: string): Promise<PairRequesterView>;
  /** *Link a new device*: signs the device waiting behind `code` in to this account. */
  approvePair(accountId: string, code: string): Promise<void>;
  updateSettings(update: SettingsUpdate): Promise<Settings>;
  about(): Promise<AboutView>;
  openFolder(folder: Folder): Promise<void>;
  autostart(): Promise<boolean>;
  setAutostart(enabled: boolean): Promise<boolean>;
  updateStatus(): Promise<UpdateStatus>;
  checkForUpdates(): Promise<UpdateStatus>;
  installUpdate(): Promise<void>;
  /** Calls `handler` whenever the tray's *Settings…* is chosen; resolves to the unsubscribe. */
  onOpenSettings(handler: () => void): Promise<() => void>;
}

/** The event the tray's *Settings…* emits (src-tauri/src/tray.rs). */
export const OPEN_SETTINGS_EVENT = 'vestibule://open-settings';

/** The backend over Tauri's IPC (or over whatever `invoke` is given). */
export function createBackend(invoke: Invoke = tauriInvoke): Backend {
  async function call<T>(cmd: string, args?: Record<string, unknown>): Promise<T> {
    try {
      return await invoke<T>(cmd, args);
    } catch (error) {
      throw toCommandError(error);
    }
  }

  return {
    async subscribe(onView) {
      const channel = new Channel<SessionView>();
      channel.onmessage = onView;
      await call<null>('subscribe', { onView: channel });
    },
    async subscribeTimeline(onUpdate) {
      const channel = new Channel<TimelineUpdate>();
      channel.onmessage = onUpdate;
      await call<null>('subscribe_timeline', { onUpdate: channel });
    },
    login: (request) => call<string>('login', { request }),
    loginDemo: (account) => call<string>('login_demo', { account }),
    logout: async (accountId) => {
      await call<null>('logout', { accountId });
    },
    kick: (accountId, deviceIds) => call<KickResult>('kick', { accountId, deviceIds }),
    kickOthers: (accountId) => call<KickResult>('kick_others', { accountId }),
    renameDevice: async (accountId, deviceId, name) => {
      await call<null>('rename_device', { accountId, deviceId, name });
    },
    retryNow: async (accountId) => {
      await call<null>('retry_now', { accountId });
    },
    switchAccount: async (accountId) => {
      await call<null>('switch_account', { accountId });
    },
    forgetAccount: async (accountId) => {
      await call<null>('forget_account', { accountId });
    },
    startDemo: () => call<DemoView>('start_demo'),
    demoAddDevice: (accountId, deviceType) => call<string>('demo_add_device', { accountId, deviceType }),
    demoKickMe: async (accountId) => {
      await call<null>('demo_kick_me', { accountId });
    },
    exportDiagnostics: (accountId) => call<string>('export_diagnostics', { accountId }),
    startPairing: async (request) => {
      await call<null>('start_pairing', { request });
    },
    cancelPairing: async () => {
      await call<null>('cancel_pairing');
    },
    lookupPair: (accountId, code) => call<PairRequesterView>('lookup_pair', { accountId, code }),
    approvePair: async (accountId, code) => {
      await call<null>('approve_pair', { accountId, code });
    },
    updateSettings: (update) => call<Settings>('update_settings', { update }),
    about: () => call<AboutView>('about'),
    openFolder: async (folder) => {
      await call<null>('open_folder', { folder });
    },
    autostart: () => call<boolean>('autostart'),
    setAutostart: (enabled) => call<boolean>('set_autostart', { enabled }),
    updateStatus: () => call<UpdateStatus>('update_status'),
    checkForUpdates: () => call<UpdateStatus>('check_for_updates'),
    installUpdate: async () => {
      await call<null>('install_update');
    },
    onOpenSettings: (handler) => listen(OPEN_SETTINGS_EVENT, () => handler()),
  };
}

/** The app's backend. */
export const backend: Backend = createBackend();
