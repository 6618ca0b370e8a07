//! Node leases: renewed every few seconds; a node whose lease expired is
//! dead, and a survivor purges its sessions. After an outage (or when Redis
//! lost its data) a node reconciles: it removes what it registered but no
//! longer holds, closes what was kicked or banned meanwhile, and puts back
//! the rest.

use std::collections::HashMap;

use std::sync::Weak;
use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use vestibule_protocol::{Code, Device, KickReason};

use super::accounts::{Applied, Entry, account_key};
use super::{Inner, MAX_ATTEMPTS, NODES, lease_key, node_sessions_key, url_key};
use crate::clock::unix_millis;
use crate::registry::{SessionKey, SessionMsg};

/// Lease lifetime: a node silent this long is dead, and its sessions are
/// purged within a heartbeat after (a dead node's ghosts go within 8 s).
pub const LEASE: Duration = Duration::from_secs(6);
/// How often leases are renewed and dead nodes looked for.
pub const HEARTBEAT: Duration = Duration::from_secs(2);
/// Set once by the first node; its disappearance means Redis lost its data.
const EPOCH: &str = "{vst}:epoch";

/// Accounts a reaper changes at once.
const PURGE_IN_FLIGHT: usize = 64;

/// Left by the survivor that purged `node`'s sessions.
fn reaped_key(node: &str) -> String {
    format!("{{vst}}:reaped:{node}")
}

impl Inner {
    /// Renews the lease; says whether this node's sessions are still in
    /// Redis: Redis kept its data (the epoch this node saw at start is
    /// there, else a new one is set) and no survivor purged them (a node
    /// stalled past its lease is taken for dead; the reaper leaves a mark
    /// when it is done, read and cleared here).
    pub(super) async fn renew_lease(&self) -> Result<bool, redis::RedisError> {
        let mut conn = self.link.get();
        let node = &self.node;
        let mut pipe = redis::pipe();
        pipe.cmd("GETDEL").arg(reaped_key(node));
        pipe.set_ex(lease_key(node), unix_millis(), LEASE.as_secs())
            .ignore();
        if let Some(url) = self.url.get() {
            // Lives exactly as long as the lease: `/v1/lbs` lists live nodes only.
            pipe.set_ex(url_key(node), url, LEASE.as_secs()).ignore();
        }
        let (reaped, epoch): (Option<String>, Option<String>) = pipe
            .sadd(NODES, node)
            .ignore()
            .get(EPOCH)
            .query_async(&mut conn)
            .await?;
        let known = self
            .epoch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if epoch.is_some() && epoch == known {
            let purged = reaped.is_some();
            if purged {
                tracing::warn!(node = %self.node, "this node stalled past its lease and was taken for dead: registering its sessions again");
            }
            return Ok(!purged);
        }
        // First start, or Redis lost everything: make (or adopt) the epoch.
        let mine = crate::secret::random_string(16);
        let _: Option<String> = redis::cmd("SET")
            .arg(EPOCH)
            .arg(&mine)
            .arg("NX")
            .query_async(&mut conn)
            .await?;
        let now: Option<String> = conn.get(EPOCH).await?;
        let lost = known.is_some();
        *self
            .epoch
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = now;
        Ok(!lost)
    }

    /// The URLs of the nodes whose lease is current, this node's first.
    pub(super) async fn live_nodes(&self) -> Result<Vec<String>, redis::RedisError> {
        let mut conn = self.link.get();
        let nodes: Vec<String> = conn.smembers(NODES).await?;
        let mut others: Vec<String> = nodes.into_iter().filter(|n| *n != self.node).collect();
        others.sort();
        let mut urls: Vec<String> = self.url.get().cloned().into_iter().collect();
        if !others.is_empty() {
            let keys: Vec<String> = others.iter().map(|n| url_key(n)).collect();
            let found: Vec<Option<String>> =
                redis::cmd("MGET").arg(&keys).query_async(&mut conn).await?;
            urls.extend(found.into_iter().flatten());
        }
        Ok(urls)
    }

    /// Purges the sessions of nodes whose lease expired.
    async fn reap(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.link.get();
        let nodes: Vec<String> = conn.smembers(NODES).await?;
        for node in nodes.into_iter().filter(|n| *n != self.node) {
            let alive: bool = conn.exists(lease_key(&node)).await?;
            if alive {
                continue;
            }
            // One survivor does the work.
            let claimed: Option<String> = redis::cmd("SET")
                .arg(format!("{{vst}}:reap:{node}"))
                .arg(&self.node)
                .arg("NX")
                .arg("EX")
                .arg(LEASE.as_secs())
                .query_async(&mut conn)
                .await?;
            if claimed.is_none() {
                continue;
            }
            let members: Vec<String> = conn.smembers(node_sessions_key(&node)).await?;
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
            // Many accounts at once (each its own script, often on another
            // primary): a node of 16,666 sessions is purged in seconds, not half a minute.
            let mut removals = futures_util::stream::iter(by_account)
                .map(|(key, targets)| async move { self.purge_entries(&key, &targets).await })
                .buffer_unordered(PURGE_IN_FLIGHT);
            // Every account is tried even when one fails (a busy Redis);
            // then the claim goes, so the next heartbeat finishes the rest.
            let mut failure = None;
            while let Some(removed) = removals.next().await {
                if let Err(e) = removed {
                    failure = Some(e);
                }
            }
            drop(removals);
            if let Some(e) = failure {
                let _: Result<i64, _> = conn.del(format!("{{vst}}:reap:{node}")).await;
                return Err(e);
            }
            // Its keys first (one slot), then the cluster-wide listing: if
            // this stops in between, the next reaper finds the node again.
            let _: () = redis::pipe()
                .del(node_sessions_key(&node))
                .del(super::inbox_key(&node))
                .query_async(&mut conn)
                .await?;
            // If it was only stalled, it sees this at its next renewal.
            let _: () = redis::pipe()
                .srem(NODES, &node)
                .ignore()
                .set_ex(reaped_key(&node), &self.node, 3600)
                .ignore()
                .query_async(&mut conn)
                .await?;
        }
        Ok(())
    }

    /// After an outage, or when Redis lost its data: makes Redis and this
    /// node agree. Sessions this node registered but no longer holds (they
    /// ended while Redis was out of reach) are removed; live sessions that
    /// another node removed meanwhile are told why (the kick's tombstone) and
    /// closed; a banned or disabled account's are closed; the rest are put
    /// back if they are missing.
    async fn reconcile(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.link.get();
        let members: Vec<String> = conn.smembers(node_sessions_key(&self.node)).await?;
        let mut ghosts: HashMap<String, Vec<(String, String)>> = HashMap::new();
        {
            let local = self
                .local
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for member in members {
                let mut parts = member.splitn(3, '\n');
                if let (Some(key), Some(device), Some(conn_id)) =
                    (parts.next(), parts.next(), parts.next())
                    && !local.contains_key(conn_id)
                {
                    ghosts
                        .entry(key.to_owned())
                        .or_default()
                        .push((device.to_owned(), conn_id.to_owned()));
                }
            }
        }
        for (key, targets) in ghosts {
            tracing::info!(account = %key, sessions = targets.len(), "removing sessions that ended while Redis was out of reach");
            self.forget(&key, &targets).await?;
        }
        let sessions: Vec<(SessionKey, Device)> = self
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .map(|l| (l.key.clone(), l.device.clone()))
            .collect();
        for (key, device) in sessions {
            self.reconcile_session(&key, device).await?;
        }
        Ok(())
    }

    async fn reconcile_session(
        &self,
        key: &SessionKey,
        device: Device,
    ) -> Result<(), redis::RedisError> {
        let account_key = account_key(&key.app_key, &key.account);
        for _ in 0..MAX_ATTEMPTS {
            let (rev, entries) = self.read(&account_key).await?;
            if entries
                .iter()
                .any(|e| e.device.connection_id == key.connection_id)
            {
                return Ok(());
            }
            // Gone from Redis: another node kicked or replaced it meanwhile?
            if let Some(msg) = self.tombstone(&key.connection_id).await? {
                tracing::info!(connection_id = %key.connection_id, "a kick made while Redis was out of reach reaches its session");
                self.deliver(&self.node.clone(), &key.connection_id, msg)
                    .await;
                return Ok(());
            }
            if entries
                .iter()
                .any(|e| e.device.device_id == device.device_id)
            {
                // Replaced by a newer login of the same device elsewhere.
                self.deliver(&self.node.clone(), &key.connection_id, SessionMsg::Replaced)
                    .await;
                return Ok(());
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
                Applied::Unchanged => return Ok(()),
                Applied::Flagged(code) => {
                    let reason = if code == Code::Forbidden {
                        KickReason::Banned
                    } else {
                        KickReason::Admin
                    };
                    self.deliver(
                        &self.node.clone(),
                        &key.connection_id,
                        SessionMsg::kicked(reason, None),
                    )
                    .await;
                    return Ok(());
                }
                Applied::Done { rev, entries, .. } => {
                    let list = self
                        .full_list(&key.app_key, &key.account, rev, &entries, &[])
                        .await;
                    self.push(&key.app_key, &key.account, &list, &entries, None)
                        .await;
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

/// Renews the lease on time, whatever else the node is doing; after each
/// renewal wakes the [`upkeep`].
pub(super) async fn heartbeat(inner: Weak<Inner>, upkeep: tokio::sync::mpsc::Sender<()>) {
    let mut ticker = tokio::time::interval(HEARTBEAT);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // Renewals in a row that timed out.
    let mut late = 0;
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let was_healthy = inner.healthy.load(Ordering::Relaxed);
        match inner.renew_lease().await {
            Ok(kept_data) => {
                late = 0;
                inner.mark(true);
                if !was_healthy || !kept_data {
                    if kept_data {
                        tracing::info!(node = %inner.node, "Redis is back: reconciling this node's sessions");
                    } else {
                        tracing::warn!(node = %inner.node, "Redis lost this node's sessions (its data, or a lapsed lease): registering them again");
                    }
                    inner.resync.store(true, Ordering::SeqCst);
                }
                // Full: a pass is already due; wakes merge.
                let _ = upkeep.try_send(());
            }
            Err(e) => {
                tracing::debug!(error = %e, "lease renewal failed");
                // One late answer is a busy Redis (the lease has time left);
                // two in a row, or a refused or closed connection, an outage.
                late += 1;
                if !e.is_timeout() || late >= 2 {
                    inner.mark(false);
                }
            }
        }
    }
}

/// One pass at a time, apart from the renewals: reconciles when a renewal
/// asked for it, settles the doubtful sessions, reaps dead nodes.
pub(super) async fn upkeep(inner: Weak<Inner>, mut woken: tokio::sync::mpsc::Receiver<()>) {
    while woken.recv().await.is_some() {
        let Some(inner) = inner.upgrade() else { return };
        if !inner.healthy.load(Ordering::Relaxed) {
            continue;
        }
        // Taken before reconciling: a renewal that asks again meanwhile gets another pass.
        if inner.resync.swap(false, Ordering::SeqCst)
            && let Err(e) = inner.reconcile().await
        {
            tracing::warn!(error = %e, "reconciling incomplete; will retry");
            inner.resync.store(true, Ordering::SeqCst);
            inner.failed(&e);
            continue;
        }
        inner.settle_doubts().await;
        if let Err(e) = inner.reap().await {
            tracing::warn!(error = %e, "reaping dead nodes failed");
        }
    }
}
