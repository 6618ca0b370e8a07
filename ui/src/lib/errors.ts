import type { CommandError } from './bindings/CommandError';
import type { ErrorCode } from './bindings/ErrorCode';
import { m } from './i18n.svelte';

const CODES: readonly ErrorCode[] = [
  'required',
  'invalidInput',
  'notFound',
  'notConnected',
  'rejected',
  'storage',
  'demo',
  'internal',
];

/** True for the `CommandError` a failing command rejects with (its code is all that is needed). */
export function isCommandError(value: unknown): value is CommandError {
  if (typeof value !== 'object' || value === null) return false;
  return CODES.includes((value as Record<string, unknown>).code as ErrorCode);
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function numberOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) ? value : null;
}

/**
 * Turns anything a command can reject with into a `CommandError`.
 *
 * Commands reject with a `CommandError` (kept, its missing fields `null`);
 * Tauri itself rejects with a plain string (for example when a command is
 * missing from the capability file) and code may throw an `Error`: both
 * become `internal`, their text kept as the `detail` (for logs, never shown).
 */
export function toCommandError(value: unknown): CommandError {
  if (isCommandError(value)) {
    const raw = value as unknown as Record<string, unknown>;
    const detail = typeof raw.detail === 'string' ? raw.detail : typeof raw.message === 'string' ? raw.message : '';
    return {
      code: value.code,
      field: stringOrNull(raw.field),
      serverCode: numberOrNull(raw.serverCode),
      retryAfterMs: numberOrNull(raw.retryAfterMs),
      detail,
    };
  }
  const detail = value instanceof Error ? value.message : typeof value === 'string' ? value : String(value);
  return { code: 'internal', field: null, serverCode: null, retryAfterMs: null, detail };
}

/** What an error is about, for the sentences that depend on it (a pairing code's 404 is "no such code"). */
export type ErrorSubject = 'pairingCode';

function requiredText(field: string | null): string {
  switch (field) {
    case 'server':
      return m.error_required_server();
    case 'appKey':
      return m.error_required_app_key();
    case 'account':
      return m.error_required_account();
    case 'token':
      return m.error_required_token();
    default:
      return m.error_required();
  }
}

function invalidText(field: string | null): string {
  switch (field) {
    case 'server':
      return m.error_invalid_server();
    case 'proxy':
      return m.error_invalid_proxy();
    case 'deviceName':
      return m.error_invalid_device_name();
    case 'code':
      return m.error_invalid_code();
    default:
      return m.error_invalid();
  }
}

function rejectedText(error: CommandError, subject: ErrorSubject | undefined): string {
  const code = error.serverCode;
  switch (code) {
    case 302:
      return m.error_rejected_302();
    case 403:
      return m.error_rejected_403();
    case 404:
      return subject === 'pairingCode' ? m.error_rejected_404_code() : m.error_rejected_404();
    case 408:
      return m.error_rejected_408();
    case 414:
      return m.error_rejected_414();
    case 419:
      return m.error_rejected_419();
    case 420:
      return m.error_rejected_420();
    case 421:
      return m.error_rejected_421();
    case 422:
      return m.error_rejected_422();
    case 425:
      return m.error_rejected_425();
    case 426:
      return m.error_rejected_426();
    case 500:
      return m.error_rejected_500();
    case 503:
      return error.retryAfterMs !== null && error.retryAfterMs > 0
        ? m.error_rejected_503_wait({ seconds: Math.max(1, Math.ceil(error.retryAfterMs / 1000)) })
        : m.error_rejected_503();
    // The gateway's pairing codes (docs/protocol.md §9): unknown, expired, used, requester gone.
    case 423:
      return m.error_rejected_404_code();
    case 424:
      return m.error_rejected_410_code();
    case 410:
      return subject === 'pairingCode' ? m.error_rejected_410_code() : m.error_rejected_410();
    case 416:
    case 429:
      return error.retryAfterMs !== null && error.retryAfterMs > 0
        ? m.error_rejected_429_wait({ seconds: Math.max(1, Math.ceil(error.retryAfterMs / 1000)) })
        : m.error_rejected_429();
    case 417:
      return m.error_rejected_417();
    case null:
      return m.error_rejected_no_code();
    default:
      return m.error_rejected({ code });
  }
}

/**
 * A sentence for people in the UI's language, chosen from the error's code,
 * field and server code — never from its `detail`, which is for logs only.
 */
export function errorText(error: CommandError, subject?: ErrorSubject): string {
  switch (error.code) {
    case 'required':
      return requiredText(error.field);
    case 'invalidInput':
      return invalidText(error.field);
    case 'notFound':
      return m.error_not_found();
    case 'notConnected':
      return m.error_not_connected();
    case 'rejected':
      return rejectedText(error, subject);
    case 'storage':
      return m.error_storage();
    case 'demo':
      return m.error_demo();
    case 'internal':
      return m.error_internal();
  }
}
