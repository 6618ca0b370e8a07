/**
 * Why the person is looking at the Login page: one sentence per way a
 * connection can end, chosen from the typed `DisconnectInfo` (never by
 * parsing the gateway's message), in the UI's language. The gateway's own
 * words show only while the UI is in English (`backendWords`).
 */
import type { AccountView } from './bindings/AccountView';
import type { DisconnectInfo } from './bindings/DisconnectInfo';
import type { KickedBy } from './bindings/KickedBy';
import type { SessionEnd } from './bindings/SessionEnd';
import type { Status } from './bindings/Status';
import { deviceNoun, deviceTypeLabel } from './devices';
import { onDayAtTime, relativeTime, whenText } from './format';
import { backendWords, m } from './i18n.svelte';

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

/** The parts of a sentence naming the device that did it: "Android device", its OS and IP. */
function byParts(by: KickedBy): { device: string; os: string; ip: string } {
  return { device: deviceTypeLabel(by.type), os: by.os, ip: by.ip };
}

/** "14:02, 3 minutes ago" */
function when(at: number, now: number): string {
  return m.time_when_ago({ time: whenText(at, now), ago: relativeTime(at, now) });
}

/** "your iPhone (iOS 17.5, 203.0.113.24)", or "another of your devices (…)". */
function yourDevice(by: KickedBy): string {
  const noun = deviceNoun(by.type);
  const who = noun ? m.notice_your_device({ device: noun }) : m.notice_another_of_your_devices();
  const details = [by.os, by.ip].filter((part) => part.trim()).join(m.list_separator());
  return details ? m.notice_who_with_details({ who, details }) : who;
}

/**
 * What ended a connection, in a few words: the backend's own words while
 * the UI is in English, otherwise (or when it gave none) from its kind.
 */
export function disconnectCause(info: DisconnectInfo): string {
  const words = backendWords(info.message);
  if (words) return words;
  const { reason } = info;
  switch (reason.kind) {
    case 'lost':
      return m.cause_lost();
    case 'timeout':
      return m.cause_timeout();
    case 'noNetwork':
      return m.cause_no_network();
    case 'rejected':
      return m.cause_rejected({ code: reason.code });
    case 'kicked':
      return m.cause_kicked();
    case 'replaced':
      return m.cause_replaced();
    case 'loggedOut':
      return m.cause_logged_out();
    case 'destroyed':
      return m.cause_destroyed();
  }
}

/**
 * The notice for a remembered session that had ended while the app was
 * closed (refused with 420 and how it ended): why, by whom and when.
 */
export function sessionEndNotice(info: DisconnectInfo, ended: SessionEnd, ctx: NoticeContext): Notice {
  const by = ended.by ?? info.by;
  const time = onDayAtTime(ended.at, ctx.now);
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
        m.notice_by_device_title(),
        by
          ? m.notice_ended_by_device({ who: yourDevice(by), time })
          : m.notice_ended_by_device_unknown({ time }),
        by,
      );
    case 'admin':
      return notice('error', m.notice_admin_title(), m.notice_ended_admin({ time }));
    case 'banned':
      return notice('error', m.notice_banned_title(), m.notice_ended_banned({ time }));
    case 'loggedOut':
      return notice('info', m.notice_logged_out_title(), m.notice_ended_logged_out({ time }));
    case 'idle':
      return notice('warning', m.notice_idle_title(), m.notice_ended_idle({ time }));
    case 'tokenExpired':
      return notice('warning', m.notice_sign_in_expired_title(), m.notice_ended_token_expired({ time }));
    case 'signedInAgain':
      return notice(
        'warning',
        m.notice_signed_in_again_title(),
        by
          ? m.notice_ended_signed_in_again_from({ time, os: by.os, ip: by.ip })
          : m.notice_ended_signed_in_again({ time }),
        by,
      );
    case 'loginElsewhere':
      return notice(
        'error',
        m.notice_login_elsewhere_title(),
        by
          ? m.notice_ended_login_elsewhere({ who: yourDevice(by), time })
          : m.notice_ended_login_elsewhere_unknown({ time }),
        by,
      );
    case 'instanceLimit':
      return notice('error', m.notice_too_many_devices_title(), m.notice_ended_instance_limit({ time }), by);
    case 'unknown': {
      const words = backendWords(info.message);
      return notice(
        'error',
        m.notice_by_server_title(),
        words ? m.notice_ended_unknown_words({ time, message: words }) : m.notice_ended_unknown({ time }),
      );
    }
  }
}

/** The notice for one disconnect, or `null` when there is nothing to explain. */
export function disconnectNotice(info: DisconnectInfo, ctx: NoticeContext): Notice | null {
  const { reason, at, code } = info;
  // The session had ended while the app was closed: say how, by whom, when.
  if (info.ended) return sessionEndNotice(info, info.ended, ctx);
  const time = when(at, ctx.now);
  const words = backendWords(info.message);
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
    return notice('warning', m.notice_sign_in_again_title(), m.notice_unknown_session({ code: UNKNOWN_SESSION }));
  }

  // An expired token is not a kick: say so whatever the gateway called it.
  if (ctx.status === 'needsToken' || (reason.kind === 'kicked' && reason.reason === 'tokenExpired')) {
    return notice('warning', m.notice_session_expired_title(), m.notice_token_expired({ time }));
  }

  switch (reason.kind) {
    case 'kicked':
      switch (reason.reason) {
        case 'byDevice':
          return notice(
            'error',
            m.notice_by_device_title(),
            info.by
              ? m.notice_kicked_by_device({ ...byParts(info.by), time })
              : m.notice_kicked_by_device_unknown({ time }),
            info.by,
          );
        case 'loginElsewhere':
          // The same deviceId signing in with the app's token: not a device
          // of the same kind, a copy of this one (or someone using its id).
          if (info.by && ctx.deviceId && info.by.deviceId === ctx.deviceId) {
            return notice(
              'error',
              m.notice_same_device_title(),
              m.notice_kicked_same_device({ os: info.by.os, ip: info.by.ip, time }),
              info.by,
            );
          }
          return notice(
            'error',
            m.notice_login_elsewhere_title(),
            info.by
              ? m.notice_kicked_login_elsewhere({ ...byParts(info.by), time })
              : m.notice_kicked_login_elsewhere_unknown({ time }),
            info.by,
          );
        case 'instanceLimit':
          return notice('error', m.notice_too_many_sessions_title(), m.notice_kicked_instance_limit({ time }), info.by);
        case 'admin':
          return notice('error', m.notice_admin_title(), m.notice_kicked_admin({ time }));
        case 'banned':
          return notice('error', m.notice_banned_title(), m.notice_kicked_banned({ time }));
        case 'tokenExpired':
          // Handled above; kept for exhaustiveness.
          return null;
        case 'unknown':
          // A newer server's reason: still a sign-out, with the server's own words.
          return notice(
            'error',
            m.notice_by_server_title(),
            words ? m.notice_kicked_unknown_words({ time, message: words }) : m.notice_kicked_unknown({ time }),
          );
      }
      return null;
    case 'rejected':
      switch (reason.code) {
        case 302:
          return notice('error', m.notice_rejected_302_title(), m.notice_rejected_302({ code: 302 }));
        case 403:
          return notice('error', m.notice_banned_title(), m.notice_rejected_403({ code: 403 }));
        case 404:
          return notice('error', m.notice_rejected_404_title(), m.notice_rejected_404({ code: 404, appKey: ctx.appKey }));
        case 414:
          return notice('error', m.notice_rejected_414_title(), m.notice_rejected_414({ code: 414 }));
        case 417:
          return notice('error', m.notice_rejected_417_title(), m.notice_rejected_417({ code: 417 }));
        case 419:
          return notice('error', m.notice_too_many_devices_title(), m.notice_rejected_419({ code: 419 }));
        case 420:
          // A session ended while the app was closed, from a server that didn't say how.
          return notice(
            'error',
            m.notice_rejected_420_title(),
            words
              ? m.notice_rejected_420_words({ code: 420, message: words })
              : m.notice_rejected_420({ code: 420 }),
          );
        case 422:
          return notice('error', m.notice_rejected_422_title(), m.notice_rejected_422({ code: 422 }));
        default:
          return notice(
            'error',
            m.notice_rejected_title(),
            words
              ? m.notice_rejected_words({ code: reason.code, message: words })
              : m.notice_rejected({ code: reason.code }),
          );
      }
    case 'replaced':
      return notice('warning', m.notice_replaced_title(), m.notice_replaced({ time }));
    case 'loggedOut':
      return notice('info', m.notice_logged_out_title(), m.notice_logged_out({ time }));
    case 'lost':
    case 'timeout':
      return notice(
        'warning',
        m.notice_disconnected_title(),
        words ? m.notice_disconnected_words({ time, message: words }) : m.notice_disconnected({ time }),
      );
    case 'noNetwork':
      return notice('warning', m.notice_no_network_title(), m.notice_no_network({ time }));
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
          title: m.notice_session_expired_title(),
          detail: m.notice_enter_new_token(),
          by: null,
          at: now,
          code: null,
        }
      : null;
  }
  return disconnectNotice(lastDisconnect, { status, appKey, now, deviceId });
}
