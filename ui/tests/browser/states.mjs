// The SessionViews (and timeline updates) the browser tests push, built from
// the shared fixtures.
import {
  account,
  commandError,
  connectedAccount,
  device,
  devicesWithOffline,
  disconnect,
  kickedAccount,
  PAIR_CODE_RENEWED,
  pairing,
  pairingShowing,
  reconnectingAccount,
  revokedAccount,
  sampleTimelines,
  threeDevices,
  unknownSessionAccount,
  view,
  viewWith,
} from '../fixtures/views.js';

/** @typedef {import('../../src/lib/bindings/SessionView').SessionView} SessionView */
/** @typedef {import('../../src/lib/bindings/TimelineUpdate').TimelineUpdate} TimelineUpdate */

const DEMO = {
  url: 'ws://127.0.0.1:40404/v1/ws',
  appKey: 'demo',
  suggestedAccounts: ['alice', 'bob', 'carol'],
};

/** @param {number} now */
export function scenarioViews(now) {
  const connected = connectedAccount(now);
  const bob = connectedAccount(now, {
    account: 'bob',
    url: 'wss://im.example.org/v1/ws',
    session: { status: 'reconnecting', netState: 'connecting', retry: { retryCount: 1, delayMs: 900, nextRetryAt: now + 900 } },
  });
  const demoAccount = connectedAccount(now, {
    url: DEMO.url,
    appKey: DEMO.appKey,
    demo: true,
    demoDevices: ['sim-ios-3f2a', 'sim-web-81c0'],
  });
  return {
    loginEmpty: view({ defaults: { url: 'wss://chat.example.com/v1/ws', appKey: '', account: '', fromLink: 0 } }),
    loginWithDemo: view({ demo: DEMO }),
    loginNoKeychain: view({
      keychain: { available: false, reason: 'No Secret Service (gnome-keyring or KWallet) is running in this session.' },
    }),
    connecting: viewWith(account({ session: { status: 'connecting', netState: 'connecting' } }), { demo: DEMO }),
    cantReach: viewWith(
      account({
        session: {
          status: 'reconnecting',
          netState: 'connecting',
          retry: { retryCount: 2, delayMs: 6000, nextRetryAt: now + 6000 },
          lastDisconnect: disconnect({ kind: 'lost', closeCode: null }, { message: 'connection refused (os error 111)' }),
        },
      }),
    ),
    connected: viewWith(connected),
    afterKick: viewWith({
      ...connected,
      session: {
        ...connected.session,
        devices: threeDevices(now).filter((d) => d.deviceId !== 'phone-77aa'),
        devicesRev: 4,
      },
    }),
    /** Online devices (a new browser among them), and two signed in but offline. */
    devicesOffline: viewWith(
      connectedAccount(now, { session: { devices: devicesWithOffline(now), devicesRev: 6 } }),
    ),
    /** The same after the Work MacBook was signed out. */
    devicesAfterOfflineKick: viewWith(
      connectedAccount(now, {
        session: { devices: devicesWithOffline(now).filter((d) => d.deviceId !== 'mac-9d04'), devicesRev: 7 },
      }),
    ),
    reconnecting: viewWith(reconnectingAccount(now, { retryCount: 3, inMs: 9000 })),
    offline: viewWith(reconnectingAccount(now, { retryCount: 5, inMs: 20_000, offline: true })),
    kicked: viewWith(kickedAccount(now)),
    expired: viewWith(
      account({
        remembered: true,
        session: {
          status: 'needsToken',
          lastDisconnect: disconnect(
            { kind: 'kicked', reason: 'tokenExpired' },
            { code: 4904, message: 'your session expired', at: now - 5 * 60_000 },
          ),
        },
      }),
    ),
    /** Started with a remembered session an iPhone had signed out two days before. */
    revoked: viewWith(revokedAccount(now)),
    /** Started with a remembered session the server had ended for inactivity. */
    revokedIdle: viewWith(revokedAccount(now, { reason: 'idle', by: null, at: now - 5 * 86_400_000 })),
    /** The server did not know the remembered session (421). */
    unknownSession: viewWith(unknownSessionAccount(now)),
    refused302: viewWith(
      account({
        session: {
          status: 'signedOut',
          lastDisconnect: disconnect({ kind: 'rejected', code: 302 }, { code: 302, message: 'wrong account or token', at: now - 4000 }),
        },
      }),
    ),
    addAccount: view({ accounts: [connected, bob], active: null, demo: DEMO }),
    /** Sign in with another device: asking the server for a code. */
    pairingAsking: view({ demo: DEMO, pairing: pairing({ kind: 'asking' }) }),
    /** Sign in with another device: the code (valid for 1:42) and its QR code, waiting. */
    pairingShowing: view({ demo: DEMO, pairing: pairingShowing(now) }),
    /** Sign in with another device, renewed: a new code valid for 2:00. */
    pairingRenewed: view({ demo: DEMO, pairing: pairingShowing(now, { code: PAIR_CODE_RENEWED, validMs: 120_000 }) }),
    /** Sign in with another device stopped. */
    pairingFailed: view({
      pairing: pairing(
        { kind: 'failed', error: commandError('rejected', { serverCode: 408, detail: "can't reach the server: connection refused (os error 111)" }) },
        { remember: true },
      ),
    }),
    /** Adding an account (the sidebar shows) with another device's approval. */
    pairingAddAccount: view({ accounts: [connected, bob], active: null, demo: DEMO, pairing: pairingShowing(now) }),
    /** Approved: the new account, opened with its own session, connecting. */
    pairedConnecting: viewWith(account({ remembered: true, session: { status: 'connecting', netState: 'connecting' } })),
    /** After Link a new device: the Mac that was approved is listed, New. */
    linked: viewWith(
      connectedAccount(now, {
        session: {
          devices: [
            ...threeDevices(now),
            device({
              deviceId: 'mac-41d7',
              type: 'Mac',
              os: 'macOS 14.5',
              connectionId: 'c-mac-1',
              ip: '203.0.113.57',
              loginTime: now - 2000,
              createdAt: now - 2000,
              lastActiveAt: now,
              client: { name: 'vestibule-desktop', version: '0.1.0' },
            }),
          ],
          devicesRev: 4,
        },
      }),
    ),
    demoConnected: viewWith(demoAccount, { demo: DEMO }),
    twoAccounts: view({ accounts: [connected, bob], active: connected.id }),
  };
}

/**
 * What `subscribe_timeline` sends first in a state: every account's sample
 * history, one `reset: true` update each.
 * @param {SessionView} state
 * @param {number} [now]
 * @returns {TimelineUpdate[]}
 */
export function scenarioTimelines(state, now = Date.now()) {
  return sampleTimelines(state, now);
}
