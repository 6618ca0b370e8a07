//! One live account: its connection-manager instance, and the task that
//! follows its events into the timeline, the saved accounts, OS notices and the view.

use std::sync::Weak;

use tokio::task::AbortHandle;
use vestibule_client::{
    Client, Device, DisconnectInfo, DisconnectReason, Event, Events, KickReason, NetState,
    RecvError, TryRecvError,
};

use crate::core::{AppCore, Inner, Notice, NoticeKind};
use crate::i18n::tr;
use crate::settings::Locale;
use crate::timeline::Timeline;
use crate::view::TimelineEvent;

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
                    TimelineEvent::Missed { count: n },
                    format!("{n} events were missed (the state shown is current)"),
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
    /// Sends a notice, unless the person turned its kind off.
    fn notify(&self, notice: Notice) {
        let settings = self.settings();
        let wanted = match notice.kind {
            NoticeKind::NewSignIn => settings.notify_new_sign_in,
            NoticeKind::SignedOut => settings.notify_signed_out,
        };
        if wanted {
            let _ = self.inner.notices.send(notice);
        }
    }

    /// The account name of an account id (the id itself if it is gone).
    fn account_name(&self, id: &str) -> String {
        crate::core::lock(&self.inner.state)
            .accounts
            .iter()
            .find(|a| a.id == id)
            .map_or_else(|| id.to_owned(), |a| a.account.clone())
    }

    fn on_event(&self, id: &str, event: &Event) {
        let (event, text) = match event {
            Event::NetState { state } => (
                TimelineEvent::NetState { state: *state },
                match state {
                    NetState::Connected => "network state: connected",
                    NetState::Connecting => "network state: connecting",
                    NetState::Disconnected => "network state: disconnected",
                }
                .to_owned(),
            ),
            Event::Connected { info } => {
                self.remember_account(id);
                if info.new_session {
                    self.keep_session(id);
                }
                let text = format!(
                    "connected: connection {}, seen from {}:{}{}",
                    info.connection_id,
                    info.ip,
                    info.port,
                    if info.repeat_login {
                        " (replaced this device's earlier session)"
                    } else {
                        ""
                    }
                );
                (
                    TimelineEvent::Connected {
                        connection_id: info.connection_id.clone(),
                        ip: info.ip.clone(),
                        port: info.port,
                        repeat_login: info.repeat_login,
                    },
                    text,
                )
            }
            Event::WillReconnect { retry_count, delay } => {
                let cause = self
                    .client(id)
                    .ok()
                    .and_then(|c| c.snapshot().last_disconnect);
                let why = cause
                    .as_ref()
                    .map(|d| d.message.clone())
                    .unwrap_or_default();
                let text = format!(
                    "{why}; reconnecting: attempt {retry_count} in {:.1} s",
                    delay.as_secs_f64()
                );
                (
                    TimelineEvent::WillReconnect {
                        attempt: *retry_count,
                        delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        cause,
                    },
                    text,
                )
            }
            Event::Disconnected { info } => {
                if let Some(notice) = notice_for(self.locale(), id, &self.account_name(id), info) {
                    self.notify(notice);
                }
                (
                    TimelineEvent::Disconnected { info: info.clone() },
                    info.to_string(),
                )
            }
            Event::DevicesChanged { devices, rev } => {
                let online = devices.iter().filter(|d| d.online).count();
                let text = format!(
                    "{} device(s) signed in, {online} online: {} (rev {rev})",
                    devices.len(),
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
                );
                (
                    TimelineEvent::Devices {
                        total: u32::try_from(devices.len()).unwrap_or(u32::MAX),
                        online: u32::try_from(online).unwrap_or(u32::MAX),
                        rev: *rev,
                    },
                    text,
                )
            }
            Event::NewDevice { device } => {
                let account = self.account_name(id);
                let text = new_sign_in_notice(Locale::En, id, &account, device).body;
                self.notify(new_sign_in_notice(self.locale(), id, &account, device));
                (
                    TimelineEvent::NewDevice {
                        device: device.clone(),
                    },
                    text,
                )
            }
            Event::Error { code, message } => {
                (TimelineEvent::Error { code: *code }, message.clone())
            }
            Event::Dialing { url } => (
                TimelineEvent::Dialing { url: url.clone() },
                format!("connecting to {url}"),
            ),
            Event::Ready | Event::NotReady => return,
            other => (TimelineEvent::Other, format!("{other:?}")),
        };
        self.timeline(id, event, text);
    }
}

/// "alice signed in on iPhone · iOS 17.5 · 203.0.113.24 — not you? Sign it out".
fn new_sign_in_notice(locale: Locale, id: &str, account: &str, device: &Device) -> Notice {
    let what = device
        .name
        .clone()
        .unwrap_or_else(|| device.device_type.to_string());
    Notice {
        account_id: id.to_owned(),
        kind: NoticeKind::NewSignIn,
        title: tr(locale, "notice.new_sign_in.title", &[]),
        body: tr(
            locale,
            "notice.new_sign_in.body",
            &[
                ("account", account),
                ("device", &what),
                ("os", &device.os),
                ("ip", &device.ip),
            ],
        ),
    }
}

/// The OS notification for a remote sign-out, if this end deserves one.
fn notice_for(locale: Locale, id: &str, account: &str, info: &DisconnectInfo) -> Option<Notice> {
    let title = match info.reason {
        DisconnectReason::Kicked {
            reason: KickReason::TokenExpired,
        } => "notice.session_expired.title",
        DisconnectReason::Kicked { .. } | DisconnectReason::Replaced => "notice.signed_out.title",
        DisconnectReason::Rejected { .. } => "notice.login_refused.title",
        _ => return None,
    };
    let by = info
        .by
        .as_ref()
        .map(|b| b.device_id.clone())
        .unwrap_or_default();
    let code = info.code.map(|c| c.to_string()).unwrap_or_default();
    let body = match info.reason {
        DisconnectReason::Kicked { reason } => match reason {
            KickReason::ByDevice => "notice.by_device",
            KickReason::LoginElsewhere => "notice.login_elsewhere",
            KickReason::InstanceLimit => "notice.instance_limit",
            KickReason::TokenExpired => "notice.token_expired",
            KickReason::Admin => "notice.admin",
            KickReason::Banned => "notice.banned",
            _ => "notice.kicked",
        },
        DisconnectReason::Replaced => "notice.replaced",
        _ => "notice.rejected",
    };
    Some(Notice {
        account_id: id.to_owned(),
        kind: NoticeKind::SignedOut,
        title: tr(locale, title, &[]),
        body: tr(
            locale,
            body,
            &[("account", account), ("device", &by), ("code", &code)],
        ),
    })
}
