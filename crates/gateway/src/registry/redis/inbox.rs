//! Messages between nodes: each node listens on its own channel; kicks and
//! device-list pushes go only to the nodes that hold sessions of the account.

use std::collections::BTreeSet;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use vestibule_protocol::{Device, KickReason, KickedBy};

use super::Inner;
use super::accounts::Entry;
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
            SessionMsg::Devices(_) => return,
        };
        self.publish(node, &inbox).await;
    }

    async fn publish(&self, node: &str, msg: &InboxMsg) {
        let Ok(payload) = serde_json::to_string(msg) else {
            return;
        };
        let mut conn = self.conn.clone();
        let sent: Result<i64, _> = conn.publish(format!("vst:inbox:{node}"), payload).await;
        if let Err(e) = sent {
            tracing::warn!(node, error = %e, "cannot reach another node's inbox");
        }
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

    fn push_local(&self, app_key: &str, account: &str, list: &Arc<DeviceList>, skip: Option<&str>) {
        let local = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for session in local.values() {
            if session.key.app_key == app_key
                && session.key.account == account
                && Some(session.key.connection_id.as_str()) != skip
            {
                session.mailbox.send(SessionMsg::Devices(list.clone()));
            }
        }
    }
}

/// Receives other nodes' kicks and pushes for this node's sessions.
pub(super) async fn inbox(inner: Weak<Inner>, subscribed: tokio::sync::oneshot::Sender<()>) {
    let mut subscribed = Some(subscribed);
    loop {
        let (client, channel) = match inner.upgrade() {
            Some(inner) => (inner.client.clone(), format!("vst:inbox:{}", inner.node)),
            None => return,
        };
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => {
                if pubsub.subscribe(&channel).await.is_ok() {
                    if let Some(tx) = subscribed.take() {
                        let _ = tx.send(());
                    }
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        let Some(inner) = inner.upgrade() else { return };
                        let Ok(payload) = msg.get_payload::<String>() else {
                            continue;
                        };
                        match serde_json::from_str::<InboxMsg>(&payload) {
                            Ok(msg) => handle_inbox(&inner, msg),
                            Err(e) => tracing::warn!(error = %e, "unreadable inbox message"),
                        }
                    }
                }
            }
            Err(e) => tracing::debug!(error = %e, "inbox: cannot subscribe yet"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
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
            let list = Arc::new(DeviceList { devices, rev });
            inner.push_local(&app_key, &account, &list, None);
        }
    }
}
