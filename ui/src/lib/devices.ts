/** Device types for people, and the order devices are listed in. */
import type { Device } from './bindings/Device';
import type { DeviceType } from './bindings/DeviceType';

export const DEVICE_TYPES: readonly DeviceType[] = ['PC', 'Mac', 'Android', 'iOS', 'Web'];

/** "Android phone", "Mac"... — what a person calls the device. */
export function deviceTypeLabel(type: DeviceType): string {
  switch (type) {
    case 'Android':
      return 'Android device';
    case 'iOS':
      return 'iPhone or iPad';
    case 'PC':
      return 'PC';
    case 'Web':
      return 'Web browser';
    case 'Mac':
      return 'Mac';
    case 'Unknown':
      return 'Other device';
  }
}

/** This device first, then the most recent logins. */
export function sortDevices(devices: readonly Device[]): Device[] {
  return [...devices].sort((a, b) => Number(b.current) - Number(a.current) || b.loginTime - a.loginTime);
}
