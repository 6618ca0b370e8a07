//! Node leases: renewed every few seconds; a node whose lease expired is
//! dead, and a survivor purges its sessions. After an outage a node puts its
//! live sessions back.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::AsyncCommands;
use vestibule_protocol::Device;

use super::accounts::{Applied, Entry, account_key, list_of};
use super::{Inner, MAX_ATTEMPTS};
use crate::clock::unix_millis;
use crate::registry::{SessionKey, SessionMsg};

/// Lease lifetime: a node silent this long is dead.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often leases are renewed and dead nodes looked for.
pub const HEARTBEAT: Duration = Duration::from_secs(3);

impl Inner {
    pub(super) async fn renew_lease(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        let node = &self.node;
        redis::pipe()
            .set_ex(format!("vst:node:{node}"), unix_millis(), LEASE.as_secs())
            .sadd("vst:nodes", node)
            .query_async::<()>(&mut conn)
            .await
    }

    /// Purges the sessions of nodes whose lease expired.
    async fn reap(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        let nodes: Vec<String> = conn.smembers("vst:nodes").await?;
        for node in nodes.into_iter().filter(|n| *n != self.node) {
            let alive: bool = conn.exists(format!("vst:node:{node}")).await?;
            if alive {
                continue;
            }
            // One survivor does the work.
            let claimed: Option<String> = redis::cmd("SET")
                .arg(format!("vst:reap:{node}"))
                .arg(&self.node)
                .arg("NX")
                .arg("EX")
                .arg(LEASE.as_secs())
                .query_async(&mut conn)
                .await?;
            if claimed.is_none() {
                continue;
            }
            let members: Vec<String> = conn.smembers(format!("vst:sessions:{node}")).await?;
            tracing::info!(dead = %node, sessions = members.len(), "purging the sessions of a dead node");
            let mut by_account: HashMap<String, Vec<(String, String)>> = HashMap::new();
            for member in members {
                let mut parts = member.splitn(3, '\n');
                if let (Some(key), Some(device), Some(conn_id)) =
                    (parts.next(), parts.next(), parts.next())
                {
                    by_account
                        .entry(key.to_owned())
                        .or_default()
                        .push((device.to_owned(), conn_id.to_owned()));
                }
            }
            for (key, targets) in by_account {
                self.remove_entries(&key, &targets, None).await?;
            }
            let _: () = redis::pipe()
                .del(format!("vst:sessions:{node}"))
                .srem("vst:nodes", &node)
                .query_async(&mut conn)
                .await?;
        }
        Ok(())
    }

    /// After an outage: puts this node's live sessions back, unless another
    /// login of the same device took their place meanwhile.
    async fn reregister(&self) -> Result<(), redis::RedisError> {
        let sessions: Vec<(SessionKey, Device)> = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .map(|l| (l.key.clone(), l.device.clone()))
            .collect();
        for (key, device) in sessions {
            let account_key = account_key(&key.app_key, &key.account);
            for _ in 0..MAX_ATTEMPTS {
                let (rev, entries) = self.read(&account_key).await?;
                match entries
                    .iter()
                    .find(|e| e.device.device_id == device.device_id)
                {
                    Some(e) if e.device.connection_id == key.connection_id => break,
                    Some(_) => {
                        // Replaced elsewhere while we could not see Redis.
                        self.deliver(&self.node.clone(), &key.connection_id, SessionMsg::Replaced)
                            .await;
                        break;
                    }
                    None => {}
                }
                let entry = Entry {
                    node: self.node.clone(),
                    device: device.clone(),
                };
                match self
                    .apply(&account_key, Some(rev), &[], Some(&entry))
                    .await?
                {
                    Applied::Conflict => continue,
                    Applied::Unchanged => break,
                    Applied::Done { rev, entries, .. } => {
                        let list = Arc::new(list_of(rev, &entries));
                        self.push(&key.app_key, &key.account, &list, &entries, None)
                            .await;
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

/// Renews the lease, reaps dead nodes, and re-registers after an outage.
pub(super) async fn heartbeat(inner: Weak<Inner>) {
    let mut ticker = tokio::time::interval(HEARTBEAT);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let was_healthy = inner.healthy.load(Ordering::Relaxed);
        match inner.renew_lease().await {
            Ok(()) => {
                inner.mark(true);
                if !was_healthy {
                    tracing::info!(node = %inner.node, "Redis is back: re-registering this node's sessions");
                    if let Err(e) = inner.reregister().await {
                        tracing::warn!(error = %e, "re-registration incomplete; will retry");
                        inner.mark(false);
                        continue;
                    }
                }
                if let Err(e) = inner.reap().await {
                    tracing::warn!(error = %e, "reaping dead nodes failed");
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "lease renewal failed");
                inner.mark(false);
            }
        }
    }
}
