// Browser tests of the BUILT UI (run `npm run build` first).
//
// Serves ui/dist on 127.0.0.1 (a free port) with the app's strict CSP,
// drives Debian's chromium with playwright-core, and replaces Tauri's IPC
// with @tauri-apps/api/mocks (see harness.ts), injected before the app runs.
// Screenshots of every page and state, in English and in Chinese (the
// browser's language decides, as in the app), go to test-output/ui/; a
// Chinese page fails on any English word left in it (see `englishLeft`),
// and every page and state fails on an axe-core violation of impact serious
// or critical (see `axeProblems`: contrast, names of controls, ARIA...).
//
//   node tests/browser/run.mjs            (npm run test:browser)
//   CHROMIUM=/path/to/chromium node tests/browser/run.mjs
//   GALLERY='^settings-' node --test-name-pattern='^9\.' tests/browser/run.mjs
//                                         (only some states of the gallery)

import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium } from 'playwright-core';
import { build } from 'vite';
import { ABOUT, PAIR_CODE, PAIR_CODE_RENEWED, pairRequester, sampleTimeline, settings, UPDATE } from '../fixtures/views.js';
import { scenarioTimelines, scenarioViews } from './states.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const uiDir = resolve(here, '..', '..');
const distDir = join(uiDir, 'dist');
const shotsDir = resolve(uiDir, '..', 'test-output', 'ui');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** The CSP the desktop app ships (tauri.conf.json `app.security.csp`). */
export const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self' ipc: http://ipc.localhost",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
};

/** The UI's languages, each with the browser language that selects it. */
const LANGS = /** @type {const} */ (['en', 'zh-CN']);
/** @typedef {(typeof LANGS)[number]} Lang */
const BROWSER_LOCALE = { en: 'en-US', 'zh-CN': 'zh-CN' };

/** @type {import('node:http').Server} */
let server;
/** @type {import('playwright-core').Browser} */
let browser;
/** One browser context per language (its `locale` is navigator.languages). @type {Record<Lang, import('playwright-core').BrowserContext>} */
const contexts = /** @type {any} */ ({});
let baseUrl = '';
let harness = '';

async function buildHarness() {
  const result = await build({
    configFile: false,
    logLevel: 'warn',
    root: uiDir,
    build: {
      write: false,
      minify: false,
      lib: { entry: join(here, 'harness.ts'), formats: ['iife'], name: 'vestibuleHarness' },
    },
  });
  const outputs = Array.isArray(result) ? result : [result];
  for (const out of outputs) {
    if ('output' in out) {
      const chunk = out.output.find((o) => o.type === 'chunk');
      if (chunk && chunk.type === 'chunk') return chunk.code;
    }
  }
  throw new Error('the harness bundle produced no code');
}

function serve() {
  return new Promise((resolveServer) => {
    const s = createServer(async (req, res) => {
      try {
        const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
        const file = normalize(join(distDir, path === '/' ? 'index.html' : path));
        if (!file.startsWith(distDir + sep)) {
          res.writeHead(403).end();
          return;
        }
        const body = await readFile(file);
        res.writeHead(200, {
          'content-type': TYPES[/** @type {keyof typeof TYPES} */ (extname(file))] ?? 'application/octet-stream',
          'content-security-policy': CSP,
          'cache-control': 'no-store',
        });
        res.end(body);
      } catch {
        res.writeHead(404).end('not found');
      }
    });
    s.listen(0, '127.0.0.1', () => resolveServer(s));
  });
}

/**
 * A fresh page with the IPC mock installed, `initialView` ready for the
 * app's `subscribe` and `timeline` (by default the accounts' sample
 * histories, as `reset` updates) ready for its `subscribe_timeline`, in a
 * browser whose language is `lang`'s.
 * @param {import('./states.mjs').SessionView} initialView
 * @param {{width?: number, height?: number, colorScheme?: 'light' | 'dark', timeline?: import('./states.mjs').TimelineUpdate[], lang?: Lang}} [opts]
 */
async function openApp(
  initialView,
  { width = 800, height = 600, colorScheme = 'light', timeline = scenarioTimelines(initialView), lang = 'en' } = {},
) {
  const page = await contexts[lang].newPage();
  /** @type {string[]} */
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' || /Content.Security.Policy/i.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  await page.setViewportSize({ width, height });
  await page.emulateMedia({ colorScheme, reducedMotion: 'reduce' });
  await page.addInitScript({ content: harness });
  await page.addInitScript((v) => /** @type {any} */ (window).__vestibule.push(v), initialView);
  await page.addInitScript((updates) => {
    for (const u of updates) /** @type {any} */ (window).__vestibule.pushTimeline(u);
  }, timeline);
  await page.goto(`${baseUrl}/index.html`);
  return {
    page,
    /** @param {unknown} v */
    push: (v) => page.evaluate((x) => /** @type {any} */ (window).__vestibule.push(x), v),
    /** @param {import('./states.mjs').TimelineUpdate} u */
    pushTimeline: (u) => page.evaluate((x) => /** @type {any} */ (window).__vestibule.pushTimeline(x), u),
    /** @param {string} [cmd] @returns {Promise<Array<{cmd: string, args: any}>>} */
    calls: (cmd) => page.evaluate((c) => /** @type {any} */ (window).__vestibule.calls(c), cmd),
    /**
     * Waits until `cmd` was called; its calls.
     * @param {string} cmd
     * @returns {Promise<Array<{cmd: string, args: any}>>}
     */
    async waitForCalls(cmd) {
      const end = Date.now() + 5000;
      for (;;) {
        const calls = await page.evaluate((c) => /** @type {any} */ (window).__vestibule.calls(c), cmd);
        if (calls.length > 0) return calls;
        if (Date.now() > end) throw new Error(`timed out waiting for the ${cmd} command`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    /** @param {string} cmd @param {{value: unknown} | {error: unknown}} r */
    respond: (cmd, r) => page.evaluate(([c, x]) => /** @type {any} */ (window).__vestibule.respond(c, x), [cmd, r]),
    /** Fails on CSP violations, page errors and console errors, then closes. */
    async close() {
      const violations = await page.evaluate(() => /** @type {any} */ (window).__vestibule.violations());
      await page.close();
      assert.deepEqual([...violations, ...problems], [], 'no CSP violations or errors in the page');
    },
  };
}

/**
 * @param {import('playwright-core').Page} page
 * @param {string} name
 */
async function shot(page, name) {
  const { width, height } = page.viewportSize() ?? { width: 0, height: 0 };
  // Named by the theme shown; when Settings chose one against the OS's, both.
  const [os, theme, lang] = await page.evaluate(() => [
    matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light',
    document.documentElement.dataset.theme,
    document.documentElement.lang,
  ]);
  const scheme = !theme || theme === os ? os : `${theme}-on-${os}-os`;
  await page.screenshot({ path: join(shotsDir, `${name}-${width}x${height}-${scheme}.${lang}.png`) });
}

/**
 * Words in Latin letters a Chinese page may show: product and technical
 * names. Everything else in Latin letters must come from the data shown
 * (`fixturePhrases`: accounts, servers, devices, OS names, IPs, codes, the
 * timeline the backend writes) or be a URL.
 */
const ALLOWED = [
  'Vestibule', // the product
  'vestibule-cli approve', // a command to type
  'App Key', // NIM's name for it
  'ABCD-EFGH', // what a code looks like
  'iPhone',
  'iPad',
  'Android',
  'Mac',
  'IP',
  'JSON',
  'HTTP',
  'SOCKS5',
  'Enter', // keys
  'Esc',
  'English', // the language's own name, in the language menu
];

/**
 * Every string the fixtures put on screen as data (never a sentence the UI
 * says): names, hosts, ids, OS strings, addresses, codes, timeline texts.
 * @param {ReturnType<typeof scenarioViews>} views
 */
function fixturePhrases(views) {
  /** @type {Set<string>} */
  const out = new Set();
  /** @param {unknown} v */
  const add = (v) => {
    if (typeof v === 'string' && v.trim()) out.add(v);
  };
  /** @param {string} url */
  const addUrl = (url) => {
    add(url);
    try {
      add(new URL(url).host);
    } catch {
      // not a URL
    }
  };
  for (const v of Object.values(views)) {
    add(v.version);
    add(v.install.os);
    add(v.install.deviceId);
    if (v.demo) {
      addUrl(v.demo.url);
      add(v.demo.appKey);
      v.demo.suggestedAccounts.forEach(add);
      // Each demo account's avatar: its initial.
      for (const name of v.demo.suggestedAccounts) add(name.charAt(0).toUpperCase());
    }
    if (v.pairing) {
      addUrl(v.pairing.url);
      add(v.pairing.appKey);
      if (v.pairing.state.kind === 'showing') add(v.pairing.state.code);
    }
    for (const a of v.accounts) {
      add(a.account);
      addUrl(a.url);
      add(a.appKey);
      a.demoDevices.forEach(add);
      const { login, devices, lastDisconnect } = a.session;
      for (const d of devices) {
        [d.deviceId, d.os, d.ip, d.name, d.customTag, d.connectionId].forEach(add);
        if (d.client) add(`${d.client.name} ${d.client.version}`.trim());
      }
      if (login) [login.deviceId, login.connectionId, login.ip, login.lastLoginDeviceId, login.customTag, login.country].forEach(add);
      for (const by of [lastDisconnect?.by, lastDisconnect?.ended?.by]) if (by) [by.deviceId, by.os, by.ip].forEach(add);
    }
  }
  for (const entry of sampleTimeline()) add(entry.text);
  const asked = pairRequester();
  [asked.deviceId, asked.os, asked.ip, asked.client].forEach(add);
  [PAIR_CODE, PAIR_CODE_RENEWED, ...EXPORT_PATHS].forEach(add);
  [ABOUT.configDir, ABOUT.logDir, ABOUT.exportDir, UPDATE.version, ...UPDATE.notes.split('\n')].forEach(add);
  return [...out];
}

/** Where the scripted export_diagnostics says it wrote. */
const EXPORT_PATHS = ['/home/alice/.local/share/vestibule/exports/diag-alice.json', '/tmp/vestibule-diagnostics.json'];

/**
 * What a person sees and hears of a page: its visible text and the
 * aria-label, title, placeholder and alt of its elements.
 * @param {import('playwright-core').Page} page
 */
function pageText(page) {
  return page.evaluate(() => {
    const parts = [document.body.innerText];
    for (const el of document.querySelectorAll('[aria-label], [title], [placeholder], [alt]')) {
      for (const name of ['aria-label', 'title', 'placeholder', 'alt']) {
        const value = el.getAttribute(name);
        if (value) parts.push(value);
      }
    }
    return parts.join('\n');
  });
}

/**
 * The words in Latin letters left in `text` once URLs, the allowed names
 * and the data shown are taken out: English the page should not say.
 * @param {string} text
 * @param {readonly string[]} phrases
 */
export function englishLeft(text, phrases) {
  let rest = text;
  // Whole words only: a phrase never takes a bite out of a longer word.
  const escape = (/** @type {string} */ p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (const phrase of [...phrases, ...ALLOWED].sort((a, b) => b.length - a.length)) {
    rest = rest.replace(new RegExp(`(?<![A-Za-z0-9])${escape(phrase)}(?![A-Za-z0-9])`, 'g'), ' ');
  }
  rest = rest.replace(/\b[a-z][a-z0-9+.-]*:\/\/\S*/gi, ' ');
  return [...new Set(rest.match(/[A-Za-z][A-Za-z0-9'’_-]*/g) ?? [])];
}

/**
 * Fails when a page in Chinese still says something in English.
 * @param {import('playwright-core').Page} page
 * @param {string} what
 */
async function assertChinese(page, what) {
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN', `${what}: <html lang>`);
  const text = await pageText(page);
  assert.match(text, /\p{Script=Han}/u, `${what}: there is Chinese on the page`);
  assert.deepEqual(englishLeft(text, PHRASES), [], `${what}: English left in the Chinese page:\n${text}`);
}

const PHRASES = fixturePhrases(scenarioViews(Date.now()));

/** @param {import('playwright-core').Page} page */
async function assertNoHorizontalOverflow(page) {
  const overflow = await page.evaluate(() => {
    const out = [];
    if (document.documentElement.scrollWidth > innerWidth) out.push(`document ${document.documentElement.scrollWidth}px`);
    for (const el of document.querySelectorAll('main, .card, [role="alertdialog"]')) {
      if (el.scrollWidth > el.clientWidth + 1) out.push(`${el.className || el.tagName} ${el.scrollWidth}>${el.clientWidth}`);
    }
    return out;
  });
  assert.deepEqual(overflow, [], 'nothing overflows horizontally');
}

/** Rules that must have run on every page (names of controls, contrast), whether or not they found anything. */
const AXE_REQUIRED = ['button-name', 'label', 'select-name', 'link-name', 'color-contrast', 'aria-dialog-name'];

/**
 * Runs axe-core (every rule but the experimental ones) on the page as it
 * is; its violations of impact serious or critical, one line per element:
 * rule, impact, help, target. axe goes in with page.evaluate, which the
 * page's CSP (script-src 'self') does not govern; legacy mode runs it in
 * the page itself (the app has no frames) instead of in a blank page.
 * @param {import('playwright-core').Page} page
 * @param {string} what
 * @returns {Promise<string[]>}
 */
async function axeProblems(page, what) {
  const results = await new AxeBuilder({ page }).setLegacyMode(true).analyze();
  const ran = new Set([...results.passes, ...results.violations, ...results.incomplete, ...results.inapplicable].map((r) => r.id));
  const missing = AXE_REQUIRED.filter((id) => !ran.has(id));
  assert.deepEqual(missing, [], `${what}: axe rules that did not run`);
  return results.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .flatMap((v) =>
      v.nodes.map(
        (n) => `${what}: ${v.id} (${v.impact}) ${v.help}: ${n.target.join(' > ')}${n.failureSummary ? ` — ${n.failureSummary.replace(/\s+/g, ' ')}` : ''}`,
      ),
    );
}

/**
 * What the focused element is: its test id, id or tag; its accessible name
 * (roughly: aria-labelledby, aria-label, its labels, its text, title); and
 * whether it shows that it has the focus (an outline or a box shadow).
 * @param {import('playwright-core').Page} page
 */
function focused(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    if (!(el instanceof HTMLElement) || el === document.body) return null;
    const text = (/** @type {Element | null} */ e) => (e instanceof HTMLElement ? e.innerText : e?.textContent ?? '').trim();
    const labelledBy = (el.getAttribute('aria-labelledby') ?? '')
      .split(/\s+/)
      .filter(Boolean)
      .map((id) => text(document.getElementById(id)))
      .join(' ');
    const labels = 'labels' in el && el.labels ? [.../** @type {NodeListOf<HTMLLabelElement>} */ (el.labels)].map(text).join(' ') : '';
    const name = (labelledBy || el.getAttribute('aria-label') || labels || text(el) || el.title || '').trim();
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
    const shadow = style.boxShadow !== 'none';
    return {
      id: el.dataset.testid ?? (el.id || el.tagName.toLowerCase()),
      tag: el.tagName.toLowerCase(),
      name,
      visible: el.matches(':focus-visible') && (outline || shadow),
      indicator: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor} / ${style.boxShadow}`,
      inDialog: el.closest('[role=dialog], [role=alertdialog]') !== null,
    };
  });
}

before(async () => {
  assert.ok(existsSync(join(distDir, 'index.html')), 'ui/dist is missing: run `npm run build` first');
  assert.ok(existsSync(chromiumPath), `no chromium at ${chromiumPath} (apt-get install chromium, or set CHROMIUM)`);
  mkdirSync(shotsDir, { recursive: true });
  harness = await buildHarness();
  server = await serve();
  const address = server.address();
  assert.ok(address && typeof address === 'object');
  baseUrl = `http://127.0.0.1:${address.port}`;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  for (const lang of LANGS) {
    contexts[lang] = await browser.newContext({ viewport: { width: 800, height: 600 }, locale: BROWSER_LOCALE[lang] });
  }
});

after(async () => {
  for (const context of Object.values(contexts)) await context.close();
  await browser?.close();
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
});

describe('Vestibule UI in chromium', () => {
  test('1. login form → Home shows Connected and the devices', async () => {
    const now = Date.now();
    const views = scenarioViews(now);
    const app = await openApp(views.loginWithDemo);
    const { page } = app;
    await page.getByTestId('login-form').waitFor();
    await shot(page, 'login-demo');

    await page.getByLabel('Server', { exact: true }).fill('wss://chat.example.com/v1/ws');
    await page.getByLabel('App key', { exact: true }).fill('acme-chat');
    await page.getByLabel('Account', { exact: true }).fill('alice');
    await page.getByLabel('Token', { exact: true }).fill('tok-123');
    await page.getByRole('checkbox', { name: 'Remember me' }).check();
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();

    const [login] = await app.waitForCalls('login');
    assert.deepEqual(login.args, {
      request: {
        url: 'wss://chat.example.com/v1/ws',
        appKey: 'acme-chat',
        account: 'alice',
        token: 'tok-123',
        remember: true,
      },
    });

    await app.push(views.connecting);
    await page.getByTestId('login-progress').getByText('Connecting…').waitFor();
    await shot(page, 'login-connecting');

    await app.push(views.connected);
    const banner = page.getByTestId('status-banner');
    await banner.waitFor();
    assert.equal(await banner.getAttribute('data-state'), 'connected');
    assert.match(await banner.innerText(), /Connected/);
    const rows = page.getByTestId('device-row');
    assert.equal(await rows.count(), 3);
    assert.match(await rows.nth(0).innerText(), /This device/);
    assert.match(await rows.nth(1).innerText(), /iOS 17\.5/);
    assert.match(await rows.nth(1).innerText(), /203\.0\.113\.24/);
    await shot(page, 'home-connected');
    await assertNoHorizontalOverflow(page);
    await app.close();
  });

  test('2. the reconnect banner counts down in real time and Retry now calls retry_now', async () => {
    const now = Date.now();
    const views = scenarioViews(now);
    const app = await openApp(views.connected);
    const { page } = app;
    await page.getByTestId('home-page').waitFor();
    await app.push(scenarioViews(Date.now()).reconnecting);
    const headline = page.getByTestId('banner-headline');
    await headline.getByText(/attempt 3, next try in/).waitFor();
    const secondsIn = async () => {
      const text = await headline.innerText();
      const m = /Connection lost — attempt 3, next try in (\d+)s/.exec(text);
      assert.ok(m, `banner says "${text}"`);
      return Number(m[1]);
    };
    const first = await secondsIn();
    assert.ok(first >= 8 && first <= 9, `starts near 9s, got ${first}s`);
    await shot(page, 'home-reconnecting');
    await page.waitForTimeout(2300);
    const second = await secondsIn();
    assert.ok(second <= first - 2, `counted down from ${first}s to ${second}s`);
    assert.ok(second >= 0);

    await page.getByTestId('status-banner').getByRole('button', { name: 'Retry now' }).click();
    const retries = await app.waitForCalls('retry_now');
    assert.deepEqual(retries[0].args, { accountId: views.connected.active });

    await app.push(scenarioViews(Date.now()).offline);
    await headline.getByText(/^No network/).waitFor();
    await shot(page, 'home-offline');
    await app.close();
  });

  test('3. kick asks first: cancel does nothing, confirm kicks and the device goes with the next view', async () => {
    const views = scenarioViews(Date.now());
    const app = await openApp(views.connected);
    const { page } = app;
    await page.getByTestId('home-page').waitFor();
    const kick = page.getByTestId('kick-phone-77aa');

    await kick.click();
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /Sign out this iPhone or iPad\?/);
    assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Cancel');
    await shot(page, 'home-kick-confirm');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });

    await kick.click();
    await dialog.waitFor();
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.deepEqual(await app.calls('kick'), [], 'cancel and Esc kick nothing');
    assert.equal(await page.getByTestId('device-row').count(), 3);

    await app.respond('kick', { value: { kicked: ['phone-77aa'], notFound: [] } });
    await kick.click();
    await dialog.getByRole('button', { name: 'Sign out', exact: true }).click();
    const kicks = await app.waitForCalls('kick');
    assert.deepEqual(kicks[0].args, { accountId: views.connected.active, deviceIds: ['phone-77aa'] });
    await app.push(views.afterKick);
    await page.getByTestId('kick-phone-77aa').waitFor({ state: 'detached' });
    assert.equal(await page.getByTestId('device-row').count(), 2);
    assert.match(await page.getByTestId('devices-feedback').innerText(), /Signed out iPhone or iPad/);
    await shot(page, 'home-after-kick');

    await page.getByRole('button', { name: 'Sign out all other devices' }).click();
    await dialog.getByRole('button', { name: 'Sign out all' }).click();
    const others = await app.waitForCalls('kick_others');
    assert.deepEqual(others[0].args, { accountId: views.connected.active });
    await app.close();
  });

  test("4. kicked → Login says who did it: the device's type, OS and IP", async () => {
    const views = scenarioViews(Date.now());
    const app = await openApp(views.connected);
    const { page } = app;
    await page.getByTestId('home-page').waitFor();
    await app.push(views.kicked);
    const reason = page.getByTestId('signed-out-reason');
    await reason.waitFor();
    assert.ok(await page.getByTestId('login-form').isVisible(), 'the login form is back');
    const text = await reason.innerText();
    assert.match(text, /Signed out by another of your devices/);
    assert.match(text, /Android device/);
    assert.match(text, /Android 14/);
    assert.match(text, /198\.51\.100\.7/);
    assert.equal(await page.getByLabel('Account', { exact: true }).inputValue(), 'alice', 'the form is prefilled');
    await shot(page, 'login-kicked');
    await app.close();
  });

  test('5. diagnostics: newest first, export shows the path, back returns Home', async () => {
    const views = scenarioViews(Date.now());
    const app = await openApp(views.connected);
    const { page } = app;
    await page.getByRole('button', { name: 'Connection log' }).click();
    await page.getByTestId('diagnostics-page').waitFor();
    const first = await page.getByTestId('timeline-entry').first().innerText();
    // The newest: the refused kick (414), said from its code.
    assert.match(first, /The server could not read what the app sent\..*414/s);
    assert.equal((await app.calls('subscribe_timeline')).length, 1, 'the timeline is subscribed to once');
    await shot(page, 'diagnostics');
    await app.respond('export_diagnostics', { value: '/home/alice/.local/share/vestibule/exports/diag-alice.json' });
    await page.getByRole('button', { name: 'Export…' }).click();
    await page.getByTestId('export-path').getByText('diag-alice.json').waitFor();
    assert.deepEqual((await app.calls('export_diagnostics'))[0].args, { accountId: views.connected.active });
    await shot(page, 'diagnostics-exported');
    const entries = page.getByTestId('timeline-entry');
    const before = await entries.count();
    await app.pushTimeline({
      accountId: views.connected.active ?? '',
      // An event this UI does not know shows the backend's English line.
      entries: [{ at: Date.now(), kind: 'action', event: { type: 'other' }, text: 'export diagnostics', code: null }],
      reset: false,
    });
    await entries.first().getByText('export diagnostics').waitFor();
    assert.equal(await entries.count(), before + 1, 'a new entry is added on top');
    await page.getByRole('button', { name: 'Back' }).click();
    await page.getByTestId('home-page').waitFor();
    await app.close();
  });

  test('6. keyboard: the login form can be filled and sent without a mouse', async () => {
    const views = scenarioViews(Date.now());
    const app = await openApp(views.loginEmpty);
    const { page } = app;
    await page.getByTestId('login-form').waitFor();
    await page.getByLabel('Server', { exact: true }).focus();
    await page.keyboard.press('Tab');
    await page.keyboard.type('acme-chat');
    await page.keyboard.press('Tab');
    await page.keyboard.type('bob');
    await page.keyboard.press('Tab');
    await page.keyboard.type('t0k');
    await page.keyboard.press('Enter');
    const [login] = await app.waitForCalls('login');
    assert.equal(login.args.request.account, 'bob');
    assert.equal(login.args.request.token, 't0k');
    await app.close();
  });

  test('7. devices: online and offline groups, New badge, rename inline, sign out an offline device', async () => {
    const views = scenarioViews(Date.now());
    const app = await openApp(views.devicesOffline, { width: 1280, height: 800 });
    const { page } = app;
    const accountId = views.devicesOffline.active;
    await page.getByTestId('home-page').waitFor();
    const online = page.getByTestId('devices-online');
    const offline = page.getByTestId('devices-offline');
    assert.match(await online.innerText(), /Online now/i);
    assert.match(await offline.innerText(), /Signed in, not online/i);
    const idsIn = (/** @type {import('playwright-core').Locator} */ group) =>
      group.getByTestId('device-row').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-device-id')));
    assert.deepEqual(await idsIn(online), ['desk-5f1c2a', 'phone-77aa', 'web-2e7f', 'tab-31bc']);
    assert.deepEqual(await idsIn(offline), ['mac-9d04', 'old-a1b2']);
    const mac = page.locator('[data-testid=device-row][data-device-id=mac-9d04]');
    assert.equal(await mac.getAttribute('data-online'), 'false');
    assert.equal(await mac.getByTestId('device-name').innerText(), 'Work MacBook');
    assert.match(await mac.getByTestId('device-active').innerText(), /^active 3 days ago$/);
    const news = page.getByTestId('device-new');
    assert.equal(await news.count(), 1, 'one device is new');
    assert.equal(
      await page.locator('[data-testid=device-row][data-device-id=web-2e7f]').getByTestId('device-new').count(),
      1,
      'the browser that signed in 2 h ago is new',
    );
    await shot(page, 'home-devices-offline');
    await assertNoHorizontalOverflow(page);

    // Rename with the keyboard: Enter saves exactly { accountId, deviceId, name }.
    await page.getByRole('button', { name: 'Rename Work MacBook' }).click();
    const input = page.getByTestId('rename-input');
    assert.equal(await input.evaluate((el) => el === document.activeElement), true, 'the field has focus');
    await input.fill('');
    await page.keyboard.press('Enter');
    await page.getByTestId('rename-error').getByText('Enter a name.').waitFor();
    await shot(page, 'home-device-rename-invalid');
    assert.deepEqual(await app.calls('rename_device'), [], 'an empty name is not sent');
    await input.fill('  Studio Mac ');
    await page.keyboard.press('Enter');
    const [rename] = await app.waitForCalls('rename_device');
    assert.deepEqual(rename.args, { accountId, deviceId: 'mac-9d04', name: 'Studio Mac' });
    await input.waitFor({ state: 'detached' });
    assert.equal(await mac.getByTestId('device-name').innerText(), 'Studio Mac');
    assert.equal(
      await page.evaluate(() => document.activeElement?.getAttribute('data-testid')),
      'rename-mac-9d04',
      'focus goes back to the pencil',
    );

    // Escape and clicking elsewhere cancel.
    await page.getByTestId('rename-phone-77aa').click();
    await input.fill('Nope');
    await page.keyboard.press('Escape');
    await input.waitFor({ state: 'detached' });
    await page.getByTestId('rename-phone-77aa').click();
    await input.fill('Nope either');
    await page.getByRole('heading', { name: 'Your devices' }).click();
    await input.waitFor({ state: 'detached' });
    assert.equal((await app.calls('rename_device')).length, 1, 'Escape and blur rename nothing');

    // A refused rename shows why.
    await app.respond('rename_device', {
      error: { code: 'invalidInput', field: 'deviceName', serverCode: null, retryAfterMs: null, detail: 'that name is not allowed' },
    });
    await page.getByTestId(`rename-${'desk-5f1c2a'}`).click();
    await input.fill('Desk');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByTestId('devices-feedback').getByText("That name can't be used for a device.").waitFor();
    await page.keyboard.press('Escape');

    // Sign out an offline device.
    await app.respond('kick', { value: { kicked: ['mac-9d04'], notFound: [] } });
    await page.getByTestId('kick-mac-9d04').click();
    const dialog = page.getByRole('alertdialog');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /It is signed out at once; it has to sign in again to come back\./);
    await shot(page, 'home-kick-offline-confirm');
    await dialog.getByRole('button', { name: 'Sign out', exact: true }).click();
    const [kick] = await app.waitForCalls('kick');
    assert.deepEqual(kick.args, { accountId, deviceIds: ['mac-9d04'] });
    await app.push(views.devicesAfterOfflineKick);
    await mac.waitFor({ state: 'detached' });
    assert.deepEqual(await idsIn(offline), ['old-a1b2']);

    await page.getByTestId('kick-others').click();
    assert.match(await dialog.innerText(), /Sign out 4 other devices\?/);
    await page.keyboard.press('Escape');
    await app.close();
  });

  test('8. a remembered session that had ended while the app was closed: Login says how, by whom, when', async () => {
    const views = scenarioViews(Date.now());
    const app = await openApp(views.revoked);
    const { page } = app;
    const reason = page.getByTestId('signed-out-reason');
    await reason.waitFor();
    const text = await reason.innerText();
    assert.match(text, /Signed out by another of your devices/);
    assert.match(text, /Signed out by your iPhone \(iOS 17\.5, 203\.0\.113\.24\) on .+ at /);
    assert.match(text, /Code 420/);
    assert.ok(await page.getByTestId('login-form').isVisible(), 'the login form is there');
    await app.push(views.unknownSession);
    await page.getByTestId('signed-out-title').getByText('Sign in again').waitFor();
    assert.match(await reason.innerText(), /no longer knows this device's sign-in \(421\)/);
    await app.close();
  });

  test('9. screenshots of every page and state, 800×600 and 1280×800, light and dark, English and Chinese; no English left in Chinese; axe finds nothing serious or critical', async () => {
    // The check itself: English is found, data and allowed names are not.
    assert.deepEqual(englishLeft('已连接 Sign out alice（iOS 17.5，203.0.113.24）Vestibule wss://x.example/v1', PHRASES), [
      'Sign',
      'out',
    ]);
    assert.deepEqual(englishLeft('Macintosh Work MacBook', PHRASES), ['Macintosh']);
    // Driven by test ids and attributes only: the same steps in either language.
    /** A state pushed afresh when its shot is taken (its countdown starts then). */
    const fresh = (/** @type {keyof ReturnType<typeof scenarioViews>} */ name) =>
      async (/** @type {Awaited<ReturnType<typeof openApp>>} */ app) => {
        await app.push(scenarioViews(Date.now())[name]);
        await app.page.getByTestId('pair-valid').getByText(/1:4[12]/).waitFor();
      };
    /** Opens the connection log from Home. */
    const openLog = async (/** @type {Awaited<ReturnType<typeof openApp>>} */ { page }) => {
      await page.getByTestId('open-diagnostics').click();
      await page.getByTestId('diagnostics-page').waitFor();
    };
    /** Opens Link a new device and types a code. */
    const linkCode = async (/** @type {Awaited<ReturnType<typeof openApp>>} */ { page }) => {
      await page.getByTestId('link-device').click();
      await page.getByTestId('link-code-input').fill('7kqm-3xpd');
    };
    /** Opens Settings (from the sidebar, or the first login page's button) once `update_status` says `status`. */
    const openSettings = (/** @type {unknown} */ status = { kind: 'unchecked' }) =>
      async (/** @type {Awaited<ReturnType<typeof openApp>>} */ app) => {
        await app.respond('update_status', { value: status });
        await app.page.getByTestId('open-settings').click();
        await app.page.getByTestId('settings-page').waitFor();
        await app.page.getByTestId('settings-open-config').waitFor();
        const shown = app.page.locator(`[data-testid=settings-update-status][data-kind=${/** @type {any} */ (status).kind}]`);
        await shown.waitFor();
        // An update's state is what the shot is about: in view.
        if (/** @type {any} */ (status).kind !== 'unchecked') await shown.scrollIntoViewIfNeeded();
      };
    const states = scenarioViews(Date.now());
    /** @type {Array<[string, import('./states.mjs').SessionView, ((app: Awaited<ReturnType<typeof openApp>>) => Promise<void>)?]>} */
    const gallery = [
      ['login-empty', states.loginEmpty],
      ['login-demo', states.loginWithDemo],
      ['login-no-keychain', states.loginNoKeychain],
      ['login-validation', states.loginEmpty, async ({ page }) => {
        await page.getByTestId('login-submit').click();
        await page.locator('#login-token-error').waitFor();
      }],
      ['login-connecting', states.connecting],
      ['login-cant-reach', states.cantReach],
      ['login-kicked', states.kicked],
      ['login-expired', states.expired],
      ['login-refused-302', states.refused302],
      ['login-revoked', states.revoked],
      ['login-revoked-idle', states.revokedIdle],
      ['login-unknown-session', states.unknownSession],
      ['login-add-account', states.addAccount],
      ['login-advanced-proxy', states.addAccount, async ({ page }) => {
        await page.getByTestId('login-advanced').locator('summary').click();
        await page.locator('input[name="proxy-mode"][value="custom"]').check();
        await page.locator('#login-proxy').fill('socks5://alice@proxy.example:1080');
      }],
      ['login-pairing', states.pairingShowing, fresh('pairingShowing')],
      ['login-pairing-asking', states.pairingAsking, async ({ page }) => {
        await page.getByTestId('pair-asking').waitFor();
      }],
      ['login-pairing-failed', states.pairingFailed],
      ['login-pairing-add-account', states.pairingAddAccount, fresh('pairingAddAccount')],
      ['home-connected', states.connected],
      ['home-reconnecting', states.reconnecting],
      ['home-offline', states.offline],
      ['home-demo', states.demoConnected],
      ['home-two-accounts', states.twoAccounts],
      ['home-devices-offline', states.devicesOffline],
      ['home-devices-offline-scrolled', states.devicesOffline, async ({ page }) => {
        await page.getByTestId('devices-offline').scrollIntoViewIfNeeded();
      }],
      ['home-device-rename', states.devicesOffline, async ({ page }) => {
        await page.getByTestId('rename-mac-9d04').click();
        await page.getByTestId('rename-input').fill('x'.repeat(65));
        await page.keyboard.press('Enter');
        await page.getByTestId('rename-error').waitFor();
        await page.getByTestId('rename-error').scrollIntoViewIfNeeded();
      }],
      ['home-device-rename-invalid', states.devicesOffline, async ({ page }) => {
        await page.getByTestId('rename-mac-9d04').click();
        await page.getByTestId('rename-input').fill('');
        await page.keyboard.press('Enter');
        await page.getByTestId('rename-error').waitFor();
      }],
      ['home-kick-confirm', states.connected, async ({ page }) => {
        await page.getByTestId('kick-phone-77aa').click();
        await page.getByRole('alertdialog').waitFor();
      }],
      ['home-kick-offline-confirm', states.devicesOffline, async ({ page }) => {
        await page.getByTestId('kick-mac-9d04').click();
        await page.getByRole('alertdialog').waitFor();
      }],
      ['home-after-kick', states.connected, async (app) => {
        await app.respond('kick', { value: { kicked: ['phone-77aa'], notFound: [] } });
        await app.page.getByTestId('kick-phone-77aa').click();
        await app.page.getByTestId('confirm-ok').click();
        await app.push(states.afterKick);
        await app.page.getByTestId('devices-feedback').waitFor();
      }],
      ['home-link-dialog', states.connected, linkCode],
      ['home-link-error', states.connected, async (app) => {
        await app.respond('lookup_pair', {
          error: { code: 'rejected', field: null, serverCode: 410, retryAfterMs: null, detail: 'this code has expired' },
        });
        await linkCode(app);
        await app.page.getByTestId('link-lookup').click();
        await app.page.getByTestId('link-error').waitFor();
      }],
      ['home-link-confirm', states.connected, async (app) => {
        await app.respond('lookup_pair', { value: pairRequester(Date.now()) });
        await linkCode(app);
        await app.page.getByTestId('link-lookup').click();
        await app.page.getByTestId('link-requester').waitFor();
      }],
      ['home-linked', states.connected, async (app) => {
        await linkCode(app);
        await app.page.getByTestId('link-lookup').click();
        await app.page.getByTestId('link-approve').click();
        await app.page.getByTestId('link-done').waitFor();
        await app.push(scenarioViews(Date.now()).linked);
        await app.page.locator('[data-testid=device-row][data-device-id=mac-41d7]').waitFor();
      }],
      ['diagnostics', states.connected, openLog],
      ['diagnostics-exported', states.connected, async (app) => {
        await app.respond('export_diagnostics', { value: EXPORT_PATHS[0] });
        await openLog(app);
        await app.page.getByTestId('export').click();
        await app.page.getByTestId('export-path').waitFor();
      }],
      ['settings-no-account', states.loginEmpty, openSettings()],
      ['settings-accounts', states.twoAccounts, openSettings()],
      ['settings-update-available', states.connected, openSettings({ kind: 'available', ...UPDATE })],
      ['settings-bad-signature', states.connected, openSettings({ kind: 'badSignature', version: UPDATE.version })],
      // Dark chosen in Settings, whatever the OS says (its shot under a light OS is "-dark-on-light-os").
      ['settings-theme-dark', states.connected, async (app) => {
        await openSettings()(app);
        await app.page.getByTestId('settings-theme').selectOption('dark');
        await app.page.locator('html[data-theme=dark]').waitFor({ state: 'attached' });
      }],
      ['home-theme-dark', { ...states.connected, settings: settings({ theme: 'dark' }) }],
    ];
    const large = new Set([
      'login-demo',
      'login-kicked',
      'login-revoked',
      'home-connected',
      'home-demo',
      'home-devices-offline',
      'home-reconnecting',
      'diagnostics',
      'login-pairing',
      'login-pairing-add-account',
      'home-link-dialog',
      'home-link-confirm',
    ]);
    // A theme chosen in Settings needs no second OS scheme.
    const ownTheme = new Set(['home-theme-dark']);
    /** Every serious or critical axe violation, of every state: reported together at the end. */
    const a11y = [];
    const only = process.env.GALLERY ? new RegExp(process.env.GALLERY) : null;
    for (const lang of LANGS) {
      for (const [name, initial, act] of gallery) {
        if (only && !only.test(name)) continue;
        /** @type {Array<'light' | 'dark'>} */
        const schemes = ownTheme.has(name) ? ['light'] : ['light', 'dark'];
        for (const colorScheme of schemes) {
          const sizes = large.has(name) ? [[800, 600], [1280, 800]] : [[800, 600]];
          for (const [width, height] of sizes) {
            const app = await openApp(initial, { width, height, colorScheme, lang });
            await app.page.locator('[data-page]').waitFor();
            if (act) await act(app);
            await shot(app.page, name);
            await assertNoHorizontalOverflow(app.page);
            if (lang === 'zh-CN') await assertChinese(app.page, `${name} ${width}×${height} ${colorScheme}`);
            // axe once per state, theme and language (the larger size has the same markup).
            if (width === 800) a11y.push(...(await axeProblems(app.page, `${name} ${colorScheme} ${lang}`)));
            await app.close();
          }
        }
      }
    }
    assert.deepEqual(a11y, [], `axe: serious or critical violations:\n${a11y.join('\n')}`);
  });

  test('10. Sign in with another device: the code, its QR code and a countdown until approval; Link a new device approves one', async () => {
    const views = scenarioViews(Date.now());
    const app = await openApp(views.loginWithDemo);
    const { page } = app;
    await page.getByTestId('login-form').waitFor();

    // Needs the server and the app key (not the account or a token).
    const start = page.getByTestId('pair-start');
    assert.equal(await start.isEnabled(), true);
    await page.getByLabel('App key', { exact: true }).fill('');
    assert.equal(await start.isDisabled(), true, 'disabled without an app key');
    assert.match(await page.getByTestId('pair-start-hint').innerText(), /Enter the server and app key/);
    await page.getByLabel('App key', { exact: true }).fill('acme-chat');
    await page.getByRole('checkbox', { name: 'Remember me' }).check();
    await page.getByRole('button', { name: 'Sign in with another device' }).click();
    const [started] = await app.waitForCalls('start_pairing');
    assert.deepEqual(started.args, {
      request: { url: 'wss://chat.example.com/v1/ws', appKey: 'acme-chat', remember: true },
    });
    assert.deepEqual(await app.calls('login'), [], 'no login');

    await app.push(views.pairingAsking);
    const panel = page.getByTestId('pairing');
    await panel.getByText('Getting a code…').waitFor();
    assert.equal(await page.getByTestId('login-form').count(), 0, 'the panel takes the form’s place');
    assert.equal(await page.getByTestId('demo-panel').count(), 0, 'one thing at a time');

    await app.push(scenarioViews(Date.now()).pairingShowing);
    const code = page.getByTestId('pair-code');
    await code.waitFor();
    assert.equal(await code.innerText(), PAIR_CODE);
    assert.match(await code.evaluate((el) => getComputedStyle(el).fontFamily), /mono/i);
    const qr = page.getByTestId('pair-qr');
    const box = await qr.boundingBox();
    assert.ok(box && Math.round(box.width) === 200 && Math.round(box.height) === 200, `the QR code is 200×200: ${JSON.stringify(box)}`);
    assert.equal(await qr.evaluate((el) => getComputedStyle(el).backgroundColor), 'rgb(255, 255, 255)');
    const svg = await qr.locator('svg').boundingBox();
    assert.ok(svg && svg.width >= 196 && svg.height >= 196, `the SVG fills it: ${JSON.stringify(svg)}`);
    assert.equal(await page.getByTestId('pair-waiting').getAttribute('role'), 'status');
    assert.match(await page.getByTestId('pair-waiting').innerText(), /Waiting for approval…/);
    assert.match(await panel.innerText(), new RegExp(`vestibule-cli approve ${PAIR_CODE}`));
    const valid = page.getByTestId('pair-valid');
    const secondsLeft = async () => {
      const text = await valid.innerText();
      const m = /^Valid for (\d+):(\d\d)$/.exec(text);
      assert.ok(m, `says "${text}"`);
      return Number(m[1]) * 60 + Number(m[2]);
    };
    const first = await secondsLeft();
    assert.ok(first >= 100 && first <= 102, `starts near 1:42, got ${first}s`);
    await shot(page, 'login-pairing');
    await assertNoHorizontalOverflow(page);
    await page.waitForTimeout(2300);
    const later = await secondsLeft();
    assert.ok(later <= first - 2, `counted down from ${first}s to ${later}s`);

    // A new code replaces the old one by itself.
    await app.push(scenarioViews(Date.now()).pairingRenewed);
    await code.getByText(PAIR_CODE_RENEWED).waitFor();
    assert.ok((await secondsLeft()) >= 118, 'the new code is valid for 2:00');

    // Keyboard: the heading has the focus (the button is gone), Tab reaches Cancel, Enter cancels.
    assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'H2');
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'pair-cancel');
    await page.keyboard.press('Enter');
    await app.waitForCalls('cancel_pairing');
    await app.push(views.loginWithDemo);
    await page.getByTestId('login-form').waitFor();
    await page.waitForFunction(() => document.activeElement?.getAttribute('data-testid') === 'pair-start');

    // Failed: why, and Try again asks again the same way.
    await app.push(views.pairingFailed);
    assert.equal(await page.getByTestId('pair-error').innerText(), 'The server did not answer in time. Try again.');
    await page.getByTestId('pair-retry').click();
    const starts = await app.calls('start_pairing');
    assert.equal(starts.length, 2);
    assert.deepEqual(starts[1].args, {
      request: { url: 'wss://chat.example.com/v1/ws', appKey: 'acme-chat', remember: true },
    });

    // Approved: the new account connects like after a login, then Home.
    await app.push(views.pairedConnecting);
    await page.getByTestId('login-progress').getByText('Connecting…').waitFor();
    await app.push(views.connected);
    await page.getByTestId('home-page').waitFor();

    // Link a new device, from Home.
    const accountId = views.connected.active;
    const link = page.getByTestId('link-device');
    assert.equal(await link.isEnabled(), true);
    await link.click();
    const dialog = page.getByTestId('link-dialog');
    await dialog.waitFor();
    assert.equal(await dialog.getAttribute('role'), 'dialog');
    await page.waitForFunction(() => document.activeElement?.getAttribute('data-testid') === 'link-code-input');
    assert.equal(await page.getByTestId('link-code-input').getAttribute('placeholder'), 'ABCD-EFGH');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'link-device');

    await link.click();
    await app.respond('lookup_pair', {
      error: { code: 'rejected', field: null, serverCode: 404, retryAfterMs: null, detail: 'no such code' },
    });
    await page.getByTestId('link-code-input').fill('zzzz-zzzz');
    await page.getByTestId('link-lookup').click();
    await page.getByTestId('link-error').getByText(/^There is no such code/).waitFor();
    assert.deepEqual((await app.calls('lookup_pair'))[0].args, { accountId, code: 'zzzz-zzzz' });

    await app.respond('lookup_pair', { value: pairRequester(Date.now()) });
    await page.getByTestId('link-code-input').fill('7kqm-3xpd');
    await page.keyboard.press('Enter');
    const requester = page.getByTestId('link-requester');
    await requester.waitFor();
    assert.equal(await page.getByTestId('link-error').count(), 0, 'the error is gone');
    const who = await requester.innerText();
    for (const part of ['Mac', 'macOS 14.5', '203.0.113.57', 'vestibule-desktop 0.1.0']) assert.ok(who.includes(part), `${part} in ${who}`);
    assert.match(who, /asked at .+ \(1[2-5] seconds ago\)/);
    assert.match(await dialog.innerText(), /Is this you\?/);
    assert.match(await dialog.innerText(), /Only approve a device that is yours and in front of you\. Anyone you approve can use your account\./);
    assert.equal(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'link-cancel');
    await shot(page, 'home-link-confirm');
    await assertNoHorizontalOverflow(page);
    assert.deepEqual(await app.calls('approve_pair'), [], 'nothing approved before Approve');

    await page.getByTestId('link-approve').click();
    const [approved] = await app.waitForCalls('approve_pair');
    assert.deepEqual(approved.args, { accountId, code: '7kqm-3xpd' });
    await dialog.waitFor({ state: 'hidden' });
    assert.equal(
      await page.getByTestId('link-done').innerText(),
      'Signed in the new device. It appears in your devices as New.',
    );
    await app.push(scenarioViews(Date.now()).linked);
    await page.locator('[data-testid=device-row][data-device-id=mac-41d7] [data-testid=device-new]').waitFor();

    // Only while connected.
    await app.push(views.reconnecting);
    await page.getByTestId('status-banner').getByText(/Connection lost/).waitFor();
    assert.equal(await link.isDisabled(), true);
    await app.close();
  });
  test('11. a browser in Chinese starts the app in Chinese: labels, a live countdown, errors from their codes', async () => {
    const views = scenarioViews(Date.now());
    const app = await openApp(views.loginEmpty, { lang: 'zh-CN' });
    const { page } = app;
    await page.getByTestId('login-form').waitFor();
    assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-CN');
    assert.equal(await page.getByRole('heading', { level: 1 }).innerText(), '登录');
    await page.getByLabel('App Key', { exact: true }).fill('acme-chat');
    await page.getByLabel('账号', { exact: true }).fill('alice');
    await page.getByRole('button', { name: '登录', exact: true }).click();
    await page.getByText('请输入令牌。').waitFor();
    await page.getByLabel('令牌', { exact: true }).fill('tok');
    await app.respond('login', {
      error: { code: 'rejected', field: null, serverCode: 302, retryAfterMs: null, detail: 'wrong token (302)' },
    });
    await page.getByRole('button', { name: '登录', exact: true }).click();
    assert.equal(await page.getByTestId('login-error').innerText(), '服务器不接受此令牌，请检查后重试。');
    await assertChinese(page, 'login with an error');

    await app.push(views.connected);
    await page.getByTestId('home-page').waitFor();
    await app.push(scenarioViews(Date.now()).reconnecting);
    const headline = page.getByTestId('banner-headline');
    await headline.getByText(/第 3 次尝试/).waitFor();
    const secondsIn = async () => {
      const text = await headline.innerText();
      const m = /^连接已断开——第 3 次尝试，(\d+)秒后重试$/.exec(text);
      assert.ok(m, `banner says "${text}"`);
      return Number(m[1]);
    };
    const first = await secondsIn();
    await page.waitForTimeout(2300);
    assert.ok((await secondsIn()) <= first - 2, 'it counts down');
    await assertChinese(page, 'home reconnecting');
    await app.close();
  });

  test('12. focus: a new page focuses its heading; the kick confirmation and Link a new device keep Tab inside and give the focus back', async () => {
    const views = scenarioViews(Date.now());
    const app = await openApp(views.loginEmpty);
    const { page } = app;
    await page.getByTestId('login-form').waitFor();
    /** The focused element is `main`'s h1 and says `text`. */
    const headingFocused = async (/** @type {string | RegExp} */ text, /** @type {string} */ what) => {
      await page
        .waitForFunction(() => document.activeElement?.matches('main.content h1') === true, null, { timeout: 3000 })
        .catch(() => {});
      const now = await page.evaluate(() => ({
        h1: document.activeElement?.matches('main.content h1') ?? false,
        text: document.activeElement instanceof HTMLElement ? document.activeElement.innerText : '',
        tag: document.activeElement?.tagName,
      }));
      assert.ok(now.h1, `${what}: the focus is on the page's h1, not on ${now.tag} "${now.text}"`);
      assert.match(now.text, typeof text === 'string' ? new RegExp(`^${text}$`) : text, `${what}: the h1 says where`);
    };

    // Login → Home once the pushed view says connected.
    await app.push(views.connected);
    await page.getByTestId('home-page').waitFor();
    await headingFocused('alice', 'login → home');
    // Home → Settings → back Home.
    await page.getByTestId('open-settings').click();
    await page.getByTestId('settings-page').waitFor();
    await headingFocused('Settings', 'home → settings');
    await page.getByTestId('settings-back').click();
    await page.getByTestId('home-page').waitFor();
    await headingFocused('alice', 'settings → home');

    /**
     * Tab and Shift+Tab round the open dialog: every stop is inside it, Tab
     * comes back to where it started, Shift+Tab goes the same way backwards.
     */
    const cycles = async (/** @type {string} */ what) => {
      const start = await focused(page);
      assert.ok(start?.inDialog, `${what}: the focus starts inside the dialog (${start?.id})`);
      const forward = [start.id];
      for (let i = 0; i < 12; i++) {
        await page.keyboard.press('Tab');
        const now = await focused(page);
        assert.ok(now?.inDialog, `${what}: Tab stays inside the dialog (went to ${now?.id ?? 'the body'})`);
        if (now.id === start.id) break;
        forward.push(now.id);
      }
      assert.equal((await focused(page))?.id, start.id, `${what}: Tab comes round to ${start.id} (${forward.join(' → ')})`);
      assert.ok(forward.length >= 2, `${what}: more than one stop (${forward.join(', ')})`);
      const backward = [start.id];
      for (let i = 0; i < forward.length; i++) {
        await page.keyboard.press('Shift+Tab');
        const now = await focused(page);
        assert.ok(now?.inDialog, `${what}: Shift+Tab stays inside the dialog (went to ${now?.id ?? 'the body'})`);
        backward.push(now.id);
      }
      assert.deepEqual(backward, [...forward, start.id].reverse(), `${what}: Shift+Tab goes back the same way`);
    };
    const focusIs = async (/** @type {string} */ testid, /** @type {string} */ what) =>
      assert.equal((await focused(page))?.id, testid, what);

    // The kick confirmation: Cancel first, Tab stays in, Escape and Cancel give the focus back.
    const kick = page.getByTestId('kick-phone-77aa');
    const dialog = page.getByRole('alertdialog');
    await kick.click();
    await dialog.waitFor();
    await focusIs('confirm-cancel', 'the confirmation opens on Cancel');
    await cycles('kick confirmation');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    await focusIs('kick-phone-77aa', 'Escape gives the focus back to Sign out');
    await kick.click();
    await dialog.getByTestId('confirm-cancel').click();
    await dialog.waitFor({ state: 'hidden' });
    await focusIs('kick-phone-77aa', 'Cancel gives the focus back to Sign out');
    assert.deepEqual(await app.calls('kick'), []);

    // Link a new device: the code field first, the same.
    const link = page.getByTestId('link-device');
    const linkDialog = page.getByTestId('link-dialog');
    await link.click();
    await linkDialog.waitFor();
    await page.waitForFunction(() => document.activeElement?.getAttribute('data-testid') === 'link-code-input');
    await cycles('link a new device');
    await page.keyboard.press('Escape');
    await linkDialog.waitFor({ state: 'hidden' });
    await focusIs('link-device', 'Escape gives the focus back to Link a new device');
    await link.click();
    await linkDialog.getByTestId('link-cancel').click();
    await linkDialog.waitFor({ state: 'hidden' });
    await focusIs('link-device', 'Cancel gives the focus back to Link a new device');
    // Its second step (Is this you?) too.
    await link.click();
    await page.getByTestId('link-code-input').fill('7kqm-3xpd');
    await page.keyboard.press('Enter');
    await page.getByTestId('link-requester').waitFor();
    await focusIs('link-cancel', 'Is this you? opens on Cancel');
    await cycles('link a new device, confirm');
    await page.keyboard.press('Escape');
    await linkDialog.waitFor({ state: 'hidden' });
    await focusIs('link-device', 'Escape from Is this you? gives the focus back');

    // Kicked → Login.
    await app.push(views.kicked);
    await page.getByTestId('signed-out-reason').waitFor();
    await headingFocused(/alice/, 'kicked → login');
    await app.close();
  });

  test('13. keyboard only: log in, sign another device out, log out; every stop shows its focus and has a name', async () => {
    const views = scenarioViews(Date.now());
    const app = await openApp(views.loginEmpty);
    const { page } = app;
    await page.getByTestId('login-form').waitFor();
    /** @type {Array<{id: string, name: string, indicator: string}>} */
    const stops = [];
    /** @type {string[]} */
    const problems = [];
    /**
     * Presses Tab (or Shift+Tab) until the focus is on `target` (a test
     * id or an element id); checks every stop on the way.
     */
    const tabTo = async (/** @type {string} */ target, { back = false, max = 40 } = {}) => {
      for (let i = 0; i < max; i++) {
        const now = await focused(page);
        if (now?.id === target) return;
        await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
        const next = await focused(page);
        if (!next) continue;
        stops.push(next);
        if (!next.visible) problems.push(`${next.id}: no visible focus indicator (${next.indicator})`);
        if (!next.name) problems.push(`${next.id}: no accessible name`);
      }
      assert.fail(`Tab never reached ${target}: ${stops.slice(-max).map((s) => s.id).join(' → ')}`);
    };

    // The form: the server is filled in; the app key, the account, the token; Remember me with Space; Sign in with Enter.
    await tabTo('login-appkey');
    await page.keyboard.type('acme-chat');
    await tabTo('login-account');
    await page.keyboard.type('alice');
    await tabTo('login-token');
    await page.keyboard.type('s3cret');
    await tabTo('remember-me');
    await page.keyboard.press('Space');
    await tabTo('login-submit');
    await page.keyboard.press('Enter');
    const [login] = await app.waitForCalls('login');
    assert.deepEqual(login.args, {
      request: { url: 'wss://chat.example.com/v1/ws', appKey: 'acme-chat', account: 'alice', token: 's3cret', remember: true },
    });
    await app.push(views.connecting);
    await page.getByTestId('login-progress').waitFor();
    await app.push(views.connected);
    await page.getByTestId('home-page').waitFor();

    // Sign the iPhone out: its Sign out, Enter; Tab to the dialog's Sign out, Space.
    await app.respond('kick', { value: { kicked: ['phone-77aa'], notFound: [] } });
    await tabTo('kick-phone-77aa');
    await page.keyboard.press('Enter');
    await page.getByRole('alertdialog').waitFor();
    await tabTo('confirm-ok');
    await page.keyboard.press('Space');
    const [kick] = await app.waitForCalls('kick');
    assert.deepEqual(kick.args, { accountId: views.connected.active, deviceIds: ['phone-77aa'] });
    await page.getByRole('alertdialog').waitFor({ state: 'hidden' });
    await app.push(views.afterKick);
    await page.getByTestId('kick-phone-77aa').waitFor({ state: 'detached' });
    await page.getByTestId('devices-feedback').waitFor();
    // Its row (and its button, which had the focus) gone, the focus is on the list's heading, not lost.
    await page.waitForFunction(() => document.activeElement?.tagName === 'H2');
    assert.equal(await page.evaluate(() => document.activeElement?.textContent?.trim()), 'Your devices');

    // Log out: back up to the header's Log out, Enter.
    await tabTo('logout', { back: true });
    await page.keyboard.press('Enter');
    const [logout] = await app.waitForCalls('logout');
    assert.deepEqual(logout.args, { accountId: views.connected.active });

    assert.deepEqual(problems, [], `every control reached shows its focus and has a name:\n${problems.join('\n')}`);
    assert.ok(stops.length >= 8, `went through the controls: ${stops.map((s) => s.id).join(', ')}`);
    await app.close();
  });
});
