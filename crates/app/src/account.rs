//! One live account: its connection-manager instance, and the task that
//! follows its events into the timeline, the saved accounts, OS notices and the view.

use std::sync::Weak;

use tokio::task::AbortHandle;
use vestibule_client::{
    Client, DisconnectInfo, DisconnectReason, Event, Events, KickReason, NetState, RecvError,
    TryRecvError,
};

use crate::core::{AppCore, Inner, Notice};
use crate::timeline::Timeline;
use crate::view::TimelineKind;

/// An account the app has open.
#[derive(Debug)]
pub(crate) struct Account {
    pub(crate) id: String,
    pub(crate) url: String,
    pub(crate) app_key: String,
    pub(crate) account: String,
    pub(crate) remembered: bool,
    pub(crate) demo: bool,
    /// The way to its server (a password in it is never shown: `Proxy`'s Debug hides it).
    pub(crate) proxy: vestibule_client::Proxy,
    pub(crate) client: Client,
    pub(crate) timeline: Timeline,
    pub(crate) watcher: AbortHandle,
    pub(crate) demo_devices: Vec<String>,
}

impl Drop for Account {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

/// Follows one account: each wake handles every event already queued, then
/// publishes the view once (a drop is one publish, not one per event).
/// Subscribes at once (before the caller connects), so nothing the account
/// does is missed, and returns the follower to spawn.
pub(crate) fn watch_account(
    inner: Weak<Inner>,
    id: String,
    client: &Client,
) -> impl Future<Output = ()> + Send + 'static {
    let events = client.subscribe();
    let snapshots = client.watch();
    follow(inner, id, events, snapshots)
}

async fn follow(
    inner: Weak<Inner>,
    id: String,
    mut events: Events,
    mut snapshots: tokio::sync::watch::Receiver<vestibule_client::Snapshot>,
) {
    loop {
        let first = tokio::select! {
            event = events.recv() => Some(event),
            changed = snapshots.changed() => {
                if changed.is_err() {
                    return;
                }
                None
            }
        };
        let Some(inner) = inner.upgrade() else { return };
        let core = AppCore { inner };
        // Every event already announced, whichever woke us: one publish for all.
        let mut next = first.or_else(|| ready(&mut events));
        while let Some(event) = next.take() {
            match event {
                Ok(event) => core.on_event(&id, &event),
                Err(RecvError::Lagged(n)) => core.timeline(
                    &id,
                    TimelineKind::Error,
                    format!("{n} events were missed (the state shown is current)"),
                    None,
                ),
                Err(RecvError::Closed) => return,
            }
            next = ready(&mut events);
        }
        snapshots.mark_unchanged();
        core.publish();
    }
}

/// An event that is already waiting, if any.
fn ready(events: &mut Events) -> Option<Result<Event, RecvError>> {
    match events.try_recv() {
        Ok(event) => Some(Ok(event)),
        Err(TryRecvError::Lagged(n)) => Some(Err(RecvError::Lagged(n))),
        Err(TryRecvError::Empty) => None,
        Err(TryRecvError::Closed) => Some(Err(RecvError::Closed)),
    }
}

impl AppCore {
    fn on_event(&self, id: &str, event: &Event) {
        let (kind, text, code) = match event {
            Event::NetState { state } => (
                TimelineKind::State,
                match state {
                    NetState::Connected => "network state: connected",
                    NetState::Connecting => "network state: connecting",
                    NetState::Disconnected => "network state: disconnected",
                }
                .to_owned(),
                None,
            ),
            Event::Connected { info } => {
                self.remember_account(id);
                if info.new_session {
                    self.keep_session(id);
                }
                (
                    TimelineKind::Connected,
                    format!(
                        "connected: connection {}, seen from {}:{}{}",
                        info.connection_id,
                        info.ip,
                        info.port,
                        if info.repeat_login {
                            " (replaced this device's earlier session)"
                        } else {
                            ""
                        }
                    ),
                    None,
                )
            }
            Event::WillReconnect { retry_count, delay } => {
                let last = self
                    .client(id)
                    .ok()
                    .and_then(|c| c.snapshot().last_disconnect);
                let why = last.as_ref().map(|d| d.message.clone()).unwrap_or_default();
                (
                    TimelineKind::Reconnect,
                    format!(
                        "{why}; reconnecting: attempt {retry_count} in {:.1} s",
                        delay.as_secs_f64()
                    ),
                    last.and_then(|d| d.code),
                )
            }
            Event::Disconnected { info } => {
                if let Some(notice) = notice_for(id, info) {
                    let _ = self.inner.notices.send(notice);
                }
                (TimelineKind::Disconnected, info.to_string(), info.code)
            }
            Event::DevicesChanged { devices, rev } => (
                TimelineKind::Devices,
                format!(
                    "{} device(s) signed in, {} online: {} (rev {rev})",
                    devices.len(),
                    devices.iter().filter(|d| d.online).count(),
                    devices
                        .iter()
                        .map(|d| format!(
                            "{} {}{}",
                            d.device_type,
                            d.device_id,
                            if d.online { "" } else { " (offline)" }
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                None,
            ),
            Event::NewDevice { device } => {
                let notice = new_sign_in_notice(id, device);
                let text = notice.body.clone();
                let _ = self.inner.notices.send(notice);
                (TimelineKind::Devices, text, None)
            }
            Event::Error { code, message } => (TimelineKind::Error, message.clone(), Some(*code)),
            Event::Dialing { url } => (TimelineKind::State, format!("connecting to {url}"), None),
            Event::Ready | Event::NotReady => return,
            other => (TimelineKind::State, format!("{other:?}"), None),
        };
        self.timeline(id, kind, text, code);
    }
}

/// "New sign-in on iPhone · iOS 17.5 · 203.0.113.24 — not you? Sign it out".
fn new_sign_in_notice(id: &str, device: &vestibule_client::Device) -> Notice {
    let what = device
        .name
        .clone()
        .unwrap_or_else(|| device.device_type.to_string());
    Notice {
        account_id: id.to_owned(),
        title: "New sign-in".to_owned(),
        body: format!(
            "New sign-in on {what} · {} · {} — not you? Sign it out on the Devices page",
            device.os, device.ip
        ),
    }
}

/// The OS notification for a remote sign-out, if this end deserves one.
fn notice_for(id: &str, info: &DisconnectInfo) -> Option<Notice> {
    let title = match info.reason {
        DisconnectReason::Kicked {
            reason: KickReason::TokenExpired,
        } => "Your session expired",
        DisconnectReason::Kicked { .. } | DisconnectReason::Replaced => "You were signed out",
        DisconnectReason::Rejected { .. } => "Login refused",
        _ => return None,
    };
    Some(Notice {
        account_id: id.to_owned(),
        title: title.to_owned(),
        body: info.to_string(),
    })
}
