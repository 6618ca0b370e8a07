// The connection log is said by the UI from each entry's facts, in the UI's
// language; only an event this UI does not know falls back to the backend's English line.
import { describe, expect, it } from 'vitest';
import type { TimelineEvent } from '../../src/lib/bindings/TimelineEvent';
import { setLocale } from '../../src/lib/i18n.svelte';
import { timelineText } from '../../src/lib/timeline';
import { device, disconnect, entry } from '../fixtures/views.js';

const EVERY: TimelineEvent[] = [
  { type: 'netState', state: 'connecting' },
  { type: 'dialing', url: 'wss://chat.example.com/v1/ws' },
  { type: 'connected', connectionId: 'c-1', ip: '192.0.2.1', port: 4000, repeatLogin: false },
  { type: 'connected', connectionId: 'c-1', ip: '192.0.2.1', port: 4000, repeatLogin: true },
  { type: 'willReconnect', attempt: 2, delayMs: 3000, cause: disconnect({ kind: 'lost', closeCode: null }) },
  { type: 'willReconnect', attempt: 2, delayMs: 3000, cause: null },
  { type: 'disconnected', info: disconnect({ kind: 'kicked', reason: 'otherDevice' } as never) },
  { type: 'devices', total: 3, online: 2, rev: 7 },
  { type: 'newDevice', device: device() },
  { type: 'error', code: 414 },
  { type: 'missed', count: 12 },
  { type: 'logIn', account: 'alice', url: 'wss://chat.example.com/v1/ws' },
  { type: 'logOut' },
  { type: 'signOut', deviceIds: ['phone-1', 'tab-2'] },
  { type: 'signOutOthers' },
  { type: 'rename', deviceId: 'phone-1', name: 'Work phone' },
  { type: 'retryNow' },
  { type: 'demoAddDevice', deviceType: 'iOS', deviceId: 'sim-1' },
  { type: 'demoKickMe' },
  { type: 'exported', path: '/tmp/d.json' },
  { type: 'approvedPair' },
  { type: 'paired', account: 'alice', url: 'wss://chat.example.com/v1/ws' },
];

const ENGLISH = 'THE BACKEND LINE';

describe('timelineText', () => {
  it.each(EVERY.map((e) => [e.type, e] as const))('says %s in Chinese, not the backend line', (_, event) => {
    setLocale('zh-CN');
    const text = timelineText(entry(event, ENGLISH));
    expect(text).not.toContain(ENGLISH);
    expect(text).toMatch(/\p{Script=Han}/u);
  });

  it.each(EVERY.map((e) => [e.type, e] as const))('says %s in English', (_, event) => {
    const text = timelineText(entry(event, ENGLISH));
    expect(text).not.toContain(ENGLISH);
    expect(text.trim()).not.toBe('');
  });

  it('an event it does not know shows the backend line (forward compatible)', () => {
    setLocale('zh-CN');
    expect(timelineText(entry({ type: 'somethingNew' } as never, ENGLISH))).toBe(ENGLISH);
    expect(timelineText(entry({ type: 'other' }, ENGLISH))).toBe(ENGLISH);
  });
});
