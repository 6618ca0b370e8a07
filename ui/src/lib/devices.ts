/** Devices for people: what to call them, how to group and order them, their names. */
import type { ClientInfo } from './bindings/ClientInfo';
import type { Device } from './bindings/Device';
import type { DeviceType } from './bindings/DeviceType';
import { m } from './i18n.svelte';

export const DEVICE_TYPES: readonly DeviceType[] = ['PC', 'Mac', 'Android', 'iOS', 'Web'];

/** A device that signed in this recently (and is not this one) is marked *New*. */
export const NEW_DEVICE_MS = 24 * 60 * 60 * 1000;

/** The longest name a device may be given, in characters after trimming. */
export const DEVICE_NAME_MAX = 64;

/** "Android device", "Mac"... — what a person calls the device. */
export function deviceTypeLabel(type: DeviceType): string {
  switch (type) {
    case 'Android':
      return m.device_type_android();
    case 'iOS':
      return m.device_type_ios();
    case 'PC':
      return m.device_type_pc();
    case 'Web':
      return m.device_type_web();
    case 'Mac':
      return m.device_type_mac();
    case 'Unknown':
      return m.device_type_unknown();
  }
}

/**
 * The device in a sentence after "your": "iPhone", "Android phone",
 * "browser"; `null` for a type this version does not know.
 */
export function deviceNoun(type: DeviceType): string | null {
  switch (type) {
    case 'iOS':
      return m.device_noun_ios();
    case 'Android':
      return m.device_noun_android();
    case 'PC':
      return m.device_noun_pc();
    case 'Mac':
      return m.device_noun_mac();
    case 'Web':
      return m.device_noun_web();
    case 'Unknown':
      return null;
  }
}

/** The name the person gave the device, or what its type is called. */
export function deviceTitle(device: Pick<Device, 'name' | 'type'>): string {
  const name = device.name?.trim();
  return name ? name : deviceTypeLabel(device.type);
}

/** The person gave the device a name. */
export function isNamed(device: Pick<Device, 'name'>): boolean {
  return Boolean(device.name?.trim());
}

/** "vestibule-desktop 0.1.0". */
export function clientLabel(client: ClientInfo | null | undefined): string | null {
  if (!client?.name) return null;
  return client.version ? `${client.name} ${client.version}` : client.name;
}

/** Another device that signed in less than a day ago. */
export function isNewDevice(device: Pick<Device, 'current' | 'createdAt'>, now: number): boolean {
  return !device.current && now - device.createdAt < NEW_DEVICE_MS;
}

/**
 * Whether to list the device as online. This device is online exactly while
 * the account is connected (the list is the last known one otherwise).
 */
export function isOnline(device: Pick<Device, 'current' | 'online'>, connected: boolean): boolean {
  return device.current ? connected : device.online;
}

/** This device first, then the most recent logins. */
export function sortDevices(devices: readonly Device[]): Device[] {
  return [...devices].sort((a, b) => Number(b.current) - Number(a.current) || b.loginTime - a.loginTime);
}

export type DeviceGroups = { online: Device[]; offline: Device[] };

/**
 * Online now (this device first, then the most recent logins), then the
 * devices that are signed in but not online (the most recently active first).
 */
export function groupDevices(devices: readonly Device[], connected: boolean): DeviceGroups {
  const online = sortDevices(devices.filter((d) => isOnline(d, connected)));
  const offline = devices
    .filter((d) => !isOnline(d, connected))
    .sort((a, b) => Number(b.current) - Number(a.current) || b.lastActiveAt - a.lastActiveAt);
  return { online, offline };
}

// C0, DEL and C1 control characters (line breaks and tabs among them).
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Why `name` can't be a device's name, or `null` when it can. */
export function deviceNameError(name: string): string | null {
  const trimmed = name.trim();
  if (trimmed.length === 0) return m.device_name_empty();
  const length = [...trimmed].length;
  if (length > DEVICE_NAME_MAX) return m.device_name_too_long({ max: DEVICE_NAME_MAX, length });
  if (CONTROL.test(trimmed)) return m.device_name_control();
  return null;
}
