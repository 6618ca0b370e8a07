//! Durable gateway data: apps (secret, device policy), account flags, the last
//! login device per account, and the admin key's hash.
//!
//! Apps and account flags are few and read on every login, so they are cached
//! in memory and written through. The last-login device is written on every
//! login; with SQLite those writes go to one owner thread that batches them
//! into transactions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock, mpsc};

use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use vestibule_protocol::UnixMillis;

use crate::policy::DevicePolicy;
use crate::secret::AppSecret;

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

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite said no.
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
    Redis(#[from] redis::RedisError),
    /// An app with this key already exists.
    #[error("app {0:?} already exists")]
    AppExists(String),
    /// No app with this key.
    #[error("no app {0:?}")]
    NoSuchApp(String),
    /// A stored value could not be read back.
    #[error("corrupt stored value: {0}")]
    Corrupt(String),
}

type AccountKey = (String, String);

/// The gateway's durable data, with its in-memory caches.
#[derive(Debug)]
pub struct Store {
    apps: RwLock<HashMap<String, Arc<App>>>,
    flags: RwLock<HashMap<AccountKey, AccountFlags>>,
    backend: Backend,
}

#[derive(Debug)]
enum Backend {
    /// Nothing survives a restart (`--memory`).
    Memory {
        last_login: Mutex<HashMap<AccountKey, String>>,
        meta: Mutex<HashMap<String, String>>,
    },
    /// SQLite file in the data directory, owned by one thread.
    Sqlite(mpsc::Sender<Op>),
    /// Shared by a cluster of gateways.
    Redis(crate::registry::redis::RedisData),
}

enum Op {
    SwapLastLogin {
        key: AccountKey,
        device_id: String,
        reply: oneshot::Sender<Result<Option<String>, StoreError>>,
    },
    Exec(Box<dyn FnOnce(&mut Connection) + Send>),
}

impl std::fmt::Debug for Op {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Op::SwapLastLogin { .. } => "SwapLastLogin",
            Op::Exec(_) => "Exec",
        })
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS apps (
    app_key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret TEXT NOT NULL,
    policy TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS account_flags (
    app_key TEXT NOT NULL,
    account TEXT NOT NULL,
    banned INTEGER NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (app_key, account)
);
CREATE TABLE IF NOT EXISTS last_login (
    app_key TEXT NOT NULL,
    account TEXT NOT NULL,
    device_id TEXT NOT NULL,
    PRIMARY KEY (app_key, account)
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

const REDIS_APPS: &str = "vst:apps";
const REDIS_FLAGS: &str = "vst:flags";
const REDIS_META: &str = "vst:meta";

/// The file name of the SQLite database inside the data directory.
pub const DB_FILE: &str = "gateway.sqlite3";

impl Store {
    /// A store that keeps everything in memory.
    pub fn memory() -> Self {
        Self {
            apps: RwLock::default(),
            flags: RwLock::default(),
            backend: Backend::Memory {
                last_login: Mutex::default(),
                meta: Mutex::default(),
            },
        }
    }

    /// Opens (creating and migrating) the SQLite store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
        let mut conn = Connection::open(dir.join(DB_FILE))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        )?;
        conn.execute_batch(SCHEMA)?;
        let apps = load_apps(&conn)?;
        let flags = load_flags(&conn)?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("vestibule-store".into())
            .spawn(move || run_sqlite(&mut conn, &rx))
            .map_err(|source| StoreError::DataDir {
                path: dir.to_owned(),
                source,
            })?;
        Ok(Self {
            apps: RwLock::new(apps),
            flags: RwLock::new(flags),
            backend: Backend::Sqlite(tx),
        })
    }

    /// A store shared by a cluster through Redis: apps and account flags are
    /// cached here and refreshed by [`Store::refresh`].
    pub async fn redis(url: &str) -> Result<Self, StoreError> {
        let data = crate::registry::redis::RedisData::connect(url).await?;
        let store = Self {
            apps: RwLock::default(),
            flags: RwLock::default(),
            backend: Backend::Redis(data),
        };
        store.refresh().await?;
        Ok(store)
    }

    /// Whether the store is shared through Redis (and needs [`Store::refresh`]).
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Redis(_))
    }

    /// Re-reads apps and account flags from Redis (changes made by other nodes).
    pub async fn refresh(&self) -> Result<(), StoreError> {
        let Backend::Redis(redis) = &self.backend else {
            return Ok(());
        };
        let mut apps = HashMap::new();
        for (key, raw) in redis.hgetall(REDIS_APPS).await? {
            match serde_json::from_str::<App>(&raw) {
                Ok(app) => {
                    apps.insert(key, Arc::new(app));
                }
                Err(e) => tracing::warn!(app = %key, error = %e, "unreadable app in Redis"),
            }
        }
        if apps.is_empty() && !read(&self.apps).is_empty() {
            // Apps are never deleted: an empty hash means Redis lost its data
            // (restarted without persistence). Heal it from this node's copy.
            tracing::warn!(
                "Redis has no apps: restoring apps and account flags from this node's cache"
            );
            let cached: Vec<Arc<App>> = read(&self.apps).values().cloned().collect();
            for app in cached {
                let raw =
                    serde_json::to_string(&*app).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                redis.hsetnx(REDIS_APPS, &app.app_key, &raw).await?;
            }
            let cached: Vec<(AccountKey, AccountFlags)> = read(&self.flags)
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            for ((app, account), value) in cached {
                let raw = serde_json::to_string(&value)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                redis
                    .hsetnx(REDIS_FLAGS, &format!("{app}:{account}"), &raw)
                    .await?;
            }
            return Ok(());
        }
        let mut flags = HashMap::new();
        for (field, raw) in redis.hgetall(REDIS_FLAGS).await? {
            if let (Some((app, account)), Ok(value)) = (
                field.split_once(':'),
                serde_json::from_str::<AccountFlags>(&raw),
            ) {
                flags.insert((app.to_owned(), account.to_owned()), value);
            }
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
        let policy =
            serde_json::to_string(&app.policy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if let Backend::Redis(redis) = &self.backend {
            let json =
                serde_json::to_string(&app).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if !redis.hsetnx(REDIS_APPS, &app.app_key, &json).await? {
                return Err(StoreError::AppExists(app.app_key));
            }
        }
        let row = app.clone();
        self.exec(move |conn| {
            conn.execute(
                "INSERT INTO apps (app_key, name, secret, policy, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![row.app_key, row.name, row.secret.expose(), policy, i64::try_from(row.created_at).unwrap_or(i64::MAX)],
            )
            .map(drop)
            .map_err(|e| match e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.code == rusqlite::ErrorCode::ConstraintViolation =>
                {
                    StoreError::AppExists(row.app_key.clone())
                }
                other => other.into(),
            })
        })
        .await?;
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
        let json =
            serde_json::to_string(&policy).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if let Backend::Redis(redis) = &self.backend {
            let updated = App {
                policy,
                ..(*app).clone()
            };
            let raw =
                serde_json::to_string(&updated).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            redis.hset(REDIS_APPS, app_key, &raw).await?;
        }
        let key = app_key.to_owned();
        self.exec(move |conn| {
            conn.execute(
                "UPDATE apps SET policy = ?1 WHERE app_key = ?2",
                params![json, key],
            )
            .map(drop)
            .map_err(Into::into)
        })
        .await?;
        let app = Arc::new(App {
            policy,
            ..(*app).clone()
        });
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

    /// Sets an account's flags.
    pub async fn set_flags(
        &self,
        app_key: &str,
        account: &str,
        flags: AccountFlags,
    ) -> Result<(), StoreError> {
        let key = (app_key.to_owned(), account.to_owned());
        if let Backend::Redis(redis) = &self.backend {
            let field = format!("{app_key}:{account}");
            if flags == AccountFlags::default() {
                redis.hdel(REDIS_FLAGS, &field).await?;
            } else {
                let raw = serde_json::to_string(&flags)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                redis.hset(REDIS_FLAGS, &field, &raw).await?;
            }
        }
        let row = key.clone();
        self.exec(move |conn| {
            if flags == AccountFlags::default() {
                conn.execute(
                    "DELETE FROM account_flags WHERE app_key = ?1 AND account = ?2",
                    params![row.0, row.1],
                )
            } else {
                conn.execute(
                    "INSERT INTO account_flags (app_key, account, banned, disabled) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (app_key, account) DO UPDATE SET banned = ?3, disabled = ?4",
                    params![row.0, row.1, flags.banned, flags.disabled],
                )
            }
            .map(drop)
            .map_err(Into::into)
        })
        .await?;
        let mut cache = write(&self.flags);
        if flags == AccountFlags::default() {
            cache.remove(&key);
        } else {
            cache.insert(key, flags);
        }
        Ok(())
    }

    /// Records `device_id` as the account's last login device and returns the previous one.
    pub async fn swap_last_login(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let key = (app_key.to_owned(), account.to_owned());
        match &self.backend {
            Backend::Memory { last_login, .. } => {
                Ok(lock(last_login).insert(key, device_id.to_owned()))
            }
            Backend::Redis(redis) => Ok(redis
                .swap(&format!("vst:last:{app_key}"), account, device_id)
                .await?),
            Backend::Sqlite(tx) => {
                let (reply, rx) = oneshot::channel();
                tx.send(Op::SwapLastLogin {
                    key,
                    device_id: device_id.to_owned(),
                    reply,
                })
                .map_err(|_| StoreError::Closed)?;
                rx.await.map_err(|_| StoreError::Closed)?
            }
        }
    }

    /// A value from the meta table.
    pub async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        match &self.backend {
            Backend::Memory { meta, .. } => Ok(lock(meta).get(key).cloned()),
            Backend::Redis(redis) => Ok(redis.hget(REDIS_META, key).await?),
            Backend::Sqlite(_) => {
                let key = key.to_owned();
                self.query(move |conn| {
                    conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                        .optional()
                        .map_err(Into::into)
                })
                .await
            }
        }
    }

    /// Sets a value in the meta table.
    pub async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Memory { meta, .. } => {
                lock(meta).insert(key.to_owned(), value.to_owned());
                Ok(())
            }
            Backend::Redis(redis) => Ok(redis.hset(REDIS_META, key, value).await?),
            Backend::Sqlite(_) => {
                let (key, value) = (key.to_owned(), value.to_owned());
                self.exec(move |conn| {
                    conn.execute(
                        "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
                        params![key, value],
                    )
                    .map(drop)
                    .map_err(Into::into)
                })
                .await
            }
        }
    }

    async fn exec<F>(&self, f: F) -> Result<(), StoreError>
    where
        F: FnOnce(&mut Connection) -> Result<(), StoreError> + Send + 'static,
    {
        match &self.backend {
            Backend::Memory { .. } | Backend::Redis(_) => Ok(()),
            Backend::Sqlite(_) => self.query(f).await,
        }
    }

    async fn query<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let Backend::Sqlite(tx) = &self.backend else {
            return Err(StoreError::Closed);
        };
        let (reply, rx) = oneshot::channel();
        tx.send(Op::Exec(Box::new(move |conn| {
            let _ = reply.send(f(conn));
        })))
        .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

fn load_apps(conn: &Connection) -> Result<HashMap<String, Arc<App>>, StoreError> {
    let mut stmt = conn.prepare("SELECT app_key, name, secret, policy, created_at FROM apps")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
        ))
    })?;
    let mut apps = HashMap::new();
    for row in rows {
        let (app_key, name, secret, policy, created_at) = row?;
        let policy: DevicePolicy = serde_json::from_str(&policy)
            .map_err(|e| StoreError::Corrupt(format!("policy of app {app_key:?}: {e}")))?;
        let app = App {
            app_key: app_key.clone(),
            name,
            secret: AppSecret::new(secret),
            policy,
            created_at,
        };
        apps.insert(app_key, Arc::new(app));
    }
    Ok(apps)
}

fn load_flags(conn: &Connection) -> Result<HashMap<AccountKey, AccountFlags>, StoreError> {
    let mut stmt = conn.prepare("SELECT app_key, account, banned, disabled FROM account_flags")?;
    let rows = stmt.query_map([], |r| {
        Ok((
            (r.get::<_, String>(0)?, r.get::<_, String>(1)?),
            AccountFlags {
                banned: r.get(2)?,
                disabled: r.get(3)?,
            },
        ))
    })?;
    rows.collect::<Result<_, _>>().map_err(Into::into)
}

/// The SQLite owner thread: runs admin operations one by one and batches
/// last-login writes into one transaction per wake-up.
fn run_sqlite(conn: &mut Connection, rx: &mpsc::Receiver<Op>) {
    const MAX_BATCH: usize = 512;
    while let Ok(first) = rx.recv() {
        let mut swaps = Vec::new();
        let mut next = Some(first);
        while let Some(op) = next.take() {
            match op {
                Op::Exec(f) => {
                    flush_swaps(conn, &mut swaps);
                    f(conn);
                }
                Op::SwapLastLogin {
                    key,
                    device_id,
                    reply,
                } => swaps.push((key, device_id, reply)),
            }
            if swaps.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        flush_swaps(conn, &mut swaps);
    }
}

type Swap = (
    AccountKey,
    String,
    oneshot::Sender<Result<Option<String>, StoreError>>,
);

fn flush_swaps(conn: &mut Connection, swaps: &mut Vec<Swap>) {
    if swaps.is_empty() {
        return;
    }
    let result = (|| -> Result<Vec<Option<String>>, rusqlite::Error> {
        let tx = conn.transaction()?;
        let mut previous = Vec::with_capacity(swaps.len());
        {
            let mut select = tx.prepare_cached(
                "SELECT device_id FROM last_login WHERE app_key = ?1 AND account = ?2",
            )?;
            let mut upsert = tx.prepare_cached(
                "INSERT INTO last_login (app_key, account, device_id) VALUES (?1, ?2, ?3)
                 ON CONFLICT (app_key, account) DO UPDATE SET device_id = ?3",
            )?;
            for ((app_key, account), device_id, _) in swaps.iter() {
                let prev: Option<String> = select
                    .query_row(params![app_key, account], |r| r.get(0))
                    .optional()?;
                upsert.execute(params![app_key, account, device_id])?;
                previous.push(prev);
            }
        }
        tx.commit()?;
        Ok(previous)
    })();
    match result {
        Ok(previous) => {
            for ((_, _, reply), prev) in swaps.drain(..).zip(previous) {
                let _ = reply.send(Ok(prev));
            }
        }
        Err(e) => {
            let message = e.to_string();
            for (_, _, reply) in swaps.drain(..) {
                let _ = reply.send(Err(StoreError::Corrupt(message.clone())));
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

fn lock<T>(lock: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    lock.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(key: &str) -> App {
        App {
            app_key: key.into(),
            name: "Test".into(),
            secret: AppSecret::new("s"),
            policy: DevicePolicy::default(),
            created_at: 1,
        }
    }

    #[tokio::test]
    async fn sqlite_keeps_everything_across_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            store.create_app(app("k1")).await.expect("create");
            assert!(matches!(
                store.create_app(app("k1")).await,
                Err(StoreError::AppExists(_))
            ));
            let flags = AccountFlags {
                banned: true,
                disabled: false,
            };
            store.set_flags("k1", "bob", flags).await.expect("flags");
            assert_eq!(
                store
                    .swap_last_login("k1", "bob", "d1")
                    .await
                    .expect("swap"),
                None
            );
            assert_eq!(
                store
                    .swap_last_login("k1", "bob", "d2")
                    .await
                    .expect("swap")
                    .as_deref(),
                Some("d1")
            );
            store.set_meta("admin", "hash").await.expect("meta");
        }
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(
            store.app("k1").map(|a| a.name.clone()).as_deref(),
            Some("Test")
        );
        assert!(store.flags("k1", "bob").banned);
        assert_eq!(
            store
                .swap_last_login("k1", "bob", "d3")
                .await
                .expect("swap")
                .as_deref(),
            Some("d2")
        );
        assert_eq!(
            store.meta("admin").await.expect("meta").as_deref(),
            Some("hash")
        );
    }

    #[tokio::test]
    async fn concurrent_swaps_see_each_other_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path()).expect("open"));
        let mut handles = Vec::new();
        for i in 0..100 {
            let store = store.clone();
            handles.push(tokio::spawn(async move {
                store.swap_last_login("k", "acc", &format!("d{i}")).await
            }));
        }
        let mut nones = 0;
        for h in handles {
            if h.await.expect("join").expect("swap").is_none() {
                nones += 1;
            }
        }
        assert_eq!(nones, 1, "exactly the first swap sees no previous device");
    }
}
