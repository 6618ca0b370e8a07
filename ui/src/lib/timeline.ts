import type { NetState } from './bindings/NetState';
import type { TimelineEntry } from './bindings/TimelineEntry';
import { deviceTitle, deviceTypeLabel } from './devices';
import { errorText } from './errors';
import { formatSeconds } from './format';
import { m } from './i18n.svelte';
import { disconnectCause } from './reasons';
import { serverHost } from './status';

/** The timeline newest first (the view keeps it newest last); ties keep their order. */
export function newestFirst(entries: readonly TimelineEntry[]): TimelineEntry[] {
  return entries
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => b.entry.at - a.entry.at || b.index - a.index)
    .map(({ entry }) => entry);
}

/** The network state in a word. */
export function netStateLabel(state: NetState): string {
  switch (state) {
    case 'connected':
      return m.diag_net_connected();
    case 'connecting':
      return m.diag_net_connecting();
    case 'disconnected':
      return m.diag_net_disconnected();
  }
}

/**
 * One timeline entry in the UI's language, from its facts. An event this UI
 * does not know (a newer backend) shows the backend's English line.
 */
export function timelineText(entry: TimelineEntry): string {
  const event = entry.event;
  switch (event?.type) {
    case 'netState':
      return m.tl_net_state({ state: netStateLabel(event.state) });
    case 'dialing':
      return m.tl_dialing({ server: serverHost(event.url) });
    case 'connected':
      return event.repeatLogin
        ? m.tl_connected_replaced({ connection: event.connectionId, address: `${event.ip}:${event.port}` })
        : m.tl_connected({ connection: event.connectionId, address: `${event.ip}:${event.port}` });
    case 'willReconnect': {
      const next = m.tl_will_reconnect({ attempt: event.attempt, wait: formatSeconds(Math.ceil(event.delayMs / 1000)) });
      return event.cause ? m.tl_cause_then({ cause: disconnectCause(event.cause), next }) : next;
    }
    case 'disconnected':
      return m.tl_disconnected({ cause: disconnectCause(event.info) });
    case 'devices':
      return m.tl_devices({ total: event.total, online: event.online, rev: event.rev });
    case 'newDevice':
      return m.tl_new_device({ device: deviceTitle(event.device), id: event.device.deviceId });
    case 'error':
      return errorText({ code: 'rejected', field: null, serverCode: event.code, retryAfterMs: null, detail: entry.text });
    case 'missed':
      return m.tl_missed({ count: event.count });
    case 'logIn':
      return m.tl_log_in({ account: event.account, server: serverHost(event.url) });
    case 'logOut':
      return m.tl_log_out();
    case 'signOut':
      return m.tl_sign_out({ devices: event.deviceIds.join(m.list_separator()) });
    case 'signOutOthers':
      return m.tl_sign_out_others();
    case 'rename':
      return m.tl_rename({ id: event.deviceId, name: event.name });
    case 'retryNow':
      return m.tl_retry_now();
    case 'demoAddDevice':
      return m.tl_demo_add_device({ type: deviceTypeLabel(event.deviceType), id: event.deviceId });
    case 'demoKickMe':
      return m.tl_demo_kick_me();
    case 'exported':
      return m.tl_exported({ path: event.path });
    case 'approvedPair':
      return m.tl_approved_pair();
    case 'paired':
      return m.tl_paired({ account: event.account, server: serverHost(event.url) });
    default:
      return entry.text;
  }
}
