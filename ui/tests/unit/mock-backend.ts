// A stand-in for `src/lib/backend.ts`: every command is a vi.fn that
// resolves like the real one. Use with
//   vi.mock('../../src/lib/backend', () => import('./mock-backend'));
import { vi } from 'vitest';
import type { Backend } from '../../src/lib/backend';
import { pairRequester, settings } from '../fixtures/views.js';

export const backend = {
  subscribe: vi.fn<Backend['subscribe']>(async () => {}),
  subscribeTimeline: vi.fn<Backend['subscribeTimeline']>(async () => {}),
  login: vi.fn<Backend['login']>(async (request) => `${request.url}|${request.appKey}|${request.account}`),
  loginDemo: vi.fn<Backend['loginDemo']>(async (account) => `demo|${account}`),
  logout: vi.fn<Backend['logout']>(async () => {}),
  kick: vi.fn<Backend['kick']>(async (_id, deviceIds) => ({ kicked: deviceIds, notFound: [] })),
  kickOthers: vi.fn<Backend['kickOthers']>(async () => ({ kicked: ['phone-77aa', 'tab-31bc'], notFound: [] })),
  renameDevice: vi.fn<Backend['renameDevice']>(async () => {}),
  retryNow: vi.fn<Backend['retryNow']>(async () => {}),
  switchAccount: vi.fn<Backend['switchAccount']>(async () => {}),
  forgetAccount: vi.fn<Backend['forgetAccount']>(async () => {}),
  startDemo: vi.fn<Backend['startDemo']>(async () => ({
    url: 'ws://127.0.0.1:40404/v1/ws',
    appKey: 'demo',
    suggestedAccounts: ['alice', 'bob'],
  })),
  demoAddDevice: vi.fn<Backend['demoAddDevice']>(async () => 'sim-ios-1'),
  demoKickMe: vi.fn<Backend['demoKickMe']>(async () => {}),
  exportDiagnostics: vi.fn<Backend['exportDiagnostics']>(async () => '/home/me/.local/share/vestibule/diag.json'),
  // The view's `pairing` is the test's to push: starting only resolves.
  startPairing: vi.fn<Backend['startPairing']>(async () => {}),
  cancelPairing: vi.fn<Backend['cancelPairing']>(async () => {}),
  lookupPair: vi.fn<Backend['lookupPair']>(async () => pairRequester()),
  approvePair: vi.fn<Backend['approvePair']>(async () => {}),
  updateSettings: vi.fn<Backend['updateSettings']>(async (update) => ({ ...settings(), ...update })),
  about: vi.fn<Backend['about']>(async () => ({
    version: '0.1.0',
    configDir: '/home/me/.config/vestibule',
    logDir: '/home/me/.local/state/vestibule',
    exportDir: '/home/me/.local/share/vestibule/exports',
  })),
  openFolder: vi.fn<Backend['openFolder']>(async () => {}),
  autostart: vi.fn<Backend['autostart']>(async () => false),
  setAutostart: vi.fn<Backend['setAutostart']>(async (enabled) => enabled),
  updateStatus: vi.fn<Backend['updateStatus']>(async () => ({ kind: 'unchecked' })),
  checkForUpdates: vi.fn<Backend['checkForUpdates']>(async () => ({ kind: 'upToDate', checkedAt: Date.now() })),
  installUpdate: vi.fn<Backend['installUpdate']>(async () => {}),
  onOpenSettings: vi.fn<Backend['onOpenSettings']>(async () => () => {}),
} satisfies Backend;

export function createBackend(): Backend {
  return backend;
}
