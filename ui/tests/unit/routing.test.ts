import { describe, expect, it } from 'vitest';
import type { Status } from '../../src/lib/bindings/Status';
import { activeAccount, basePage, loginStage, pageFor } from '../../src/lib/routing';
import { account, loginInfo, view, viewWith } from '../fixtures/views.js';

const retry = { retryCount: 2, delayMs: 4000, nextRetryAt: Date.now() + 4000 };

describe('basePage', () => {
  const rows: Array<[Status, boolean, 'login' | 'home']> = [
    ['idle', false, 'login'],
    ['idle', true, 'login'],
    ['connecting', false, 'login'],
    ['connecting', true, 'home'],
    ['connected', true, 'home'],
    ['connected', false, 'home'],
    ['reconnecting', false, 'login'],
    ['reconnecting', true, 'home'],
    ['signedOut', false, 'login'],
    ['signedOut', true, 'login'],
    ['needsToken', false, 'login'],
    ['needsToken', true, 'login'],
    ['destroyed', false, 'login'],
    ['destroyed', true, 'login'],
  ];

  it.each(rows)('status %s with login info %s → %s', (status, hasLogin, page) => {
    const shown = account({ session: { status, login: hasLogin ? loginInfo() : null } });
    expect(basePage(shown)).toBe(page);
  });

  it('no account → login', () => {
    expect(basePage(null)).toBe('login');
  });
});

describe('activeAccount', () => {
  it('finds the active account by id', () => {
    const a = account({ account: 'alice' });
    const b = account({ account: 'bob' });
    expect(activeAccount(view({ accounts: [a, b], active: b.id }))).toBe(b);
  });

  it('is null when active is null or unknown', () => {
    const a = account();
    expect(activeAccount(view({ accounts: [a], active: null }))).toBeNull();
    expect(activeAccount(view({ accounts: [a], active: 'gone' }))).toBeNull();
  });
});

describe('pageFor', () => {
  const connected = account({ session: { status: 'connected', login: loginInfo() } });
  const signedOut = account({ session: { status: 'signedOut' } });

  it('no accounts → login', () => {
    expect(pageFor(view(), null)).toBe('login');
  });

  it('accounts but none active (adding one) → login', () => {
    expect(pageFor(view({ accounts: [connected], active: null }), null)).toBe('login');
  });

  it('connected → home', () => {
    expect(pageFor(viewWith(connected), null)).toBe('home');
  });

  it('diagnostics opened from home → diagnostics', () => {
    expect(pageFor(viewWith(connected), { accountId: connected.id, from: 'home' })).toBe('diagnostics');
  });

  it('diagnostics opened from home, then the account is signed out → login', () => {
    const kicked = { ...connected, session: { ...connected.session, status: 'signedOut' as const } };
    expect(pageFor(viewWith(kicked), { accountId: connected.id, from: 'home' })).toBe('login');
  });

  it('diagnostics opened from login for a signed-out account → diagnostics', () => {
    expect(pageFor(viewWith(signedOut), { accountId: signedOut.id, from: 'login' })).toBe('diagnostics');
  });

  it('diagnostics for another account than the active one → that page', () => {
    expect(pageFor(viewWith(connected), { accountId: 'someone-else', from: 'home' })).toBe('home');
  });

  it('diagnostics request with no active account → login', () => {
    expect(pageFor(view({ accounts: [connected] }), { accountId: connected.id, from: 'home' })).toBe('login');
  });

  it('settings opened with no account → settings, over diagnostics too', () => {
    expect(pageFor(view(), null, { accountId: null, from: 'login' })).toBe('settings');
    expect(
      pageFor(viewWith(connected), { accountId: connected.id, from: 'home' }, { accountId: connected.id, from: 'home' }),
    ).toBe('settings');
  });

  it('settings opened from home, then the account is signed out → login', () => {
    const kicked = { ...connected, session: { ...connected.session, status: 'signedOut' as const } };
    expect(pageFor(viewWith(kicked), null, { accountId: connected.id, from: 'home' })).toBe('login');
  });

  it('settings opened for one account, another shown → that page', () => {
    expect(pageFor(viewWith(connected), null, { accountId: null, from: 'login' })).toBe('home');
  });
});

describe('loginStage', () => {
  it('no account → form', () => {
    expect(loginStage(null)).toEqual({ kind: 'form' });
  });

  it('connecting, never connected → connecting', () => {
    expect(loginStage(account({ session: { status: 'connecting' } }))).toEqual({ kind: 'connecting' });
  });

  it('reconnecting, never connected → retrying with the retry info', () => {
    expect(loginStage(account({ session: { status: 'reconnecting', retry } }))).toEqual({ kind: 'retrying', retry });
  });

  it('connecting with a retry scheduled → retrying', () => {
    expect(loginStage(account({ session: { status: 'connecting', retry } }))).toEqual({ kind: 'retrying', retry });
  });

  it('reconnecting after a session → form (Home handles it)', () => {
    expect(loginStage(account({ session: { status: 'reconnecting', login: loginInfo(), retry } }))).toEqual({
      kind: 'form',
    });
  });

  it.each<Status>(['idle', 'signedOut', 'needsToken', 'destroyed'])('%s → form', (status) => {
    expect(loginStage(account({ session: { status } }))).toEqual({ kind: 'form' });
  });
});
