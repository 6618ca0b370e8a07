import type { TimelineEntry } from './bindings/TimelineEntry';

/** The timeline newest first (the view keeps it newest last); ties keep their order. */
export function newestFirst(entries: readonly TimelineEntry[]): TimelineEntry[] {
  return entries
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => b.entry.at - a.entry.at || b.index - a.index)
    .map(({ entry }) => entry);
}
