//! One test suite for both session registries: every test runs against the
//! in-memory registry, against two Redis-backed nodes sharing a real
//! `redis-server` (so cross-node delivery is exercised too), and against two
//! nodes on a real Redis Cluster (three primaries, three replicas).

use std::sync::Arc;
use std::time::Duration;

use vestibule_gateway::RedisTarget;
use vestibule_gateway::policy::DevicePolicy;
use vestibule_gateway::registry::{
    Mailbox, MemoryRegistry, NewSession, RedisRegistry, SessionKey, SessionMsg, SessionRegistry,
};
use vestibule_protocol::{Code, DeviceInfo, DeviceType, KickReason};
use vestibule_testkit::{RedisCluster, RedisServer};

#[derive(Clone, Copy, Debug)]
enum Backend {
    Memory,
    Redis,
    Cluster,
}

/// Two "nodes": the same registry twice in memory, two registries on one Redis.
struct Nodes {
    a: Arc<dyn SessionRegistry>,
    b: Arc<dyn SessionRegistry>,
    _redis: Option<RedisServer>,
    _cluster: Option<RedisCluster>,
}

async fn nodes(backend: Backend) -> Nodes {
    match backend {
        Backend::Memory => {
            let registry: Arc<dyn SessionRegistry> = Arc::new(MemoryRegistry::new());
            Nodes {
                a: registry.clone(),
                b: registry,
                _redis: None,
                _cluster: None,
            }
        }
        Backend::Redis => {
            let redis = RedisServer::start().expect("redis-server");
            let a = RedisRegistry::connect(&redis.url(), "node-a")
                .await
                .expect("node a");
            let b = RedisRegistry::connect(&redis.url(), "node-b")
                .await
                .expect("node b");
            Nodes {
                a: Arc::new(a),
                b: Arc::new(b),
                _redis: Some(redis),
                _cluster: None,
            }
        }
        Backend::Cluster => {
            let cluster = RedisCluster::start().expect("redis cluster");
            let target = RedisTarget::Cluster(cluster.urls());
            let a = RedisRegistry::connect(target.clone(), "node-a")
                .await
                .expect("node a");
            let b = RedisRegistry::connect(target, "node-b")
                .await
                .expect("node b");
            Nodes {
                a: Arc::new(a),
                b: Arc::new(b),
                _redis: None,
                _cluster: Some(cluster),
            }
        }
    }
}

struct Session {
    key: SessionKey,
    rx: Mailbox,
    new: NewSession,
}

fn session(account: &str, device_id: &str, device_type: DeviceType, n: u64) -> Session {
    let rx = Mailbox::new();
    let tx = rx.clone();
    let key = SessionKey {
        app_key: "demo".into(),
        account: account.into(),
        connection_id: format!("conn-{device_id}-{n}"),
    };
    let new = NewSession {
        key: key.clone(),
        device: DeviceInfo {
            device_id: device_id.into(),
            device_type,
            os: format!("{device_type} OS"),
            mac: None,
            custom_tag: None,
        },
        ip: "127.0.0.1".into(),
        login_time: 1_000_000 + n,
        mailbox: tx,
        client: vestibule_protocol::ClientInfo {
            name: "suite".into(),
            version: "0".into(),
        },
        created_at: 1_000_000 + n,
        takeover: false,
    };
    Session { key, rx, new }
}

async fn next(rx: &mut Mailbox) -> SessionMsg {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a message within 5 s")
}

async fn quiet(rx: &mut Mailbox) {
    if let Ok(msg) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
        panic!("expected no message, got {msg:?}");
    }
}

fn ids(list: &vestibule_gateway::registry::DeviceList) -> Vec<String> {
    let mut ids: Vec<String> = list.devices.iter().map(|d| d.device_id.clone()).collect();
    ids.sort();
    ids
}

fn policy(json: serde_json::Value) -> DevicePolicy {
    DevicePolicy::from_json(json).expect("policy")
}

async fn pushes_carry_the_full_list_and_rising_revs(backend: Backend) {
    let n = nodes(backend).await;
    let p = DevicePolicy::default();
    let mut s1 = session("alice", "pc", DeviceType::Pc, 1);
    let g1 = n.a.login(&p, s1.new.clone()).await.expect("login 1");
    let s2 = session("alice", "phone", DeviceType::Ios, 2);
    let g2 = n.b.login(&p, s2.new.clone()).await.expect("login 2");
    assert!(g2.devices.rev > g1.devices.rev);
    assert_eq!(ids(&g2.devices), ["pc", "phone"]);
    let SessionMsg::Devices(list) = next(&mut s1.rx).await else {
        panic!("expected devices")
    };
    assert_eq!(
        list.rev, g2.devices.rev,
        "the push carries the rev of the change"
    );
    assert_eq!(ids(&list), ["pc", "phone"]);
    for node in [&n.a, &n.b] {
        let seen = node.devices("demo", "alice").await;
        assert_eq!((ids(&seen), seen.rev), (ids(&g2.devices), g2.devices.rev));
    }
    assert_eq!(
        n.a.local_sessions() + n.b.local_sessions(),
        match backend {
            Backend::Memory => 4,
            Backend::Redis | Backend::Cluster => 2,
        }
    );
}

async fn a_conflicting_login_kicks_the_old_session_with_by(backend: Backend) {
    let n = nodes(backend).await;
    let p = DevicePolicy::default();
    let mut old = session("alice", "pc-1", DeviceType::Pc, 1);
    n.a.login(&p, old.new.clone()).await.expect("old");
    let new = session("alice", "pc-2", DeviceType::Pc, 2);
    let granted = n.b.login(&p, new.new.clone()).await.expect("new");
    assert_eq!(granted.evicted, 1);
    assert_eq!(ids(&granted.devices), ["pc-2"]);
    let SessionMsg::Kicked(notice) = next(&mut old.rx).await else {
        panic!("expected a kick")
    };
    assert_eq!(notice.reason, KickReason::LoginElsewhere);
    assert_eq!(
        notice.by.as_ref().map(|b| b.device_id.as_str()),
        Some("pc-2")
    );
}

async fn reject_new_refuses_and_leaves_the_old_session_alone(backend: Backend) {
    let n = nodes(backend).await;
    let p = policy(serde_json::json!({"mode": "perType", "onConflict": "rejectNew"}));
    let mut old = session("alice", "pc-1", DeviceType::Pc, 1);
    n.a.login(&p, old.new.clone()).await.expect("old");
    let refused =
        n.b.login(&p, session("alice", "pc-2", DeviceType::Pc, 2).new)
            .await
            .expect_err("refused");
    assert_eq!(refused.code, Code::DuplicateLogin);
    quiet(&mut old.rx).await;
    assert_eq!(ids(&*n.b.devices("demo", "alice").await), ["pc-1"]);
}

async fn the_same_device_is_replaced_silently(backend: Backend) {
    let n = nodes(backend).await;
    let p = DevicePolicy::default();
    let mut first = session("alice", "pc", DeviceType::Pc, 1);
    n.a.login(&p, first.new.clone()).await.expect("first");
    let mut observer = session("alice", "phone", DeviceType::Ios, 2);
    n.b.login(&p, observer.new.clone()).await.expect("observer");
    let _ = next(&mut first.rx).await; // the observer's arrival
    let again = session("alice", "pc", DeviceType::Pc, 3);
    let granted = n.b.login(&p, again.new.clone()).await.expect("again");
    assert!(granted.repeat_login);
    assert!(matches!(next(&mut first.rx).await, SessionMsg::Replaced));
    let SessionMsg::Devices(list) = next(&mut observer.rx).await else {
        panic!("expected devices")
    };
    assert_eq!(
        ids(&list),
        ["pc", "phone"],
        "no flap: the device never leaves the list"
    );
    let pc = list
        .devices
        .iter()
        .find(|d| d.device_id == "pc")
        .expect("pc");
    assert_eq!(pc.connection_id, again.key.connection_id);
    quiet(&mut observer.rx).await;
}

async fn remove_pushes_once_and_is_idempotent(backend: Backend) {
    let n = nodes(backend).await;
    let p = DevicePolicy::default();
    let mut stay = session("alice", "pc", DeviceType::Pc, 1);
    n.a.login(&p, stay.new.clone()).await.expect("stay");
    let leave = session("alice", "phone", DeviceType::Ios, 2);
    n.b.login(&p, leave.new.clone()).await.expect("leave");
    let _ = next(&mut stay.rx).await;
    assert!(n.b.remove(&leave.key).await);
    let SessionMsg::Devices(list) = next(&mut stay.rx).await else {
        panic!("expected devices")
    };
    assert_eq!(ids(&list), ["pc"]);
    assert!(!n.b.remove(&leave.key).await);
    quiet(&mut stay.rx).await;
}

async fn a_device_kicks_another_by_id(backend: Backend) {
    let n = nodes(backend).await;
    let p = DevicePolicy::default();
    let kicker = session("alice", "pc", DeviceType::Pc, 1);
    n.a.login(&p, kicker.new.clone()).await.expect("kicker");
    let mut target = session("alice", "phone", DeviceType::Ios, 2);
    n.b.login(&p, target.new.clone()).await.expect("target");
    let ask = ["phone", "ghost", "pc", "phone"].map(String::from);
    let outcome = n.a.kick(&kicker.key, &ask, None).await.expect("kick");
    assert_eq!(outcome.kicked, ["phone"]);
    assert_eq!(outcome.not_found, ["ghost", "pc"]);
    let SessionMsg::Kicked(notice) = next(&mut target.rx).await else {
        panic!("expected a kick")
    };
    assert_eq!(notice.reason, KickReason::ByDevice);
    assert_eq!(notice.by.as_ref().map(|b| b.device_id.as_str()), Some("pc"));
    assert_eq!(ids(&*n.b.devices("demo", "alice").await), ["pc"]);
    // A session too young for the guard may not kick.
    let young = session("alice", "tab", DeviceType::Web, 9);
    let mut young_new = young.new.clone();
    young_new.login_time = vestibule_gateway::clock::unix_millis();
    young_new.created_at = young_new.login_time;
    n.b.login(&p, young_new).await.expect("young");
    let refused =
        n.b.kick(&young.key, &["pc".into()], Some(Duration::from_secs(60)))
            .await;
    assert_eq!(refused, Err(Code::Forbidden));
}

async fn an_admin_kick_takes_the_whole_account(backend: Backend) {
    let n = nodes(backend).await;
    let p = DevicePolicy::default();
    let mut one = session("alice", "pc", DeviceType::Pc, 1);
    n.a.login(&p, one.new.clone()).await.expect("one");
    let mut two = session("alice", "phone", DeviceType::Ios, 2);
    n.b.login(&p, two.new.clone()).await.expect("two");
    let kicked =
        n.b.kick_account("demo", "alice", None, KickReason::Banned)
            .await
            .expect("the registry answers");
    assert_eq!(kicked, ["pc", "phone"], "login order");
    for rx in [&mut one.rx, &mut two.rx] {
        loop {
            match next(rx).await {
                SessionMsg::Kicked(notice) => {
                    assert_eq!(notice.reason, KickReason::Banned);
                    break;
                }
                SessionMsg::Devices(_) | SessionMsg::NewDevice(_) => {}
                SessionMsg::Replaced => panic!("replaced instead of kicked"),
            }
        }
    }
    assert!(n.a.devices("demo", "alice").await.devices.is_empty());
}

async fn the_policy_holds_when_logins_race(backend: Backend) {
    let n = nodes(backend).await;
    let p = DevicePolicy::default();
    let mut tasks = Vec::new();
    for i in 0..20u64 {
        let node = if i % 2 == 0 { n.a.clone() } else { n.b.clone() };
        let s = session("alice", &format!("pc-{i}"), DeviceType::Pc, i);
        tasks.push(tokio::spawn(async move {
            let rx = s.rx;
            let granted = node.login(&p, s.new).await.is_ok();
            (granted, rx)
        }));
    }
    let mut granted = 0;
    let mut receivers = Vec::new();
    for task in tasks {
        let (ok, rx) = task.await.expect("task");
        granted += usize::from(ok);
        receivers.push(rx);
    }
    assert_eq!(granted, 20, "kickOld admits every login");
    let list = n.a.devices("demo", "alice").await;
    assert_eq!(
        list.devices.len(),
        1,
        "exactly one PC survives: {:?}",
        ids(&list)
    );
    let survivor = list.devices[0].device_id.clone();
    // Every other one was told it was signed out by a newer login.
    let mut kicked = 0;
    for (i, mut rx) in receivers.into_iter().enumerate() {
        if format!("pc-{i}") == survivor {
            continue;
        }
        loop {
            match next(&mut rx).await {
                SessionMsg::Kicked(notice) => {
                    assert_eq!(notice.reason, KickReason::LoginElsewhere);
                    kicked += 1;
                    break;
                }
                SessionMsg::Devices(_) | SessionMsg::NewDevice(_) => {}
                SessionMsg::Replaced => panic!("replaced"),
            }
        }
    }
    assert_eq!(kicked, 19);
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Memory).await })*
        }
        mod redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Redis).await })*
        }
        mod redis_cluster {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Backend::Cluster).await })*
        }
    };
}

suite!(
    pushes_carry_the_full_list_and_rising_revs,
    a_conflicting_login_kicks_the_old_session_with_by,
    reject_new_refuses_and_leaves_the_old_session_alone,
    the_same_device_is_replaced_silently,
    remove_pushes_once_and_is_idempotent,
    a_device_kicks_another_by_id,
    an_admin_kick_takes_the_whole_account,
    the_policy_holds_when_logins_race,
);

#[tokio::test]
async fn an_admin_kick_that_cannot_reach_redis_says_so() {
    let redis = RedisServer::start().expect("redis-server");
    let registry = vestibule_gateway::registry::RedisRegistry::connect(&redis.url(), "lonely")
        .await
        .expect("connect");
    redis.kill();
    let kicked = registry
        .kick_account("demo", "alice", None, KickReason::Banned)
        .await;
    assert!(kicked.is_err(), "no Redis, yet the kick claims {kicked:?}");
}

/// A Redis-backed node `node` whose Redis traffic goes through a fault proxy.
async fn behind_proxy(node: &str) -> (RedisServer, vestibule_testkit::Proxy, RedisRegistry) {
    let redis = RedisServer::start().expect("redis-server");
    let redis_addr: std::net::SocketAddr = ([127, 0, 0, 1], redis.port()).into();
    let proxy = vestibule_testkit::Proxy::start(redis_addr)
        .await
        .expect("proxy");
    let registry = RedisRegistry::connect(format!("redis://{}", proxy.addr()), node)
        .await
        .expect("connect");
    (redis, proxy, registry)
}

/// A crowd of logins on a slow Redis waits its turn (a bounded number talk
/// to Redis at once); those that wait too long are told to come back later,
/// and Redis is never taken for unreachable because of the crowd.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_logins_queues_and_the_rest_are_told_to_come_back() {
    use vestibule_gateway::registry::redis::{
        BUSY_RETRY_AFTER, LOGIN_QUEUE_WAIT, LOGINS_IN_FLIGHT,
    };
    let (_redis, proxy, registry) = behind_proxy("slow").await;
    let registry = Arc::new(registry);
    // Each round trip now takes about half a second: a login's turn lasts a couple.
    proxy.set_mode(vestibule_testkit::Mode::Latency(Duration::from_millis(200)));
    let crowd = LOGINS_IN_FLIGHT * 4;
    let policy = DevicePolicy::default();
    let mut logins = Vec::new();
    for i in 0..crowd {
        let registry = registry.clone();
        logins.push(tokio::spawn(async move {
            let s = session(&format!("crowd{i}"), "pc", DeviceType::Pc, i as u64);
            registry.login(&policy, s.new).await.map(|_| ())
        }));
    }
    let (mut granted, mut busy) = (0, 0);
    for login in logins {
        match login.await.expect("login task") {
            Ok(()) => granted += 1,
            Err(refused) => {
                assert_eq!(refused.code, Code::Busy, "{refused:?}");
                assert_eq!(refused.retry_after, Some(BUSY_RETRY_AFTER));
                busy += 1;
            }
        }
    }
    println!("{granted} granted, {busy} told to come back after {LOGIN_QUEUE_WAIT:?}");
    assert!(
        granted >= LOGINS_IN_FLIGHT,
        "the first turns are granted: {granted}"
    );
    assert!(busy > 0, "waiting is bounded: all {crowd} were let through");
    assert!(registry.healthy(), "a crowd is not an outage");
}

/// A Redis that answers one login's write too late refuses that login (503,
/// come back in a second), not every login of the node: a timeout under a
/// crowd is not an outage (the heartbeat's renewals decide that). The late
/// write still lands in Redis; the node takes it out again at its next
/// heartbeat, so the refused device is not left listed online.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_whose_write_times_out_is_refused_alone_and_leaves_no_ghost() {
    use vestibule_gateway::registry::redis::BUSY_RETRY_AFTER;
    let (_redis, proxy, registry) = behind_proxy("late").await;
    let policy = DevicePolicy::default();
    // A first login loads the script into Redis, so a late EVALSHA runs.
    let carol = session("carol", "pc", DeviceType::Pc, 0);
    registry
        .login(&policy, carol.new)
        .await
        .map(|_| ())
        .expect("carol");
    // The login script (EVALSHA) now reaches Redis 2.5 s late: after the
    // client's 2 s timeout; reads and the heartbeat's commands pass.
    proxy.set_mode(vestibule_testkit::Mode::LatencyOn {
        pattern: b"EVALSHA",
        delay: Duration::from_millis(2500),
    });
    let alice = session("alice", "pc", DeviceType::Pc, 1);
    let refused = registry
        .login(&policy, alice.new)
        .await
        .map(|_| ())
        .expect_err("alice's write timed out");
    assert_eq!(refused.code, Code::Busy, "{refused:?}");
    assert_eq!(refused.retry_after, Some(BUSY_RETRY_AFTER), "{refused:?}");
    proxy.set_mode(vestibule_testkit::Mode::Forward);
    // The very next login is let in: the node was not taken for cut off.
    let bob = session("bob", "pc", DeviceType::Pc, 2);
    registry
        .login(&policy, bob.new)
        .await
        .map(|_| ())
        .expect("bob is let in right after");
    assert!(registry.healthy(), "one late answer is not an outage");
    // alice's late write landed; within a few heartbeats it is gone.
    let deadline = std::time::Instant::now() + vestibule_gateway::registry::redis::HEARTBEAT * 4;
    loop {
        let listed = ids(&*registry.devices("demo", "alice").await);
        if listed.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the refused login is still listed: {listed:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `/v1/lbs` lists the answering node first and the others in a fresh order
/// each time: the clients of a node that dies move on to "the next node" of
/// their lists, and those lists must not all name the same one (it would
/// take every client of the dead node at once).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lbs_names_the_other_nodes_in_a_different_order_for_different_clients() {
    let redis = RedisServer::start().expect("redis-server");
    let mut nodes = Vec::new();
    for i in 0..4 {
        let node = RedisRegistry::connect(&redis.url(), &format!("lbs-{i}"))
            .await
            .expect("node");
        node.advertise(&format!("ws://127.0.0.{}:7878/v1/ws", i + 1));
        nodes.push(node);
    }
    let a = &nodes[0];
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while a.live_nodes().await.expect("live nodes").len() < 4 {
        assert!(std::time::Instant::now() < deadline, "not all nodes listed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut orders = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let listed = a.live_nodes().await.expect("live nodes");
        assert_eq!(
            listed[0], "ws://127.0.0.1:7878/v1/ws",
            "the answering node first"
        );
        let mut rest = listed[1..].to_vec();
        orders.insert(rest.clone());
        rest.sort();
        assert_eq!(
            rest,
            [
                "ws://127.0.0.2:7878/v1/ws",
                "ws://127.0.0.3:7878/v1/ws",
                "ws://127.0.0.4:7878/v1/ws"
            ]
        );
    }
    assert!(orders.len() > 1, "40 answers, one order: {orders:?}");
}

/// The node's upkeep (re-registering its sessions, settling doubtful ones,
/// purging dead nodes) can take long on a busy Redis; the lease is renewed
/// on time all the same, or the other nodes would take this live node for
/// dead and purge its sessions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_reconcile_does_not_let_the_lease_lapse() {
    let (redis, proxy, registry) = behind_proxy("long").await;
    let policy = DevicePolicy::default();
    let mut held = Vec::new();
    for i in 0..16 {
        let s = session(&format!("long{i}"), "pc", DeviceType::Pc, i);
        registry
            .login(&policy, s.new)
            .await
            .map(|_| ())
            .expect("login");
        held.push(s.rx);
    }
    let cli = |args: &[&str]| {
        let out = std::process::Command::new("redis-cli")
            .args(["-p", &redis.port().to_string()])
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    // Every account read now takes at least a second; the renewal's
    // commands do not read accounts.
    proxy.set_mode(vestibule_testkit::Mode::LatencyOn {
        pattern: b"HGETALL",
        delay: Duration::from_secs(1),
    });
    // As if a survivor had purged this node: its next renewal finds the
    // mark and re-registers the 16 sessions, one account read after another.
    cli(&["SET", "{vst}:reaped:long", "other"]);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while cli(&["EXISTS", "{vst}:reaped:long"]) != "0" {
        assert!(
            std::time::Instant::now() < deadline,
            "no renewal took the mark"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let watch = std::time::Instant::now();
    while watch.elapsed() < Duration::from_secs(12) {
        let ttl: i64 = cli(&["PTTL", "{vst}:lease:long"]).parse().unwrap_or(-2);
        assert!(
            ttl > 0,
            "the lease lapsed {:.1} s into the re-registration",
            watch.elapsed().as_secs_f64()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    proxy.set_mode(vestibule_testkit::Mode::Forward);
}
