//! The session registry of a gateway cluster, shared through Redis: one
//! Redis, or a Redis Cluster. Every script and pipeline touches keys of one
//! hash slot, so the layout is by hash tag:
//!
//! - Per account, tag `{appKey:account}`: the hash `vst:acct:{..}` maps
//!   deviceId → JSON entry (node + device), plus the field `"\0rev"` with the
//!   account's last revision (above the previous one and never below Redis'
//!   clock in µs, so revisions rise even when the hash of an account without
//!   sessions expired a day later); its flags `vst:flags:{..}` sit in the same
//!   slot, so the login script checks a ban atomically with the write.
//!   deviceIds never contain control characters, so `"\0rev"` cannot collide.
//! - Per node, tag `{node:id}`: the set `vst:{node:id}:sessions` of its
//!   sessions, for cleanup when its lease expires (any surviving node purges
//!   them); its inbox stream `vst:{node:id}:inbox` (kicks and device-list
//!   pushes go only to the nodes that hold sessions of the account); and the
//!   tombstones `vst:{node:id}:gone:{connectionId}` of its kicked sessions.
//!   The session set cannot change in the account's script (another slot):
//!   a session goes in before its account entry and leaves after it, so the
//!   set always holds at least the node's sessions.
//! - Cluster-wide, tag `{vst}` (a handful of small keys): node leases
//!   `{vst}:lease:id`, their URLs `{vst}:url:id`, the set `{vst}:nodes` of
//!   nodes that ever registered, reaping claims and the epoch.
//!
//! The device policy is the same pure planning as in memory ([`super::plan_login`]); it is
//! applied atomically with optimistic concurrency: read the account (with its
//! revision), decide, and apply the verdict with one Lua script that refuses
//! if the revision moved — then re-read and decide again.
//!
//! Files: `accounts` (the account hashes and the Lua script that changes
//! them), `lease` (node leases, dead-node cleanup, re-registration after an
//! outage), `inbox` (messages between nodes), `link` (the connection, to one
//! Redis or a cluster); this file holds the registry.

mod accounts;
mod inbox;
mod lease;
mod link;
mod local;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use vestibule_protocol::{Code, Device, KickReason};

use super::{
    DeviceList, Granted, KickOutcome, Mailbox, NewSession, Refused, SessionKey, SessionMsg,
    SessionRegistry, Unreachable, plan_account_kick, plan_kick, plan_login,
};
use crate::metrics::login_stage as stage;
use crate::policy::DevicePolicy;
use accounts::{Applied, Entry, account_key, list_of, parse_account_key};
pub(crate) use accounts::{account_tag, flags_key};
pub use lease::{HEARTBEAT, LEASE};

/// What a refused login tells the client while Redis is unreachable.
const RETRY_AFTER_OUTAGE: Duration = Duration::from_millis(2000);
/// Optimistic-concurrency attempts before a login gives up with 503.
const MAX_ATTEMPTS: usize = 32;
/// Logins of one node talking to Redis at once. More wait their turn: a
/// crowd of returning clients then queues here instead of piling commands
/// on Redis until they time out (which would make the node refuse every
/// login until its next heartbeat).
pub const LOGINS_IN_FLIGHT: usize = 32;
/// How long a login waits for its turn before it is told 503 with
/// [`BUSY_RETRY_AFTER`].
pub const LOGIN_QUEUE_WAIT: Duration = Duration::from_secs(5);
/// What a login that waited too long, or whose Redis command timed out, is
/// told to wait.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_millis(1000);
/// How long `/v1/lbs` answers from the last listing of live nodes: a crowd
/// of returning clients asks every node at once, and each node then asks
/// Redis about once, not once per client (a dead node leaves the listing
/// with its lease, at most this much later).
pub const LIVE_NODES_FRESH: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub(super) struct Local {
    pub(super) key: SessionKey,
    pub(super) device: Device,
    pub(super) mailbox: Mailbox,
}

/// The registry of one node of a Redis-backed cluster.
#[derive(Debug)]
pub struct RedisRegistry {
    inner: Arc<Inner>,
    tasks: Vec<tokio::task::AbortHandle>,
}

#[derive(Debug)]
pub(super) struct Inner {
    node: String,
    link: Link,
    apply: redis::Script,
    healthy: AtomicBool,
    /// Set by a renewal that found Redis back or its sessions lost; taken
    /// by the upkeep, which then reconciles (see `lease`).
    resync: AtomicBool,
    /// connectionId → this node's session.
    local: Mutex<local::LocalSessions>,
    /// Turns for logins (see [`LOGINS_IN_FLIGHT`]).
    logins: tokio::sync::Semaphore,
    /// The epoch Redis had when this node last looked (see `lease`).
    epoch: Mutex<Option<String>>,
    /// Where the accounts' device sessions are (their offline devices are listed too).
    store: std::sync::OnceLock<Arc<crate::store::Store>>,
    bump: redis::Script,
    /// Where clients reach this node (`vst:url:{node}`, renewed with the lease).
    url: std::sync::OnceLock<String>,
    /// Sessions that ended here but whose removal from Redis timed out (or
    /// whose login write timed out, so it may have landed): removed at the
    /// next heartbeat, so no ghost stays.
    doubtful: Mutex<Vec<Doubt>>,
    /// The last listing of live nodes (see [`LIVE_NODES_FRESH`]); the lock
    /// makes a crowd wait for one query instead of sending one each.
    live: tokio::sync::Mutex<Option<(tokio::time::Instant, Vec<String>)>>,
}

/// A session this node no longer holds that Redis may still list.
#[derive(Debug)]
pub(super) struct Doubt {
    account_key: String,
    device_id: String,
    connection_id: String,
}

impl Drop for RedisRegistry {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

pub use link::RedisTarget;
pub(crate) use link::{Conn, Link};

/// The cluster-wide set of nodes that ever registered.
pub(super) const NODES: &str = "{vst}:nodes";

/// A node's lease: it is alive while this key is.
pub(super) fn lease_key(node: &str) -> String {
    format!("{{vst}}:lease:{node}")
}

/// Where clients reach a node (lives as long as its lease).
pub(super) fn url_key(node: &str) -> String {
    format!("{{vst}}:url:{node}")
}

/// The hash tag of a node's keys.
fn node_tag(node: &str) -> String {
    format!("{{node:{node}}}")
}

/// The set of a node's sessions (see the module docs).
pub(super) fn node_sessions_key(node: &str) -> String {
    format!("vst:{}:sessions", node_tag(node))
}

/// A node's inbox stream.
pub(super) fn inbox_key(node: &str) -> String {
    format!("vst:{}:inbox", node_tag(node))
}

/// What a kick of the session `conn` on `node` left for it.
pub(super) fn tombstone_key(node: &str, conn: &str) -> String {
    format!("vst:{}:gone:{conn}", node_tag(node))
}

impl RedisRegistry {
    /// Connects to Redis (a URL, or a [`RedisTarget`]) as node `node` and
    /// starts the lease, the dead-node reaper and the inbox.
    pub async fn connect(
        target: impl Into<RedisTarget>,
        node: &str,
    ) -> Result<Self, redis::RedisError> {
        let link = Link::connect(&target.into()).await?;
        let inner = Arc::new(Inner {
            node: node.to_owned(),
            link,
            apply: accounts::apply_script(),
            healthy: AtomicBool::new(true),
            resync: AtomicBool::new(false),
            local: Mutex::default(),
            logins: tokio::sync::Semaphore::new(LOGINS_IN_FLIGHT),
            epoch: Mutex::default(),
            store: std::sync::OnceLock::new(),
            url: std::sync::OnceLock::new(),
            bump: accounts::bump_script(),
            doubtful: Mutex::default(),
            live: tokio::sync::Mutex::default(),
        });
        inner.renew_lease().await?;
        let (subscribed, ready) = tokio::sync::oneshot::channel();
        // The upkeep is woken by renewals but runs apart from them: a long
        // reconcile or purge never keeps the lease from being renewed.
        let (wake, woken) = tokio::sync::mpsc::channel(1);
        let tasks = vec![
            tokio::spawn(lease::heartbeat(Arc::downgrade(&inner), wake)).abort_handle(),
            tokio::spawn(lease::upkeep(Arc::downgrade(&inner), woken)).abort_handle(),
            tokio::spawn(inbox::inbox(Arc::downgrade(&inner), subscribed)).abort_handle(),
        ];
        // Messages published before the subscription exists would be lost.
        if tokio::time::timeout(Duration::from_secs(5), ready)
            .await
            .is_err()
        {
            tracing::warn!(node, "inbox subscription is slow; continuing");
        }
        tracing::info!(node, "joined the cluster");
        Ok(Self { inner, tasks })
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.inner.node
    }

    /// Whether Redis answered the last time it was asked.
    pub fn healthy(&self) -> bool {
        self.inner.healthy.load(Ordering::Relaxed)
    }

    /// Leaves the cluster: drops the lease so other nodes need not wait for it to expire.
    pub async fn leave(&self) {
        let mut conn = self.inner.link.get();
        let node = &self.inner.node;
        let _: Result<(), _> = redis::pipe()
            .del(lease_key(node))
            .del(url_key(node))
            .srem(NODES, node)
            .query_async(&mut conn)
            .await;
    }
}

impl Inner {
    /// The account's list at `rev`: its online `entries`, then the stored
    /// sessions that are not online, leaving out `gone`.
    async fn full_list(
        &self,
        app_key: &str,
        account: &str,
        rev: u64,
        entries: &[Entry],
        gone: &[String],
    ) -> Arc<DeviceList> {
        let online = list_of(rev, entries).devices;
        let stored = super::stored_sessions(self.store.get(), app_key, account).await;
        Arc::new(super::full_list(&online, stored, gone, rev))
    }

    /// A command failed. A timeout refuses only what asked: under a crowd
    /// Redis answers late, and taking that for an outage would refuse every
    /// login of the node until the next heartbeat (whose renewal decides
    /// whether Redis is gone). Anything else (refused, closed) marks it
    /// unreachable at once.
    fn failed(&self, e: &redis::RedisError) {
        if e.is_timeout() {
            tracing::debug!(node = %self.node, error = %e, "a Redis command timed out");
        } else {
            self.mark(false);
        }
    }

    /// What a login refused by `e` is told.
    fn refusal(&self, e: &redis::RedisError) -> Refused {
        self.failed(e);
        if e.is_timeout() {
            Refused {
                code: Code::Busy,
                retry_after: Some(BUSY_RETRY_AFTER),
            }
        } else {
            self.outage()
        }
    }

    /// Remembers a session Redis may still list (see `doubtful`).
    fn doubt(&self, account_key: &str, device_id: &str, connection_id: &str) {
        self.doubtful
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(Doubt {
                account_key: account_key.to_owned(),
                device_id: device_id.to_owned(),
                connection_id: connection_id.to_owned(),
            });
    }

    /// Removes the doubtful sessions (called once Redis answers again);
    /// those it cannot remove yet stay for the next time.
    pub(super) async fn settle_doubts(&self) {
        let doubts = std::mem::take(
            &mut *self
                .doubtful
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let mut left = Vec::new();
        for doubt in doubts {
            let target = [(doubt.device_id.clone(), doubt.connection_id.clone())];
            if self.forget(&doubt.account_key, &target).await.is_err() {
                left.push(doubt);
            }
        }
        if !left.is_empty() {
            self.doubtful
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend(left);
        }
    }

    /// Takes sessions this node no longer holds out of their account and
    /// out of the node's session set: whether or not the account still had
    /// them (a newer login may have replaced them), they are not this
    /// node's any more.
    pub(super) async fn forget(
        &self,
        key: &str,
        targets: &[(String, String)],
    ) -> Result<(), redis::RedisError> {
        self.remove_entries(key, targets, None).await?;
        let members: Vec<String> = targets
            .iter()
            .map(|(device, conn)| accounts::session_member(key, device, conn))
            .collect();
        let _: i64 = redis::AsyncCommands::srem(
            &mut self.link.get(),
            node_sessions_key(&self.node),
            &members,
        )
        .await?;
        Ok(())
    }

    fn mark(&self, ok: bool) {
        if !ok {
            self.link.failed();
        }
        let was = self.healthy.swap(ok, Ordering::Relaxed);
        if was && !ok {
            tracing::warn!(node = %self.node, "Redis is unreachable: new logins get 503 until it is back");
        }
    }

    fn outage(&self) -> Refused {
        Refused {
            code: Code::Busy,
            retry_after: Some(RETRY_AFTER_OUTAGE),
        }
    }

    fn take_local(&self, conn: &str) -> Option<Local> {
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(conn)
    }

    /// Removes sessions and tells everyone concerned.
    async fn remove_entries(
        &self,
        key: &str,
        targets: &[(String, String)],
        notice: Option<SessionMsg>,
    ) -> Result<Vec<Entry>, redis::RedisError> {
        let applied = self.apply(key, None, targets, None).await?;
        Ok(self.removed(key, applied, notice).await)
    }

    /// Removes a dead node's sessions from their account. Its session set
    /// is left as it is: the reaper drops the whole set once every account
    /// is done, so taking members out one by one would be wasted work.
    pub(super) async fn purge_entries(
        &self,
        key: &str,
        targets: &[(String, String)],
    ) -> Result<(), redis::RedisError> {
        let applied = self.apply_account(key, None, targets, None).await?;
        self.removed(key, applied, None).await;
        Ok(())
    }

    /// After sessions left an account: tells the removed ones (`notice`)
    /// or forgets them locally, and sends the new list to those online.
    async fn removed(&self, key: &str, applied: Applied, notice: Option<SessionMsg>) -> Vec<Entry> {
        let Applied::Done {
            rev,
            entries,
            removed,
        } = applied
        else {
            return Vec::new();
        };
        let Some((app_key, account)) = parse_account_key(key) else {
            return removed;
        };
        for entry in &removed {
            match &notice {
                Some(notice) => {
                    self.deliver(&entry.node, &entry.device.connection_id, notice.clone())
                        .await;
                }
                None => {
                    self.take_local(&entry.device.connection_id);
                }
            }
        }
        // Nobody online to tell: the list would go to no one.
        if entries.is_empty() {
            return removed;
        }
        // Kicked sessions end; dropped ones (a dead node) go offline.
        let gone: Vec<String> = if notice.is_some() {
            removed.iter().map(|e| e.device.device_id.clone()).collect()
        } else {
            Vec::new()
        };
        let list = self
            .full_list(&app_key, &account, rev, &entries, &gone)
            .await;
        self.push(&app_key, &account, &list, &entries, None).await;
        removed
    }
}

#[async_trait]
impl SessionRegistry for RedisRegistry {
    async fn login(&self, policy: &DevicePolicy, session: NewSession) -> Result<Granted, Refused> {
        let inner = &self.inner;
        if !inner.healthy.load(Ordering::Relaxed) {
            return Err(inner.outage());
        }
        let waited = Instant::now();
        let Ok(Ok(_turn)) = tokio::time::timeout(LOGIN_QUEUE_WAIT, inner.logins.acquire()).await
        else {
            return Err(Refused {
                code: Code::Busy,
                retry_after: Some(BUSY_RETRY_AFTER),
            });
        };
        stage("turn", waited);
        let key = account_key(&session.key.app_key, &session.key.account);
        let entry = Entry {
            node: inner.node.clone(),
            device: session.device_entry(),
        };
        let connection_id = session.key.connection_id.clone();
        // Registered locally first, so a push racing the login still finds it.
        inner
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(
                connection_id.clone(),
                Local {
                    key: session.key.clone(),
                    device: entry.device.clone(),
                    mailbox: session.mailbox.clone(),
                },
            );
        let unregister = || {
            inner.take_local(&connection_id);
        };
        for _ in 0..MAX_ATTEMPTS {
            let t = Instant::now();
            let (rev, present) = match inner.read(&key).await {
                Ok(read) => {
                    stage("read", t);
                    read
                }
                Err(e) => {
                    tracing::warn!(error = %e, "login: Redis read failed");
                    unregister();
                    return Err(inner.refusal(&e));
                }
            };
            let devices: Vec<&Device> = present.iter().map(|e| &e.device).collect();
            let plan = match plan_login(policy, &devices, &session) {
                Ok(plan) => plan,
                Err(refused) => {
                    unregister();
                    return Err(refused);
                }
            };
            let removals: Vec<(String, String)> = plan
                .removals
                .iter()
                .map(|(i, _)| {
                    (
                        devices[*i].device_id.clone(),
                        devices[*i].connection_id.clone(),
                    )
                })
                .collect();
            let t = Instant::now();
            let applied = inner.apply(&key, Some(rev), &removals, Some(&entry)).await;
            stage("apply", t);
            match applied {
                Ok(Applied::Conflict | Applied::Unchanged) => continue,
                // Banned or disabled, as Redis says right now: a ban on any node holds here at once.
                Ok(Applied::Flagged(code)) => {
                    unregister();
                    return Err(Refused {
                        code,
                        retry_after: None,
                    });
                }
                Ok(Applied::Done {
                    rev,
                    entries,
                    removed,
                }) => {
                    let t = Instant::now();
                    for gone in &removed {
                        let msg = plan
                            .removals
                            .iter()
                            .find(|(i, _)| devices[*i].connection_id == gone.device.connection_id)
                            .map_or(SessionMsg::Replaced, |(_, msg)| msg.clone());
                        inner
                            .deliver(&gone.node, &gone.device.connection_id, msg)
                            .await;
                    }
                    if !removed.is_empty() {
                        stage("deliver", t);
                    }
                    let t = Instant::now();
                    let list = inner
                        .full_list(
                            &session.key.app_key,
                            &session.key.account,
                            rev,
                            &entries,
                            &plan.evicted_ids(),
                        )
                        .await;
                    stage("list", t);
                    let t = Instant::now();
                    inner
                        .push(
                            &session.key.app_key,
                            &session.key.account,
                            &list,
                            &entries,
                            Some(&connection_id),
                        )
                        .await;
                    stage("push", t);
                    return Ok(Granted {
                        devices: list,
                        repeat_login: plan.repeat_login,
                        evicted: plan.evicted,
                        evicted_devices: plan.evicted_devices,
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "login: Redis write failed");
                    unregister();
                    // It may have landed: make sure it does not stay.
                    inner.doubt(&key, &entry.device.device_id, &connection_id);
                    return Err(inner.refusal(&e));
                }
            }
        }
        unregister();
        Err(Refused {
            code: Code::Busy,
            retry_after: Some(Duration::from_millis(500)),
        })
    }

    async fn remove(&self, key: &SessionKey) -> bool {
        let inner = &self.inner;
        let Some(local) = inner.take_local(&key.connection_id) else {
            return false;
        };
        let account_key = account_key(&key.app_key, &key.account);
        let target = [(local.device.device_id.clone(), key.connection_id.clone())];
        match inner.remove_entries(&account_key, &target, None).await {
            Ok(removed) => !removed.is_empty(),
            Err(e) => {
                // Leave it to the lease: if this node stays up, re-registration
                // will not bring it back (it is gone locally); if it dies, the reaper purges it.
                tracing::warn!(error = %e, "remove: Redis unreachable");
                inner.doubt(&account_key, &local.device.device_id, &key.connection_id);
                inner.failed(&e);
                true
            }
        }
    }

    async fn kick(
        &self,
        kicker: &SessionKey,
        device_ids: &[String],
        guard: Option<Duration>,
    ) -> Result<KickOutcome, Code> {
        let inner = &self.inner;
        let key = account_key(&kicker.app_key, &kicker.account);
        for _ in 0..MAX_ATTEMPTS {
            let (rev, entries) = inner.read(&key).await.map_err(|e| {
                inner.failed(&e);
                Code::Busy
            })?;
            let devices: Vec<&Device> = entries.iter().map(|e| &e.device).collect();
            let plan = plan_kick(&devices, &kicker.connection_id, device_ids, guard)?;
            if plan.targets.is_empty() {
                return Ok(plan.outcome);
            }
            let targets: Vec<(String, String)> = plan
                .targets
                .iter()
                .map(|&i| {
                    (
                        devices[i].device_id.clone(),
                        devices[i].connection_id.clone(),
                    )
                })
                .collect();
            match inner.apply(&key, Some(rev), &targets, None).await {
                Ok(Applied::Conflict) => continue,
                Ok(Applied::Unchanged | Applied::Flagged(_)) => {
                    return Ok(KickOutcome {
                        kicked: Vec::new(),
                        not_found: device_ids.to_vec(),
                    });
                }
                Ok(Applied::Done {
                    rev,
                    entries,
                    removed,
                }) => {
                    for gone in &removed {
                        inner
                            .deliver(&gone.node, &gone.device.connection_id, plan.notice.clone())
                            .await;
                    }
                    let list = inner
                        .full_list(
                            &kicker.app_key,
                            &kicker.account,
                            rev,
                            &entries,
                            &plan.outcome.kicked,
                        )
                        .await;
                    inner
                        .push(&kicker.app_key, &kicker.account, &list, &entries, None)
                        .await;
                    return Ok(plan.outcome);
                }
                Err(e) => {
                    inner.failed(&e);
                    return Err(Code::Busy);
                }
            }
        }
        Err(Code::Busy)
    }

    async fn kick_account(
        &self,
        app_key: &str,
        account: &str,
        device_ids: Option<&[String]>,
        reason: KickReason,
    ) -> Result<Vec<String>, Unreachable> {
        let inner = &self.inner;
        let key = account_key(app_key, account);
        let (_, entries) = inner.read(&key).await.map_err(|e| {
            inner.failed(&e);
            Unreachable
        })?;
        let devices: Vec<&Device> = entries.iter().map(|e| &e.device).collect();
        let targets: Vec<(String, String)> = plan_account_kick(&devices, device_ids)
            .into_iter()
            .map(|i| {
                (
                    devices[i].device_id.clone(),
                    devices[i].connection_id.clone(),
                )
            })
            .collect();
        let notice = SessionMsg::kicked(reason, None);
        match inner.remove_entries(&key, &targets, Some(notice)).await {
            Ok(removed) => Ok(targets
                .into_iter()
                .filter(|(_, conn)| removed.iter().any(|e| e.device.connection_id == *conn))
                .map(|(device_id, _)| device_id)
                .collect()),
            Err(e) => {
                inner.failed(&e);
                Err(Unreachable)
            }
        }
    }

    async fn devices(&self, app_key: &str, account: &str) -> Arc<DeviceList> {
        match self.inner.read(&account_key(app_key, account)).await {
            Ok((rev, entries)) => {
                self.inner
                    .full_list(app_key, account, rev, &entries, &[])
                    .await
            }
            Err(e) => {
                self.inner.failed(&e);
                Arc::default()
            }
        }
    }

    fn local_sessions(&self) -> usize {
        self.inner
            .local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    fn healthy(&self) -> bool {
        RedisRegistry::healthy(self)
    }

    fn attach_sessions(&self, store: Arc<crate::store::Store>) {
        let _ = self.inner.store.set(store);
    }

    fn advertise(&self, url: &str) {
        let _ = self.inner.url.set(url.to_owned());
        // Listed from now, not from the next heartbeat.
        let inner = self.inner.clone();
        tokio::spawn(async move {
            if let Err(e) = inner.renew_lease().await {
                tracing::debug!(error = %e, "cannot advertise this node yet");
            }
        });
    }

    async fn live_nodes(&self) -> Result<Vec<String>, Unreachable> {
        // This node first, the others in a fresh order for each answer: the
        // clients of a node that dies move on to the next node of their
        // lists, and the lists must not all name the same one.
        let answer = |mut nodes: Vec<String>| {
            let mine = usize::from(self.inner.url.get().is_some());
            if nodes.len() > mine {
                rand::seq::SliceRandom::shuffle(&mut nodes[mine..], &mut rand::rng());
            }
            nodes
        };
        let mut last = self.inner.live.lock().await;
        if let Some((at, nodes)) = last.as_ref()
            && at.elapsed() < LIVE_NODES_FRESH
        {
            return Ok(answer(nodes.clone()));
        }
        match self.inner.live_nodes().await {
            Ok(nodes) => {
                *last = Some((tokio::time::Instant::now(), nodes.clone()));
                Ok(answer(nodes))
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot list the cluster's nodes");
                self.inner.failed(&e);
                Err(Unreachable)
            }
        }
    }

    async fn refresh(&self, app_key: &str, account: &str) -> Result<(), Unreachable> {
        let inner = &self.inner;
        let key = account_key(app_key, account);
        let (rev, entries) = inner.bump(&key).await.map_err(|e| {
            inner.failed(&e);
            Unreachable
        })?;
        let list = inner.full_list(app_key, account, rev, &entries, &[]).await;
        inner.push(app_key, account, &list, &entries, None).await;
        Ok(())
    }

    async fn announce_new_device(&self, app_key: &str, account: &str, device: Device, skip: &str) {
        self.inner
            .announce_new_device(app_key, account, device, skip)
            .await;
    }

    async fn shutdown(&self) {
        self.leave().await;
    }
}
