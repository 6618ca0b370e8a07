import { describe, expect, it } from 'vitest';
import type { DisconnectInfo } from '../../src/lib/bindings/DisconnectInfo';
import type { EndReason } from '../../src/lib/bindings/EndReason';
import type { KickReason } from '../../src/lib/bindings/KickReason';
import type { Status } from '../../src/lib/bindings/Status';
import { clockTime, onDayAtTime } from '../../src/lib/format';
import { disconnectNotice, signedOutNotice } from '../../src/lib/reasons';
import { account, disconnect, revokedAccount, unknownSessionAccount } from '../fixtures/views.js';

const now = Date.UTC(2025, 4, 12, 14, 5, 0);
const at = now - 3 * 60_000;
const by = { deviceId: 'tab-31bc', type: 'Android', os: 'Android 14', ip: '198.51.100.7' } as const;
const ctx = { status: 'signedOut' as Status, appKey: 'acme-chat', now };

function kicked(reason: KickReason, withBy = false): DisconnectInfo {
  return disconnect({ kind: 'kicked', reason }, { at, by: withBy ? { ...by } : null });
}

function rejected(code: number, message = ''): DisconnectInfo {
  return disconnect({ kind: 'rejected', code }, { at, code, message });
}

describe('disconnectNotice — kicks', () => {
  it('byDevice names the kicking device: type, OS, IP and when', () => {
    const n = disconnectNotice(kicked('byDevice', true), ctx)!;
    expect(n.title).toBe('Signed out by another of your devices');
    expect(n.detail).toContain('Android device');
    expect(n.detail).toContain('Android 14');
    expect(n.detail).toContain('198.51.100.7');
    expect(n.detail).toContain('3 minutes ago');
    expect(n.by).toEqual(by);
    expect(n.at).toBe(at);
    expect(n.tone).toBe('error');
  });

  it('byDevice without a device still explains', () => {
    const n = disconnectNotice(kicked('byDevice'), ctx)!;
    expect(n.title).toBe('Signed out by another of your devices');
    expect(n.detail).toMatch(/^Another of your devices signed this one out/);
    expect(n.by).toBeNull();
  });

  it('loginElsewhere: signed in on another device of the same kind', () => {
    const n = disconnectNotice(kicked('loginElsewhere'), ctx)!;
    expect(n.title).toBe('Signed in on another device');
    expect(n.detail).toContain('same kind');
  });

  it('loginElsewhere with the device names it', () => {
    const n = disconnectNotice(kicked('loginElsewhere', true), ctx)!;
    expect(n.detail).toContain('Android 14');
    expect(n.detail).toContain('198.51.100.7');
  });

  it('loginElsewhere by this very deviceId: someone signed in as this device', () => {
    const n = disconnectNotice(kicked('loginElsewhere', true), { ...ctx, deviceId: by.deviceId })!;
    expect(n.title).toBe('Someone signed in as this device');
    expect(n.detail).toContain("this device's id");
    expect(n.detail).toContain('198.51.100.7');
    expect(n.detail).not.toContain('same kind');
    // Another installation's id is a device of the same kind, as before.
    const other = disconnectNotice(kicked('loginElsewhere', true), { ...ctx, deviceId: 'desktop-1' })!;
    expect(other.title).toBe('Signed in on another device');
  });

  it('instanceLimit: too many sessions', () => {
    expect(disconnectNotice(kicked('instanceLimit'), ctx)!.title).toBe('Too many sessions');
  });

  it('tokenExpired is an expiry, not a kick', () => {
    const n = disconnectNotice(kicked('tokenExpired'), { ...ctx, status: 'needsToken' })!;
    expect(n.title).toBe('Your session expired');
    expect(n.detail).toContain('token expired');
    expect(n.detail).not.toMatch(/signed (this device )?out|kick/i);
    expect(n.tone).toBe('warning');
  });

  it('status needsToken reads as an expiry whatever the reason says', () => {
    expect(disconnectNotice(kicked('admin'), { ...ctx, status: 'needsToken' })!.title).toBe('Your session expired');
  });

  it('a reason from a newer server is still a sign-out, in its own words', () => {
    const info = disconnect({ kind: 'kicked', reason: 'unknown' }, { at, message: 'reason from the future' });
    const n = disconnectNotice(info, ctx)!;
    expect(n.title).toBe('Signed out by the server');
    expect(n.detail).toContain('reason from the future');
    expect(n.tone).toBe('error');
  });

  it('admin: signed out by the administrator', () => {
    expect(disconnectNotice(kicked('admin'), ctx)!.title).toBe('Signed out by the administrator');
  });

  it('banned', () => {
    const n = disconnectNotice(kicked('banned'), ctx)!;
    expect(n.title).toBe('This account is banned');
  });
});

describe('disconnectNotice — refused logins', () => {
  it.each([
    [302, 'Wrong account or token'],
    [403, 'This account is banned'],
    [404, 'Unknown app key'],
    [414, 'The login request was invalid'],
    [417, 'Already signed in on another device'],
    [419, 'Too many devices'],
    [422, 'Account disabled'],
  ])('%i → %s', (code, title) => {
    const n = disconnectNotice(rejected(code), ctx)!;
    expect(n.title).toBe(title);
    expect(n.detail).toContain(String(code));
    expect(n.code).toBe(code);
    expect(n.tone).toBe('error');
  });

  it('404 names the app key', () => {
    expect(disconnectNotice(rejected(404), ctx)!.detail).toContain('“acme-chat”');
  });

  it('an unknown code falls back to the server message', () => {
    const n = disconnectNotice(rejected(499, 'the moon is full'), ctx)!;
    expect(n.title).toBe('Login refused');
    expect(n.detail).toContain('499');
    expect(n.detail).toContain('the moon is full');
  });
});

describe('disconnectNotice — other ends', () => {
  it('replaced', () => {
    const n = disconnectNotice(disconnect({ kind: 'replaced' }, { at }), ctx)!;
    expect(n.title).toBe('Signed in again somewhere else');
    expect(n.detail).toContain('replaced this one');
  });

  it('loggedOut is calm', () => {
    const n = disconnectNotice(disconnect({ kind: 'loggedOut' }, { at }), ctx)!;
    expect(n.tone).toBe('info');
    expect(n.title).toBe('You logged out');
  });

  it('lost and timeout say the connection ended', () => {
    const lost = disconnectNotice(
      disconnect({ kind: 'lost', closeCode: 1006 }, { at, message: 'connection reset' }),
      ctx,
    )!;
    expect(lost.title).toBe('Disconnected');
    expect(lost.detail).toContain('connection reset');
    expect(disconnectNotice(disconnect({ kind: 'timeout' }, { at }), ctx)!.title).toBe('Disconnected');
  });

  it('no network says so, not that the server is unreachable', () => {
    const n = disconnectNotice(disconnect({ kind: 'noNetwork' }, { at, message: 'no network' }), ctx)!;
    expect(n.title).toBe('No network');
    expect(n.detail).toContain('as soon as it is back');
  });

  it('destroyed says nothing', () => {
    expect(disconnectNotice(disconnect({ kind: 'destroyed' }, { at }), ctx)).toBeNull();
  });
});

describe('signedOutNotice', () => {
  it('no account → nothing', () => {
    expect(signedOutNotice(null, now)).toBeNull();
  });

  it('a live or connecting account → nothing (even with an old disconnect)', () => {
    for (const status of ['connected', 'connecting', 'reconnecting'] as const) {
      const a = account({ session: { status, lastDisconnect: kicked('byDevice', true) } });
      expect(signedOutNotice(a, now)).toBeNull();
    }
  });

  it('a signed-out account → the notice of its last disconnect', () => {
    const a = account({ session: { status: 'signedOut', lastDisconnect: kicked('byDevice', true) } });
    expect(signedOutNotice(a, now)?.title).toBe('Signed out by another of your devices');
  });

  it('an idle account that never connected → nothing', () => {
    expect(signedOutNotice(account({ session: { status: 'idle' } }), now)).toBeNull();
  });

  it('needsToken without a recorded disconnect still says the session expired', () => {
    expect(signedOutNotice(account({ session: { status: 'needsToken' } }), now)?.title).toBe('Your session expired');
  });
});

describe('signedOutNotice — a remembered session that had ended while the app was closed (420)', () => {
  // Local times, so the sentences do not depend on the time zone.
  const endedAt = new Date(2025, 11, 1, 10, 2).getTime();
  const later = new Date(2025, 11, 3, 9, 0).getTime();
  const on = onDayAtTime(endedAt, later);

  function revoked(reason: EndReason, withBy = true) {
    return signedOutNotice(
      revokedAccount(later, { reason, at: endedAt, ...(withBy ? {} : { by: null }) }),
      later,
    )!;
  }

  it('on its day, at its time', () => {
    expect(on).toMatch(/^on /);
    expect(on).toContain(clockTime(endedAt));
  });

  it('byDevice: "Signed out by your iPhone (iOS 17.5, 203.0.113.24) on …"', () => {
    const n = revoked('byDevice');
    expect(n.title).toBe('Signed out by another of your devices');
    expect(n.detail).toBe(`Signed out by your iPhone (iOS 17.5, 203.0.113.24) ${on}. If that wasn't you, change your token.`);
    expect(n.by).toEqual({ deviceId: 'phone-77aa', type: 'iOS', os: 'iOS 17.5', ip: '203.0.113.24' });
    expect(n.at).toBe(endedAt);
    expect(n.code).toBe(420);
    expect(n.tone).toBe('error');
  });

  it.each([
    ['Android', 'your Android phone'],
    ['PC', 'your PC'],
    ['Mac', 'your Mac'],
    ['Web', 'your browser'],
    ['Unknown', 'another of your devices'],
  ] as const)('byDevice from a %s: "%s"', (type, who) => {
    const a = revokedAccount(later, {
      at: endedAt,
      by: { deviceId: 'x', type, os: 'SomeOS 1', ip: '192.0.2.1' },
    });
    expect(signedOutNotice(a, later)!.detail).toMatch(new RegExp(`^Signed out by ${who} \\(SomeOS 1, 192\\.0\\.2\\.1\\) on `));
  });

  it('byDevice without the device still says when', () => {
    expect(revoked('byDevice', false).detail).toBe(
      `Another of your devices signed this one out ${on}. If that wasn't you, change your token.`,
    );
  });

  it.each([
    ['admin', 'Signed out by the administrator', `Signed out by the server administrator ${on}.`],
    ['banned', 'This account is banned', `This account was banned ${on}. Contact your administrator.`],
    ['idle', 'Signed out for inactivity', `This device was signed out after a long time without use ${on}. Sign in again to continue.`],
    ['tokenExpired', 'Your sign-in expired', `Your sign-in expired ${on}. Sign in again to continue.`],
    ['loggedOut', 'You logged out', `You logged out of this account on this device ${on}.`],
  ] as const)('%s: %s', (reason, title, detail) => {
    const n = revoked(reason, false);
    expect(n.title).toBe(title);
    expect(n.detail).toBe(detail);
  });

  it('signedInAgain: this device signed in again', () => {
    const n = revoked('signedInAgain', false);
    expect(n.title).toBe('Signed in again');
    expect(n.detail).toMatch(new RegExp(`^This device signed in again ${on} `));
  });

  it('signedInAgain with who says from where', () => {
    const n = revoked('signedInAgain');
    expect(n.detail).toContain('203.0.113.24');
    expect(n.detail).toContain("If that wasn't you");
  });

  it('loginElsewhere names the device that took over', () => {
    const n = revoked('loginElsewhere');
    expect(n.title).toBe('Signed in on another device');
    expect(n.detail).toContain(`signed in on your iPhone (iOS 17.5, 203.0.113.24) ${on}`);
  });

  it('instanceLimit and unknown', () => {
    expect(revoked('instanceLimit', false).title).toBe('Too many devices');
    const n = revoked('unknown', false);
    expect(n.title).toBe('Signed out by the server');
    expect(n.detail).toBe(`The server signed this device out ${on}: this device was signed out.`);
  });

  it('wins over the needsToken expiry wording', () => {
    const a = revokedAccount(later, { reason: 'admin', at: endedAt, by: null });
    const n = signedOutNotice({ ...a, session: { ...a.session, status: 'needsToken' } }, later)!;
    expect(n.title).toBe('Signed out by the administrator');
  });

  it('a 420 without how it ended still says the sign-in ended', () => {
    const n = disconnectNotice(rejected(420, 'session ended'), ctx)!;
    expect(n.title).toBe('Signed out');
    expect(n.detail).toContain('420');
  });
});

describe('signedOutNotice — the server does not know the session (421)', () => {
  it('says so and asks to sign in again, not that a token expired', () => {
    const n = signedOutNotice(unknownSessionAccount(now), now)!;
    expect(n.title).toBe('Sign in again');
    expect(n.detail).toBe(
      "The server no longer knows this device's sign-in (421); it may have been reset. Sign in again to continue.",
    );
    expect(n.detail).not.toMatch(/expired/);
    expect(n.tone).toBe('warning');
    expect(n.code).toBe(421);
  });
});
