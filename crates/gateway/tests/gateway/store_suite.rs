//! One test suite for the device sessions of every store backend: in memory,
//! SQLite (the embedded store of a data directory), and Redis (clusters).

use vestibule_gateway::sessions::{DeviceSession, hash_session_token, new_session_token};
use vestibule_gateway::store::{SessionChange, Store};
use vestibule_protocol::{ClientInfo, DeviceInfo, DeviceType, EndReason, KickedBy, SessionEnd};
use vestibule_testkit::{RedisCluster, RedisServer};

const DAY: u64 = 24 * 3600 * 1000;

#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Sqlite,
    Redis,
    Cluster,
}

/// A store, and what keeps it alive (a data directory, a Redis server).
struct Opened {
    store: Store,
    _dir: Option<tempfile::TempDir>,
    _redis: Option<RedisServer>,
    _cluster: Option<RedisCluster>,
}

async fn open(backend: Backend) -> Opened {
    match backend {
        Backend::Memory => Opened {
            store: Store::memory(),
            _dir: None,
            _redis: None,
            _cluster: None,
        },
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("tempdir");
            Opened {
                store: Store::open(dir.path()).expect("sqlite store"),
                _dir: Some(dir),
                _redis: None,
                _cluster: None,
            }
        }
        Backend::Redis => {
            let redis = RedisServer::start().expect("redis-server");
            Opened {
                store: Store::redis(&redis.url()).await.expect("redis store"),
                _dir: None,
                _redis: Some(redis),
                _cluster: None,
            }
        }
        Backend::Cluster => {
            let cluster = RedisCluster::start().expect("redis cluster");
            Opened {
                store: Store::redis(vestibule_gateway::RedisTarget::Cluster(cluster.urls()))
                    .await
                    .expect("redis cluster store"),
                _dir: None,
                _redis: None,
                _cluster: Some(cluster),
            }
        }
    }
}

fn record(account: &str, device_id: &str, at: u64) -> (DeviceSession, vestibule_protocol::Token) {
    let (token, token_hash) = new_session_token();
    let session = DeviceSession {
        app_key: "demo".into(),
        account: account.into(),
        device: DeviceInfo {
            device_id: device_id.into(),
            device_type: DeviceType::Pc,
            os: "Debian 12".into(),
            mac: None,
            custom_tag: Some("desk".into()),
        },
        client: ClientInfo {
            name: "suite".into(),
            version: "1".into(),
        },
        name: None,
        created_at: at,
        last_active_at: at,
        last_login_at: at,
        last_ip: "192.0.2.1".into(),
        token_hash,
        token_expires_at: None,
        expires_at: None,
    }
    .with_expiry(30);
    (session, token)
}

async fn sessions_are_kept_listed_and_changed_in_place(backend: Backend) {
    let o = open(backend).await;
    let s = &o.store;
    assert_eq!(s.session("demo", "alice", "pc").await.expect("read"), None);
    let (pc, _) = record("alice", "pc", 1_000);
    let (phone, _) = record("alice", "phone", 2_000);
    let (bobs, _) = record("bob", "pc", 3_000);
    for r in [&pc, &phone, &bobs] {
        s.put_session(r).await.expect("put");
    }
    assert_eq!(
        s.session("demo", "alice", "pc")
            .await
            .expect("read")
            .as_ref(),
        Some(&pc)
    );
    let mut ids: Vec<String> = s
        .sessions("demo", "alice")
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.device.device_id)
        .collect();
    ids.sort();
    assert_eq!(ids, ["pc", "phone"], "an account's sessions, no one else's");

    let renamed = s
        .update_session(
            "demo",
            "alice",
            "pc",
            &SessionChange::Rename {
                name: "Work laptop".into(),
            },
        )
        .await
        .expect("rename");
    assert_eq!(renamed.and_then(|r| r.name).as_deref(), Some("Work laptop"));
    let active = s
        .update_session(
            "demo",
            "alice",
            "pc",
            &SessionChange::Active {
                at: 5 * DAY,
                ip: Some("198.51.100.7".into()),
                login: true,
                idle_days: 30,
            },
        )
        .await
        .expect("active")
        .expect("still there");
    assert_eq!(active.last_active_at, 5 * DAY);
    assert_eq!(active.last_login_at, 5 * DAY);
    assert_eq!(active.last_ip, "198.51.100.7");
    assert_eq!(
        active.expires_at,
        Some(35 * DAY),
        "idle days count from the last activity"
    );
    assert_eq!(
        active.name.as_deref(),
        Some("Work laptop"),
        "a change keeps the rest"
    );
    let expiring = s
        .update_session(
            "demo",
            "alice",
            "pc",
            &SessionChange::TokenExpiry {
                expires_at: Some(6 * DAY),
                idle_days: 30,
            },
        )
        .await
        .expect("expiry")
        .expect("still there");
    assert_eq!(expiring.expires_at, Some(6 * DAY), "the earlier of the two");
    assert_eq!(
        s.update_session(
            "demo",
            "alice",
            "nope",
            &SessionChange::Rename { name: "x".into() }
        )
        .await
        .expect("no such session"),
        None
    );
}

async fn an_ended_session_is_gone_and_its_token_says_how(backend: Backend) {
    let o = open(backend).await;
    let s = &o.store;
    let (pc, token) = record("alice", "pc", 1_000);
    s.put_session(&pc).await.expect("put");
    let end = SessionEnd {
        reason: EndReason::ByDevice,
        by: Some(KickedBy {
            device_id: "phone".into(),
            device_type: DeviceType::Ios,
            os: "iOS 17.5".into(),
            ip: "203.0.113.24".into(),
        }),
        at: 9_000,
    };
    let ended = s
        .end_session("demo", "alice", "pc", &end)
        .await
        .expect("end");
    assert_eq!(ended.map(|r| r.token_hash), Some(pc.token_hash.clone()));
    assert_eq!(s.session("demo", "alice", "pc").await.expect("read"), None);
    assert_eq!(
        s.revocation(&hash_session_token(&token))
            .await
            .expect("read"),
        Some(end.clone())
    );
    // Ending it twice changes nothing; an unknown hash has no record.
    assert_eq!(
        s.end_session("demo", "alice", "pc", &end)
            .await
            .expect("again"),
        None
    );
    assert_eq!(
        s.revocation("0".repeat(64).as_str()).await.expect("read"),
        None
    );
}

async fn a_new_sign_in_of_the_same_device_replaces_its_session(backend: Backend) {
    let o = open(backend).await;
    let s = &o.store;
    let (first, old_token) = record("alice", "pc", 1_000);
    s.put_session(&first).await.expect("put");
    let (second, _) = record("alice", "pc", 2_000);
    s.put_session(&second).await.expect("put again");
    assert_eq!(
        s.session("demo", "alice", "pc").await.expect("read"),
        Some(second)
    );
    let end = s
        .revocation(&hash_session_token(&old_token))
        .await
        .expect("read")
        .expect("the old token has a record");
    assert_eq!(end.reason, EndReason::SignedInAgain);
    assert_eq!(s.sessions("demo", "alice").await.expect("list").len(), 1);
}

async fn due_sessions_are_those_past_their_expiry(backend: Backend) {
    let o = open(backend).await;
    let s = &o.store;
    let (old, _) = record("alice", "old", 0);
    let (recent, _) = record("alice", "recent", 20 * DAY);
    let (mut forever, _) = record("bob", "forever", 0);
    forever = forever.with_expiry(0);
    assert_eq!(forever.expires_at, None);
    for r in [&old, &recent, &forever] {
        s.put_session(r).await.expect("put");
    }
    let due = |now| async move {
        let mut ids: Vec<String> = s
            .due_sessions(now)
            .await
            .expect("due")
            .into_iter()
            .map(|r| r.device.device_id)
            .collect();
        ids.sort();
        ids
    };
    assert!(due(29 * DAY).await.is_empty());
    assert_eq!(due(30 * DAY).await, ["old"]);
    assert_eq!(
        due(400 * DAY).await,
        ["old", "recent"],
        "never the one without expiry"
    );
    // Activity moves a session's expiry.
    s.update_session(
        "demo",
        "alice",
        "old",
        &SessionChange::Active {
            at: 40 * DAY,
            ip: None,
            login: false,
            idle_days: 30,
        },
    )
    .await
    .expect("active");
    assert_eq!(due(60 * DAY).await, ["recent"]);
    // An ended one is never due again.
    s.end_session(
        "demo",
        "alice",
        "recent",
        &SessionEnd {
            reason: EndReason::Idle,
            by: None,
            at: 50 * DAY,
        },
    )
    .await
    .expect("end");
    assert!(due(60 * DAY).await.is_empty());
    // Due at its new expiry (the listing may be early, never late).
    assert_eq!(due(70 * DAY).await, ["old"]);
    // An idle limit that shortens brings the expiry forward: due then, not at the old one.
    let (short, _) = record("carol", "short", 100 * DAY);
    s.put_session(&short).await.expect("put");
    s.update_session(
        "demo",
        "carol",
        "short",
        &SessionChange::Active {
            at: 101 * DAY,
            ip: None,
            login: false,
            idle_days: 2,
        },
    )
    .await
    .expect("active");
    assert_eq!(due(104 * DAY).await, ["old", "short"]);
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $name() { super::$name(super::Backend::Memory).await })*
        }
        mod sqlite {
            $(#[tokio::test]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod redis {
            $(#[tokio::test]
            async fn $name() { super::$name(super::Backend::Redis).await })*
        }
        mod redis_cluster {
            $(#[tokio::test]
            async fn $name() { super::$name(super::Backend::Cluster).await })*
        }
    };
}

suite!(
    sessions_are_kept_listed_and_changed_in_place,
    an_ended_session_is_gone_and_its_token_says_how,
    a_new_sign_in_of_the_same_device_replaces_its_session,
    due_sessions_are_those_past_their_expiry,
);

#[tokio::test]
async fn sqlite_sessions_survive_a_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (pc, token) = record("alice", "pc", 1_000);
    let (gone, gone_token) = record("alice", "gone", 1_000);
    {
        let store = Store::open(dir.path()).expect("open");
        store.put_session(&pc).await.expect("put");
        store.put_session(&gone).await.expect("put");
        let end = SessionEnd {
            reason: EndReason::Admin,
            by: None,
            at: 5,
        };
        store
            .end_session("demo", "alice", "gone", &end)
            .await
            .expect("end");
    }
    let store = Store::open(dir.path()).expect("reopen");
    let back = store
        .session("demo", "alice", "pc")
        .await
        .expect("read")
        .expect("kept");
    assert!(vestibule_gateway::sessions::token_matches(
        &token,
        &back.token_hash
    ));
    assert_eq!(
        store
            .revocation(&hash_session_token(&gone_token))
            .await
            .expect("read")
            .map(|e| e.reason),
        Some(EndReason::Admin)
    );
}
