//! Each account's connection timeline (the Diagnostics page). It travels apart
//! from the session view: the UI gets the history once, then each new entry
//! as a delta, so a state change never re-sends 300 entries per account.

use std::collections::VecDeque;

use tokio::sync::broadcast;

use crate::core::{AppCore, lock, not_found, now};
use crate::view::{CommandError, TimelineEntry, TimelineEvent, TimelineUpdate};

/// Timeline entries kept per account.
pub const TIMELINE_LEN: usize = 300;

/// One account's recent history, oldest first, at most [`TIMELINE_LEN`] entries.
#[derive(Debug, Default)]
pub(crate) struct Timeline(VecDeque<TimelineEntry>);

impl Timeline {
    fn push(&mut self, entry: TimelineEntry) {
        if self.0.len() == TIMELINE_LEN {
            self.0.pop_front();
        }
        self.0.push_back(entry);
    }

    pub(crate) fn entries(&self) -> Vec<TimelineEntry> {
        self.0.iter().cloned().collect()
    }
}

/// Where new timeline entries are announced.
#[derive(Debug)]
pub(crate) struct TimelineHub(broadcast::Sender<TimelineUpdate>);

impl TimelineHub {
    pub(crate) fn new() -> Self {
        Self(broadcast::Sender::new(1024))
    }
}

impl AppCore {
    /// Adds an entry to an account's timeline and announces it; `text` is
    /// its technical English line.
    pub(crate) fn timeline(&self, id: &str, event: TimelineEvent, text: String) {
        let mut state = lock(&self.inner.state);
        let Some(account) = state.accounts.iter_mut().find(|a| a.id == id) else {
            return;
        };
        let entry = TimelineEntry {
            at: now(),
            kind: event.kind(),
            code: event.code(),
            event,
            text,
        };
        account.timeline.push(entry.clone());
        // Sent under the state lock, so it is ordered with `timelines()`.
        let _ = self.inner.timelines.0.send(TimelineUpdate {
            account_id: id.to_owned(),
            entries: vec![entry],
            reset: false,
        });
    }

    /// An account's timeline, oldest first.
    pub fn timeline_of(&self, id: &str) -> Result<Vec<TimelineEntry>, CommandError> {
        lock(&self.inner.state)
            .accounts
            .iter()
            .find(|a| a.id == id)
            .map(|a| a.timeline.entries())
            .ok_or_else(|| not_found(id))
    }

    /// Every account's history (one `reset` update each), then every new
    /// entry as it is added: nothing is missed or repeated in between.
    pub fn timelines(&self) -> (Vec<TimelineUpdate>, broadcast::Receiver<TimelineUpdate>) {
        let state = lock(&self.inner.state);
        let updates = state
            .accounts
            .iter()
            .map(|a| TimelineUpdate {
                account_id: a.id.clone(),
                entries: a.timeline.entries(),
                reset: true,
            })
            .collect();
        (updates, self.inner.timelines.0.subscribe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::TimelineKind;

    #[test]
    fn the_timeline_keeps_the_newest_entries() {
        let mut t = Timeline::default();
        for i in 0..TIMELINE_LEN + 5 {
            t.push(TimelineEntry {
                at: i as u64,
                kind: TimelineKind::State,
                event: TimelineEvent::Other,
                text: String::new(),
                code: None,
            });
        }
        let entries = t.entries();
        assert_eq!(entries.len(), TIMELINE_LEN);
        assert_eq!(entries[0].at, 5);
        assert_eq!(entries[TIMELINE_LEN - 1].at, (TIMELINE_LEN + 4) as u64);
    }
}
