// The timeline store: a reset replaces, anything else appends, 300 per account at most.
import { describe, expect, it } from 'vitest';
import type { TimelineEntry } from '../../src/lib/bindings/TimelineEntry';
import {
  TIMELINE_CAP,
  applyTimelineUpdate,
  applyUpdate,
  clearTimelines,
  timelineOf,
  type Timelines,
} from '../../src/lib/timelines.svelte';
import { sampleTimeline, timelineUpdate } from '../fixtures/views.js';

/** `count` entries numbered from `from`, oldest first. */
function entries(from: number, count: number): TimelineEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    at: 1_000 + from + i,
    kind: 'state' as const,
    event: { type: 'other' as const },
    text: `entry ${from + i}`,
    code: null,
  }));
}

const texts = (list: readonly TimelineEntry[] | undefined) => (list ?? []).map((e) => e.text);

describe('applyUpdate', () => {
  it('a reset replaces the account timeline and leaves the others alone', () => {
    let t: Timelines = new Map();
    t = applyUpdate(t, timelineUpdate('a', entries(0, 3), true));
    t = applyUpdate(t, timelineUpdate('b', entries(100, 2), true));
    t = applyUpdate(t, timelineUpdate('a', entries(10, 2), true));
    expect(texts(t.get('a'))).toEqual(['entry 10', 'entry 11']);
    expect(texts(t.get('b'))).toEqual(['entry 100', 'entry 101']);
  });

  it('an empty reset clears the timeline', () => {
    const t = applyUpdate(applyUpdate(new Map(), timelineUpdate('a', entries(0, 3), true)), timelineUpdate('a', [], true));
    expect(t.get('a')).toEqual([]);
  });

  it('appends new entries after the kept ones, oldest first', () => {
    let t: Timelines = new Map();
    t = applyUpdate(t, timelineUpdate('a', entries(0, 2), true));
    t = applyUpdate(t, timelineUpdate('a', entries(2, 1)));
    t = applyUpdate(t, timelineUpdate('a', entries(3, 2)));
    expect(texts(t.get('a'))).toEqual(['entry 0', 'entry 1', 'entry 2', 'entry 3', 'entry 4']);
  });

  it('appends to an account it has not seen yet', () => {
    const t = applyUpdate(new Map(), timelineUpdate('new', entries(0, 1)));
    expect(texts(t.get('new'))).toEqual(['entry 0']);
  });

  it(`keeps only the newest ${TIMELINE_CAP} entries per account`, () => {
    expect(TIMELINE_CAP).toBe(300);
    let t: Timelines = new Map();
    t = applyUpdate(t, timelineUpdate('a', entries(0, 299), true));
    t = applyUpdate(t, timelineUpdate('b', entries(0, 5), true));
    expect(t.get('a')).toHaveLength(299);
    t = applyUpdate(t, timelineUpdate('a', entries(299, 1)));
    expect(t.get('a')).toHaveLength(300);
    expect(texts(t.get('a'))[0]).toBe('entry 0');
    t = applyUpdate(t, timelineUpdate('a', entries(300, 3)));
    const a = texts(t.get('a'));
    expect(a).toHaveLength(300);
    expect(a[0]).toBe('entry 3');
    expect(a.at(-1)).toBe('entry 302');
    expect(t.get('b')).toHaveLength(5);
  });

  it('caps an oversized reset to its newest entries', () => {
    const t = applyUpdate(new Map(), timelineUpdate('a', entries(0, 350), true));
    const a = texts(t.get('a'));
    expect(a).toHaveLength(300);
    expect(a[0]).toBe('entry 50');
    expect(a.at(-1)).toBe('entry 349');
  });

  it('never changes the map, the kept arrays or the update it is given', () => {
    const update = timelineUpdate('a', entries(0, 2), true);
    const before: Timelines = applyUpdate(new Map(), update);
    const kept = before.get('a')!;
    const after = applyUpdate(before, timelineUpdate('a', entries(2, 1)));
    expect(after).not.toBe(before);
    expect(kept).toHaveLength(2);
    expect(before.get('a')).toBe(kept);
    expect(after.get('a')).not.toBe(kept);
    expect(update.entries).toHaveLength(2);
    expect(after.get('a')).not.toBe(update.entries);
  });
});

describe('the store', () => {
  it('applies updates and reads one account, empty when nothing came', () => {
    clearTimelines();
    expect(timelineOf('alice')).toEqual([]);
    const history = sampleTimeline();
    applyTimelineUpdate(timelineUpdate('alice', history, true));
    applyTimelineUpdate(timelineUpdate('alice', entries(0, 1)));
    expect(timelineOf('alice')).toEqual([...history, ...entries(0, 1)]);
    expect(timelineOf('bob')).toEqual([]);
    applyTimelineUpdate(timelineUpdate('alice', entries(5, 1), true));
    expect(texts(timelineOf('alice'))).toEqual(['entry 5']);
    clearTimelines();
    expect(timelineOf('alice')).toEqual([]);
  });
});
