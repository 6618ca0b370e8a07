// The wrapper sends the right command names and camelCase argument keys, and
// turns every rejection into a CommandError.
import { Channel } from '@tauri-apps/api/core';
import { clearMocks, mockIPC } from '@tauri-apps/api/mocks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createBackend } from '../../src/lib/backend';
import type { SessionView } from '../../src/lib/bindings/SessionView';
import type { TimelineUpdate } from '../../src/lib/bindings/TimelineUpdate';
import { commandError, entry, pairRequester, sampleTimeline, timelineUpdate, view } from '../fixtures/views.js';

afterEach(() => clearMocks());

describe('backend', () => {
  it('sends every command with its contract name and arguments', async () => {
    const calls: Array<[string, unknown]> = [];
    mockIPC((cmd, args) => {
      calls.push([cmd, args]);
      switch (cmd) {
        case 'login':
        case 'login_demo':
        case 'demo_add_device':
        case 'export_diagnostics':
          return 'ok';
        case 'kick':
        case 'kick_others':
          return { kicked: [], notFound: [] };
        case 'start_demo':
          return { url: 'ws://127.0.0.1:1/v1/ws', appKey: 'demo', suggestedAccounts: [] };
        case 'lookup_pair':
          return pairRequester(1000);
        default:
          return null;
      }
    });
    const b = createBackend();
    const request = { url: 'ws://x', appKey: 'k', account: 'a', token: 't', remember: true };
    await b.login(request);
    await b.loginDemo('alice');
    await b.logout('id1');
    await b.kick('id1', ['d1', 'd2']);
    await b.kickOthers('id1');
    await expect(b.renameDevice('id1', 'd1', 'Work laptop')).resolves.toBeUndefined();
    await b.retryNow('id1');
    await b.switchAccount(null);
    await b.switchAccount('id2');
    await b.forgetAccount('id1');
    await b.startDemo();
    await b.demoAddDevice('id1', 'Android');
    await b.demoKickMe('id1');
    await b.exportDiagnostics('id1');
    await expect(b.startPairing({ url: 'ws://x', appKey: 'k', remember: true })).resolves.toBeUndefined();
    await expect(b.cancelPairing()).resolves.toBeUndefined();
    await expect(b.lookupPair('id1', 'abcd-efgh')).resolves.toEqual(pairRequester(1000));
    await expect(b.approvePair('id1', 'abcd-efgh')).resolves.toBeUndefined();
    expect(calls).toEqual([
      ['login', { request }],
      ['login_demo', { account: 'alice' }],
      ['logout', { accountId: 'id1' }],
      ['kick', { accountId: 'id1', deviceIds: ['d1', 'd2'] }],
      ['kick_others', { accountId: 'id1' }],
      ['rename_device', { accountId: 'id1', deviceId: 'd1', name: 'Work laptop' }],
      ['retry_now', { accountId: 'id1' }],
      ['switch_account', { accountId: null }],
      ['switch_account', { accountId: 'id2' }],
      ['forget_account', { accountId: 'id1' }],
      ['start_demo', {}],
      ['demo_add_device', { accountId: 'id1', deviceType: 'Android' }],
      ['demo_kick_me', { accountId: 'id1' }],
      ['export_diagnostics', { accountId: 'id1' }],
      ['start_pairing', { request: { url: 'ws://x', appKey: 'k', remember: true } }],
      ['cancel_pairing', {}],
      ['lookup_pair', { accountId: 'id1', code: 'abcd-efgh' }],
      ['approve_pair', { accountId: 'id1', code: 'abcd-efgh' }],
    ]);
  });

  it('subscribe passes a Channel as onView and delivers every pushed view in order', async () => {
    let channel: Channel<SessionView> | undefined;
    mockIPC((cmd, args) => {
      if (cmd === 'subscribe') channel = (args as { onView: Channel<SessionView> }).onView;
      return null;
    });
    const seen = vi.fn();
    await createBackend().subscribe(seen);
    expect(channel).toBeInstanceOf(Channel);
    const first = view({ version: '1' });
    const second = view({ version: '2' });
    channel!.onmessage(first);
    channel!.onmessage(second);
    expect(seen.mock.calls).toEqual([[first], [second]]);
  });

  it('subscribeTimeline passes a Channel as onUpdate and delivers every update in order', async () => {
    const calls: string[] = [];
    let channel: Channel<TimelineUpdate> | undefined;
    mockIPC((cmd, args) => {
      calls.push(cmd);
      if (cmd === 'subscribe_timeline') channel = (args as { onUpdate: Channel<TimelineUpdate> }).onUpdate;
      return null;
    });
    const seen = vi.fn();
    await createBackend().subscribeTimeline(seen);
    expect(calls).toEqual(['subscribe_timeline']);
    expect(channel).toBeInstanceOf(Channel);
    const history = timelineUpdate('id1', sampleTimeline(), true);
    const next = timelineUpdate('id1', [entry({ type: 'logOut' }, 'log out')]);
    channel!.onmessage(history);
    channel!.onmessage(next);
    expect(seen.mock.calls).toEqual([[history], [next]]);
  });

  it('passes a CommandError through', async () => {
    const error = commandError('notConnected', { detail: 'not connected' });
    mockIPC(() => {
      throw error;
    });
    await expect(createBackend().kick('id', ['d'])).rejects.toEqual(error);
  });

  it("rejects lookup_pair and approve_pair with the gateway's result code", async () => {
    const expected = commandError('rejected', { serverCode: 410, detail: 'this code has expired; ask for a new one' });
    mockIPC(() => {
      throw expected;
    });
    await expect(createBackend().lookupPair('id', 'ABCD-EFGH')).rejects.toEqual(expected);
    await expect(createBackend().approvePair('id', 'ABCD-EFGH')).rejects.toEqual(expected);
  });

  it('fills in what a CommandError leaves out', async () => {
    mockIPC(() => {
      throw { code: 'rejected', serverCode: 429 };
    });
    await expect(createBackend().kick('id', ['d'])).rejects.toEqual({
      code: 'rejected',
      field: null,
      serverCode: 429,
      retryAfterMs: null,
      detail: '',
    });
  });

  it('turns a plain string rejection (e.g. an ACL refusal) into an internal CommandError', async () => {
    mockIPC(() => Promise.reject('Command kick not allowed by ACL'));
    await expect(createBackend().kick('id', ['d'])).rejects.toEqual({
      code: 'internal',
      field: null,
      serverCode: null,
      retryAfterMs: null,
      detail: 'Command kick not allowed by ACL',
    });
  });

  it('turns a thrown Error into an internal CommandError', async () => {
    mockIPC(() => {
      throw new Error('boom');
    });
    await expect(createBackend().kick('id', ['d'])).rejects.toMatchObject({ code: 'internal', detail: 'boom' });
  });
});
