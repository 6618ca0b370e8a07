import { describe, expect, it } from 'vitest';
import {
  clientLabel,
  deviceNameError,
  deviceNoun,
  deviceTitle,
  groupDevices,
  isNewDevice,
  NEW_DEVICE_MS,
} from '../../src/lib/devices';
import { device, devicesWithOffline, THIS_DEVICE } from '../fixtures/views.js';

const now = 1_700_000_000_000;

describe('deviceNameError', () => {
  it.each([
    ['', 'Enter a name.'],
    ['   ', 'Enter a name.'],
    ['a'.repeat(65), 'Use at most 64 characters (this is 65).'],
    ['line\nbreak', "A name can't contain line breaks, tabs or other control characters."],
    ['tab\there', "A name can't contain line breaks, tabs or other control characters."],
    ['bell\u0007', "A name can't contain line breaks, tabs or other control characters."],
  ])('%j → %s', (name, error) => {
    expect(deviceNameError(name)).toBe(error);
  });

  it.each([['a'], ['a'.repeat(64)], [`  ${'b'.repeat(64)}  `], ['Work MacBook'], ['😀'.repeat(64)], ['Ünïcödé 電話']])(
    'accepts %j',
    (name) => {
      expect(deviceNameError(name)).toBeNull();
    },
  );

  it('counts characters, not UTF-16 units', () => {
    expect(deviceNameError('😀'.repeat(65))).toBe('Use at most 64 characters (this is 65).');
  });
});

describe('device labels', () => {
  it('deviceTitle: the trimmed name, else the type', () => {
    expect(deviceTitle({ name: '  Work MacBook ', type: 'Mac' })).toBe('Work MacBook');
    expect(deviceTitle({ name: null, type: 'iOS' })).toBe('iPhone or iPad');
    expect(deviceTitle({ name: '   ', type: 'Android' })).toBe('Android device');
    expect(deviceTitle({ type: 'Web' })).toBe('Web browser');
  });

  it('deviceNoun: what follows "your"', () => {
    expect(deviceNoun('iOS')).toBe('iPhone');
    expect(deviceNoun('Android')).toBe('Android phone');
    expect(deviceNoun('PC')).toBe('PC');
    expect(deviceNoun('Mac')).toBe('Mac');
    expect(deviceNoun('Web')).toBe('browser');
    expect(deviceNoun('Unknown')).toBeNull();
  });

  it('clientLabel', () => {
    expect(clientLabel({ name: 'vestibule-desktop', version: '0.1.0' })).toBe('vestibule-desktop 0.1.0');
    expect(clientLabel({ name: 'cli', version: '' })).toBe('cli');
    expect(clientLabel(null)).toBeNull();
    expect(clientLabel(undefined)).toBeNull();
  });
});

describe('isNewDevice', () => {
  it('another device, signed in less than 24 h ago', () => {
    expect(isNewDevice({ current: false, createdAt: now - NEW_DEVICE_MS + 1 }, now)).toBe(true);
    expect(isNewDevice({ current: false, createdAt: now - NEW_DEVICE_MS }, now)).toBe(false);
    expect(isNewDevice({ current: false, createdAt: now - 3 * NEW_DEVICE_MS }, now)).toBe(false);
  });

  it('never this device', () => {
    expect(isNewDevice({ current: true, createdAt: now - 1000 }, now)).toBe(false);
  });
});

describe('groupDevices', () => {
  it('online (this one first, then the latest logins), then offline (latest active first)', () => {
    const { online, offline } = groupDevices(devicesWithOffline(now).reverse(), true);
    expect(online.map((d) => d.deviceId)).toEqual([THIS_DEVICE, 'phone-77aa', 'web-2e7f', 'tab-31bc']);
    expect(offline.map((d) => d.deviceId)).toEqual(['mac-9d04', 'old-a1b2']);
  });

  it('this device is online exactly while connected', () => {
    const list = [device({ deviceId: 'me', current: true, online: true }), device({ deviceId: 'x', online: true })];
    expect(groupDevices(list, false).offline.map((d) => d.deviceId)).toEqual(['me']);
    const stale = [device({ deviceId: 'me', current: true, online: false })];
    expect(groupDevices(stale, true).online.map((d) => d.deviceId)).toEqual(['me']);
  });
});
