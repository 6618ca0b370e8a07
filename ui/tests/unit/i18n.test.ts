// The catalogs, the locale and what switching it does to what is on screen.
import { render, screen } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { tick } from 'svelte';
import { describe, expect, it, vi } from 'vitest';
import en from '../../messages/en.json';
import zh from '../../messages/zh-CN.json';
import Home from '../../src/lib/components/Home.svelte';
import Login from '../../src/lib/components/Login.svelte';
import { errorText } from '../../src/lib/errors';
import { dayAtTime, formatSeconds, relativeTime, retryText } from '../../src/lib/format';
import {
  applyLanguagePreference,
  languagePreference,
  locale,
  m,
  setLocale,
  systemLocale,
} from '../../src/lib/i18n.svelte';
import { validityText } from '../../src/lib/pairing';
import { commandError, connectedAccount, kickedAccount, reconnectingAccount, view, viewWith } from '../fixtures/views.js';

vi.mock('../../src/lib/backend', () => import('./mock-backend'));

type Catalog = Record<string, unknown>;

/** Every text of a message: the string itself, or each variant of a complex one. */
function texts(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) {
    return value.flatMap((variant: { match?: Record<string, string> }) => Object.values(variant.match ?? {}));
  }
  return [];
}

/** The inputs a message takes: its `{placeholders}` and its declared inputs, less its locals. */
function placeholders(value: unknown): string[] {
  const names = new Set<string>();
  const locals = new Set<string>();
  if (Array.isArray(value)) {
    for (const variant of value as Array<{ declarations?: string[] }>) {
      for (const declaration of variant.declarations ?? []) {
        const input = /^input\s+(\w+)/.exec(declaration);
        if (input) names.add(input[1]);
        const local = /^local\s+(\w+)/.exec(declaration);
        if (local) locals.add(local[1]);
      }
    }
  }
  for (const text of texts(value)) for (const [, name] of text.matchAll(/\{(\w+)\}/g)) names.add(name);
  return [...names].filter((n) => !locals.has(n)).sort();
}

function messageKeys(catalog: Catalog): string[] {
  return Object.keys(catalog)
    .filter((k) => k !== '$schema')
    .sort();
}

describe('the catalogs', () => {
  const catalogs: Array<[string, Catalog]> = [
    ['en', en as Catalog],
    ['zh-CN', zh as Catalog],
  ];

  it('have exactly the same keys', () => {
    const enKeys = messageKeys(en as Catalog);
    const zhKeys = messageKeys(zh as Catalog);
    expect(enKeys.filter((k) => !zhKeys.includes(k)), 'missing from zh-CN.json').toEqual([]);
    expect(zhKeys.filter((k) => !enKeys.includes(k)), 'missing from en.json').toEqual([]);
    expect(enKeys.length).toBeGreaterThan(200);
  });

  it('take the same placeholders in both languages', () => {
    const mismatched = messageKeys(en as Catalog)
      .filter((k) => k in zh)
      .filter((k) => placeholders((en as Catalog)[k]).join() !== placeholders((zh as Catalog)[k]).join())
      .map((k) => `${k}: en {${placeholders((en as Catalog)[k])}} vs zh-CN {${placeholders((zh as Catalog)[k])}}`);
    expect(mismatched).toEqual([]);
  });

  it.each(catalogs)('%s has no empty message', (_, catalog) => {
    const empty = messageKeys(catalog).filter((k) => {
      const all = texts(catalog[k]);
      return all.length === 0 || all.some((t) => t.trim() === '');
    });
    expect(empty).toEqual([]);
  });

  it('zh-CN is Chinese: every message that is not just a placeholder, a URL or a code has Chinese in it', () => {
    // Left as in English on purpose: product and technical names, formats.
    const SAME = new Set(['login_server_placeholder', 'link_code_placeholder', 'device_type_mac', 'device_noun_mac', 'device_noun_ios', 'login_app_key']);
    const notChinese = messageKeys(zh as Catalog).filter((k) => {
      if (SAME.has(k)) return false;
      const all = texts((zh as Catalog)[k]).map((t) => t.replace(/\{\w+\}/g, '').trim());
      return all.some((t) => t !== '' && !/[\p{Script=Han}\u3000-\u303f\uff00-\uffef]/u.test(t));
    });
    expect(notChinese).toEqual([]);
  });
});

describe('the locale', () => {
  it('systemLocale: the first language the UI has decides; any zh* is zh-CN', () => {
    expect(systemLocale(['zh-CN'])).toBe('zh-CN');
    expect(systemLocale(['zh'])).toBe('zh-CN');
    expect(systemLocale(['zh-TW', 'en'])).toBe('zh-CN');
    expect(systemLocale(['zh-Hans-CN'])).toBe('zh-CN');
    expect(systemLocale(['fr-FR', 'zh-CN'])).toBe('zh-CN');
    expect(systemLocale(['en-GB', 'zh-CN'])).toBe('en');
    expect(systemLocale(['de-DE'])).toBe('en');
    expect(systemLocale([])).toBe('en');
  });

  it('setLocale switches the messages and <html lang>', () => {
    setLocale('zh-CN');
    expect(locale()).toBe('zh-CN');
    expect(document.documentElement.lang).toBe('zh-CN');
    expect(m.common_cancel()).toBe('取消');
    setLocale('en');
    expect(document.documentElement.lang).toBe('en');
    expect(m.common_cancel()).toBe('Cancel');
    expect(() => setLocale('fr' as never)).toThrow();
  });

  it('applyLanguagePreference: one language, or the system’s', () => {
    const languages = vi.spyOn(navigator, 'languages', 'get').mockReturnValue(['zh-CN', 'en']);
    applyLanguagePreference('en');
    expect(locale()).toBe('en');
    expect(languagePreference()).toBe('en');
    applyLanguagePreference('system');
    expect(locale()).toBe('zh-CN');
    // While following the system, its change is followed too.
    languages.mockReturnValue(['en-US']);
    window.dispatchEvent(new Event('languagechange'));
    expect(locale()).toBe('en');
    applyLanguagePreference('zh-CN');
    languages.mockReturnValue(['de']);
    window.dispatchEvent(new Event('languagechange'));
    expect(locale()).toBe('zh-CN');
    languages.mockRestore();
    applyLanguagePreference('system');
  });
});

describe('Chinese text from the helpers', () => {
  const now = new Date(2025, 11, 3, 9, 0).getTime();

  it('countdowns and relative times through Intl', () => {
    expect(formatSeconds(7, 'zh-CN')).toBe('7秒');
    expect(formatSeconds(65, 'zh-CN')).toBe('1分钟05秒');
    expect(retryText({ retryCount: 3, delayMs: 7000, nextRetryAt: now + 7000 }, now, 'zh-CN')).toBe('第 3 次尝试，7秒后重试');
    expect(relativeTime(now - 30_000, now, 'zh-CN')).toBe('刚刚');
    expect(relativeTime(now - 3 * 60_000, now, 'zh-CN')).toBe('3分钟前');
    expect(relativeTime(now - 25 * 3600_000, now, 'zh-CN')).toBe('昨天');
    expect(relativeTime(now - 4 * 86400_000, now, 'zh-CN')).toBe('4天前');
    expect(dayAtTime(new Date(2025, 11, 1, 10, 2).getTime(), now, 'zh-CN')).toBe('12月1日 10:02');
    expect(validityText(now + 102_000, now, 'zh-CN')).toBe('有效期还剩 1:42');
  });

  it('errors said from their code, never their detail', () => {
    setLocale('zh-CN');
    expect(errorText(commandError('required', { field: 'server' }))).toBe('请输入服务器地址。');
    expect(errorText(commandError('invalidInput', { field: 'proxy' }))).toBe('代理地址无效。');
    expect(errorText(commandError('rejected', { serverCode: 429, retryAfterMs: 4200 }))).toBe('尝试次数过多，请在 5 秒后重试。');
    expect(errorText(commandError('rejected', { serverCode: 499 }))).toBe('服务器拒绝了请求（代码 499）。');
    expect(errorText(commandError('internal', { detail: 'Command kick not allowed by ACL' }))).not.toContain('ACL');
    setLocale('en');
    expect(errorText(commandError('rejected', { serverCode: 429, retryAfterMs: 4200 }))).toBe(
      'Too many attempts. Try again in 5 s.',
    );
    expect(errorText(commandError('rejected', { serverCode: 404 }), 'pairingCode')).toMatch(/^There is no such code/);
    expect(errorText(commandError('rejected', { serverCode: 302 }))).toMatch(/did not accept the token/);
    expect(errorText(commandError('rejected', { serverCode: 403 }))).toMatch(/not allowed/);
    expect(errorText(commandError('rejected', { serverCode: 408 }))).toMatch(/in time/);
    expect(errorText(commandError('rejected', { serverCode: 410 }))).toMatch(/expired/);
    expect(errorText(commandError('rejected', { serverCode: 417 }))).toMatch(/another device/);
    expect(errorText(commandError('rejected', { serverCode: 599 }))).toBe('The server refused (code 599).');
  });

  // Every code the gateway sends (docs/protocol.md, the code table) has a
  // sentence of its own in both languages, not the "refused (code N)" fallback.
  it.each(['en', 'zh-CN'] as const)('every gateway code has its own sentence in %s', (lang) => {
    setLocale(lang);
    const fallback = (code: number) => errorText(commandError('rejected', { serverCode: 9000 + code })).replace(String(9000 + code), String(code));
    const codes = [302, 403, 404, 408, 414, 416, 417, 419, 420, 421, 422, 423, 424, 425, 426, 500, 503];
    const generic = codes.filter((code) => errorText(commandError('rejected', { serverCode: code })) === fallback(code));
    expect(generic).toEqual([]);
    const sentences = new Set(codes.map((code) => errorText(commandError('rejected', { serverCode: code }))));
    expect(sentences.size).toBe(codes.length);
    expect(errorText(commandError('rejected', { serverCode: 503, retryAfterMs: 2000 }))).toMatch(/2/);
  });
});

describe('switching the language of a mounted page', () => {
  it('re-renders every string in place: same elements, what was typed kept', async () => {
    const user = userEvent.setup();
    render(Login, { view: viewWith(kickedAccount()) });
    const heading = screen.getByRole('heading', { level: 1 });
    const token = screen.getByLabelText('Token');
    await user.type(token, 's3cret');
    expect(heading).toHaveTextContent('Sign in to alice');
    expect(screen.getByTestId('signed-out-title')).toHaveTextContent('Signed out by another of your devices');

    setLocale('zh-CN');
    await tick();
    expect(heading).toHaveTextContent('登录 alice');
    expect(screen.getByRole('heading', { level: 1 })).toBe(heading);
    expect(screen.getByLabelText('令牌')).toBe(token);
    expect(token).toHaveValue('s3cret');
    expect(screen.getByTestId('signed-out-title')).toHaveTextContent('已被你的另一台设备下线');
    expect(screen.getByTestId('signed-out-detail')).toHaveTextContent('2分钟前');
    expect(screen.getByRole('button', { name: '登录' })).toBeInTheDocument();
    expect(screen.getByRole('checkbox', { name: '记住我' })).toBeInTheDocument();
    expect(document.documentElement.lang).toBe('zh-CN');

    setLocale('en');
    await tick();
    expect(heading).toHaveTextContent('Sign in to alice');
    expect(token).toHaveValue('s3cret');
  });

  it('a shown error follows the switch too (kept as data, said when shown)', async () => {
    const user = userEvent.setup();
    render(Login, { view: view() });
    await user.click(screen.getByRole('button', { name: 'Sign in' }));
    expect(screen.getByText('Enter your account.')).toBeInTheDocument();
    setLocale('zh-CN');
    await tick();
    expect(screen.getByText('请输入账号。')).toBeInTheDocument();
    expect(screen.queryByText('Enter your account.')).toBeNull();
  });

  it('the live countdown of Home keeps counting in the new language', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date'] });
    render(Home, { account: reconnectingAccount(Date.now(), { retryCount: 3, inMs: 8000 }), onopendiagnostics: vi.fn() });
    const headline = screen.getByTestId('banner-headline');
    expect(headline).toHaveTextContent('Connection lost — attempt 3, next try in 8s');
    setLocale('zh-CN');
    await vi.advanceTimersByTimeAsync(3000);
    expect(headline).toHaveTextContent('连接已断开——第 3 次尝试，5秒后重试');
    expect(screen.getByTestId('banner-detail')).toHaveTextContent('服务器没有响应');
    expect(screen.getByRole('button', { name: '立即重试' })).toBeInTheDocument();
  });

  it('Home in Chinese lists the devices with Chinese labels', async () => {
    setLocale('zh-CN');
    render(Home, { account: connectedAccount(), onopendiagnostics: vi.fn() });
    expect(screen.getByRole('heading', { name: '你的设备' })).toBeInTheDocument();
    expect(screen.getByTestId('devices-summary')).toHaveTextContent('已登录 3 台设备 · 3 台在线');
    expect(screen.getAllByTestId('device-row')[1]).toHaveTextContent('iPhone 或 iPad');
    expect(screen.getByTestId('this-device')).toHaveTextContent('本设备');
  });
});
