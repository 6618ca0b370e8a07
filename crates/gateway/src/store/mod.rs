//! Durable gateway data: apps (secret, device policy), account flags, the last
//! login device per account, and the admin key's hash.
//!
//! Apps and account flags are few and read on every login, so [`Store`] keeps
//! them cached in memory and writes them through to its backend: `memory`
//! (nothing survives a restart), `sqlite` (one file in the data directory,
//! owned by one thread) or `redis` (shared by a cluster, re-read every 2 s).

mod memory;
mod redis;
mod sqlite;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use vestibule_protocol::UnixMillis;

use crate::pairing::{ApproveOutcome, PairApproval, PairRecord, PairState, PairTable};
use crate::policy::DevicePolicy;
use crate::secret::AppSecret;
use crate::sessions::DeviceSession;
use vestibule_protocol::SessionEnd;

pub use sqlite::DB_FILE;

/// A registered app.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    /// The public key clients log in with.
    pub app_key: String,
    /// A name for people.
    pub name: String,
    /// Signs and verifies the app's login tokens.
    pub secret: AppSecret,
    /// The multi-device policy.
    pub policy: DevicePolicy,
    /// When the app was created.
    pub created_at: UnixMillis,
}

/// Per-account switches set through the admin API.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountFlags {
    /// Logins are refused with 403; online sessions were kicked with `banned`.
    pub banned: bool,
    /// Logins are refused with 422.
    pub disabled: bool,
}

/// One of an account's switches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag {
    /// [`AccountFlags::banned`].
    Banned,
    /// [`AccountFlags::disabled`].
    Disabled,
}

impl Flag {
    /// Its column / field name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Banned => "banned",
            Self::Disabled => "disabled",
        }
    }
}

impl AccountFlags {
    /// These flags with `flag` set to `on`.
    pub fn with(mut self, flag: Flag, on: bool) -> Self {
        match flag {
            Flag::Banned => self.banned = on,
            Flag::Disabled => self.disabled = on,
        }
        self
    }
}

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("database error: {0}")]
    Sqlite(Arc<rusqlite::Error>),
    /// The data directory could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The store's thread is gone (the gateway is shutting down).
    #[error("the store is closed")]
    Closed,
    /// Redis said no or could not be reached.
    #[error("redis: {0}")]
    Redis(#[from] ::redis::RedisError),
    /// An app with this key already exists.
    #[error("app {0:?} already exists")]
    AppExists(String),
    /// No app with this key.
    #[error("no app {0:?}")]
    NoSuchApp(String),
    /// A stored value could not be read back (written by something else, or damaged).
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(Arc::new(e))
    }
}

pub(crate) type AccountKey = (String, String);
pub(crate) type Apps = HashMap<String, Arc<App>>;
pub(crate) type Flags = HashMap<AccountKey, AccountFlags>;

/// Where a [`Store`] writes through to. Each backend is one file of this module.
#[async_trait]
pub(crate) trait Backend: Send + Sync + std::fmt::Debug {
    /// Every app and every account's flags, as stored.
    async fn load(&self) -> Result<(Apps, Flags), StoreError>;
    /// Adds an app; [`StoreError::AppExists`] when its key is taken.
    async fn insert_app(&self, app: &App) -> Result<(), StoreError>;
    /// Replaces an app's device policy.
    async fn update_app(&self, app: &App) -> Result<(), StoreError>;
    /// Sets one of an account's flags, touching no other (two admins changing
    /// two flags at once never undo each other); returns all its flags after.
    async fn set_flag(
        &self,
        app_key: &str,
        account: &str,
        flag: Flag,
        on: bool,
    ) -> Result<AccountFlags, StoreError>;
    /// The account's flags as stored now (not a cache), for decisions that
    /// must not act on stale data (a token refresh).
    async fn fresh_flags(
        &self,
        app_key: &str,
        account: &str,
    ) -> Result<Option<AccountFlags>, StoreError> {
        let _ = (app_key, account);
        Ok(None)
    }
    /// Records the account's last login device; returns the previous one.
    async fn swap_last_login(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
    ) -> Result<Option<String>, StoreError>;
    /// A value of the meta table.
    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError>;
    /// Sets a value of the meta table.
    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError>;
    /// Other processes write to it too, so the caches must be re-read.
    fn is_shared(&self) -> bool {
        false
    }
    /// An operation failed: reconnect if there is anything to reconnect.
    fn failed(&self) {}
    /// One device's session.
    async fn session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
    ) -> Result<Option<DeviceSession>, StoreError>;
    /// Every session of an account.
    async fn sessions(
        &self,
        app_key: &str,
        account: &str,
    ) -> Result<Vec<DeviceSession>, StoreError>;
    /// Adds a session, or replaces the device's session.
    async fn put_session(&self, session: &DeviceSession) -> Result<(), StoreError>;
    /// Changes one session in place (atomically with respect to other
    /// changes); returns it after, or `None` when there is no such session.
    async fn update_session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
        change: &SessionChange,
    ) -> Result<Option<DeviceSession>, StoreError>;
    /// Ends a session: removes it and keeps how it ended under its token's
    /// hash (for [`REVOCATION_KEPT_MS`](crate::sessions::REVOCATION_KEPT_MS)).
    async fn end_session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
        end: &SessionEnd,
    ) -> Result<Option<DeviceSession>, StoreError>;
    /// How the session whose token hashes to `token_hash` ended, if it did.
    async fn revocation(&self, token_hash: &str) -> Result<Option<SessionEnd>, StoreError>;
    /// Sessions whose `expires_at` is at or before `now`.
    async fn due_sessions(&self, now: UnixMillis) -> Result<Vec<DeviceSession>, StoreError>;
    /// Puts back apps and flags the backend lost (a Redis restarted without
    /// persistence), without overwriting anything it still has.
    async fn restore(&self, _apps: &Apps, _flags: &Flags) -> Result<(), StoreError> {
        Ok(())
    }
    /// Pairing requests, for a backend shared between processes (Redis);
    /// the others keep them in the process ([`PairTable`]).
    fn shared_pairs(&self) -> Option<&dyn SharedPairs> {
        None
    }
}

/// Pairing requests kept where every node sees them; the same operations as
/// [`PairTable`], atomic across nodes.
#[async_trait]
pub(crate) trait SharedPairs: Send + Sync {
    async fn put(&self, record: &PairRecord) -> Result<(), StoreError>;
    async fn get(
        &self,
        app_key: &str,
        code_hash: &str,
    ) -> Result<Option<(PairRecord, PairState)>, StoreError>;
    async fn approve(
        &self,
        app_key: &str,
        code_hash: &str,
        approval: &PairApproval,
        now: UnixMillis,
    ) -> Result<ApproveOutcome, StoreError>;
    async fn close(&self, app_key: &str, code_hash: &str) -> Result<(), StoreError>;
}

/// A change to one device session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum SessionChange {
    /// The device was active at `at` (connected when `login`, from `ip` if given).
    Active {
        /// When.
        at: UnixMillis,
        /// From where, when it connected.
        ip: Option<String>,
        /// It connected (a login), rather than disconnected or was seen online.
        login: bool,
        /// The app's `sessionIdleDays`, to recompute the expiry.
        idle_days: u32,
    },
    /// A name the person gave it.
    Rename {
        /// The name, already checked.
        name: String,
    },
    /// A refreshed token: the new expiry (`None`: a static token).
    TokenExpiry {
        /// When the new token expires.
        expires_at: Option<UnixMillis>,
        /// The app's `sessionIdleDays`.
        idle_days: u32,
    },
}

impl SessionChange {
    /// Applies the change to `session`.
    pub fn apply(&self, session: &mut DeviceSession) {
        match self {
            Self::Active {
                at,
                ip,
                login,
                idle_days,
            } => {
                session.last_active_at = session.last_active_at.max(*at);
                if let Some(ip) = ip {
                    session.last_ip.clone_from(ip);
                }
                if *login {
                    session.last_login_at = *at;
                }
                *session = session.clone().with_expiry(*idle_days);
            }
            Self::Rename { name } => session.name = Some(name.clone()),
            Self::TokenExpiry {
                expires_at,
                idle_days,
            } => {
                session.token_expires_at = *expires_at;
                *session = session.clone().with_expiry(*idle_days);
            }
        }
    }
}

/// The gateway's durable data, with its in-memory caches.
#[derive(Debug)]
pub struct Store {
    apps: RwLock<Apps>,
    flags: RwLock<Flags>,
    backend: Box<dyn Backend>,
    /// Pairing requests, unless the backend shares them.
    pairs: PairTable,
}

impl Store {
    fn with(backend: Box<dyn Backend>, apps: Apps, flags: Flags) -> Self {
        Self {
            apps: RwLock::new(apps),
            flags: RwLock::new(flags),
            backend,
            pairs: PairTable::default(),
        }
    }

    /// A store that keeps everything in memory.
    pub fn memory() -> Self {
        Self::with(
            Box::<memory::MemoryBackend>::default(),
            Apps::new(),
            Flags::new(),
        )
    }

    /// Opens (creating and migrating) the SQLite store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let (backend, apps, flags) = sqlite::SqliteBackend::open(dir)?;
        Ok(Self::with(Box::new(backend), apps, flags))
    }

    /// A store shared by a cluster through Redis: apps and account flags are
    /// cached here and refreshed by [`Store::refresh`].
    pub async fn redis(
        target: impl Into<crate::registry::redis::RedisTarget>,
    ) -> Result<Self, StoreError> {
        let backend = redis::RedisBackend::connect(&target.into()).await?;
        let store = Self::with(Box::new(backend), Apps::new(), Flags::new());
        store.refresh().await?;
        Ok(store)
    }

    /// Whether the store is shared through Redis (and needs [`Store::refresh`]).
    pub fn is_shared(&self) -> bool {
        self.backend.is_shared()
    }

    /// Re-reads apps and account flags (changes made by other nodes).
    pub async fn refresh(&self) -> Result<(), StoreError> {
        if !self.backend.is_shared() {
            return Ok(());
        }
        let (apps, flags) = self
            .backend
            .load()
            .await
            .inspect_err(|_| self.backend.failed())?;
        if apps.is_empty() && !read(&self.apps).is_empty() {
            // Apps are never deleted: none at all means the backend lost its
            // data (Redis restarted without persistence). Heal it from this node's copy.
            tracing::warn!(
                "the shared store has no apps: restoring apps and account flags from this node's cache"
            );
            let apps = read(&self.apps).clone();
            let flags = read(&self.flags).clone();
            return self.backend.restore(&apps, &flags).await;
        }
        *write(&self.apps) = apps;
        *write(&self.flags) = flags;
        Ok(())
    }

    /// The app with this key, from the cache.
    pub fn app(&self, app_key: &str) -> Option<Arc<App>> {
        read(&self.apps).get(app_key).cloned()
    }

    /// Every app, sorted by key.
    pub fn apps(&self) -> Vec<Arc<App>> {
        let mut apps: Vec<_> = read(&self.apps).values().cloned().collect();
        apps.sort_by(|a, b| a.app_key.cmp(&b.app_key));
        apps
    }

    /// Registers a new app.
    pub async fn create_app(&self, app: App) -> Result<Arc<App>, StoreError> {
        if self.app(&app.app_key).is_some() {
            return Err(StoreError::AppExists(app.app_key));
        }
        self.backend.insert_app(&app).await?;
        let app = Arc::new(app);
        write(&self.apps).insert(app.app_key.clone(), app.clone());
        Ok(app)
    }

    /// Replaces an app's device policy.
    pub async fn set_policy(
        &self,
        app_key: &str,
        policy: DevicePolicy,
    ) -> Result<Arc<App>, StoreError> {
        let Some(app) = self.app(app_key) else {
            return Err(StoreError::NoSuchApp(app_key.to_owned()));
        };
        let app = App {
            policy,
            ..(*app).clone()
        };
        self.backend.update_app(&app).await?;
        let app = Arc::new(app);
        write(&self.apps).insert(app.app_key.clone(), app.clone());
        Ok(app)
    }

    /// An account's flags, from the cache.
    pub fn flags(&self, app_key: &str, account: &str) -> AccountFlags {
        read(&self.flags)
            .get(&(app_key.to_owned(), account.to_owned()))
            .copied()
            .unwrap_or_default()
    }

    /// Sets one flag of an account (the other stays as stored); returns the
    /// account's flags after the change.
    pub async fn set_flag(
        &self,
        app_key: &str,
        account: &str,
        flag: Flag,
        on: bool,
    ) -> Result<AccountFlags, StoreError> {
        let flags = self.backend.set_flag(app_key, account, flag, on).await?;
        // Field by field in the cache too: concurrent changes of the two
        // flags may come back in either order.
        let key = (app_key.to_owned(), account.to_owned());
        let mut cache = write(&self.flags);
        let cached = cache.get(&key).copied().unwrap_or_default().with(flag, on);
        if cached == AccountFlags::default() {
            cache.remove(&key);
        } else {
            cache.insert(key, cached);
        }
        Ok(flags)
    }

    /// The account's flags as stored right now: from the shared store where
    /// there is one (other nodes change them), else from the cache.
    pub async fn fresh_flags(
        &self,
        app_key: &str,
        account: &str,
    ) -> Result<AccountFlags, StoreError> {
        match self.backend.fresh_flags(app_key, account).await? {
            Some(flags) => {
                self.cache_flags(app_key, account, flags);
                Ok(flags)
            }
            None => Ok(self.flags(app_key, account)),
        }
    }

    fn cache_flags(&self, app_key: &str, account: &str, flags: AccountFlags) {
        let key = (app_key.to_owned(), account.to_owned());
        let mut cache = write(&self.flags);
        if flags == AccountFlags::default() {
            cache.remove(&key);
        } else {
            cache.insert(key, flags);
        }
    }

    /// Records `device_id` as the account's last login device and returns the previous one.
    pub async fn swap_last_login(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
    ) -> Result<Option<String>, StoreError> {
        self.backend
            .swap_last_login(app_key, account, device_id)
            .await
    }

    /// A value from the meta table.
    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.backend.meta(key).await
    }

    /// Sets a value in the meta table.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.backend.set_meta(key, value).await
    }
}

impl Store {
    /// One device's session.
    pub async fn session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
    ) -> Result<Option<DeviceSession>, StoreError> {
        self.backend.session(app_key, account, device_id).await
    }

    /// Every session of an account.
    pub async fn sessions(
        &self,
        app_key: &str,
        account: &str,
    ) -> Result<Vec<DeviceSession>, StoreError> {
        self.backend.sessions(app_key, account).await
    }

    /// Adds a session, or replaces the device's session. A replaced session's
    /// token stops working (its end is kept as `signedInAgain`).
    pub async fn put_session(&self, session: &DeviceSession) -> Result<(), StoreError> {
        if let Some(previous) = self
            .backend
            .session(
                &session.app_key,
                &session.account,
                &session.device.device_id,
            )
            .await?
            && previous.token_hash != session.token_hash
        {
            let end = SessionEnd {
                reason: vestibule_protocol::EndReason::SignedInAgain,
                by: None,
                at: session.created_at,
            };
            self.backend
                .end_session(
                    &session.app_key,
                    &session.account,
                    &session.device.device_id,
                    &end,
                )
                .await?;
        }
        self.backend.put_session(session).await
    }

    /// Changes one session in place; the session after, if there is one.
    pub async fn update_session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
        change: &SessionChange,
    ) -> Result<Option<DeviceSession>, StoreError> {
        self.backend
            .update_session(app_key, account, device_id, change)
            .await
    }

    /// Ends a session, keeping how it ended for its device's next login.
    pub async fn end_session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
        end: &SessionEnd,
    ) -> Result<Option<DeviceSession>, StoreError> {
        self.backend
            .end_session(app_key, account, device_id, end)
            .await
    }

    /// How a session ended, by its token's hash.
    pub async fn revocation(&self, token_hash: &str) -> Result<Option<SessionEnd>, StoreError> {
        self.backend.revocation(token_hash).await
    }

    /// Sessions that ended by themselves by `now` (idle, or their token expired).
    pub async fn due_sessions(&self, now: UnixMillis) -> Result<Vec<DeviceSession>, StoreError> {
        self.backend.due_sessions(now).await
    }

    /// Keeps a new pairing request (waiting).
    pub async fn put_pair(&self, record: &PairRecord, now: UnixMillis) -> Result<(), StoreError> {
        match self.backend.shared_pairs() {
            Some(shared) => shared.put(record).await,
            None => {
                self.pairs.put(record, now);
                Ok(())
            }
        }
    }

    /// A pairing request and where it stands.
    pub async fn pair(
        &self,
        app_key: &str,
        code_hash: &str,
    ) -> Result<Option<(PairRecord, PairState)>, StoreError> {
        match self.backend.shared_pairs() {
            Some(shared) => shared.get(app_key, code_hash).await,
            None => Ok(self.pairs.get(app_key, code_hash)),
        }
    }

    /// Approves a waiting, unexpired pairing request, once (atomically).
    pub async fn approve_pair(
        &self,
        app_key: &str,
        code_hash: &str,
        approval: &PairApproval,
        now: UnixMillis,
    ) -> Result<ApproveOutcome, StoreError> {
        match self.backend.shared_pairs() {
            Some(shared) => shared.approve(app_key, code_hash, approval, now).await,
            None => Ok(self.pairs.approve(app_key, code_hash, approval, now)),
        }
    }

    /// The requester went away or asked for another code.
    pub async fn close_pair(&self, app_key: &str, code_hash: &str) -> Result<(), StoreError> {
        match self.backend.shared_pairs() {
            Some(shared) => shared.close(app_key, code_hash).await,
            None => {
                self.pairs.close(app_key, code_hash);
                Ok(())
            }
        }
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
