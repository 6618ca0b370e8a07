/** The Home page's status banner as a pure function of the session and the clock. */
import type { Snapshot } from './bindings/Snapshot';
import { retryText } from './format';

export type BannerState = 'connected' | 'connecting' | 'reconnecting' | 'offline' | 'down';

export type Banner = {
  state: BannerState;
  headline: string;
  detail: string | null;
  /** Show "Retry now". */
  canRetry: boolean;
};

/** What the banner says for a session at `now`. */
export function bannerFor(session: Snapshot, now: number): Banner {
  const { status, netState, retry, lastDisconnect } = session;
  const why = lastDisconnect?.message ? lastDisconnect.message : null;
  switch (status) {
    case 'connected':
      return { state: 'connected', headline: 'Connected', detail: null, canRetry: false };
    case 'connecting':
    case 'reconnecting':
      if (netState === 'disconnected') {
        return {
          state: 'offline',
          headline: 'No network',
          // Nothing counts down offline: the network's return dials.
          detail: 'Vestibule reconnects as soon as the network is back.',
          canRetry: true,
        };
      }
      if (status === 'connecting' && !retry) {
        return { state: 'connecting', headline: 'Connecting…', detail: null, canRetry: false };
      }
      return {
        state: 'reconnecting',
        headline: retry ? `Connection lost — ${retryText(retry, now)}` : 'Connection lost — reconnecting…',
        detail: why,
        canRetry: true,
      };
    case 'idle':
    case 'signedOut':
    case 'needsToken':
    case 'destroyed':
      return { state: 'down', headline: 'Not connected', detail: why, canRetry: false };
  }
}
