import { describe, expect, it } from 'vitest';
import { bannerFor } from '../../src/lib/banner';
import { clockTime, dayAtTime, formatSeconds, onDayAtTime, relativeTime, retryText, secondsUntil } from '../../src/lib/format';
import { newestFirst } from '../../src/lib/timeline';
import { statusLabel } from '../../src/lib/status';
import { reconnectingAccount, snapshot, loginInfo } from '../fixtures/views.js';

const now = 1_700_000_000_000;

describe('countdown', () => {
  it.each([
    [8000, 8],
    [7001, 8],
    [7000, 7],
    [1, 1],
    [0, 0],
    [-1, 0],
    [-60_000, 0],
  ])('%i ms left → %i s (rounded up, never negative)', (left, seconds) => {
    expect(secondsUntil(now + left, now)).toBe(seconds);
  });

  it.each([
    [0, '0s'],
    [7, '7s'],
    [59, '59s'],
    [60, '1m 00s'],
    [65, '1m 05s'],
    [-3, '0s'],
  ])('formatSeconds(%i) → %s', (s, text) => {
    expect(formatSeconds(s)).toBe(text);
  });

  it('retryText counts down and then says it is trying', () => {
    const retry = { retryCount: 3, delayMs: 8000, nextRetryAt: now + 8000 };
    expect(retryText(retry, now)).toBe('attempt 3, next try in 8s');
    expect(retryText(retry, now + 2500)).toBe('attempt 3, next try in 6s');
    expect(retryText(retry, now + 7999)).toBe('attempt 3, next try in 1s');
    expect(retryText(retry, now + 8000)).toBe('attempt 3, trying now…');
    expect(retryText(retry, now + 20_000)).toBe('attempt 3, trying now…');
  });
});

describe('relativeTime', () => {
  it.each([
    [0, 'just now'],
    [30_000, 'just now'],
    [60_000, '1 minute ago'],
    [3 * 60_000, '3 minutes ago'],
    [59 * 60_000, '59 minutes ago'],
    [2 * 3600_000, '2 hours ago'],
    [25 * 3600_000, 'yesterday'],
    [4 * 86400_000, '4 days ago'],
    [-120_000, 'just now'],
  ])('%i ms ago → %s', (ago, text) => {
    expect(relativeTime(now - ago, now)).toBe(text);
  });
});

describe('dayAtTime and onDayAtTime', () => {
  // Local times, so the results do not depend on the time zone.
  const at = new Date(2025, 11, 1, 10, 2).getTime();
  const later = new Date(2025, 11, 3, 9, 0).getTime();

  it('"Dec 1 at 10:02" in the given locale', () => {
    expect(dayAtTime(at, later, 'en-US')).toMatch(/^Dec 1 at 10:02\sAM$/);
    expect(dayAtTime(at, later, 'en-GB')).toBe('1 Dec at 10:02');
  });

  it('adds the year when it is not this year', () => {
    expect(dayAtTime(at, new Date(2026, 0, 5).getTime(), 'en-GB')).toBe('1 Dec 2025 at 10:02');
  });

  it('today, yesterday, otherwise on the day', () => {
    expect(onDayAtTime(at, new Date(2025, 11, 1, 18, 0).getTime(), 'en-GB')).toBe('today at 10:02');
    expect(onDayAtTime(at, new Date(2025, 11, 2, 0, 30).getTime(), 'en-GB')).toBe('yesterday at 10:02');
    expect(onDayAtTime(at, later, 'en-GB')).toBe('on 1 Dec at 10:02');
  });

  it("uses the person's locale by default", () => {
    expect(onDayAtTime(at, later)).toBe(`on ${dayAtTime(at, later)}`);
    expect(dayAtTime(at, later)).toContain(` at ${clockTime(at)}`);
  });
});

describe('bannerFor', () => {
  it('connected', () => {
    const b = bannerFor(snapshot({ status: 'connected', netState: 'connected', login: loginInfo() }), now);
    expect(b).toMatchObject({ state: 'connected', headline: 'Connected', canRetry: false });
  });

  it('reconnecting: attempt N, next try in Xs, with the cause', () => {
    const { session } = reconnectingAccount(now, { retryCount: 4, inMs: 12_000 });
    const b = bannerFor(session, now);
    expect(b.state).toBe('reconnecting');
    expect(b.headline).toBe('Connection lost — attempt 4, next try in 12s');
    expect(b.detail).toBe('no reply to ping within 10 s');
    expect(b.canRetry).toBe(true);
    expect(bannerFor(session, now + 5_000).headline).toBe('Connection lost — attempt 4, next try in 7s');
  });

  it('no network when the OS says so: no countdown, distinct from an unreachable server', () => {
    const { session } = reconnectingAccount(now, { offline: true });
    expect(session.retry).toBeNull();
    const b = bannerFor(session, now);
    expect(b.state).toBe('offline');
    expect(b.headline).toBe('No network');
    expect(b.detail).toBe('Vestibule reconnects as soon as the network is back.');
    expect(b.canRetry).toBe(true);
    expect(statusLabel({ status: 'reconnecting', netState: 'disconnected' })).toBe('No network');
    expect(statusLabel({ status: 'reconnecting', netState: 'connecting' })).toBe('Reconnecting');
  });

  it('connecting', () => {
    const b = bannerFor(snapshot({ status: 'connecting', netState: 'connecting', login: loginInfo() }), now);
    expect(b).toMatchObject({ state: 'connecting', headline: 'Connecting…', canRetry: false });
  });
});

describe('newestFirst', () => {
  it('orders by time, newest first, ties in reverse arrival order', () => {
    const entries = [
      { at: 1, kind: 'action', event: { type: 'other' }, text: 'a', code: null },
      { at: 3, kind: 'state', event: { type: 'other' }, text: 'c', code: null },
      { at: 2, kind: 'state', event: { type: 'other' }, text: 'b1', code: null },
      { at: 2, kind: 'state', event: { type: 'other' }, text: 'b2', code: null },
    ] as const;
    expect(newestFirst([...entries]).map((e) => e.text)).toEqual(['c', 'b2', 'b1', 'a']);
  });
});
