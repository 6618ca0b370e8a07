// The Devices card: online and offline groups, the New badge, signing out
// (offline devices too) and renaming inline.
import { render, screen, within } from '@testing-library/svelte';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { backend } from '../../src/lib/backend';
import type { AccountView } from '../../src/lib/bindings/AccountView';
import DeviceList from '../../src/lib/components/DeviceList.svelte';
import { dateTime } from '../../src/lib/format';
import {
  connectedAccount,
  device,
  devicesWithOffline,
  reconnectingAccount,
  threeDevices,
  THIS_DEVICE,
} from '../fixtures/views.js';

vi.mock('../../src/lib/backend', () => import('./mock-backend'));
const mocked = vi.mocked(backend);

const HOUR = 3600_000;
const DAY = 24 * HOUR;

function withDevices(now: number, devices = devicesWithOffline(now)): AccountView {
  return connectedAccount(now, { session: { devices, devicesRev: 7 } });
}

function renderList(now = Date.now(), shown = withDevices(now)) {
  const result = render(DeviceList, { account: shown, now });
  return { ...result, shown, now };
}

function row(deviceId: string): HTMLElement {
  const found = screen.getAllByTestId('device-row').find((r) => r.dataset.deviceId === deviceId);
  if (!found) throw new Error(`no row for ${deviceId}`);
  return found;
}

function ids(group: HTMLElement): string[] {
  return within(group)
    .getAllByTestId('device-row')
    .map((r) => r.dataset.deviceId ?? '');
}

describe('DeviceList groups', () => {
  it('lists online devices (this one first, then the latest logins), then the offline ones (latest active first)', () => {
    renderList();
    const online = screen.getByTestId('devices-online');
    const offline = screen.getByTestId('devices-offline');
    expect(within(online).getByRole('heading', { name: 'Online now' })).toBeInTheDocument();
    expect(within(offline).getByRole('heading', { name: 'Signed in, not online' })).toBeInTheDocument();
    expect(ids(online)).toEqual([THIS_DEVICE, 'phone-77aa', 'web-2e7f', 'tab-31bc']);
    expect(ids(offline)).toEqual(['mac-9d04', 'old-a1b2']);
    for (const r of within(online).getAllByTestId('device-row')) expect(r).toHaveAttribute('data-online', 'true');
    for (const r of within(offline).getAllByTestId('device-row')) expect(r).toHaveAttribute('data-online', 'false');
    // The online group comes first in the document.
    expect(online.compareDocumentPosition(offline) & Node.DOCUMENT_POSITION_FOLLOWING).toBeTruthy();
    expect(screen.getByTestId('devices-summary')).toHaveTextContent('6 devices signed in · 4 online');
  });

  it('hides the offline group when every device is online', () => {
    const now = Date.now();
    renderList(now, withDevices(now, threeDevices(now)));
    expect(ids(screen.getByTestId('devices-online'))).toHaveLength(3);
    expect(screen.queryByTestId('devices-offline')).toBeNull();
    expect(screen.queryByText('Signed in, not online')).toBeNull();
  });

  it('keeps this device in the online group while connected, even if the list says otherwise', () => {
    const now = Date.now();
    const devices = threeDevices(now).map((d) => (d.current ? { ...d, online: false } : d));
    renderList(now, withDevices(now, devices));
    expect(ids(screen.getByTestId('devices-online'))[0]).toBe(THIS_DEVICE);
    expect(within(row(THIS_DEVICE)).getByTestId('this-device')).toHaveTextContent('This device');
  });

  it('says "active now" for online devices and "active N ago" for offline ones, with the full date', () => {
    const { now } = renderList();
    expect(within(row('phone-77aa')).getByTestId('device-active')).toHaveTextContent(/^active now$/);
    const mac = within(row('mac-9d04')).getByTestId('device-active');
    expect(mac).toHaveTextContent(/^active 3 days ago$/);
    const time = within(mac).getByText('3 days ago');
    expect(time.tagName).toBe('TIME');
    expect(time).toHaveAttribute('datetime', new Date(now - 3 * DAY).toISOString());
    expect(time).toHaveAttribute('title', dateTime(now - 3 * DAY));
    expect(within(row('old-a1b2')).getByTestId('device-active')).toHaveTextContent('active 12 days ago');
    expect(within(row('mac-9d04')).getByTestId('device-signed-in')).toHaveTextContent('signed in 60 days ago');
  });

  it("shows a device's name instead of its type, and the type, OS, IP and client below", () => {
    renderList();
    const mac = row('mac-9d04');
    expect(within(mac).getByTestId('device-name')).toHaveTextContent(/^Work MacBook$/);
    expect(within(mac).getByTestId('device-type')).toHaveTextContent(/^Work MacBook$/);
    const meta = within(mac).getByTestId('device-os').parentElement!;
    expect(meta).toHaveTextContent('Mac · macOS 14.5 · 198.51.100.40 · vestibule-desktop 0.1.0');
    // Unnamed: the type is the title, and not repeated.
    const phone = row('phone-77aa');
    expect(within(phone).getByTestId('device-name')).toHaveTextContent(/^iPhone or iPad$/);
    expect(within(phone).getByTestId('device-os').parentElement).toHaveTextContent(/^iOS 17\.5 · 203\.0\.113\.24$/);
  });

  it('while reconnecting: this device is listed as not online, and nothing can be changed', () => {
    const now = Date.now();
    const shown = reconnectingAccount(now);
    renderList(now, shown);
    expect(ids(screen.getByTestId('devices-offline'))).toEqual([THIS_DEVICE]);
    expect(within(row(THIS_DEVICE)).getByTestId('device-active')).toHaveTextContent('not connected');
    expect(screen.getByTestId('devices-summary')).toHaveTextContent('last known list');
    expect(screen.getByTestId('rename-phone-77aa')).toBeDisabled();
    expect(screen.getByTestId(`rename-${THIS_DEVICE}`)).toBeDisabled();
    expect(screen.getByTestId('kick-phone-77aa')).toBeDisabled();
  });
});

describe('DeviceList New badge', () => {
  it('marks another device that signed in less than 24 h ago, and stops the day after', async () => {
    const now = Date.now();
    const devices = [
      ...threeDevices(now).map((d) => (d.current ? { ...d, createdAt: now - HOUR } : d)),
      device({ deviceId: 'fresh-1', type: 'Android', createdAt: now - 23 * HOUR }),
      device({ deviceId: 'day-old', type: 'Web', createdAt: now - 25 * HOUR }),
      device({ deviceId: 'fresh-off', type: 'Mac', online: false, createdAt: now - 2 * HOUR, loginTime: now - HOUR }),
    ];
    const shown = withDevices(now, devices);
    const { rerender } = renderList(now, shown);
    expect(within(row('fresh-1')).getByTestId('device-new')).toHaveTextContent('New');
    expect(within(row('fresh-off')).getByTestId('device-new')).toHaveTextContent('New');
    expect(within(row('day-old')).queryByTestId('device-new')).toBeNull();
    expect(within(row('phone-77aa')).queryByTestId('device-new')).toBeNull();
    expect(within(row(THIS_DEVICE)).queryByTestId('device-new')).toBeNull();
    expect(screen.getAllByTestId('device-new')).toHaveLength(2);

    await rerender({ account: shown, now: now + 2 * HOUR });
    expect(within(row('fresh-1')).queryByTestId('device-new')).toBeNull();
    expect(within(row('fresh-off')).getByTestId('device-new')).toBeInTheDocument();
  });
});

describe('DeviceList sign out', () => {
  it('signs out an offline device after confirming', async () => {
    const user = userEvent.setup();
    const { shown } = renderList();
    const kick = within(row('mac-9d04')).getByRole('button', { name: 'Sign out Work MacBook (macOS 14.5, 198.51.100.40)' });
    expect(kick).toBe(screen.getByTestId('kick-mac-9d04'));
    expect(kick).toBeEnabled();
    await user.click(kick);
    const dialog = screen.getByRole('alertdialog');
    expect(within(dialog).getByRole('heading')).toHaveTextContent('Sign out “Work MacBook”?');
    expect(dialog).toHaveTextContent('active 3 days ago');
    expect(dialog).toHaveTextContent('It is signed out at once; it has to sign in again to come back.');
    await user.click(within(dialog).getByRole('button', { name: 'Sign out' }));
    expect(mocked.kick).toHaveBeenCalledTimes(1);
    expect(mocked.kick).toHaveBeenCalledWith(shown.id, ['mac-9d04']);
    expect(await screen.findByTestId('devices-feedback')).toHaveTextContent(
      'Signed out Work MacBook (macOS 14.5, 198.51.100.40).',
    );
  });

  it('counts offline devices in "Sign out all other devices"', async () => {
    const user = userEvent.setup();
    const { shown } = renderList();
    await user.click(screen.getByTestId('kick-others'));
    const dialog = screen.getByRole('alertdialog');
    expect(within(dialog).getByRole('heading')).toHaveTextContent('Sign out 5 other devices?');
    expect(dialog).toHaveTextContent('3 online and 2 not online');
    await user.click(within(dialog).getByRole('button', { name: 'Sign out all' }));
    expect(mocked.kickOthers).toHaveBeenCalledWith(shown.id);
  });

  it('offers "Sign out all other devices" when the only other device is offline', () => {
    const now = Date.now();
    const devices = [
      threeDevices(now)[0],
      device({ deviceId: 'mac-9d04', type: 'Mac', online: false, loginTime: now - DAY }),
    ];
    renderList(now, withDevices(now, devices));
    expect(screen.getByTestId('kick-others')).toBeEnabled();
  });
});

describe('DeviceList rename', () => {
  it('every row has a pencil button, this device too', () => {
    renderList();
    expect(screen.getByRole('button', { name: 'Rename PC' })).toBe(screen.getByTestId(`rename-${THIS_DEVICE}`));
    expect(screen.getByRole('button', { name: 'Rename Work MacBook' })).toBe(screen.getByTestId('rename-mac-9d04'));
    expect(screen.getByRole('button', { name: 'Rename iPhone or iPad' })).toBeEnabled();
  });

  it('Enter saves the trimmed name and shows it', async () => {
    const user = userEvent.setup();
    const { shown } = renderList();
    await user.click(screen.getByRole('button', { name: 'Rename Work MacBook' }));
    const input = screen.getByTestId('rename-input');
    expect(input).toHaveFocus();
    expect(input).toHaveValue('Work MacBook');
    await user.clear(input);
    await user.type(input, '  Studio Mac  {Enter}');
    expect(mocked.renameDevice).toHaveBeenCalledTimes(1);
    expect(mocked.renameDevice).toHaveBeenCalledWith(shown.id, 'mac-9d04', 'Studio Mac');
    expect(screen.queryByTestId('rename-input')).toBeNull();
    expect(within(row('mac-9d04')).getByTestId('device-name')).toHaveTextContent(/^Studio Mac$/);
    expect(screen.getByTestId('devices-feedback')).toHaveTextContent('Renamed to “Studio Mac”.');
    expect(screen.getByRole('button', { name: 'Rename Studio Mac' })).toHaveFocus();
  });

  it('renames this device, starting from its type', async () => {
    const user = userEvent.setup();
    const { shown } = renderList();
    await user.click(screen.getByTestId(`rename-${THIS_DEVICE}`));
    const input = screen.getByTestId('rename-input');
    expect(input).toHaveValue('PC');
    await user.clear(input);
    await user.type(input, 'Home desktop{Enter}');
    expect(mocked.renameDevice).toHaveBeenCalledWith(shown.id, THIS_DEVICE, 'Home desktop');
  });

  it("a name just saved for one account's device does not show for another account", async () => {
    const user = userEvent.setup();
    const now = Date.now();
    const alice = withDevices(now);
    const { rerender } = renderList(now, alice);
    await user.click(screen.getByTestId(`rename-${THIS_DEVICE}`));
    await user.clear(screen.getByTestId('rename-input'));
    await user.type(screen.getByTestId('rename-input'), 'Home desktop{Enter}');
    expect(within(row(THIS_DEVICE)).getByTestId('device-name')).toHaveTextContent('Home desktop');
    // Same install (same deviceId), same list revision, another account.
    const bob = connectedAccount(now, { account: 'bob', session: { devices: devicesWithOffline(now), devicesRev: 7 } });
    await rerender({ account: bob, now });
    expect(within(row(THIS_DEVICE)).getByTestId('device-name')).toHaveTextContent(/^PC$/);
  });

  it('the Save button saves too', async () => {
    const user = userEvent.setup();
    const { shown } = renderList();
    await user.click(screen.getByTestId('rename-phone-77aa'));
    const input = screen.getByTestId('rename-input');
    await user.clear(input);
    await user.type(input, "Alice's iPhone");
    await user.click(screen.getByRole('button', { name: 'Save' }));
    expect(mocked.renameDevice).toHaveBeenCalledWith(shown.id, 'phone-77aa', "Alice's iPhone");
    expect(within(row('phone-77aa')).getByTestId('device-name')).toHaveTextContent("Alice's iPhone");
  });

  it('Escape cancels and keeps the old name', async () => {
    const user = userEvent.setup();
    renderList();
    await user.click(screen.getByTestId('rename-mac-9d04'));
    await user.type(screen.getByTestId('rename-input'), ' (old)');
    await user.keyboard('{Escape}');
    expect(screen.queryByTestId('rename-input')).toBeNull();
    expect(mocked.renameDevice).not.toHaveBeenCalled();
    expect(within(row('mac-9d04')).getByTestId('device-name')).toHaveTextContent(/^Work MacBook$/);
    expect(screen.getByTestId('rename-mac-9d04')).toHaveFocus();
  });

  it('leaving the field cancels', async () => {
    const user = userEvent.setup();
    renderList();
    await user.click(screen.getByTestId('rename-mac-9d04'));
    await user.type(screen.getByTestId('rename-input'), 'x');
    await user.click(screen.getByRole('heading', { name: 'Your devices' }));
    expect(screen.queryByTestId('rename-input')).toBeNull();
    expect(mocked.renameDevice).not.toHaveBeenCalled();
    expect(within(row('mac-9d04')).getByTestId('device-name')).toHaveTextContent(/^Work MacBook$/);
  });

  it('an unchanged name calls nothing', async () => {
    const user = userEvent.setup();
    renderList();
    await user.click(screen.getByTestId('rename-mac-9d04'));
    await user.keyboard('{Enter}');
    expect(screen.queryByTestId('rename-input')).toBeNull();
    expect(mocked.renameDevice).not.toHaveBeenCalled();
  });

  it('says why an empty or too long name is refused, and saves once it fits', async () => {
    const user = userEvent.setup();
    const { shown } = renderList();
    await user.click(screen.getByTestId('rename-mac-9d04'));
    const input = screen.getByTestId('rename-input');
    await user.clear(input);
    await user.type(input, '   {Enter}');
    expect(screen.getByTestId('rename-error')).toHaveTextContent('Enter a name.');
    expect(input).toHaveAttribute('aria-invalid', 'true');
    expect(input).toHaveAccessibleDescription('Enter a name.');
    expect(input).toHaveFocus();

    await user.clear(input);
    await user.type(input, `${'a'.repeat(65)}{Enter}`);
    expect(screen.getByTestId('rename-error')).toHaveTextContent('Use at most 64 characters (this is 65).');
    expect(mocked.renameDevice).not.toHaveBeenCalled();

    await user.type(input, '{Backspace}');
    expect(screen.queryByTestId('rename-error')).toBeNull();
    await user.keyboard('{Enter}');
    expect(mocked.renameDevice).toHaveBeenCalledWith(shown.id, 'mac-9d04', 'a'.repeat(64));
  });

  it('shows a refusal in the feedback area and keeps the field open', async () => {
    const user = userEvent.setup();
    mocked.renameDevice.mockRejectedValueOnce({
      code: 'invalidInput',
      field: 'deviceName',
      serverCode: null,
      retryAfterMs: null,
      detail: 'that name is taken',
    });
    renderList();
    await user.click(screen.getByTestId('rename-mac-9d04'));
    const input = screen.getByTestId('rename-input');
    await user.clear(input);
    await user.type(input, 'Laptop{Enter}');
    const feedback = await screen.findByTestId('devices-feedback');
    expect(feedback).toHaveTextContent("That name can't be used for a device.");
    expect(feedback).toHaveAttribute('role', 'alert');
    expect(screen.getByTestId('rename-input')).toHaveValue('Laptop');
    expect(within(row('mac-9d04')).queryByTestId('device-name')).toBeNull();
    // Giving up on that name clears what was said about it.
    await user.keyboard('{Escape}');
    expect(screen.queryByTestId('devices-feedback')).toBeNull();
    expect(within(row('mac-9d04')).getByTestId('device-name')).toHaveTextContent(/^Work MacBook$/);
  });
});
