/** The Home page's status banner as a pure function of the session and the clock (in the UI's language). */
import type { Snapshot } from './bindings/Snapshot';
import { retryText } from './format';
import { m } from './i18n.svelte';
import { disconnectCause } from './reasons';

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
  const why = lastDisconnect ? disconnectCause(lastDisconnect) : null;
  switch (status) {
    case 'connected':
      return { state: 'connected', headline: m.banner_connected(), detail: null, canRetry: false };
    case 'connecting':
    case 'reconnecting':
      if (netState === 'disconnected') {
        return {
          state: 'offline',
          headline: m.banner_no_network(),
          // Nothing counts down offline: the network's return dials.
          detail: m.banner_no_network_detail(),
          canRetry: true,
        };
      }
      if (status === 'connecting' && !retry) {
        return { state: 'connecting', headline: m.banner_connecting(), detail: null, canRetry: false };
      }
      return {
        state: 'reconnecting',
        headline: retry
          ? m.banner_connection_lost_retry({ retry: retryText(retry, now) })
          : m.banner_connection_lost_reconnecting(),
        detail: why,
        canRetry: true,
      };
    case 'idle':
    case 'signedOut':
    case 'needsToken':
    case 'destroyed':
      return { state: 'down', headline: m.banner_not_connected(), detail: why, canRetry: false };
  }
}
