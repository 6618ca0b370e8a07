// The fake backend for browser tests, injected before the app's script runs.
// It installs Tauri's own IPC mock (`mockIPC` from @tauri-apps/api/mocks) and
// exposes `window.__vestibule` so a test can push SessionViews down the
// `subscribe` channel and timeline updates down the `subscribe_timeline`
// channel, script command results, and read the commands called.
import type { Channel } from '@tauri-apps/api/core';
import { mockIPC } from '@tauri-apps/api/mocks';
import type { TimelineUpdate } from '../../src/lib/bindings/TimelineUpdate';
import { ABOUT, pairRequester } from '../fixtures/views.js';

type Call = { cmd: string; args: unknown };
type Response = { value: unknown } | { error: unknown };

const DEFAULTS: Record<string, unknown> = {
  login: 'wss://chat.example.com/v1/ws|acme-chat|alice',
  login_demo: 'demo|alice',
  logout: null,
  kick: { kicked: [], notFound: [] },
  kick_others: { kicked: [], notFound: [] },
  rename_device: null,
  retry_now: null,
  switch_account: null,
  forget_account: null,
  start_demo: { url: 'ws://127.0.0.1:40404/v1/ws', appKey: 'demo', suggestedAccounts: ['alice', 'bob', 'carol'] },
  demo_add_device: 'sim-1',
  demo_kick_me: null,
  export_diagnostics: '/tmp/vestibule-diagnostics.json',
  // The view's `pairing` is the test's to push (`push`): starting only resolves.
  start_pairing: null,
  cancel_pairing: null,
  approve_pair: null,
  // Settings (update_settings is answered below: it merges and pushes a view).
  about: ABOUT,
  open_folder: null,
  autostart: false,
  update_status: { kind: 'unchecked' },
  install_update: null,
};

let view: unknown = null;
let channel: Channel<unknown> | null = null;
/** Every timeline update so far: what a (new) `subscribe_timeline` gets first. */
let timeline: TimelineUpdate[] = [];
let timelineChannel: Channel<TimelineUpdate> | null = null;
const calls: Call[] = [];
const responses = new Map<string, Response>();
const violations: string[] = [];

document.addEventListener('securitypolicyviolation', (e) => {
  violations.push(`${e.violatedDirective}: ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`);
});

mockIPC(
  (cmd, args) => {
    if (cmd === 'subscribe') {
      calls.push({ cmd, args: {} });
      channel = (args as { onView: Channel<unknown> }).onView;
      if (view !== null) channel.onmessage(view);
      return null;
    }
    if (cmd === 'subscribe_timeline') {
      calls.push({ cmd, args: {} });
      timelineChannel = (args as { onUpdate: Channel<TimelineUpdate> }).onUpdate;
      for (const update of timeline) timelineChannel.onmessage(update);
      return null;
    }
    calls.push({ cmd, args: JSON.parse(JSON.stringify(args ?? {})) });
    const scripted = responses.get(cmd);
    if (scripted && 'error' in scripted) return Promise.reject(scripted.error);
    if (scripted) return scripted.value;
    if (cmd in DEFAULTS) return DEFAULTS[cmd];
    // Like the backend: saved at once, and the new settings come back in the view too.
    if (cmd === 'update_settings') {
      const current = view as { settings: Record<string, unknown> } | null;
      const merged = { ...(current?.settings ?? {}), ...(args as { update: Record<string, unknown> }).update };
      if (current) api.push({ ...current, settings: merged });
      return merged;
    }
    if (cmd === 'set_autostart') return (args as { enabled: boolean }).enabled;
    if (cmd === 'check_for_updates') return { kind: 'upToDate', checkedAt: Date.now() };
    // Unless scripted: a Mac that asked a moment before it is looked up.
    if (cmd === 'lookup_pair') return pairRequester();
    return Promise.reject({
      code: 'internal',
      field: null,
      serverCode: null,
      retryAfterMs: null,
      detail: `unmocked command ${cmd}`,
    });
  },
  { shouldMockEvents: true },
);

const api = {
  /** Streams a view to the app (or keeps it for when the app subscribes). */
  push(next: unknown) {
    view = next;
    channel?.onmessage(next);
  },
  /**
   * Streams a timeline update to the app (or keeps it for when the app
   * subscribes); a `reset` one drops what was kept for that account.
   */
  pushTimeline(update: TimelineUpdate) {
    if (update.reset) timeline = timeline.filter((u) => u.accountId !== update.accountId);
    timeline.push(update);
    timelineChannel?.onmessage(update);
  },
  /** Makes `cmd` resolve with `value` (or reject with `error`) from now on. */
  respond(cmd: string, response: Response) {
    responses.set(cmd, response);
  },
  calls(cmd?: string): Call[] {
    return cmd ? calls.filter((c) => c.cmd === cmd) : calls;
  },
  violations(): string[] {
    return violations;
  },
};

(window as unknown as { __vestibule: typeof api }).__vestibule = api;
