//! The store's Redis backend, shared by every node of a cluster: apps in the
//! hash `vst:apps`, each flagged account's flags in its own hash
//! `vst:flags:{appKey:account}` (fields `banned`, `disabled`; in the slot of
//! the account's sessions, so the login script reads it atomically with the
//! session write) listed in the set `vst:flagged`, meta in `vst:meta`, the
//! last login device per app in `vst:last:{appKey}`, an account's device
//! sessions in `vst:dsess:{appKey:account}`, the sessions that end at a given
//! time in the sorted set `vst:dsess:due`, and how an ended session ended in
//! `vst:revoked:{tokenHash}`.
//!
//! On a Redis Cluster a script touches one slot only, so the listings that
//! span accounts (`vst:flagged`, `vst:dsess:due`) are kept beside the
//! scripts, never inside them, in an order that makes them list at least
//! what is true (an entry goes in before, and leaves after); a reader checks
//! each entry against its account.

use std::sync::Arc;

use async_trait::async_trait;
use redis::AsyncCommands;

use vestibule_protocol::{SessionEnd, UnixMillis};

use super::{AccountFlags, App, Apps, Backend, Flag, Flags, SessionChange, StoreError};
use crate::pairing::{ApproveOutcome, PairApproval, PairRecord, PairState};
use crate::registry::redis::{Conn, account_tag, flags_key};
use crate::sessions::DeviceSession;

const APPS: &str = "vst:apps";
/// Where versions before the per-account flag hashes kept every account's flags (JSON).
const LEGACY_FLAGS: &str = "vst:flags";
const FLAGGED: &str = "vst:flagged";
const META: &str = "vst:meta";

/// Sets one flag field and returns both, atomically (the hash goes when
/// neither is set).
const SET_FLAG: &str = r"
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local banned = redis.call('HGET', KEYS[1], 'banned') == '1'
local disabled = redis.call('HGET', KEYS[1], 'disabled') == '1'
if not (banned or disabled) then redis.call('DEL', KEYS[1]) end
return {banned and 1 or 0, disabled and 1 or 0}
";

/// Replaces a hash field only if it is still what was read, or removes it
/// when the new value is empty (the change is computed in Rust; a concurrent
/// change makes the caller read and try again).
const SESSION_CAS: &str = r"
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if cur ~= ARGV[2] then return 0 end
if ARGV[3] == '' then redis.call('HDEL', KEYS[1], ARGV[1]) else redis.call('HSET', KEYS[1], ARGV[1], ARGV[3]) end
return 1
";

/// Sets a hash field and returns its previous value, atomically.
const SWAP_LAST: &str = include_str!("swap_last.lua");

pub(super) struct RedisBackend {
    link: crate::registry::redis::Link,
    swap: Arc<redis::Script>,
    set_flag: Arc<redis::Script>,
    session_cas: Arc<redis::Script>,
    pair_approve: Arc<redis::Script>,
    pair_close: Arc<redis::Script>,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RedisBackend")
    }
}

impl RedisBackend {
    pub(super) async fn connect(
        target: &crate::registry::redis::RedisTarget,
    ) -> Result<Self, StoreError> {
        let link = crate::registry::redis::Link::connect(target).await?;
        let backend = Self {
            link,
            swap: Arc::new(redis::Script::new(SWAP_LAST)),
            set_flag: Arc::new(redis::Script::new(SET_FLAG)),
            session_cas: Arc::new(redis::Script::new(SESSION_CAS)),
            pair_approve: Arc::new(redis::Script::new(PAIR_APPROVE)),
            pair_close: Arc::new(redis::Script::new(PAIR_CLOSE)),
        };
        backend.migrate_legacy_flags().await?;
        Ok(backend)
    }

    fn conn(&self) -> Conn {
        self.link.get()
    }

    /// Puts a session in the due listing at its expiry, or takes it out.
    async fn list_due(
        &self,
        member: &str,
        expires_at: Option<UnixMillis>,
    ) -> Result<(), StoreError> {
        let _: i64 = match expires_at {
            Some(at) => self.conn().zadd(SESSIONS_DUE, member, at).await?,
            None => self.conn().zrem(SESSIONS_DUE, member).await?,
        };
        Ok(())
    }

    /// Sets `device_id`'s session to `new` ("" removes it) if it still is `raw`.
    async fn swap_session(
        &self,
        key: &str,
        device_id: &str,
        raw: &str,
        new: &str,
    ) -> Result<bool, StoreError> {
        let done: i64 = self
            .session_cas
            .key(key)
            .arg(device_id)
            .arg(raw)
            .arg(new)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(done == 1)
    }
}

/// How an account is named in `vst:flagged` (names never hold a newline).
fn flagged_member(app_key: &str, account: &str) -> String {
    format!("{app_key}\n{account}")
}

const SESSIONS_DUE: &str = "vst:dsess:due";

fn sessions_key(app_key: &str, account: &str) -> String {
    format!("vst:dsess:{}", account_tag(app_key, account))
}

fn revoked_key(token_hash: &str) -> String {
    format!("vst:revoked:{token_hash}")
}

fn due_member(app_key: &str, account: &str, device_id: &str) -> String {
    format!("{app_key}\n{account}\n{device_id}")
}

fn decode_session(raw: &str) -> Result<DeviceSession, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("a device session: {e}")))
}

fn read_flags(fields: &[(String, String)]) -> AccountFlags {
    let on = |name: &str| fields.iter().any(|(k, v)| k == name && v == "1");
    AccountFlags {
        banned: on("banned"),
        disabled: on("disabled"),
    }
}

impl RedisBackend {
    /// Moves flags an older version kept as JSON in one hash to the
    /// per-account hashes, once.
    async fn migrate_legacy_flags(&self) -> Result<(), StoreError> {
        let legacy: Vec<(String, String)> = self.conn().hgetall(LEGACY_FLAGS).await?;
        for (field, raw) in &legacy {
            let (Some((app, account)), Ok(flags)) = (
                field.split_once(':'),
                serde_json::from_str::<AccountFlags>(raw),
            ) else {
                continue;
            };
            for (flag, on) in [
                (Flag::Banned, flags.banned),
                (Flag::Disabled, flags.disabled),
            ] {
                if on {
                    self.set_flag(app, account, flag, true).await?;
                }
            }
        }
        if !legacy.is_empty() {
            let _: i64 = self.conn().del(LEGACY_FLAGS).await?;
            tracing::info!(
                accounts = legacy.len(),
                "moved account flags to per-account hashes"
            );
        }
        Ok(())
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A pairing request: `record` (JSON), `expiresAt`, and once they happen
/// `approval` (JSON) or `gone`; it expires by itself a while after the code.
fn pair_key(app_key: &str, code_hash: &str) -> String {
    format!("vst:pair:{app_key}:{code_hash}")
}

/// Approves a waiting, unexpired request once. Returns 1 approved, 0 no such
/// request, 2 already approved, 3 gone, 4 expired.
const PAIR_APPROVE: &str = r"
local k = KEYS[1]
if redis.call('HEXISTS', k, 'record') == 0 then return 0 end
if redis.call('HEXISTS', k, 'approval') == 1 then return 2 end
if redis.call('HEXISTS', k, 'gone') == 1 then return 3 end
if tonumber(redis.call('HGET', k, 'expiresAt')) <= tonumber(ARGV[2]) then return 4 end
redis.call('HSET', k, 'approval', ARGV[1])
return 1
";

/// Marks an existing request gone (a no-op for a missing one).
const PAIR_CLOSE: &str = r"
if redis.call('HEXISTS', KEYS[1], 'record') == 1 then redis.call('HSETNX', KEYS[1], 'gone', '1') end
return 0
";

#[async_trait]
impl super::SharedPairs for RedisBackend {
    async fn put(&self, record: &PairRecord) -> Result<(), StoreError> {
        let key = pair_key(&record.app_key, &record.code_hash);
        let keep_until = record.requester.expires_at + crate::pairing::KEPT_AFTER_EXPIRY_MS;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .del(&key)
            .ignore()
            .hset(&key, "record", json(record)?)
            .ignore()
            .hset(&key, "expiresAt", record.requester.expires_at)
            .ignore()
            .pexpire_at(&key, i64::try_from(keep_until).unwrap_or(i64::MAX))
            .ignore();
        let () = pipe.query_async(&mut self.conn()).await?;
        Ok(())
    }

    async fn get(
        &self,
        app_key: &str,
        code_hash: &str,
    ) -> Result<Option<(PairRecord, PairState)>, StoreError> {
        let fields: Vec<(String, String)> =
            self.conn().hgetall(pair_key(app_key, code_hash)).await?;
        let field = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
        let Some(raw) = field("record") else {
            return Ok(None);
        };
        let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("a pairing request: {e}"));
        let record: PairRecord = serde_json::from_str(raw).map_err(corrupt)?;
        let state = if let Some(approval) = field("approval") {
            PairState::Approved(serde_json::from_str(approval).map_err(corrupt)?)
        } else if field("gone").is_some() {
            PairState::Gone
        } else {
            PairState::Waiting
        };
        Ok(Some((record, state)))
    }

    async fn approve(
        &self,
        app_key: &str,
        code_hash: &str,
        approval: &PairApproval,
        now: UnixMillis,
    ) -> Result<ApproveOutcome, StoreError> {
        let found: i64 = self
            .pair_approve
            .key(pair_key(app_key, code_hash))
            .arg(json(approval)?)
            .arg(now)
            .invoke_async(&mut self.conn())
            .await?;
        Ok(match found {
            1 => ApproveOutcome::Approved,
            2 => ApproveOutcome::AlreadyApproved,
            3 => ApproveOutcome::Gone,
            4 => ApproveOutcome::Expired,
            _ => ApproveOutcome::Unknown,
        })
    }

    async fn close(&self, app_key: &str, code_hash: &str) -> Result<(), StoreError> {
        // Only an existing request can go away (never a new key without a TTL).
        let _: i64 = self
            .pair_close
            .key(pair_key(app_key, code_hash))
            .invoke_async(&mut self.conn())
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Backend for RedisBackend {
    fn shared_pairs(&self) -> Option<&dyn super::SharedPairs> {
        Some(self)
    }

    async fn load(&self) -> Result<(Apps, Flags), StoreError> {
        let mut apps = Apps::new();
        let stored: Vec<(String, String)> = self.conn().hgetall(APPS).await?;
        for (key, raw) in stored {
            match serde_json::from_str::<App>(&raw) {
                Ok(app) => {
                    apps.insert(key, Arc::new(app));
                }
                Err(e) => tracing::warn!(app = %key, error = %e, "unreadable app in Redis"),
            }
        }
        let mut flags = Flags::new();
        let flagged: Vec<String> = self.conn().smembers(FLAGGED).await?;
        for member in flagged {
            let Some((app, account)) = member.split_once('\n') else {
                continue;
            };
            let fields: Vec<(String, String)> =
                self.conn().hgetall(flags_key(app, account)).await?;
            let value = read_flags(&fields);
            if value != AccountFlags::default() {
                flags.insert((app.to_owned(), account.to_owned()), value);
            }
        }
        Ok((apps, flags))
    }

    async fn insert_app(&self, app: &App) -> Result<(), StoreError> {
        let set: bool = self.conn().hset_nx(APPS, &app.app_key, json(app)?).await?;
        if set {
            Ok(())
        } else {
            Err(StoreError::AppExists(app.app_key.clone()))
        }
    }

    async fn update_app(&self, app: &App) -> Result<(), StoreError> {
        let () = self.conn().hset(APPS, &app.app_key, json(app)?).await?;
        Ok(())
    }

    async fn set_flag(
        &self,
        app_key: &str,
        account: &str,
        flag: Flag,
        on: bool,
    ) -> Result<AccountFlags, StoreError> {
        let member = flagged_member(app_key, account);
        if on {
            let _: i64 = self.conn().sadd(FLAGGED, &member).await?;
        }
        let (banned, disabled): (i64, i64) = self
            .set_flag
            .key(flags_key(app_key, account))
            .arg(flag.name())
            .arg(if on { "1" } else { "0" })
            .invoke_async(&mut self.conn())
            .await?;
        if banned == 0 && disabled == 0 {
            let _: i64 = self.conn().srem(FLAGGED, &member).await?;
        }
        Ok(AccountFlags {
            banned: banned == 1,
            disabled: disabled == 1,
        })
    }

    async fn fresh_flags(
        &self,
        app_key: &str,
        account: &str,
    ) -> Result<Option<AccountFlags>, StoreError> {
        let fields: Vec<(String, String)> =
            self.conn().hgetall(flags_key(app_key, account)).await?;
        Ok(Some(read_flags(&fields)))
    }

    async fn swap_last_login(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
    ) -> Result<Option<String>, StoreError> {
        Ok(self
            .swap
            .key(format!("vst:last:{app_key}"))
            .arg(account)
            .arg(device_id)
            .invoke_async(&mut self.conn())
            .await?)
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(self.conn().hget(META, key).await?)
    }

    async fn session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
    ) -> Result<Option<DeviceSession>, StoreError> {
        let raw: Option<String> = self
            .conn()
            .hget(sessions_key(app_key, account), device_id)
            .await?;
        raw.map(|r| decode_session(&r)).transpose()
    }

    async fn sessions(
        &self,
        app_key: &str,
        account: &str,
    ) -> Result<Vec<DeviceSession>, StoreError> {
        let all: Vec<(String, String)> =
            self.conn().hgetall(sessions_key(app_key, account)).await?;
        all.iter().map(|(_, raw)| decode_session(raw)).collect()
    }

    async fn put_session(&self, session: &DeviceSession) -> Result<(), StoreError> {
        let key = sessions_key(&session.app_key, &session.account);
        let member = due_member(
            &session.app_key,
            &session.account,
            &session.device.device_id,
        );
        // Listed as due before it exists; out of the listing after it lost its expiry.
        if session.expires_at.is_some() {
            self.list_due(&member, session.expires_at).await?;
        }
        let () = self
            .conn()
            .hset(&key, &session.device.device_id, json(session)?)
            .await?;
        if session.expires_at.is_none() {
            self.list_due(&member, None).await?;
        }
        Ok(())
    }

    async fn update_session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
        change: &SessionChange,
    ) -> Result<Option<DeviceSession>, StoreError> {
        let key = sessions_key(app_key, account);
        for _ in 0..16 {
            let raw: Option<String> = self.conn().hget(&key, device_id).await?;
            let Some(raw) = raw else { return Ok(None) };
            let mut session = decode_session(&raw)?;
            // Listed at most at its old expiry (early is fine: the sweep
            // re-lists it). Only an expiry brought forward is listed again,
            // not one pushed back by every login and activity.
            let listed_at = session.expires_at;
            change.apply(&mut session);
            let member = due_member(app_key, account, device_id);
            if let Some(at) = session.expires_at
                && listed_at.is_none_or(|listed| at < listed)
            {
                self.list_due(&member, Some(at)).await?;
            }
            if self
                .swap_session(&key, device_id, &raw, &json(&session)?)
                .await?
            {
                if session.expires_at.is_none() {
                    self.list_due(&member, None).await?;
                }
                return Ok(Some(session));
            }
        }
        Err(StoreError::Corrupt("a device session kept changing".into()))
    }

    async fn end_session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
        end: &SessionEnd,
    ) -> Result<Option<DeviceSession>, StoreError> {
        let key = sessions_key(app_key, account);
        for _ in 0..16 {
            let raw: Option<String> = self.conn().hget(&key, device_id).await?;
            let Some(raw) = raw else { return Ok(None) };
            let session = decode_session(&raw)?;
            // Its token is refused before the session goes: never a moment
            // when an ended session could sign in again.
            let () = self
                .conn()
                .pset_ex(
                    revoked_key(&session.token_hash),
                    json(end)?,
                    crate::sessions::REVOCATION_KEPT_MS,
                )
                .await?;
            if self.swap_session(&key, device_id, &raw, "").await? {
                self.list_due(&due_member(app_key, account, device_id), None)
                    .await?;
                return Ok(Some(session));
            }
        }
        Err(StoreError::Corrupt("a device session kept changing".into()))
    }

    async fn revocation(&self, token_hash: &str) -> Result<Option<SessionEnd>, StoreError> {
        let raw: Option<String> = self.conn().get(revoked_key(token_hash)).await?;
        raw.map(|r| serde_json::from_str(&r).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    async fn due_sessions(&self, now: UnixMillis) -> Result<Vec<DeviceSession>, StoreError> {
        let due: Vec<String> = self
            .conn()
            .zrangebyscore_limit(SESSIONS_DUE, "-inf", now, 0, 1000)
            .await?;
        let mut out = Vec::new();
        for member in due {
            let mut parts = member.splitn(3, '\n');
            if let (Some(app), Some(account), Some(device)) =
                (parts.next(), parts.next(), parts.next())
            {
                // The listing may be ahead of the session (see the module docs).
                match self.session(app, account, device).await? {
                    Some(session) if session.expires_at.is_some_and(|at| at <= now) => {
                        out.push(session);
                    }
                    Some(session) => self.list_due(&member, session.expires_at).await?,
                    None => self.list_due(&member, None).await?,
                }
            }
        }
        Ok(out)
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let () = self.conn().hset(META, key, value).await?;
        Ok(())
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn failed(&self) {
        self.link.failed();
    }

    async fn restore(&self, apps: &Apps, flags: &Flags) -> Result<(), StoreError> {
        for app in apps.values() {
            let _: bool = self
                .conn()
                .hset_nx(APPS, &app.app_key, json(&**app)?)
                .await?;
        }
        for ((app, account), value) in flags {
            for (flag, on) in [
                (Flag::Banned, value.banned),
                (Flag::Disabled, value.disabled),
            ] {
                if on {
                    let _: bool = self
                        .conn()
                        .hset_nx(flags_key(app, account), flag.name(), "1")
                        .await?;
                }
            }
            let _: i64 = self
                .conn()
                .sadd(FLAGGED, flagged_member(app, account))
                .await?;
        }
        Ok(())
    }
}
