//! The per-account session hashes and the one Lua script that changes them.

use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use vestibule_protocol::Device;

use super::Inner;
use crate::registry::DeviceList;

pub(super) const REV_FIELD: &str = "\0rev";

/// The script that removes and adds sessions of one account atomically, and
/// bumps its revision; it refuses when the revision moved since it was read.
pub(super) const APPLY: &str = include_str!("apply.lua");

/// One session as stored in an account hash.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Entry {
    pub(super) node: String,
    pub(super) device: Device,
}

/// What reading an account returns: its revision and entries.
pub(super) type Snapshot = (u64, Vec<Entry>);

/// The hash of an account's flags (fields `banned`, `disabled`), read by the
/// login script so a ban holds on every node at once.
pub(crate) fn flags_key(app_key: &str, account: &str) -> String {
    format!("vst:flags:{app_key}:{account}")
}

/// The flags key of the account whose session hash is `account_key`.
fn flags_key_of(account_key: &str) -> String {
    match parse_account_key(account_key) {
        Some((app, account)) => flags_key(&app, &account),
        None => "vst:flags:?".to_owned(),
    }
}

pub(super) fn account_key(app_key: &str, account: &str) -> String {
    format!("vst:acct:{app_key}:{account}")
}

pub(super) fn parse_account_key(key: &str) -> Option<(String, String)> {
    let rest = key.strip_prefix("vst:acct:")?;
    let (app, account) = rest.split_once(':')?;
    Some((app.to_owned(), account.to_owned()))
}

pub(super) fn list_of(rev: u64, entries: &[Entry]) -> DeviceList {
    let mut devices: Vec<Device> = entries.iter().map(|e| e.device.clone()).collect();
    devices.sort_by(|a, b| (a.login_time, &a.device_id).cmp(&(b.login_time, &b.device_id)));
    DeviceList { devices, rev }
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
pub(super) const BUMP: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rev = redis.call('INCR', KEYS[2])
if rev < now then
  rev = now
  redis.call('SET', KEYS[2], string.format('%.0f', rev))
end
local rev_text = string.format('%.0f', rev)
redis.call('HSET', KEYS[1], '\0rev', rev_text)
return {rev_text, redis.call('HGETALL', KEYS[1])}
";

impl Inner {
    /// See [`BUMP`]: the account's new revision and its online entries.
    pub(super) async fn bump(&self, key: &str) -> Result<Snapshot, redis::RedisError> {
        let reply: (String, Vec<String>) = self
            .bump
            .key(key)
            .key("vst:rev")
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
        let mut invocation = self.apply.key(key);
        invocation.key("vst:rev");
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
            invocation
                .arg(&entry.device.device_id)
                .arg(raw)
                .arg(&entry.node);
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
