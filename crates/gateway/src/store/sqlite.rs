//! The store's SQLite backend: one file in the data directory, owned by one
//! thread that runs operations in order and batches last-login writes (one
//! per login) into one transaction per wake-up.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, mpsc};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use tokio::sync::oneshot;

use vestibule_protocol::{SessionEnd, UnixMillis};

use super::{AccountFlags, AccountKey, App, Apps, Backend, Flag, Flags, SessionChange, StoreError};
use crate::policy::DevicePolicy;
use crate::secret::AppSecret;
use crate::sessions::DeviceSession;

/// The file name of the SQLite database inside the data directory.
pub const DB_FILE: &str = "gateway.sqlite3";

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
CREATE TABLE IF NOT EXISTS device_sessions (
    app_key TEXT NOT NULL,
    account TEXT NOT NULL,
    device_id TEXT NOT NULL,
    data TEXT NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (app_key, account, device_id)
);
CREATE INDEX IF NOT EXISTS device_sessions_expiry ON device_sessions (expires_at);
CREATE TABLE IF NOT EXISTS session_revocations (
    token_hash TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS session_revocations_at ON session_revocations (at);
";

/// The owner thread's mailbox.
#[derive(Debug)]
pub(super) struct SqliteBackend(mpsc::Sender<Op>);

impl SqliteBackend {
    /// Opens (creating and migrating) the database in `dir`; returns the
    /// backend and what it holds.
    pub(super) fn open(dir: &Path) -> Result<(Self, Apps, Flags), StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
        make_private(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
        let mut conn = Connection::open(dir.join(DB_FILE))?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=5000;",
        )?;
        conn.execute_batch(SCHEMA)?;
        // The WAL and shared-memory files exist now: tighten them too.
        make_private(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
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
        Ok((Self(tx), apps, flags))
    }

    /// Runs `f` on the owner thread and returns its result.
    async fn query<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        self.0
            .send(Op::Exec(Box::new(move |conn| {
                let _ = reply.send(f(conn));
            })))
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }
}

#[async_trait]
impl Backend for SqliteBackend {
    async fn load(&self) -> Result<(Apps, Flags), StoreError> {
        self.query(|conn| Ok((load_apps(conn)?, load_flags(conn)?)))
            .await
    }

    async fn insert_app(&self, app: &App) -> Result<(), StoreError> {
        let row = app.clone();
        let policy = policy_json(&row.policy);
        self.query(move |conn| {
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
        .await
    }

    async fn update_app(&self, app: &App) -> Result<(), StoreError> {
        let (key, policy) = (app.app_key.clone(), policy_json(&app.policy));
        self.query(move |conn| {
            conn.execute(
                "UPDATE apps SET policy = ?1 WHERE app_key = ?2",
                params![policy, key],
            )
            .map(drop)
            .map_err(Into::into)
        })
        .await
    }

    async fn set_flag(
        &self,
        app_key: &str,
        account: &str,
        flag: Flag,
        on: bool,
    ) -> Result<AccountFlags, StoreError> {
        let row = (app_key.to_owned(), account.to_owned());
        self.query(move |conn| {
            // One column, in one statement: the other flag is never rewritten.
            let column = flag.name();
            conn.execute(
                &format!(
                    "INSERT INTO account_flags (app_key, account, {column}) VALUES (?1, ?2, ?3)
                     ON CONFLICT (app_key, account) DO UPDATE SET {column} = ?3"
                ),
                params![row.0, row.1, on],
            )?;
            let flags = conn.query_row(
                "SELECT banned, disabled FROM account_flags WHERE app_key = ?1 AND account = ?2",
                params![row.0, row.1],
                |r| {
                    Ok(AccountFlags {
                        banned: r.get(0)?,
                        disabled: r.get(1)?,
                    })
                },
            )?;
            if flags == AccountFlags::default() {
                conn.execute(
                    "DELETE FROM account_flags WHERE app_key = ?1 AND account = ?2",
                    params![row.0, row.1],
                )?;
            }
            Ok(flags)
        })
        .await
    }

    async fn swap_last_login(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let (reply, rx) = oneshot::channel();
        self.0
            .send(Op::SwapLastLogin {
                key: (app_key.to_owned(), account.to_owned()),
                device_id: device_id.to_owned(),
                reply,
            })
            .map_err(|_| StoreError::Closed)?;
        rx.await.map_err(|_| StoreError::Closed)?
    }

    async fn session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
    ) -> Result<Option<DeviceSession>, StoreError> {
        let k = (app_key.to_owned(), account.to_owned(), device_id.to_owned());
        self.query(move |conn| read_session(conn, &k)).await
    }

    async fn sessions(
        &self,
        app_key: &str,
        account: &str,
    ) -> Result<Vec<DeviceSession>, StoreError> {
        let k = (app_key.to_owned(), account.to_owned());
        self.query(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT data FROM device_sessions WHERE app_key = ?1 AND account = ?2",
            )?;
            let rows = stmt.query_map(params![k.0, k.1], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(decode_session(&row?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn put_session(&self, session: &DeviceSession) -> Result<(), StoreError> {
        let session = session.clone();
        self.query(move |conn| write_session(conn, &session)).await
    }

    async fn update_session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
        change: &SessionChange,
    ) -> Result<Option<DeviceSession>, StoreError> {
        let k = (app_key.to_owned(), account.to_owned(), device_id.to_owned());
        let change = change.clone();
        // On the owner thread: read, change, write, with nothing in between.
        self.query(move |conn| {
            let Some(mut session) = read_session(conn, &k)? else {
                return Ok(None);
            };
            change.apply(&mut session);
            write_session(conn, &session)?;
            Ok(Some(session))
        })
        .await
    }

    async fn end_session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
        end: &SessionEnd,
    ) -> Result<Option<DeviceSession>, StoreError> {
        let k = (app_key.to_owned(), account.to_owned(), device_id.to_owned());
        let end = end.clone();
        self.query(move |conn| {
            let Some(session) = read_session(conn, &k)? else {
                return Ok(None);
            };
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM device_sessions WHERE app_key = ?1 AND account = ?2 AND device_id = ?3",
                params![k.0, k.1, k.2],
            )?;
            tx.execute(
                "INSERT INTO session_revocations (token_hash, data, at) VALUES (?1, ?2, ?3)
                 ON CONFLICT (token_hash) DO UPDATE SET data = ?2, at = ?3",
                params![session.token_hash, json(&end)?, millis(end.at)],
            )?;
            let oldest = end.at.saturating_sub(crate::sessions::REVOCATION_KEPT_MS);
            tx.execute(
                "DELETE FROM session_revocations WHERE at < ?1",
                params![millis(oldest)],
            )?;
            tx.commit()?;
            Ok(Some(session))
        })
        .await
    }

    async fn revocation(&self, token_hash: &str) -> Result<Option<SessionEnd>, StoreError> {
        let hash = token_hash.to_owned();
        self.query(move |conn| {
            let raw: Option<String> = conn
                .query_row(
                    "SELECT data FROM session_revocations WHERE token_hash = ?1",
                    [hash],
                    |r| r.get(0),
                )
                .optional()?;
            raw.map(|r| serde_json::from_str(&r).map_err(|e| StoreError::Corrupt(e.to_string())))
                .transpose()
        })
        .await
    }

    async fn due_sessions(&self, now: UnixMillis) -> Result<Vec<DeviceSession>, StoreError> {
        self.query(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT data FROM device_sessions WHERE expires_at IS NOT NULL AND expires_at <= ?1",
            )?;
            let rows = stmt.query_map(params![millis(now)], |r| r.get::<_, String>(0))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(decode_session(&row?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn meta(&self, key: &str) -> Result<Option<String>, StoreError> {
        let key = key.to_owned();
        self.query(move |conn| {
            conn.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
                .map_err(Into::into)
        })
        .await
    }

    async fn set_meta(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.query(move |conn| {
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

/// The data directory holds app secrets: it is `0700` and the database files
/// `0600` (SQLite gives its `-wal` and `-shm` files the database's mode). A
/// directory an older version left open to others is tightened, and that is logged.
#[cfg(unix)]
fn make_private(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let tighten = |path: &Path, mode: u32| -> std::io::Result<()> {
        let current = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if current != mode {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
            tracing::info!(path = %path.display(), from = format!("{current:o}"), to = format!("{mode:o}"), "made private");
        }
        Ok(())
    };
    tighten(dir, 0o700)?;
    let db = dir.join(DB_FILE);
    if !db.exists() {
        // Created private, so it is never readable by others even for a moment.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&db)?;
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let ours = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(DB_FILE));
        if ours {
            tighten(&path, 0o600)?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn make_private(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

fn millis(at: UnixMillis) -> i64 {
    i64::try_from(at).unwrap_or(i64::MAX)
}

fn json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode_session(raw: &str) -> Result<DeviceSession, StoreError> {
    serde_json::from_str(raw).map_err(|e| StoreError::Corrupt(format!("a device session: {e}")))
}

fn read_session(
    conn: &Connection,
    k: &(String, String, String),
) -> Result<Option<DeviceSession>, StoreError> {
    let raw: Option<String> = conn
        .query_row(
            "SELECT data FROM device_sessions WHERE app_key = ?1 AND account = ?2 AND device_id = ?3",
            params![k.0, k.1, k.2],
            |r| r.get(0),
        )
        .optional()?;
    raw.map(|r| decode_session(&r)).transpose()
}

fn write_session(conn: &Connection, session: &DeviceSession) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO device_sessions (app_key, account, device_id, data, expires_at) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (app_key, account, device_id) DO UPDATE SET data = ?4, expires_at = ?5",
        params![
            session.app_key,
            session.account,
            session.device.device_id,
            json(session)?,
            session.expires_at.map(millis),
        ],
    )?;
    Ok(())
}

/// A policy as stored: its JSON.
fn policy_json(policy: &DevicePolicy) -> String {
    // A policy is plain data: encoding it cannot fail.
    serde_json::to_string(policy).unwrap_or_default()
}

fn load_apps(conn: &Connection) -> Result<Apps, StoreError> {
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

fn load_flags(conn: &Connection) -> Result<Flags, StoreError> {
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
            let e = Arc::new(e);
            for (_, _, reply) in swaps.drain(..) {
                let _ = reply.send(Err(StoreError::Sqlite(e.clone())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{AccountFlags, App, Store, StoreError};
    use crate::policy::DevicePolicy;
    use crate::secret::AppSecret;
    use std::sync::Arc;

    fn app(key: &str) -> App {
        App {
            app_key: key.into(),
            name: "Test".into(),
            secret: AppSecret::new("s"),
            policy: DevicePolicy::default(),
            created_at: 1,
        }
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn the_data_is_private_to_the_gateway() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| {
            std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
        };
        let parent = tempfile::tempdir().expect("tempdir");
        // A fresh directory is created private.
        let fresh = parent.path().join("fresh");
        let store = Store::open(&fresh).expect("open");
        store.set_meta("k", "v").await.expect("write");
        assert_eq!(mode(&fresh), 0o700);
        for entry in std::fs::read_dir(&fresh).expect("list") {
            let path = entry.expect("entry").path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
        drop(store);
        // An existing one left open to others is tightened at start.
        let old = parent.path().join("old");
        drop(Store::open(&old).expect("create"));
        std::fs::set_permissions(&old, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let db = old.join(super::DB_FILE);
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        drop(Store::open(&old).expect("reopen"));
        assert_eq!(mode(&old), 0o700);
        assert_eq!(mode(&db), 0o600);
    }

    #[tokio::test]
    async fn flags_change_one_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path()).expect("open"));
        // Ban and disable at once, many times over: neither undoes the other.
        for round in 0..20 {
            let account = format!("acc-{round}");
            let (a, b) = tokio::join!(
                store.set_flag("k", &account, super::super::Flag::Banned, true),
                store.set_flag("k", &account, super::super::Flag::Disabled, true),
            );
            a.expect("ban");
            b.expect("disable");
            let flags = store.flags("k", &account);
            assert!(flags.banned && flags.disabled, "round {round}: {flags:?}");
            let after = store
                .set_flag("k", &account, super::super::Flag::Disabled, false)
                .await
                .expect("enable");
            assert!(after.banned && !after.disabled, "round {round}: {after:?}");
        }
        drop(store);
        let store = Store::open(dir.path()).expect("reopen");
        assert!(store.flags("k", "acc-3").banned);
        assert!(!store.flags("k", "acc-3").disabled);
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
            let flags = store
                .set_flag("k1", "bob", super::super::Flag::Banned, true)
                .await
                .expect("flags");
            assert_eq!(
                flags,
                AccountFlags {
                    banned: true,
                    disabled: false
                }
            );
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
