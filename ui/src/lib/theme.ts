/**
 * The theme on the document: `data-theme` is always `light` or `dark` (the
 * CSS keys its colours on it), resolved from the person's choice and, for
 * `system`, from the OS — followed live while `system` is chosen.
 */
import type { Theme } from './bindings/Theme';

let preference: Theme = 'system';
let query: MediaQueryList | null = null;

function systemDark(): boolean {
  return typeof matchMedia === 'function' && matchMedia('(prefers-color-scheme: dark)').matches;
}

function paint(): void {
  if (typeof document === 'undefined') return;
  const dark = preference === 'dark' || (preference === 'system' && systemDark());
  const root = document.documentElement;
  root.dataset.theme = dark ? 'dark' : 'light';
  root.style.colorScheme = dark ? 'dark' : 'light';
}

/** Applies `pref` now; with `system`, follows the OS from then on. */
export function applyTheme(pref: Theme): void {
  preference = pref;
  if (query === null && typeof matchMedia === 'function') {
    query = matchMedia('(prefers-color-scheme: dark)');
    query.addEventListener?.('change', paint);
  }
  paint();
}

/** The theme shown: `light` or `dark`. */
export function shownTheme(): 'light' | 'dark' {
  return document.documentElement.dataset.theme === 'dark' ? 'dark' : 'light';
}
