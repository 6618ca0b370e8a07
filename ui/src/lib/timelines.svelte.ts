/**
 * Every account's connection log, fed by the `subscribe_timeline` stream
 * (apart from the SessionView). Each update replaces the whole map, so the
 * state is `$state.raw`: nothing in it is ever mutated in place.
 */
import type { TimelineEntry } from './bindings/TimelineEntry';
import type { TimelineUpdate } from './bindings/TimelineUpdate';

/** The most entries kept per account (the backend keeps as many). */
export const TIMELINE_CAP = 300;

/** Timelines by account id, each oldest first. */
export type Timelines = ReadonlyMap<string, readonly TimelineEntry[]>;

const EMPTY: readonly TimelineEntry[] = Object.freeze([]);

/**
 * The timelines after one update: a `reset` replaces the account's timeline,
 * anything else is appended; either way only the newest `cap` entries stay.
 * Returns a new map and never changes `timelines` or its arrays.
 */
export function applyUpdate(timelines: Timelines, update: TimelineUpdate, cap = TIMELINE_CAP): Timelines {
  const kept = update.reset ? EMPTY : (timelines.get(update.accountId) ?? EMPTY);
  const merged = kept.length === 0 ? update.entries : [...kept, ...update.entries];
  const next = new Map(timelines);
  next.set(update.accountId, merged.length > cap ? merged.slice(merged.length - cap) : merged.slice());
  return next;
}

let timelines = $state.raw<Timelines>(new Map());

/** Applies one update from the `subscribe_timeline` stream. */
export function applyTimelineUpdate(update: TimelineUpdate): void {
  timelines = applyUpdate(timelines, update);
}

/** One account's timeline, oldest first (empty when nothing came yet). Reactive. */
export function timelineOf(accountId: string): readonly TimelineEntry[] {
  return timelines.get(accountId) ?? EMPTY;
}

/** Forgets every timeline (for tests). */
export function clearTimelines(): void {
  timelines = new Map();
}
