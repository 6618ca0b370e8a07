/**
 * Time and countdown formatting through `Intl`, in the UI's language.
 *
 * Pure given their arguments: `now` is an argument, and so is the locale —
 * a UI `Locale` for the sentences, or a BCP 47 tag for dates and times —
 * which defaults to the current one (read from the i18n module, so a
 * template calling these follows a language switch).
 */
import type { RetryInfo } from './bindings/RetryInfo';
import { intlLocale, locale as currentLocale, localeOf, m, type Locale } from './i18n.svelte';

/** Whole seconds left until `at`, rounded up, never negative. */
export function secondsUntil(at: number, now: number): number {
  return Math.max(0, Math.ceil((at - now) / 1000));
}

const formats = new Map<string, Intl.NumberFormat | Intl.DateTimeFormat | Intl.RelativeTimeFormat>();

function cached<T extends Intl.NumberFormat | Intl.DateTimeFormat | Intl.RelativeTimeFormat>(
  key: string,
  make: () => T,
): T {
  let format = formats.get(key);
  if (!format) {
    format = make();
    formats.set(key, format);
  }
  return format as T;
}

function unit(tag: string, name: 'second' | 'minute', value: number, padded = false): string {
  return cached(
    `unit|${tag}|${name}|${padded}`,
    () =>
      new Intl.NumberFormat(tag, {
        style: 'unit',
        unit: name,
        unitDisplay: 'narrow',
        ...(padded ? { minimumIntegerDigits: 2 } : {}),
      }),
  ).format(value);
}

/** "7s", "1m 05s" in English; "7秒", "1分钟05秒" in Chinese. */
export function formatSeconds(seconds: number, locale: Locale = currentLocale()): string {
  const s = Math.max(0, Math.floor(seconds));
  const tag = intlLocale(locale);
  if (s < 60) return unit(tag, 'second', s);
  return m.duration_minutes_seconds(
    { minutes: unit(tag, 'minute', Math.floor(s / 60)), seconds: unit(tag, 'second', s % 60, true) },
    { locale },
  );
}

/** "attempt 3, next try in 7s" (or "attempt 3, trying now…" once the countdown is over). */
export function retryText(retry: RetryInfo, now: number, locale: Locale = currentLocale()): string {
  const left = secondsUntil(retry.nextRetryAt, now);
  return left > 0
    ? m.retry_next_try_in({ attempt: retry.retryCount, time: formatSeconds(left, locale) }, { locale })
    : m.retry_trying_now({ attempt: retry.retryCount }, { locale });
}

function relative(tag: string): Intl.RelativeTimeFormat {
  return cached(`relative|${tag}`, () => new Intl.RelativeTimeFormat(tag, { numeric: 'auto', style: 'long' }));
}

/** "just now", "3 minutes ago", "2 hours ago", "yesterday", "4 days ago" (刚刚, 3分钟前, 2小时前, 昨天, 4天前). */
export function relativeTime(at: number, now: number, locale: Locale = currentLocale()): string {
  const seconds = Math.max(0, Math.floor((now - at) / 1000));
  if (seconds < 45) return m.time_just_now({}, { locale });
  const rtf = relative(intlLocale(locale));
  const minutes = Math.max(1, Math.round(seconds / 60));
  if (minutes < 60) return rtf.format(-minutes, 'minute');
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return rtf.format(-hours, 'hour');
  return rtf.format(-Math.floor(hours / 24), 'day');
}

/** "12 seconds ago", "2 minutes ago": a short while, to the second. */
export function secondsAgo(at: number, now: number, locale: Locale = currentLocale()): string {
  const seconds = Math.max(0, Math.floor((now - at) / 1000));
  const rtf = cached(`ago|${intlLocale(locale)}`, () => new Intl.RelativeTimeFormat(intlLocale(locale), { numeric: 'always' }));
  if (seconds < 60) return rtf.format(-seconds, 'second');
  if (seconds < 3600) return rtf.format(-Math.floor(seconds / 60), 'minute');
  return rtf.format(-Math.floor(seconds / 3600), 'hour');
}

function dateTimeFormat(tag: string, options: Intl.DateTimeFormatOptions): Intl.DateTimeFormat {
  return cached(`date|${tag}|${JSON.stringify(options)}`, () => new Intl.DateTimeFormat(tag, options));
}

const TIME: Intl.DateTimeFormatOptions = { hour: 'numeric', minute: '2-digit' };
const TIME_SECONDS: Intl.DateTimeFormatOptions = { hour: 'numeric', minute: '2-digit', second: '2-digit' };
const DATE_TIME: Intl.DateTimeFormatOptions = {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: 'numeric',
  minute: '2-digit',
};
const DAY: Intl.DateTimeFormatOptions = { month: 'short', day: 'numeric' };
const DAY_YEAR: Intl.DateTimeFormatOptions = { year: 'numeric', month: 'short', day: 'numeric' };

/** "14:02" (or "2:02 PM") in the locale `tag` (by default the UI's). */
export function clockTime(at: number, tag: string = intlLocale()): string {
  return dateTimeFormat(tag, TIME).format(at);
}

/** "14:02:09" in the locale `tag`. */
export function clockTimeSeconds(at: number, tag: string = intlLocale()): string {
  return dateTimeFormat(tag, TIME_SECONDS).format(at);
}

/** "12 May 2025, 14:02" (2025年5月12日 14:02) in the locale `tag`. */
export function dateTime(at: number, tag: string = intlLocale()): string {
  return dateTimeFormat(tag, DATE_TIME).format(at);
}

function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/**
 * "Dec 1 at 10:02" in the locale `tag` (by default the UI's), with the year
 * when it is not this year's: "Dec 1, 2024 at 10:02" (2024年12月1日 10:02).
 */
export function dayAtTime(at: number, now: number, tag: string = intlLocale()): string {
  const thisYear = new Date(at).getFullYear() === new Date(now).getFullYear();
  const day = dateTimeFormat(tag, thisYear ? DAY : DAY_YEAR).format(at);
  return m.time_day_at({ day, time: clockTime(at, tag) }, { locale: localeOf(tag) });
}

/**
 * When something happened, to end a sentence: "today at 10:02",
 * "yesterday at 10:02", otherwise "on Dec 1 at 10:02" (今天 10:02, 昨天 10:02, 12月1日 10:02).
 */
export function onDayAtTime(at: number, now: number, tag: string = intlLocale()): string {
  const a = new Date(at);
  const today = new Date(now);
  const yesterday = new Date(now);
  yesterday.setDate(yesterday.getDate() - 1);
  const locale = localeOf(tag);
  const time = clockTime(at, tag);
  if (sameDay(a, today)) return m.time_today_at({ time }, { locale });
  if (sameDay(a, yesterday)) return m.time_yesterday_at({ time }, { locale });
  return m.time_on_day_at({ day: dayAtTime(at, now, tag) }, { locale });
}

/** "14:02" today, otherwise the date too. */
export function whenText(at: number, now: number, tag: string = intlLocale()): string {
  return sameDay(new Date(at), new Date(now)) ? clockTime(at, tag) : dateTime(at, tag);
}

/** "Attempt 3, …" from "attempt 3, …" (a no-op for scripts without case). */
export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
