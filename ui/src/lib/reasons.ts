/**
 * Why the person is looking at the Login page: one sentence per way a
 * connection can end, chosen from the typed `DisconnectInfo` (never by
 * parsing the gateway's message).
 */
import type { AccountView } from './bindings/AccountView';
import type { DisconnectInfo } from './bindings/DisconnectInfo';
import type { KickedBy } from './bindings/KickedBy';
import type { SessionEnd } from './bindings/SessionEnd';
import type { Status } from './bindings/Status';
import { deviceNoun, deviceTypeLabel } from './devices';
import { capitalize, onDayAtTime, relativeTime, whenText } from './format';

export type NoticeTone = 'error' | 'warning' | 'info';

/** What the Login page says about the last disconnect. */
export type Notice = {
  tone: NoticeTone;
  title: string;
  detail: string;
  /** The device that caused it, when the gateway said which. */
  by: KickedBy | null;
  at: number;
  /** The result or close code, for the small print. */
  code: number | null;
};

/** The refusal of a session token the server does not know. */
const UNKNOWN_SESSION = 421;

/** What the sentences need besides the disconnect itself. */
export type NoticeContext = {
  status: Status;
  appKey: string;
  now: number;
  /** This installation's deviceId: a takeover "by" it is someone copying it. */
  deviceId?: string;
};

function byDevice(by: KickedBy): string {
  return `your ${deviceTypeLabel(by.type)} (${by.os}, IP ${by.ip})`;
}

/** "14:02, 3 min ago" */
function when(at: number, now: number): string {
  return `${whenText(at, now)}, ${relativeTime(at, now)}`;
}

/** "your iPhone (iOS 17.5, 203.0.113.24)", or "another of your devices (…)". */
function yourDevice(by: KickedBy): string {
  const noun = deviceNoun(by.type);
  const details = [by.os, by.ip].filter((part) => part.trim()).join(', ');
  return `${noun ? `your ${noun}` : 'another of your devices'}${details ? ` (${details})` : ''}`;
}

/**
 * The notice for a remembered session that had ended while the app was
 * closed (refused with 420 and how it ended): why, by whom and when.
 */
export function sessionEndNotice(info: DisconnectInfo, ended: SessionEnd, ctx: NoticeContext): Notice {
  const by = ended.by ?? info.by;
  const t = onDayAtTime(ended.at, ctx.now);
  const notice = (tone: NoticeTone, title: string, detail: string, who: KickedBy | null = null): Notice => ({
    tone,
    title,
    detail,
    by: who,
    at: ended.at,
    code: info.code,
  });
  switch (ended.reason) {
    case 'byDevice':
      return notice(
        'error',
        'Signed out by another of your devices',
        by
          ? `Signed out by ${yourDevice(by)} ${t}. If that wasn't you, change your token.`
          : `Another of your devices signed this one out ${t}. If that wasn't you, change your token.`,
        by,
      );
    case 'admin':
      return notice('error', 'Signed out by the administrator', `Signed out by the server administrator ${t}.`);
    case 'banned':
      return notice('error', 'This account is banned', `This account was banned ${t}. Contact your administrator.`);
    case 'loggedOut':
      return notice('info', 'You logged out', `You logged out of this account on this device ${t}.`);
    case 'idle':
      return notice(
        'warning',
        'Signed out for inactivity',
        `This device was signed out after a long time without use ${t}. Sign in again to continue.`,
      );
    case 'tokenExpired':
      return notice('warning', 'Your sign-in expired', `Your sign-in expired ${t}. Sign in again to continue.`);
    case 'signedInAgain':
      return notice(
        'warning',
        'Signed in again',
        by
          ? `This device signed in again ${t} from ${by.os} at IP ${by.ip} (another copy of Vestibule?), which ended the sign-in this app remembered. If that wasn't you, change your token.`
          : `This device signed in again ${t} (another copy of Vestibule?), which ended the sign-in this app remembered.`,
        by,
      );
    case 'loginElsewhere':
      return notice(
        'error',
        'Signed in on another device',
        by
          ? `Your account signed in on ${yourDevice(by)} ${t}, which signed this device out. The app allows one device of this kind at a time.`
          : `Your account signed in on another device of the same kind ${t}, which signed this one out. The app allows one device of this kind at a time.`,
        by,
      );
    case 'instanceLimit':
      return notice(
        'error',
        'Too many devices',
        `Your account was signed in on more devices than it may be, so this one, the oldest, was signed out ${t}.`,
        by,
      );
    case 'unknown':
      return notice(
        'error',
        'Signed out by the server',
        `The server signed this device out ${t}${info.message ? `: ${info.message}` : ''}.`,
      );
  }
}

/** The notice for one disconnect, or `null` when there is nothing to explain. */
export function disconnectNotice(info: DisconnectInfo, ctx: NoticeContext): Notice | null {
  const { reason, at, code } = info;
  // The session had ended while the app was closed: say how, by whom, when.
  if (info.ended) return sessionEndNotice(info, info.ended, ctx);
  const t = when(at, ctx.now);
  const notice = (tone: NoticeTone, title: string, detail: string, by: KickedBy | null = null): Notice => ({
    tone,
    title,
    detail,
    by,
    at,
    code,
  });

  // The server lost this device's session (421): nothing was revoked.
  if (reason.kind === 'rejected' && reason.code === UNKNOWN_SESSION) {
    return notice(
      'warning',
      'Sign in again',
      `The server no longer knows this device's sign-in (${UNKNOWN_SESSION}); it may have been reset. Sign in again to continue.`,
    );
  }

  // An expired token is not a kick: say so whatever the gateway called it.
  if (ctx.status === 'needsToken' || (reason.kind === 'kicked' && reason.reason === 'tokenExpired')) {
    return notice(
      'warning',
      'Your session expired',
      `Your sign-in token expired (${t}). Enter a new token to continue.`,
    );
  }

  switch (reason.kind) {
    case 'kicked':
      switch (reason.reason) {
        case 'byDevice':
          return notice(
            'error',
            'Signed out by another of your devices',
            info.by
              ? `${capitalize(byDevice(info.by))} signed this device out (${t}). If that wasn't you, change your token.`
              : `Another of your devices signed this one out (${t}). If that wasn't you, change your token.`,
            info.by,
          );
        case 'loginElsewhere':
          // The same deviceId signing in with the app's token: not a device
          // of the same kind, a copy of this one (or someone using its id).
          if (info.by && ctx.deviceId && info.by.deviceId === ctx.deviceId) {
            return notice(
              'error',
              'Someone signed in as this device',
              `A new sign-in with this device's id, from ${info.by.os} at IP ${info.by.ip}, took over from this app (${t}). If that wasn't you, change your token.`,
              info.by,
            );
          }
          return notice(
            'error',
            'Signed in on another device',
            info.by
              ? `Your account signed in on ${byDevice(info.by)}, which took over from this device (${t}). The app allows one device of this kind at a time.`
              : `Your account signed in on another device of the same kind, which took over from this one (${t}). The app allows one device of this kind at a time.`,
            info.by,
          );
        case 'instanceLimit':
          return notice(
            'error',
            'Too many sessions',
            `Your account reached its limit of sessions at once, and this one was the oldest, so it was closed (${t}).`,
            info.by,
          );
        case 'admin':
          return notice('error', 'Signed out by the administrator', `An administrator ended this session (${t}).`);
        case 'banned':
          return notice(
            'error',
            'This account is banned',
            `The server banned this account and ended the session (${t}). Contact your administrator.`,
          );
        case 'tokenExpired':
          // Handled above; kept for exhaustiveness.
          return null;
        case 'unknown':
          // A newer server's reason: still a sign-out, with the server's own words.
          return notice(
            'error',
            'Signed out by the server',
            `The server ended this session (${t})${info.message ? `: ${info.message}` : ''}.`,
          );
      }
      return null;
    case 'rejected':
      switch (reason.code) {
        case 302:
          return notice(
            'error',
            'Wrong account or token',
            'The server did not accept this account and token (302). Check both and try again.',
          );
        case 403:
          return notice(
            'error',
            'This account is banned',
            'The server refused to let this account log in (403). Contact your administrator.',
          );
        case 404:
          return notice(
            'error',
            'Unknown app key',
            `The server doesn't know the app key “${ctx.appKey}” (404). Check the app key and the server address.`,
          );
        case 414:
          return notice(
            'error',
            'The login request was invalid',
            'The server rejected the login as malformed (414). This is a bug in Vestibule: please export diagnostics and report it.',
          );
        case 417:
          return notice(
            'error',
            'Already signed in on another device',
            "The app's device policy refuses a second login while another device of this kind is signed in (417). Sign that device out first, then log in again.",
          );
        case 419:
          return notice(
            'error',
            'Too many devices',
            'Your account is signed in on as many devices as it may be (419). Sign one of them out, then log in again.',
          );
        case 420:
          // A session ended while the app was closed, from a server that didn't say how.
          return notice(
            'error',
            'Signed out',
            `This device's sign-in had been ended (420)${info.message ? `: ${info.message}` : ''}. Sign in again to continue.`,
          );
        case 422:
          return notice(
            'error',
            'Account disabled',
            'This account has been disabled (422). Contact your administrator.',
          );
        default:
          return notice(
            'error',
            'Login refused',
            `The server refused the login (${reason.code})${info.message ? `: ${info.message}` : '.'}`,
          );
      }
    case 'replaced':
      return notice(
        'warning',
        'Signed in again somewhere else',
        `This device started a new session elsewhere (another copy of the app?), which replaced this one (${t}).`,
      );
    case 'loggedOut':
      return notice('info', 'You logged out', `You logged out of this account (${t}).`);
    case 'lost':
    case 'timeout':
      return notice(
        'warning',
        'Disconnected',
        `The connection ended (${t})${info.message ? `: ${info.message}` : '.'}`,
      );
    case 'noNetwork':
      return notice(
        'warning',
        'No network',
        `This computer lost its network (${t}). Vestibule reconnects as soon as it is back.`,
      );
    case 'destroyed':
      return null;
  }
}

/** The Login page's notice for an account it shows, or `null`. */
export function signedOutNotice(account: AccountView | null, now: number, deviceId?: string): Notice | null {
  if (!account) return null;
  const { status, lastDisconnect } = account.session;
  const { appKey } = account;
  if (status !== 'signedOut' && status !== 'needsToken' && status !== 'idle') return null;
  if (!lastDisconnect) {
    return status === 'needsToken'
      ? {
          tone: 'warning',
          title: 'Your session expired',
          detail: 'Enter a new token to continue.',
          by: null,
          at: now,
          code: null,
        }
      : null;
  }
  return disconnectNotice(lastDisconnect, { status, appKey, now, deviceId });
}
