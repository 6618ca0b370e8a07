/** Connection states for people: a word and a colour for each. */
import type { Snapshot } from './bindings/Snapshot';
import { m } from './i18n.svelte';

export type Tone = 'ok' | 'busy' | 'offline' | 'error' | 'idle';

/** The tone of an account's status dot. */
export function statusTone(session: Pick<Snapshot, 'status' | 'netState'>): Tone {
  switch (session.status) {
    case 'connected':
      return 'ok';
    case 'connecting':
    case 'reconnecting':
      return session.netState === 'disconnected' ? 'offline' : 'busy';
    case 'signedOut':
    case 'needsToken':
      return 'error';
    case 'idle':
    case 'destroyed':
      return 'idle';
  }
}

/** One or two words for an account's status. */
export function statusLabel(session: Pick<Snapshot, 'status' | 'netState'>): string {
  switch (session.status) {
    case 'connected':
      return m.status_connected();
    case 'connecting':
      return session.netState === 'disconnected' ? m.status_no_network() : m.status_connecting();
    case 'reconnecting':
      return session.netState === 'disconnected' ? m.status_no_network() : m.status_reconnecting();
    case 'signedOut':
      return m.status_signed_out();
    case 'needsToken':
      return m.status_session_expired();
    case 'idle':
      return m.status_not_connected();
    case 'destroyed':
      return m.status_closed();
  }
}

/** "127.0.0.1:7878" from "ws://127.0.0.1:7878/v1/ws" (or the text itself when it is no URL). */
export function serverHost(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}
