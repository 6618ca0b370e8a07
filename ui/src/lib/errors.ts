import type { CommandError } from './bindings/CommandError';
import type { ErrorCode } from './bindings/ErrorCode';

const CODES: readonly ErrorCode[] = [
  'invalidInput',
  'notFound',
  'notConnected',
  'rejected',
  'storage',
  'demo',
  'internal',
];

/** True for the `{code, message}` a failing command rejects with. */
export function isCommandError(value: unknown): value is CommandError {
  if (typeof value !== 'object' || value === null) return false;
  const { code, message } = value as Record<string, unknown>;
  return typeof message === 'string' && CODES.includes(code as ErrorCode);
}

/**
 * Turns anything a command can reject with into a `CommandError`.
 *
 * Commands reject with `{code, message}`; Tauri itself rejects with a plain
 * string (for example when a command is missing from the capability file),
 * which becomes `internal`.
 */
export function toCommandError(value: unknown): CommandError {
  if (isCommandError(value)) return value;
  if (value instanceof Error) return { code: 'internal', message: value.message };
  if (typeof value === 'string') return { code: 'internal', message: value };
  return { code: 'internal', message: 'Something went wrong.' };
}

/** A sentence for people, chosen by code (never by parsing the message). */
export function errorText(error: CommandError): string {
  const message = error.message.trim();
  switch (error.code) {
    case 'notConnected':
      return `Not connected right now — try again once the connection is back.${message ? ` (${message})` : ''}`;
    case 'storage':
      return `Vestibule could not save its settings: ${message}`;
    case 'notFound':
      return `That account is no longer here. ${message}`.trim();
    case 'internal':
      return `Something went wrong inside Vestibule: ${message}`;
    default:
      return message || 'Something went wrong.';
  }
}
