//! The per-account session hashes and the one Lua script that changes them.

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use vestibule_protocol::Device;

use super::Inner;
use crate::registry::DeviceList;

pub(super) const REV_FIELD: &str = "\0rev";

/// The revision helpers the account scripts share (`next_rev`, `settle`).
const REV: &str = include_str!("rev.lua");

/// The script that removes and adds sessions of one account atomically, and
/// bumps its revision; it refuses when the revision moved since it was read.
pub(super) fn apply_script() -> redis::Script {
    redis::Script::new(&format!("{REV}\n{}", include_str!("apply.lua")))
}

/// One session as stored in an account hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Entry {
    pub(super) node: String,
    pub(super) device: Device,
}

/// What reading an account returns: its revision and entries.
pub(super) type Snapshot = (u64, Vec<Entry>);

/// The hash tag of an account's keys: on a Redis Cluster all of them share
/// one slot, so a script may touch them together. (A `}` inside a name ends
/// the tag early, the same way in every key of that account.)
pub(crate) fn account_tag(app_key: &str, account: &str) -> String {
    format!("{{{app_key}:{account}}}")
}

/// The hash of an account's flags (fields `banned`, `disabled`), read by the
/// login script so a ban holds on every node at once.
pub(crate) fn flags_key(app_key: &str, account: &str) -> String {
    format!("vst:flags:{}", account_tag(app_key, account))
}

/// The flags key of the account whose session hash is `account_key`.
fn flags_key_of(account_key: &str) -> String {
    match account_key.strip_prefix("vst:acct:") {
        Some(tag) => format!("vst:flags:{tag}"),
        None => "vst:flags:?".to_owned(),
    }
}

pub(super) fn account_key(app_key: &str, account: &str) -> String {
    format!("vst:acct:{}", account_tag(app_key, account))
}

pub(super) fn parse_account_key(key: &str) -> Option<(String, String)> {
    let rest = key.strip_prefix("vst:acct:{")?.strip_suffix('}')?;
    let (app, account) = rest.split_once(':')?;
    Some((app.to_owned(), account.to_owned()))
}

/// How a session is named in its node's session set.
pub(super) fn session_member(account_key: &str, device_id: &str, conn: &str) -> String {
    format!("{account_key}\n{device_id}\n{conn}")
}

pub(super) fn list_of(rev: u64, entries: &[Entry]) -> DeviceList {
    let mut devices: Vec<Device> = entries.iter().map(|e| e.device.clone()).collect();
    devices.sort_by(|a, b| (a.login_time, &a.device_id).cmp(&(b.login_time, &b.device_id)));
    DeviceList::new(devices, rev)
}

pub(super) fn parse_fields(flat: &[String]) -> Snapshot {
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

pub(super) enum Applied {
    Conflict,
    Unchanged,
    /// The account is banned (403) or disabled (422): nothing was added.
    Flagged(vestibule_protocol::Code),
    Done {
        rev: u64,
        entries: Vec<Entry>,
        removed: Vec<Entry>,
    },
}

/// Gives an account a new revision (nothing else changes): a list the
/// registry did not change itself (a rename, a session that ended offline).
pub(super) fn bump_script() -> redis::Script {
    redis::Script::new(&format!(
        "{REV}\n{}",
        r"
local rev = next_rev(KEYS[1])
local all = redis.call('HGETALL', KEYS[1])
settle(KEYS[1], all)
return {rev, all}
"
    ))
}

impl Inner {
    /// See [`BUMP`]: the account's new revision and its online entries.
    pub(super) async fn bump(&self, key: &str) -> Result<Snapshot, redis::RedisError> {
        let reply: (String, Vec<String>) = self
            .bump
            .key(key)
            .invoke_async(&mut self.link.get())
            .await?;
        let (_, entries) = parse_fields(&reply.1);
        Ok((reply.0.parse().unwrap_or(0), entries))
    }

    pub(super) async fn read(&self, key: &str) -> Result<Snapshot, redis::RedisError> {
        let mut conn = self.link.get();
        let flat: Vec<String> = conn.hgetall(key).await?;
        Ok(parse_fields(&flat))
    }

    pub(super) async fn apply(
        &self,
        key: &str,
        expected: Option<u64>,
        remove: &[(String, String)],
        add: Option<&Entry>,
    ) -> Result<Applied, redis::RedisError> {
        // A node's session set lists at least its sessions (see `lease`):
        // the new one goes in before the account does, ended ones leave after.
        if let Some(entry) = add {
            let member = session_member(key, &entry.device.device_id, &entry.device.connection_id);
            let _: i64 = self
                .link
                .get()
                .sadd(super::node_sessions_key(&entry.node), &member)
                .await?;
        }
        let applied = self.apply_account(key, expected, remove, add).await;
        let done = matches!(applied, Ok(Applied::Done { .. }));
        if let Some(entry) = add.filter(|_| !done) {
            let member = session_member(key, &entry.device.device_id, &entry.device.connection_id);
            let _: Result<i64, _> = self
                .link
                .get()
                .srem(super::node_sessions_key(&entry.node), &member)
                .await;
        }
        if let Ok(Applied::Done { removed, .. }) = &applied {
            self.forget_sessions(key, removed).await;
        }
        applied
    }

    /// Takes ended sessions out of their nodes' session sets (one command per node).
    async fn forget_sessions(&self, key: &str, removed: &[Entry]) {
        let mut by_node: std::collections::BTreeMap<&str, Vec<String>> =
            std::collections::BTreeMap::new();
        for entry in removed {
            by_node
                .entry(entry.node.as_str())
                .or_default()
                .push(session_member(
                    key,
                    &entry.device.device_id,
                    &entry.device.connection_id,
                ));
        }
        for (node, members) in by_node {
            // Left behind if this fails: a stale member is harmless (the
            // account no longer has the session when it is purged).
            let _: Result<i64, _> = self
                .link
                .get()
                .srem(super::node_sessions_key(node), &members)
                .await;
        }
    }

    /// The account's script alone, without the nodes' session sets.
    pub(super) async fn apply_account(
        &self,
        key: &str,
        expected: Option<u64>,
        remove: &[(String, String)],
        add: Option<&Entry>,
    ) -> Result<Applied, redis::RedisError> {
        let mut invocation = self.apply.key(key);
        invocation.key(flags_key_of(key));
        invocation.arg(expected.map_or_else(|| "*".to_owned(), |r| r.to_string()));
        invocation.arg(remove.len());
        for (device_id, conn) in remove {
            invocation.arg(device_id).arg(conn);
        }
        if let Some(entry) = add {
            let raw = serde_json::to_string(entry).map_err(|e| {
                redis::RedisError::from((redis::ErrorKind::Client, "encode", e.to_string()))
            })?;
            invocation.arg(&entry.device.device_id).arg(raw);
        }
        let mut conn = self.link.get();
        let reply: redis::Value = invocation.invoke_async(&mut conn).await?;
        let redis::Value::Array(items) = reply else {
            return Ok(Applied::Unchanged);
        };
        // The status is a number, or the new revision as text (it may pass 2^53).
        let status: i64 = match items.first() {
            Some(redis::Value::Int(n)) => *n,
            Some(other) => redis::from_redis_value_ref::<String>(other)?
                .parse()
                .unwrap_or(0),
            None => 0,
        };
        match status {
            -1 => Ok(Applied::Conflict),
            -2 => Ok(Applied::Flagged(vestibule_protocol::Code::Forbidden)),
            -3 => Ok(Applied::Flagged(vestibule_protocol::Code::AccountDisabled)),
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
}
