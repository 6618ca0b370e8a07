//! The session registry of a gateway cluster, shared through Redis.
//!
//! - Node leases: `vst:node:{id}` (`SET .. EX 10`, renewed every 3 s); the set
//!   `vst:nodes` lists nodes that ever registered.
//! - Per account, the hash `vst:acct:{appKey}:{account}`: deviceId → JSON
//!   entry (node + device), plus the field `"\0rev"` with the account's last
//!   revision (revisions come from the global counter `vst:rev`, so they rise
//!   even across an account's empty periods). deviceIds never contain control
//!   characters, so `"\0rev"` cannot collide.
//! - Per node, the set `vst:sessions:{node}` of its sessions, for cleanup when
//!   its lease expires: any surviving node purges them.
//! - Per node, the channel `vst:inbox:{node}`: kicks and device-list pushes go
//!   only to the nodes that hold sessions of the account.
//!
//! The device policy is the same pure [`decide`] function as in memory; it is
//! applied atomically with optimistic concurrency: read the account (with its
//! revision), decide, and apply the verdict with one Lua script that refuses
//! if the revision moved — then re-read and decide again.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use serde::{Deserialize, Serialize};
use vestibule_protocol::{Code, Device, KickReason, KickedBy};

use super::{
    DeviceList, Granted, KickNotice, KickOutcome, Mailbox, NewSession, Refused, SessionKey,
    SessionMsg, SessionRegistry,
};
use crate::clock::unix_millis;
use crate::policy::{Decision, DevicePolicy, Present, decide};

/// Lease lifetime: a node silent this long is dead.
pub const LEASE: Duration = Duration::from_secs(10);
/// How often leases are renewed and dead nodes looked for.
pub const HEARTBEAT: Duration = Duration::from_secs(3);
/// What a refused login tells the client while Redis is unreachable.
const RETRY_AFTER_OUTAGE: Duration = Duration::from_millis(2000);
/// Optimistic-concurrency attempts before a login gives up with 503.
const MAX_ATTEMPTS: usize = 32;
const REV_FIELD: &str = "\0rev";

const APPLY: &str = r"
-- KEYS[1] account hash, KEYS[2] global revision counter
-- ARGV[1] expected revision ('*' = any), ARGV[2] number of removals,
-- then (deviceId, connectionId) pairs, then optionally (deviceId, entry, node) to add.
local cur = redis.call('HGET', KEYS[1], '\0rev') or '0'
if ARGV[1] ~= '*' and cur ~= ARGV[1] then return {-1} end
local n = tonumber(ARGV[2])
local removed = {}
local changed = false
local i = 3
for _ = 1, n do
  local dev, conn = ARGV[i], ARGV[i + 1]
  i = i + 2
  local raw = redis.call('HGET', KEYS[1], dev)
  if raw then
    local ok, entry = pcall(cjson.decode, raw)
    if ok and entry.device.connectionId == conn then
      redis.call('HDEL', KEYS[1], dev)
      redis.call('SREM', 'vst:sessions:' .. entry.node, KEYS[1] .. '\n' .. dev .. '\n' .. conn)
      table.insert(removed, raw)
      changed = true
    end
  end
end
if ARGV[i] then
  local dev, raw, node = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local entry = cjson.decode(raw)
  redis.call('HSET', KEYS[1], dev, raw)
  redis.call('SADD', 'vst:sessions:' .. node, KEYS[1] .. '\n' .. dev .. '\n' .. entry.device.connectionId)
  changed = true
end
if not changed then return {0} end
local rev = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], '\0rev', rev)
local all = redis.call('HGETALL', KEYS[1])
if #all == 2 then redis.call('DEL', KEYS[1]) end
return {rev, all, removed}
";

const SWAP_LAST: &str = r"
local prev = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return prev
";

/// One session as stored in an account hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    node: String,
    device: Device,
}

/// A message between nodes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum InboxMsg {
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

#[derive(Debug)]
struct Local {
    key: SessionKey,
    device: Device,
    mailbox: Mailbox,
}

/// The registry of one node of a Redis-backed cluster.
#[derive(Debug)]
pub struct RedisRegistry {
    inner: Arc<Inner>,
    tasks: Vec<tokio::task::AbortHandle>,
}

#[derive(Debug)]
struct Inner {
    node: String,
    client: redis::Client,
    conn: ConnectionManager,
    apply: redis::Script,
    healthy: AtomicBool,
    /// connectionId → this node's session.
    local: Mutex<HashMap<String, Local>>,
}

impl Drop for RedisRegistry {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// What reading an account returns: its revision and entries.
type Snapshot = (u64, Vec<Entry>);

fn account_key(app_key: &str, account: &str) -> String {
    format!("vst:acct:{app_key}:{account}")
}

fn parse_account_key(key: &str) -> Option<(String, String)> {
    let rest = key.strip_prefix("vst:acct:")?;
    let (app, account) = rest.split_once(':')?;
    Some((app.to_owned(), account.to_owned()))
}

fn list_of(rev: u64, entries: &[Entry]) -> DeviceList {
    let mut devices: Vec<Device> = entries.iter().map(|e| e.device.clone()).collect();
    devices.sort_by(|a, b| (a.login_time, &a.device_id).cmp(&(b.login_time, &b.device_id)));
    DeviceList { devices, rev }
}

fn parse_fields(flat: &[String]) -> Snapshot {
    let mut rev = 0;
    let mut entries = Vec::new();
    for pair in flat.chunks(2) {
        let [field, value] = pair else { continue };
        if field == REV_FIELD {
            rev = value.parse().unwrap_or(0);
        } else if let Ok(entry) = serde_json::from_str::<Entry>(value) {
            entries.push(entry);
        } else {
            tracing::warn!(device = %field, "unreadable session entry in Redis; ignoring it");
        }
    }
    (rev, entries)
}

enum Applied {
    Conflict,
    Unchanged,
    Done {
        rev: u64,
        entries: Vec<Entry>,
        removed: Vec<Entry>,
    },
}

impl RedisRegistry {
    /// Connects to Redis at `url` as node `node` and starts the lease, the
    /// dead-node reaper and the inbox.
    pub async fn connect(url: &str, node: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = client.get_connection_manager_with_config(config).await?;
        let inner = Arc::new(Inner {
            node: node.to_owned(),
            client,
            conn,
            apply: redis::Script::new(APPLY),
            healthy: AtomicBool::new(true),
            local: Mutex::default(),
        });
        inner.renew_lease().await?;
        let (subscribed, ready) = tokio::sync::oneshot::channel();
        let tasks = vec![
            tokio::spawn(heartbeat(Arc::downgrade(&inner))).abort_handle(),
            tokio::spawn(inbox(Arc::downgrade(&inner), subscribed)).abort_handle(),
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
        let mut conn = self.inner.conn.clone();
        let node = &self.inner.node;
        let _: Result<(), _> = redis::pipe()
            .del(format!("vst:node:{node}"))
            .srem("vst:nodes", node)
            .query_async(&mut conn)
            .await;
    }
}

impl Inner {
    fn mark(&self, ok: bool) {
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

    async fn renew_lease(&self) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        let node = &self.node;
        redis::pipe()
            .set_ex(format!("vst:node:{node}"), unix_millis(), LEASE.as_secs())
            .sadd("vst:nodes", node)
            .query_async::<()>(&mut conn)
            .await
    }

    async fn read(&self, key: &str) -> Result<Snapshot, redis::RedisError> {
        let mut conn = self.conn.clone();
        let flat: Vec<String> = conn.hgetall(key).await?;
        Ok(parse_fields(&flat))
    }

    async fn apply(
        &self,
        key: &str,
        expected: Option<u64>,
        remove: &[(String, String)],
        add: Option<&Entry>,
    ) -> Result<Applied, redis::RedisError> {
        let mut invocation = self.apply.key(key);
        invocation.key("vst:rev");
        invocation.arg(expected.map_or_else(|| "*".to_owned(), |r| r.to_string()));
        invocation.arg(remove.len());
        for (device_id, conn) in remove {
            invocation.arg(device_id).arg(conn);
        }
        if let Some(entry) = add {
            let raw = serde_json::to_string(entry).map_err(|e| {
                redis::RedisError::from((redis::ErrorKind::Client, "encode", e.to_string()))
            })?;
            invocation
                .arg(&entry.device.device_id)
                .arg(raw)
                .arg(&entry.node);
        }
        let mut conn = self.conn.clone();
        let reply: redis::Value = invocation.invoke_async(&mut conn).await?;
        let redis::Value::Array(items) = reply else {
            return Ok(Applied::Unchanged);
        };
        let status: i64 = items
            .first()
            .map(redis::from_redis_value_ref)
            .transpose()?
            .unwrap_or(0);
        match status {
            -1 => Ok(Applied::Conflict),
            0 => Ok(Applied::Unchanged),
            rev => {
                let flat: Vec<String> = items
                    .get(1)
                    .map(redis::from_redis_value_ref)
                    .transpose()?
                    .unwrap_or_default();
                let removed_raw: Vec<String> = items
                    .get(2)
                    .map(redis::from_redis_value_ref)
                    .transpose()?
                    .unwrap_or_default();
                let (_, entries) = parse_fields(&flat);
                let removed = removed_raw
                    .iter()
                    .filter_map(|r| serde_json::from_str(r).ok())
                    .collect();
                Ok(Applied::Done {
                    rev: u64::try_from(rev).unwrap_or(0),
                    entries,
                    removed,
                })
            }
        }
    }

    /// Delivers `msg` to the session `conn` on `node` (here or through its inbox).
    async fn deliver(&self, node: &str, conn: &str, msg: SessionMsg) {
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

    fn take_local(&self, conn: &str) -> Option<Local> {
        self.local
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(conn)
    }

    /// Pushes the list to every session of the account except `skip`: local
    /// mailboxes directly, one inbox message per other node that holds a session.
    async fn push(
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

    /// Removes sessions and tells everyone concerned.
    async fn remove_entries(
        &self,
        key: &str,
        targets: &[(String, String)],
        notice: Option<KickNotice>,
    ) -> Result<Vec<Entry>, redis::RedisError> {
        let Some((app_key, account)) = parse_account_key(key) else {
            return Ok(Vec::new());
        };
        match self.apply(key, None, targets, None).await? {
            Applied::Done {
                rev,
                entries,
                removed,
            } => {
                for entry in &removed {
                    match &notice {
                        Some(notice) => {
                            self.deliver(
                                &entry.node,
                                &entry.device.connection_id,
                                SessionMsg::Kicked(Arc::new(notice.clone())),
                            )
                            .await;
                        }
                        None => {
                            self.take_local(&entry.device.connection_id);
                        }
                    }
                }
                let list = Arc::new(list_of(rev, &entries));
                self.push(&app_key, &account, &list, &entries, None).await;
                Ok(removed)
            }
            Applied::Unchanged | Applied::Conflict => Ok(Vec::new()),
        }
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
async fn heartbeat(inner: Weak<Inner>) {
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

/// Receives other nodes' kicks and pushes for this node's sessions.
async fn inbox(inner: Weak<Inner>, subscribed: tokio::sync::oneshot::Sender<()>) {
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
                local
                    .mailbox
                    .send(SessionMsg::Kicked(Arc::new(KickNotice { reason, by })));
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

#[async_trait]
impl SessionRegistry for RedisRegistry {
    async fn login(&self, policy: &DevicePolicy, session: NewSession) -> Result<Granted, Refused> {
        let inner = &self.inner;
        if !inner.healthy.load(Ordering::Relaxed) {
            return Err(inner.outage());
        }
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
            let (rev, present_entries) = match inner.read(&key).await {
                Ok(read) => read,
                Err(e) => {
                    tracing::warn!(error = %e, "login: Redis read failed");
                    inner.mark(false);
                    unregister();
                    return Err(inner.outage());
                }
            };
            let present: Vec<Present<'_>> = present_entries
                .iter()
                .map(|e| Present {
                    device_id: &e.device.device_id,
                    device_type: e.device.device_type,
                    login_time: e.device.login_time,
                })
                .collect();
            let (replace, evict) = match decide(
                policy,
                &present,
                &session.device.device_id,
                session.device.device_type,
            ) {
                Decision::Reject(code) => {
                    unregister();
                    return Err(Refused {
                        code,
                        retry_after: None,
                    });
                }
                Decision::Accept { replace, evict } => (replace, evict),
            };
            let mut removals: Vec<(String, String)> = evict
                .iter()
                .map(|(i, _)| {
                    (
                        present_entries[*i].device.device_id.clone(),
                        present_entries[*i].device.connection_id.clone(),
                    )
                })
                .collect();
            if let Some(i) = replace {
                removals.push((
                    present_entries[i].device.device_id.clone(),
                    present_entries[i].device.connection_id.clone(),
                ));
            }
            let expected = Some(rev);
            match inner.apply(&key, expected, &removals, Some(&entry)).await {
                Ok(Applied::Conflict) => continue,
                Ok(Applied::Unchanged) => continue,
                Ok(Applied::Done {
                    rev,
                    entries,
                    removed,
                }) => {
                    let by = session.as_kicker();
                    for gone in &removed {
                        let reason = evict
                            .iter()
                            .find(|(i, _)| {
                                present_entries[*i].device.connection_id
                                    == gone.device.connection_id
                            })
                            .map(|(_, r)| *r);
                        let msg = match reason {
                            Some(reason) => SessionMsg::Kicked(Arc::new(KickNotice {
                                reason,
                                by: Some(by.clone()),
                            })),
                            None => SessionMsg::Replaced,
                        };
                        inner
                            .deliver(&gone.node, &gone.device.connection_id, msg)
                            .await;
                    }
                    let list = Arc::new(list_of(rev, &entries));
                    inner
                        .push(
                            &session.key.app_key,
                            &session.key.account,
                            &list,
                            &entries,
                            Some(&connection_id),
                        )
                        .await;
                    return Ok(Granted {
                        devices: list,
                        repeat_login: replace.is_some(),
                        evicted: evict.len(),
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "login: Redis write failed");
                    inner.mark(false);
                    unregister();
                    return Err(inner.outage());
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
                inner.mark(false);
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
            let (rev, entries) = inner.read(&key).await.map_err(|_| {
                inner.mark(false);
                Code::Busy
            })?;
            let by = super::authorize_kicker(
                entries.iter().map(|e| &e.device),
                &kicker.connection_id,
                guard,
            )?;
            let mut outcome = KickOutcome::default();
            let mut targets = Vec::new();
            let mut seen = std::collections::HashSet::new();
            for id in device_ids.iter().filter(|id| seen.insert(id.as_str())) {
                match entries
                    .iter()
                    .find(|e| e.device.device_id == *id && e.device.device_id != by.device_id)
                {
                    Some(target) => {
                        targets.push((
                            target.device.device_id.clone(),
                            target.device.connection_id.clone(),
                        ));
                        outcome.kicked.push(id.clone());
                    }
                    None => outcome.not_found.push(id.clone()),
                }
            }
            if targets.is_empty() {
                return Ok(outcome);
            }
            match inner.apply(&key, Some(rev), &targets, None).await {
                Ok(Applied::Conflict) => continue,
                Ok(Applied::Unchanged) => {
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
                    let notice = KickNotice {
                        reason: KickReason::ByDevice,
                        by: Some(by),
                    };
                    for gone in &removed {
                        inner
                            .deliver(
                                &gone.node,
                                &gone.device.connection_id,
                                SessionMsg::Kicked(Arc::new(notice.clone())),
                            )
                            .await;
                    }
                    let list = Arc::new(list_of(rev, &entries));
                    inner
                        .push(&kicker.app_key, &kicker.account, &list, &entries, None)
                        .await;
                    return Ok(outcome);
                }
                Err(_) => {
                    inner.mark(false);
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
    ) -> Vec<String> {
        let inner = &self.inner;
        let key = account_key(app_key, account);
        let Ok((_, entries)) = inner.read(&key).await else {
            inner.mark(false);
            return Vec::new();
        };
        let mut targets: Vec<(String, String, u64)> = entries
            .iter()
            .filter(|e| device_ids.is_none_or(|ids| ids.contains(&e.device.device_id)))
            .map(|e| {
                (
                    e.device.device_id.clone(),
                    e.device.connection_id.clone(),
                    e.device.login_time,
                )
            })
            .collect();
        targets.sort_by_key(|t| t.2);
        let pairs: Vec<(String, String)> =
            targets.iter().map(|t| (t.0.clone(), t.1.clone())).collect();
        let notice = KickNotice { reason, by: None };
        match inner.remove_entries(&key, &pairs, Some(notice)).await {
            Ok(removed) => {
                let gone: BTreeSet<&str> = removed
                    .iter()
                    .map(|e| e.device.device_id.as_str())
                    .collect();
                targets
                    .into_iter()
                    .filter(|t| gone.contains(t.0.as_str()))
                    .map(|t| t.0)
                    .collect()
            }
            Err(_) => {
                inner.mark(false);
                Vec::new()
            }
        }
    }

    async fn devices(&self, app_key: &str, account: &str) -> Arc<DeviceList> {
        match self.inner.read(&account_key(app_key, account)).await {
            Ok((rev, entries)) => Arc::new(list_of(rev, &entries)),
            Err(_) => {
                self.inner.mark(false);
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

    async fn shutdown(&self) {
        self.leave().await;
    }
}

/// Shared store data in Redis: apps, account flags, last login devices, meta.
#[derive(Clone)]
pub(crate) struct RedisData {
    conn: ConnectionManager,
    swap: Arc<redis::Script>,
}

impl std::fmt::Debug for RedisData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisData")
    }
}

impl RedisData {
    pub(crate) async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let conn = client.get_connection_manager_with_config(config).await?;
        Ok(Self {
            conn,
            swap: Arc::new(redis::Script::new(SWAP_LAST)),
        })
    }

    pub(crate) async fn hgetall(
        &self,
        key: &str,
    ) -> Result<Vec<(String, String)>, redis::RedisError> {
        let mut conn = self.conn.clone();
        conn.hgetall(key).await
    }

    pub(crate) async fn hget(
        &self,
        key: &str,
        field: &str,
    ) -> Result<Option<String>, redis::RedisError> {
        let mut conn = self.conn.clone();
        conn.hget(key, field).await
    }

    pub(crate) async fn hset(
        &self,
        key: &str,
        field: &str,
        value: &str,
    ) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        conn.hset(key, field, value).await
    }

    /// Sets only if absent; true when it was set.
    pub(crate) async fn hsetnx(
        &self,
        key: &str,
        field: &str,
        value: &str,
    ) -> Result<bool, redis::RedisError> {
        let mut conn = self.conn.clone();
        conn.hset_nx(key, field, value).await
    }

    pub(crate) async fn hdel(&self, key: &str, field: &str) -> Result<(), redis::RedisError> {
        let mut conn = self.conn.clone();
        conn.hdel(key, field).await
    }

    pub(crate) async fn swap(
        &self,
        key: &str,
        field: &str,
        value: &str,
    ) -> Result<Option<String>, redis::RedisError> {
        let mut conn = self.conn.clone();
        self.swap
            .key(key)
            .arg(field)
            .arg(value)
            .invoke_async(&mut conn)
            .await
    }
}
