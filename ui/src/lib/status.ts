/** Connection states for people: a word and a colour for each. */
import type { Snapshot } from './bindings/Snapshot';

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
      return 'Connected';
    case 'connecting':
      return session.netState === 'disconnected' ? 'No network' : 'Connecting';
    case 'reconnecting':
      return session.netState === 'disconnected' ? 'No network' : 'Reconnecting';
    case 'signedOut':
      return 'Signed out';
    case 'needsToken':
      return 'Session expired';
    case 'idle':
      return 'Not connected';
    case 'destroyed':
      return 'Closed';
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
