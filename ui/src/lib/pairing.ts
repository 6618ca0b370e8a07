/**
 * Pairing for people, all pure (`now` is an argument; the locale defaults to
 * the UI's): *Sign in with another device* (this app shows a code) and
 * *Link a new device* (this app approves another one's code).
 */
import { clockTime, secondsAgo, secondsUntil } from './format';
import { intlLocale, locale as currentLocale, m, type Locale } from './i18n.svelte';

/** Symbols in a code (`ABCD-EFGH`), as the gateway counts them. */
export const PAIR_CODE_LENGTH = 8;

/** "1:42": what is left of a code's validity, minutes and seconds. */
export function countdown(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** "Valid for 1:42", or that a new code is on its way once this one ran out. */
export function validityText(expiresAt: number, now: number, locale: Locale = currentLocale()): string {
  const left = secondsUntil(expiresAt, now);
  return left > 0 ? m.pair_valid_for({ time: countdown(left) }, { locale }) : m.pair_expired_renewing({}, { locale });
}

/**
 * Why a typed code can't be sent, or `null` when it can. Case, spaces and
 * dashes do not matter (the gateway reads the code the same way), so only
 * an empty field or a wrong number of symbols is caught here; the gateway
 * answers everything else ("no such code", ...).
 */
export function pairCodeProblem(input: string, locale: Locale = currentLocale()): string | null {
  const symbols = input.replace(/[\s\-\u2010-\u2015]/g, '');
  if (symbols.length === 0) return m.pair_code_empty({}, { locale });
  if ([...symbols].length !== PAIR_CODE_LENGTH) return m.pair_code_length({ length: PAIR_CODE_LENGTH }, { locale });
  return null;
}

/** "asked at 14:02 (12 seconds ago)". */
export function askedText(requestedAt: number, now: number, locale: Locale = currentLocale()): string {
  return m.pair_asked_at(
    { time: clockTime(requestedAt, intlLocale(locale)), ago: secondsAgo(requestedAt, now, locale) },
    { locale },
  );
}
