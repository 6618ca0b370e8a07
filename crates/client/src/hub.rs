//! Where an instance's state meets its observers: the `watch` of
//! [`Snapshot`]s and the `broadcast` of [`Event`]s, changed together under one
//! lock so that a new subscriber sees a consistent start.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::{broadcast, watch};

use crate::model::{Event, Snapshot, Status};

/// How many events a slow subscriber may fall behind before it sees `Lagged`.
const EVENT_BUFFER: usize = 256;

/// The snapshot and the event stream of one instance.
#[derive(Debug)]
pub(crate) struct Hub {
    snapshot: watch::Sender<Snapshot>,
    events: broadcast::Sender<Event>,
    /// Held while the actor announces a change and while a subscriber joins,
    /// so a subscriber's catch-up and its first live event never overlap or
    /// leave a gap. Never held across an `.await`.
    order: Mutex<()>,
}

impl Hub {
    pub(crate) fn new(initial: Snapshot) -> Self {
        Self {
            snapshot: watch::Sender::new(initial),
            events: broadcast::Sender::new(EVENT_BUFFER),
            order: Mutex::new(()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.order
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Applies `change` to the snapshot (watchers are woken only if it changed),
    /// then sends `events`, as one step.
    pub(crate) fn announce(&self, change: impl FnOnce(&mut Snapshot), events: Vec<Event>) {
        let _order = self.lock();
        self.snapshot.send_if_modified(|s| {
            let before = s.clone();
            change(s);
            *s != before
        });
        for event in events {
            tracing::debug!(?event, "event");
            // No subscribers is fine: the snapshot still holds the state.
            let _ = self.events.send(event);
        }
    }

    pub(crate) fn snapshot(&self) -> Snapshot {
        self.snapshot.borrow().clone()
    }

    pub(crate) fn borrow(&self) -> watch::Ref<'_, Snapshot> {
        self.snapshot.borrow()
    }

    pub(crate) fn watch(&self) -> watch::Receiver<Snapshot> {
        self.snapshot.subscribe()
    }

    pub(crate) fn subscribe(self: &Arc<Self>) -> Events {
        let _order = self.lock();
        let live = self.events.subscribe();
        let backlog = catch_up(&self.snapshot.borrow());
        Events {
            backlog,
            live,
            hub: self.clone(),
        }
    }
}

/// The events that bring a new subscriber to the current state of a
/// connection that is up or being attempted (nothing for one at rest).
fn catch_up(s: &Snapshot) -> VecDeque<Event> {
    let mut events = VecDeque::new();
    match s.status {
        Status::Connected => {
            events.push_back(Event::NetState { state: s.net_state });
            if let Some(info) = &s.login {
                events.push_back(Event::Connected { info: info.clone() });
            }
            events.push_back(Event::DevicesChanged {
                devices: s.devices.clone(),
                rev: s.devices_rev,
            });
            events.push_back(Event::Ready);
        }
        Status::Connecting | Status::Reconnecting => {
            events.push_back(Event::NetState { state: s.net_state });
            if let Some(retry) = s.retry {
                events.push_back(Event::WillReconnect {
                    retry_count: retry.retry_count,
                    delay: std::time::Duration::from_millis(retry.delay_ms),
                });
            }
        }
        Status::Idle | Status::SignedOut | Status::NeedsToken | Status::Destroyed => {}
    }
    events
}

/// An instance's events in order, starting with the ones that describe the
/// connection as it is when [`crate::Client::subscribe`] was called (a
/// subscriber that joins a connected instance first gets `Connected`, its
/// devices and `Ready`), so no subscriber misses how the current connection began.
#[derive(Debug)]
pub struct Events {
    backlog: VecDeque<Event>,
    live: broadcast::Receiver<Event>,
    hub: Arc<Hub>,
}

impl Events {
    /// The next event. `Err(Lagged(n))` when this subscriber fell `n` events
    /// behind (the snapshot is still current); `Err(Closed)` when the instance is gone.
    pub async fn recv(&mut self) -> Result<Event, RecvError> {
        match self.backlog.pop_front() {
            Some(event) => Ok(event),
            None => self.live.recv().await,
        }
    }

    /// The next event if one is waiting. A change being announced at this
    /// moment is finished first, so a watcher woken by a snapshot change finds
    /// the events that came with it.
    pub fn try_recv(&mut self) -> Result<Event, TryRecvError> {
        match self.backlog.pop_front() {
            Some(event) => Ok(event),
            None => {
                drop(self.hub.lock());
                self.live.try_recv()
            }
        }
    }
}
