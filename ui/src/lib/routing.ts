/**
 * Which page shows, as a pure function of the latest `SessionView` and the
 * one piece of local navigation state (whether Diagnostics is open).
 */
import type { AccountView } from './bindings/AccountView';
import type { RetryInfo } from './bindings/RetryInfo';
import type { SessionView } from './bindings/SessionView';

export type Page = 'login' | 'home' | 'diagnostics' | 'settings';

/** Diagnostics opened by the person, for one account, from one page. */
export type DiagnosticsRequest = { accountId: string; from: 'login' | 'home' } | null;

/**
 * Settings opened by the person, over the page they were on (the account
 * shown, if any, and its page).
 */
export type SettingsRequest = { accountId: string | null; from: 'login' | 'home' } | null;

/** The account the view shows, if any. */
export function activeAccount(view: SessionView): AccountView | null {
  return view.accounts.find((a) => a.id === view.active) ?? null;
}

/**
 * Login or Home for an account.
 *
 * Home once the account has connected since this login (a retryable drop
 * keeps `session.login` and stays on Home with the banner); Login before that
 * and after every terminal end.
 */
export function basePage(account: AccountView | null): 'login' | 'home' {
  if (!account) return 'login';
  const { status, login } = account.session;
  switch (status) {
    case 'connected':
      return 'home';
    case 'connecting':
    case 'reconnecting':
      return login ? 'home' : 'login';
    case 'idle':
    case 'signedOut':
    case 'needsToken':
    case 'destroyed':
      return 'login';
  }
}

/**
 * The page to show. Settings and Diagnostics stay open only while nothing moved under
 * it: same account, and the page it was opened from is still the right one
 * (so a kick while reading the log still lands on Login with the reason).
 */
export function pageFor(
  view: SessionView,
  diagnostics: DiagnosticsRequest,
  settings: SettingsRequest = null,
): Page {
  const account = activeAccount(view);
  const base = basePage(account);
  // Settings stay open on the same terms as Diagnostics: a kick or a switch
  // underneath closes them, so the person lands where the change took them.
  if (settings && settings.accountId === (account?.id ?? null) && settings.from === base) {
    return 'settings';
  }
  if (diagnostics && account && diagnostics.accountId === account.id && diagnostics.from === base) {
    return 'diagnostics';
  }
  return base;
}

/** What the Login page shows for the active account. */
export type LoginStage =
  | { kind: 'form' }
  | { kind: 'connecting' }
  | { kind: 'retrying'; retry: RetryInfo | null };

/** The Login page shows progress instead of the form while a first connection is under way. */
export function loginStage(account: AccountView | null): LoginStage {
  if (!account) return { kind: 'form' };
  const { status, login, retry } = account.session;
  if ((status === 'connecting' || status === 'reconnecting') && !login) {
    if (status === 'reconnecting' || retry) return { kind: 'retrying', retry };
    return { kind: 'connecting' };
  }
  return { kind: 'form' };
}
