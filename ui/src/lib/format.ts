/** Time and countdown formatting, all pure (`now` is an argument). */
import type { RetryInfo } from './bindings/RetryInfo';

/** Whole seconds left until `at`, rounded up, never negative. */
export function secondsUntil(at: number, now: number): number {
  return Math.max(0, Math.ceil((at - now) / 1000));
}

/** "7s", "1m 05s". */
export function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return `${m}m ${String(s % 60).padStart(2, '0')}s`;
}

/** "attempt 3, next try in 7s" (or "attempt 3, trying now…" once the countdown is over). */
export function retryText(retry: RetryInfo, now: number): string {
  const left = secondsUntil(retry.nextRetryAt, now);
  return left > 0
    ? `attempt ${retry.retryCount}, next try in ${formatSeconds(left)}`
    : `attempt ${retry.retryCount}, trying now…`;
}

/** "just now", "3 min ago", "2 h ago", "yesterday", "4 days ago". */
export function relativeTime(at: number, now: number): string {
  const seconds = Math.max(0, Math.floor((now - at) / 1000));
  if (seconds < 45) return 'just now';
  const minutes = Math.max(1, Math.round(seconds / 60));
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ago`;
  const days = Math.floor(hours / 24);
  if (days === 1) return 'yesterday';
  return `${days} days ago`;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const timeSecondsFormat = new Intl.DateTimeFormat(undefined, {
  hour: 'numeric',
  minute: '2-digit',
  second: '2-digit',
});
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: 'numeric',
  minute: '2-digit',
});

/** "14:02" in the person's locale. */
export function clockTime(at: number): string {
  return timeFormat.format(at);
}

/** "14:02:09" in the person's locale. */
export function clockTimeSeconds(at: number): string {
  return timeSecondsFormat.format(at);
}

/** "12 May 2025, 14:02" in the person's locale. */
export function dateTime(at: number): string {
  return dateTimeFormat.format(at);
}

const dayFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const dayYearFormat = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });

function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/**
 * "Dec 1 at 10:02" in the person's locale (or `locale`), with the year when
 * it is not this year's: "Dec 1, 2024 at 10:02".
 */
export function dayAtTime(at: number, now: number, locale?: string): string {
  const thisYear = new Date(at).getFullYear() === new Date(now).getFullYear();
  const days = locale
    ? new Intl.DateTimeFormat(locale, thisYear ? { month: 'short', day: 'numeric' } : { year: 'numeric', month: 'short', day: 'numeric' })
    : thisYear
      ? dayFormat
      : dayYearFormat;
  const time = locale ? new Intl.DateTimeFormat(locale, { hour: 'numeric', minute: '2-digit' }) : timeFormat;
  return `${days.format(at)} at ${time.format(at)}`;
}

/**
 * When something happened, to end a sentence: "today at 10:02",
 * "yesterday at 10:02", otherwise "on Dec 1 at 10:02".
 */
export function onDayAtTime(at: number, now: number, locale?: string): string {
  const a = new Date(at);
  const today = new Date(now);
  const yesterday = new Date(now);
  yesterday.setDate(yesterday.getDate() - 1);
  const time = locale ? new Intl.DateTimeFormat(locale, { hour: 'numeric', minute: '2-digit' }).format(at) : clockTime(at);
  if (sameDay(a, today)) return `today at ${time}`;
  if (sameDay(a, yesterday)) return `yesterday at ${time}`;
  return `on ${dayAtTime(at, now, locale)}`;
}

/** "14:02" today, otherwise the date too. */
export function whenText(at: number, now: number): string {
  return sameDay(new Date(at), new Date(now)) ? clockTime(at) : dateTime(at);
}

/** "Attempt 3, …" from "attempt 3, …". */
export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
