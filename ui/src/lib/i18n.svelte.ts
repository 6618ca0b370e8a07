/**
 * The UI's language: English or Simplified Chinese.
 *
 * The current locale is Svelte `$state` owned here. Paraglide's runtime is
 * told to read it (`overwriteGetLocale`), so every `m.some_key()` called in
 * a template, a `$derived` or a helper it calls reads this state: switching
 * with `setLocale` re-renders every visible string in place, without a page
 * reload and without remounting anything (so no component loses its state).
 *
 * Components keep what they show as data (a `CommandError`, a thunk such as
 * `() => m.some_key()`), never as a string rendered in the language of the
 * moment, so that what is on screen follows a switch too.
 *
 * Free text the backend writes in English — a disconnect's `message`, the
 * keychain's `reason` — is shown only while the UI is in English
 * (`backendWords`); in any other language the UI says it from the typed
 * fields instead. Timeline entries are the backend's to localize.
 *
 *   import { m, setLocale } from './i18n.svelte';
 *   m.common_cancel();               // "Cancel" / "取消"
 *   setLocale('zh-CN');              // every string on screen follows
 *   applyLanguagePreference('system');
 */
import { m } from '../paraglide/messages.js';
import { overwriteGetLocale, overwriteSetLocale } from '../paraglide/runtime.js';
import type { Language } from './bindings/Language';

export { m };

/** The languages of the UI (Paraglide's `locales`). */
export type Locale = 'en' | 'zh-CN';

/** What a person may choose in a Settings page (`Settings.language`): follow the system, or one language. */
export type LanguagePreference = Language;

export const LOCALES: readonly Locale[] = ['en', 'zh-CN'];

/** Language names as each language writes its own (for a language picker). */
export const LOCALE_NAMES: Readonly<Record<Locale, string>> = { en: 'English', 'zh-CN': '简体中文' };

export function isLocale(value: unknown): value is Locale {
  return value === 'en' || value === 'zh-CN';
}

/** The UI locale for one BCP 47 tag: any `zh*` is Simplified Chinese, anything else English. */
export function localeOf(tag: string): Locale {
  return /^zh(?:-|_|$)/i.test(tag.trim()) ? 'zh-CN' : 'en';
}

function browserLanguages(): readonly string[] {
  if (typeof navigator === 'undefined') return [];
  if (navigator.languages && navigator.languages.length > 0) return navigator.languages;
  return navigator.language ? [navigator.language] : [];
}

/**
 * The locale the system asks for, from `navigator.languages` (the person's
 * languages, most preferred first): the first one the UI has decides — any
 * `zh*` (zh, zh-CN, zh-Hans, zh-TW...) is 'zh-CN', any `en*` is 'en'; a
 * list with neither is 'en'.
 */
export function systemLocale(languages: readonly string[] = browserLanguages()): Locale {
  for (const tag of languages) {
    if (/^zh(?:-|_|$)/i.test(tag)) return 'zh-CN';
    if (/^en(?:-|_|$)/i.test(tag)) return 'en';
  }
  return 'en';
}

function applyToDocument(next: Locale): void {
  if (typeof document !== 'undefined') document.documentElement.lang = next;
}

const initial = systemLocale();
let current = $state<Locale>(initial);
let preference = $state<LanguagePreference>('system');
applyToDocument(initial);

// Paraglide's messages and its own getLocale/setLocale now go through the state here.
overwriteGetLocale(() => current);
overwriteSetLocale((next) => setLocale(next as Locale));

// While following the system, a change of the system's languages is followed too.
if (typeof window !== 'undefined') {
  window.addEventListener('languagechange', () => {
    if (preference === 'system') setLocale(systemLocale());
  });
}

/** The current locale. Reactive: a template or `$derived` reading it follows `setLocale`. */
export function locale(): Locale {
  return current;
}

/** Shows the UI in `next`, at once and in place. */
export function setLocale(next: Locale): void {
  if (!isLocale(next)) throw new Error(`not a UI locale: ${String(next)}`);
  current = next;
  applyToDocument(next);
}

/** The preference last applied (`'system'` at start). */
export function languagePreference(): LanguagePreference {
  return preference;
}

/** Applies a preference: `'system'` follows `systemLocale()` (and its changes), otherwise that locale. */
export function applyLanguagePreference(pref: LanguagePreference): void {
  if (pref !== 'system' && !isLocale(pref)) throw new Error(`not a language preference: ${String(pref)}`);
  preference = pref;
  setLocale(pref === 'system' ? systemLocale() : pref);
}

/**
 * The BCP 47 tag `Intl` formats dates and numbers with for `l`: for English
 * the person's own English (en-GB keeps its 24-hour clock), otherwise `l`.
 */
export function intlLocale(l: Locale = current): string {
  if (l === 'en') {
    const english = browserLanguages().find((tag) => /^en(?:-|$)/i.test(tag));
    return english ?? 'en';
  }
  return l;
}

/**
 * The backend's own English words (a disconnect's message, the keychain's
 * reason), trimmed, while the UI is in English; `null` otherwise or when
 * there are none — the caller then says it in the UI's language.
 */
export function backendWords(text: string | null | undefined): string | null {
  const words = text?.trim();
  return words && current === 'en' ? words : null;
}

/** Something to show, said in the language of the moment each time it is called. */
export type Text = () => string;

/** A piece of a message: text, or the place of a named placeholder. */
export type RichPart = { text: string; slot: null } | { text: ''; slot: string };

const MARK = '\u0000';

/**
 * Splits `message` (called with `values` and a marker for each of `slots`)
 * into text and the places of those slots, in the translation's order.
 */
export function richParts(
  message: (inputs: Record<string, string | number>) => string,
  slots: readonly string[],
  values: Record<string, string | number> = {},
): RichPart[] {
  const inputs: Record<string, string | number> = { ...values };
  for (const slot of slots) inputs[slot] = `${MARK}${slot}${MARK}`;
  const pieces = message(inputs).split(MARK);
  const parts: RichPart[] = [];
  pieces.forEach((piece, i) => {
    if (i % 2 === 1 && slots.includes(piece)) parts.push({ text: '', slot: piece });
    else if (piece !== '') parts.push({ text: piece, slot: null });
  });
  return parts;
}
