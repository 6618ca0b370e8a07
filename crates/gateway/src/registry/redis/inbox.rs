//! Messages between nodes. Each node reads its own stream `vst:{node:id}:inbox`
//! (kicks and device-list pushes go only to the nodes that hold sessions of
//! the account). A stream, not pub/sub: a node cut off from Redis for a
//! moment reads what it missed when it is back, so a kick is delivered at
//! least once. A kick or replacement also leaves a tombstone
//! `vst:{node:id}:gone:{connectionId}` (5 minutes, in the inbox's slot), which the node checks for its
//! sessions that vanished from Redis while it could not see it.

use std::collections::BTreeSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use vestibule_protocol::{Device, KickReason, KickedBy};

use super::accounts::Entry;
use super::{Inner, inbox_key, tombstone_key};
use crate::registry::{DeviceList, SessionMsg};

/// A message between nodes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub(super) enum InboxMsg {
    Kick {
        conn: String,
        reason: KickReason,
        by: Option<KickedBy>,
    },
    Replaced {
        conn: String,
    },
    Devices {
        app_key: String,
        account: String,
        devices: Vec<Device>,
        rev: u64,
    },
    NewDevice {
        app_key: String,
        account: String,
        /// Boxed: a device is several times larger than the other messages.
        device: Box<Device>,
        skip: String,
    },
}

impl Inner {
    /// Delivers `msg` to the session `conn` on `node` (here or through its inbox).
    pub(super) async fn deliver(&self, node: &str, conn: &str, msg: SessionMsg) {
        if node == self.node {
            if let Some(local) = self.take_local(conn) {
                local.mailbox.send(msg);
            }
            return;
        }
        let inbox = match msg {
            SessionMsg::Kicked(notice) => InboxMsg::Kick {
                conn: conn.to_owned(),
                reason: notice.reason,
                by: notice.by.clone(),
            },
            SessionMsg::Replaced => InboxMsg::Replaced {
                conn: conn.to_owned(),
            },
            SessionMsg::Devices(_) | SessionMsg::NewDevice(_) => return,
        };
        self.publish(node, &inbox).await;
    }

    async fn publish(&self, node: &str, msg: &InboxMsg) {
        let Ok(payload) = serde_json::to_string(msg) else {
            return;
        };
        let mut pipe = redis::pipe();
        if let InboxMsg::Kick { conn, .. } | InboxMsg::Replaced { conn } = msg {
            pipe.set_ex(tombstone_key(node, conn), &payload, TOMBSTONE.as_secs())
                .ignore();
        }
        pipe.cmd("XADD")
            .arg(inbox_key(node))
            .arg("MAXLEN")
            .arg("~")
            .arg(INBOX_LEN)
            .arg("*")
            .arg("m")
            .arg(&payload)
            .ignore();
        let sent: Result<(), _> = pipe.query_async(&mut self.link.get()).await;
        if let Err(e) = sent {
            tracing::warn!(node, error = %e, "cannot reach another node's inbox");
            self.link.failed();
        }
    }

    /// What another node left for one of this node's sessions that vanished
    /// from Redis meanwhile (its kick or replacement), if anything.
    pub(super) async fn tombstone(
        &self,
        conn: &str,
    ) -> Result<Option<SessionMsg>, redis::RedisError> {
        let raw: Option<String> = self.link.get().get(tombstone_key(&self.node, conn)).await?;
        Ok(raw
            .and_then(|r| serde_json::from_str::<InboxMsg>(&r).ok())
            .and_then(|msg| match msg {
                InboxMsg::Kick { reason, by, .. } => Some(SessionMsg::kicked(reason, by)),
                InboxMsg::Replaced { .. } => Some(SessionMsg::Replaced),
                InboxMsg::Devices { .. } | InboxMsg::NewDevice { .. } => None,
            }))
    }

    /// Pushes the list to every session of the account except `skip`: local
    /// mailboxes directly, one inbox message per other node that holds a session.
    pub(super) async fn push(
        &self,
        app_key: &str,
        account: &str,
        list: &Arc<DeviceList>,
        entries: &[Entry],
        skip: Option<&str>,
    ) {
        self.push_local(app_key, account, list, skip);
        let nodes: BTreeSet<&str> = entries
            .iter()
            .map(|e| e.node.as_str())
            .filter(|n| *n != self.node)
            .collect();
        for node in nodes {
            let msg = InboxMsg::Devices {
                app_key: app_key.to_owned(),
                account: account.to_owned(),
                devices: list.devices.clone(),
                rev: list.rev,
            };
            self.publish(node, &msg).await;
        }
    }

    /// Tells the account's sessions (here and on the nodes that hold some),
    /// except `skip`, that `device` signed in.
    pub(super) async fn announce_new_device(
        &self,
        app_key: &str,
        account: &str,
        device: Device,
        skip: &str,
    ) {
        let device = Arc::new(device);
        self.send_local(app_key, account, Some(skip), |_| {
            SessionMsg::NewDevice(device.clone())
        });
        let Ok((_, entries)) = self
            .read(&super::accounts::account_key(app_key, account))
            .await
        else {
            return;
        };
        let nodes: BTreeSet<&str> = entries
            .iter()
            .map(|e| e.node.as_str())
            .filter(|n| *n != self.node)
            .collect();
        for node in nodes {
            let msg = InboxMsg::NewDevice {
                app_key: app_key.to_owned(),
                account: account.to_owned(),
                device: Box::new((*device).clone()),
                skip: skip.to_owned(),
            };
            self.publish(node, &msg).await;
        }
    }

    fn push_local(&self, app_key: &str, account: &str, list: &Arc<DeviceList>, skip: Option<&str>) {
        self.send_local(app_key, account, skip, |_| {
            SessionMsg::Devices(list.clone())
        });
    }

    /// Leaves a message with each of this node's sessions of the account except `skip`.
    fn send_local(
        &self,
        app_key: &str,
        account: &str,
        skip: Option<&str>,
        msg: impl Fn(&str) -> SessionMsg,
    ) {
        let local = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for session in local.of_account(app_key, account) {
            if Some(session.key.connection_id.as_str()) != skip {
                session.mailbox.send(msg(&session.key.connection_id));
            }
        }
    }
}

/// How long a kick's tombstone lasts: longer than any outage a node rides
/// out (past its 6 s lease it is dead, and its sessions are purged anyway).
const TOMBSTONE: Duration = Duration::from_secs(300);
/// How long one read of the inbox waits for a message.
const BLOCK: Duration = Duration::from_secs(1);
/// Messages kept per node's inbox stream (about).
const INBOX_LEN: u32 = 10_000;

/// Reads this node's inbox stream, from where it left off, forever. On a
/// connection it owns (a blocking read would hold up a shared one), rebuilt
/// after any failure.
pub(super) async fn inbox(inner: Weak<Inner>, subscribed: tokio::sync::oneshot::Sender<()>) {
    let mut subscribed = Some(subscribed);
    let mut last: Option<String> = None;
    loop {
        let Some((client, key)) = inner
            .upgrade()
            .map(|i| (i.link.client().clone(), inbox_key(&i.node)))
        else {
            return;
        };
        let mut conn = match client.blocking(BLOCK).await {
            Ok(conn) => conn,
            Err(e) => {
                tracing::debug!(error = %e, "inbox: cannot connect yet");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        if last.is_none() {
            // Start after whatever is already there (a previous run's messages).
            let newest: Result<redis::streams::StreamRangeReply, _> =
                conn.xrevrange_count(&key, "+", "-", 1).await;
            match newest {
                Ok(reply) => {
                    last = Some(
                        reply
                            .ids
                            .first()
                            .map_or_else(|| "0-0".to_owned(), |e| e.id.clone()),
                    );
                }
                Err(e) => {
                    tracing::debug!(error = %e, "inbox: cannot read yet");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            }
        }
        if let Some(tx) = subscribed.take() {
            let _ = tx.send(());
        }
        let options = redis::streams::StreamReadOptions::default()
            .block(usize::try_from(BLOCK.as_millis()).unwrap_or(1000))
            .count(256);
        loop {
            let from = last.clone().unwrap_or_else(|| "0-0".to_owned());
            let read: Result<Option<redis::streams::StreamReadReply>, _> =
                conn.xread_options(&[&key], &[&from], &options).await;
            let reply = match read {
                Ok(reply) => reply,
                Err(e) => {
                    tracing::debug!(error = %e, "inbox: read failed; reconnecting");
                    break;
                }
            };
            let Some(inner) = inner.upgrade() else { return };
            for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                last = Some(entry.id.clone());
                let Some(payload) = entry.get::<String>("m") else {
                    continue;
                };
                match serde_json::from_str::<InboxMsg>(&payload) {
                    Ok(msg) => handle_inbox(&inner, msg),
                    Err(e) => tracing::warn!(error = %e, "unreadable inbox message"),
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn handle_inbox(inner: &Inner, msg: InboxMsg) {
    match msg {
        InboxMsg::Kick { conn, reason, by } => {
            if let Some(local) = inner.take_local(&conn) {
                local.mailbox.send(SessionMsg::kicked(reason, by));
            }
        }
        InboxMsg::Replaced { conn } => {
            if let Some(local) = inner.take_local(&conn) {
                local.mailbox.send(SessionMsg::Replaced);
            }
        }
        InboxMsg::Devices {
            app_key,
            account,
            devices,
            rev,
        } => {
            let list = Arc::new(DeviceList::new(devices, rev));
            inner.push_local(&app_key, &account, &list, None);
        }
        InboxMsg::NewDevice {
            app_key,
            account,
            device,
            skip,
        } => {
            let device: Arc<Device> = Arc::from(device);
            inner.send_local(&app_key, &account, Some(&skip), |_| {
                SessionMsg::NewDevice(device.clone())
            });
        }
    }
}
