/**
 * Pairing for people, all pure (`now` is an argument): *Sign in with another
 * device* (this app shows a code) and *Link a new device* (this app approves
 * another one's code).
 */
import { clockTime, secondsUntil } from './format';

/** Symbols in a code (`ABCD-EFGH`), as the gateway counts them. */
export const PAIR_CODE_LENGTH = 8;

/** "1:42": what is left of a code's validity, minutes and seconds. */
export function countdown(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** "Valid for 1:42", or that a new code is on its way once this one ran out. */
export function validityText(expiresAt: number, now: number): string {
  const left = secondsUntil(expiresAt, now);
  return left > 0 ? `Valid for ${countdown(left)}` : 'Expired — getting a new code…';
}

/**
 * Why a typed code can't be sent, or `null` when it can. Case, spaces and
 * dashes do not matter (the gateway reads the code the same way), so only
 * an empty field or a wrong number of symbols is caught here; the gateway
 * answers everything else ("no such code", ...).
 */
export function pairCodeProblem(input: string): string | null {
  const symbols = input.replace(/[\s\-\u2010-\u2015]/g, '');
  if (symbols.length === 0) return 'Enter the code the new device shows.';
  if ([...symbols].length !== PAIR_CODE_LENGTH) {
    return `A code has ${PAIR_CODE_LENGTH} letters and digits, like ABCD-EFGH.`;
  }
  return null;
}

/** "12 s", "1 min 05 s": a short wait, in words. */
export function shortDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m >= 60) return `${Math.floor(m / 60)} h ${m % 60} min`;
  return `${m} min ${String(s % 60).padStart(2, '0')} s`;
}

/** "asked at 14:02 (12 s ago)". */
export function askedText(requestedAt: number, now: number): string {
  const ago = Math.max(0, Math.floor((now - requestedAt) / 1000));
  return `asked at ${clockTime(requestedAt)} (${shortDuration(ago)} ago)`;
}
