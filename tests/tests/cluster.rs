//! A gateway cluster: real `vestibule-gateway` processes sharing a real
//! `redis-server`, driven by the real CLI and by the client library.

use std::time::{Duration, Instant};

use serde_json::Value;
use vestibule_client::{
    ClientOptions, DeviceType, DisconnectReason, KickReason, Status, Vestibule,
};
use vestibule_e2e::{GatewayProc, Proc, cli, token};
use vestibule_testkit::RedisServer;

const WAIT: Duration = Duration::from_secs(30);

async fn devices(node: &GatewayProc, account: &str) -> (Vec<String>, u64) {
    node.online_devices(account).await
}

async fn until_devices(node: &GatewayProc, account: &str, want: &[&str]) -> Duration {
    node.until_online(account, want, WAIT).await
}

fn options(url: &str, account: &str, device_id: &str, device_type: DeviceType) -> ClientOptions {
    let mut options = ClientOptions::new(url, "demo", account, token(account), device_id);
    options.device.device_type = device_type;
    options.auto_connect = false;
    options
}

async fn wait_status(client: &vestibule_client::Client, want: Status) {
    let mut watch = client.watch();
    let ok = tokio::time::timeout(WAIT, async {
        loop {
            if watch.borrow_and_update().status == want {
                return;
            }
            if watch.changed().await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(
        ok.is_ok(),
        "status stayed {:?}, wanted {want:?}",
        client.snapshot().status
    );
}

async fn login_json(node: &GatewayProc, account: &str, device_id: &str, device_type: &str) -> Proc {
    let mut proc = Proc::spawn(cli(
        node,
        account,
        &[
            "login",
            "--json",
            "--device-id",
            device_id,
            "--device-type",
            device_type,
        ],
    ));
    proc.line_where(WAIT, |l| l.contains("\"type\":\"ready\""))
        .await;
    proc
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_crosses_nodes_and_every_node_sees_the_same_list() {
    let redis = RedisServer::start().expect("redis-server");
    let n1 = GatewayProc::node(&redis.url(), "n1").await;
    let n2 = GatewayProc::node(&redis.url(), "n2").await;
    let n3 = GatewayProc::node(&redis.url(), "n3").await;

    let mut desk = login_json(&n1, "alice", "desk", "PC").await;
    let mut phone = login_json(&n2, "alice", "phone", "iOS").await;
    let tab = login_json(&n3, "alice", "tab", "Web").await;
    // The last login's push reaches the other two nodes with one rev.
    let rev_of = |line: &str| {
        serde_json::from_str::<Value>(line)
            .ok()
            .and_then(|v| v["rev"].as_u64())
    };
    let on_desk = desk
        .line_where(WAIT, |l| {
            l.contains("devicesChanged") && l.contains("\"tab\"")
        })
        .await;
    let on_phone = phone
        .line_where(WAIT, |l| {
            l.contains("devicesChanged") && l.contains("\"tab\"")
        })
        .await;
    let (_, admin_rev) = devices(&n3, "alice").await;
    assert_eq!(rev_of(&on_desk), Some(admin_rev));
    assert_eq!(rev_of(&on_phone), Some(admin_rev));
    for node in [&n1, &n2, &n3] {
        assert_eq!(devices(node, "alice").await.0, ["desk", "phone", "tab"]);
    }

    // A device on node 1 kicks the phone on node 2.
    let started = Instant::now();
    let out = cli(
        &n1,
        "alice",
        &[
            "kick",
            "--device-id",
            "kicker",
            "--device-type",
            "Android",
            "phone",
        ],
    )
    .output()
    .await
    .expect("kick");
    assert!(out.status.success());
    let kicked = phone
        .line_where(WAIT, |l| l.contains("\"type\":\"disconnected\""))
        .await;
    println!(
        "cross-node kick, CLI start to kicked frame: {} ms",
        started.elapsed().as_millis()
    );
    let kicked: Value = serde_json::from_str(&kicked).expect("json");
    assert_eq!(kicked["info"]["reason"]["reason"], "byDevice");
    assert_eq!(kicked["info"]["by"]["deviceId"], "kicker");
    assert_eq!(phone.exit_code(WAIT).await, 4);
    desk.line_where(WAIT, |l| {
        l.contains("devicesChanged") && !l.contains("\"phone\"") && !l.contains("kicker")
    })
    .await;
    assert_eq!(devices(&n2, "alice").await.0, ["desk", "tab"]);
    tab.signal_terminate();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_logins_on_two_nodes_leave_exactly_one_survivor() {
    let redis = RedisServer::start().expect("redis-server");
    let n1 = GatewayProc::node(&redis.url(), "n1").await;
    let n2 = GatewayProc::node(&redis.url(), "n2").await;
    for round in 0..50 {
        let account = format!("racer-{round}");
        let a = Vestibule::new()
            .instance(options(&n1.url, &account, "pc-a", DeviceType::Pc))
            .expect("a");
        let b = Vestibule::new()
            .instance(options(&n2.url, &account, "pc-b", DeviceType::Pc))
            .expect("b");
        a.connect();
        b.connect();
        // Both are admitted (kickOld); the one that committed first is signed out.
        let deadline = Instant::now() + WAIT;
        let (winner, loser) = loop {
            let (sa, sb) = (a.snapshot().status, b.snapshot().status);
            match (sa, sb) {
                (Status::Connected, Status::SignedOut) => break (&a, &b),
                (Status::SignedOut, Status::Connected) => break (&b, &a),
                _ => {}
            }
            assert!(Instant::now() < deadline, "round {round}: {sa:?} / {sb:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let last = loser.snapshot().last_disconnect.expect("why");
        assert_eq!(
            last.reason,
            DisconnectReason::Kicked {
                reason: KickReason::LoginElsewhere
            },
            "round {round}"
        );
        let by = last.by.expect("by");
        assert_eq!(by.device_id, winner.snapshot().device_id, "round {round}");
        let (ids, _) = devices(&n1, &account).await;
        assert_eq!(
            ids,
            [winner.snapshot().device_id],
            "round {round}: exactly one survivor"
        );
        winner.destroy().await.expect("destroy");
        loser.destroy().await.expect("destroy");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_leaves_no_ghosts() {
    let redis = RedisServer::start().expect("redis-server");
    let n1 = GatewayProc::node(&redis.url(), "n1").await;
    let n2 = GatewayProc::node(&redis.url(), "n2").await;
    let _doomed = login_json(&n1, "alice", "on-n1", "PC").await;
    let mut survivor = login_json(&n2, "alice", "on-n2", "iOS").await;
    assert!(
        survivor
            .seen
            .iter()
            .any(|l| l.contains("devicesChanged") && l.contains("on-n1"))
    );
    assert_eq!(devices(&n2, "alice").await.0, ["on-n1", "on-n2"]);

    n1.kill9().await;
    let gone = until_devices(&n2, "alice", &["on-n2"]).await;
    println!("ghost removed {} ms after kill -9", gone.as_millis());
    assert!(
        gone <= Duration::from_secs(15),
        "the dead node's device lingered {gone:?}"
    );
    // The survivor is told: on-n1 is still signed in, offline now.
    let push = survivor
        .line_where(WAIT, |l| {
            l.contains("devicesChanged") && l.contains("\"online\":false")
        })
        .await;
    let push: Value = serde_json::from_str(&push).expect("json");
    let on_n1 = push["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["deviceId"] == "on-n1")
        .cloned()
        .expect("still listed");
    assert_eq!(on_n1["online"], false);
    assert_eq!(on_n1["connectionId"], "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_keeps_sessions_and_the_registry_comes_back_whole() {
    let redis = RedisServer::start().expect("redis-server");
    let port = redis.port();
    let url = redis.url();
    let n1 = GatewayProc::node(&url, "n1").await;
    let n2 = GatewayProc::node(&url, "n2").await;
    let a = Vestibule::new()
        .instance(options(&n1.url, "alice", "desk", DeviceType::Pc))
        .expect("a");
    let b = Vestibule::new()
        .instance(options(&n2.url, "alice", "phone", DeviceType::Ios))
        .expect("b");
    a.connect();
    b.connect();
    a.ready(WAIT).await.expect("a logs in");
    b.ready(WAIT).await.expect("b logs in");

    redis.kill();
    // /healthz says so within a heartbeat, so a load balancer stops sending logins here.
    let degraded = async {
        loop {
            let health = reqwest::get(format!("{}/healthz", n1.http()))
                .await
                .expect("healthz");
            if health.status() == 503 {
                return health.json::<serde_json::Value>().await.expect("json");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let body = tokio::time::timeout(WAIT, degraded)
        .await
        .expect("/healthz reports the outage");
    assert_eq!(body["status"], "degraded", "{body}");
    assert_eq!(body["registry"], "unreachable", "{body}");
    // Connected sessions stay up; a new login is told to back off (503) and retries.
    let c = Vestibule::new()
        .instance(options(&n1.url, "alice", "tab", DeviceType::Web))
        .expect("c");
    let mut events = c.subscribe();
    c.connect();
    let (refused, retry) = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(vestibule_client::Event::WillReconnect { delay, .. }) = events.recv().await {
                return (c.snapshot().last_disconnect, delay);
            }
        }
    })
    .await
    .expect("a refusal while Redis is down");
    let refused = refused.expect("recorded");
    assert_eq!(refused.code, Some(503), "{refused:?}");
    // The refusal says how long to wait (the client's own first backoff is shorter).
    assert!(
        retry >= Duration::from_millis(1_500),
        "the gateway's retryAfterMs is honoured: {retry:?}"
    );
    assert_eq!(a.snapshot().status, Status::Connected);
    assert_eq!(b.snapshot().status, Status::Connected);

    // Redis comes back empty on the same port: the nodes re-register their sessions.
    let _redis = RedisServer::start_on(port).expect("redis again");
    c.retry_now();
    let healthy = async {
        loop {
            let status = reqwest::get(format!("{}/healthz", n1.http()))
                .await
                .map(|r| r.status().as_u16());
            if status.is_ok_and(|s| s == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(WAIT, healthy)
        .await
        .expect("/healthz is ok again once Redis is back");
    c.ready(WAIT).await.expect("c logs in");
    until_devices(&n2, "alice", &["desk", "phone", "tab"]).await;
    assert_eq!(a.snapshot().status, Status::Connected);
    assert_eq!(b.snapshot().status, Status::Connected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_same_device_reconnect_on_another_node_shows_no_flap_and_no_ghost() {
    let redis = RedisServer::start().expect("redis-server");
    let n1 = GatewayProc::node(&redis.url(), "n1").await;
    let n2 = GatewayProc::node(&redis.url(), "n2").await;
    let mut observer = login_json(&n2, "alice", "observer", "iOS").await;
    let first = Vestibule::new()
        .instance(options(&n1.url, "alice", "laptop", DeviceType::Pc))
        .expect("first");
    first.connect();
    first.ready(WAIT).await.expect("first logs in");
    observer
        .line_where(WAIT, |l| {
            l.contains("devicesChanged") && l.contains("laptop")
        })
        .await;

    // The laptop comes back (with its session) through a load balancer that
    // picks node 2, while node 1 still holds its old connection.
    let mut again = options(&n2.url, "alice", "laptop", DeviceType::Pc);
    again.session_token = first.session_token();
    assert!(again.session_token.is_some());
    let second = Vestibule::new().instance(again).expect("second");
    second.connect();
    second.ready(WAIT).await.expect("second logs in");
    assert!(second.snapshot().login.expect("login").repeat_login);
    wait_status(&first, Status::SignedOut).await;
    assert_eq!(
        first.snapshot().last_disconnect.expect("why").reason,
        DisconnectReason::Replaced
    );

    let push = observer
        .line_where(WAIT, |l| {
            l.contains("devicesChanged") && l.contains("laptop")
        })
        .await;
    let push: Value = serde_json::from_str(&push).expect("json");
    let laptop = push["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["deviceId"] == "laptop")
        .cloned()
        .expect("laptop");
    assert_eq!(
        laptop["connectionId"].as_str(),
        second.snapshot().login.map(|l| l.connection_id).as_deref()
    );
    // Every list the observer printed had the laptop in it.
    assert!(
        observer
            .seen
            .iter()
            .filter(|l| l.contains("devicesChanged"))
            .skip(1)
            .all(|l| l.contains("laptop")),
        "a flap: {:?}",
        observer.seen
    );
    assert_eq!(
        devices(&n1, "alice").await.0,
        ["laptop", "observer"],
        "one laptop, no ghost"
    );
    observer.signal_terminate();
}

async fn lbs(node: &GatewayProc) -> Vec<String> {
    let body: Value = reqwest::Client::new()
        .get(format!("{}/v1/lbs", node.http()))
        .send()
        .await
        .expect("lbs")
        .json()
        .await
        .expect("json");
    body["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n.as_str().map(str::to_owned))
        .collect()
}

/// NIM's LBS: `/v1/lbs` lists the live nodes; a client that knows two entry
/// points learns all three, and when its node is killed (-9) the very next
/// attempt goes to another one: back within one backoff step, listed once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lbs_lists_live_nodes_and_a_killed_nodes_client_is_back_elsewhere_at_the_first_retry() {
    let redis = RedisServer::start().expect("redis-server");
    let n1 = GatewayProc::node(&redis.url(), "n1").await;
    let n2 = GatewayProc::node(&redis.url(), "n2").await;
    let n3 = GatewayProc::node(&redis.url(), "n3").await;
    let listed = lbs(&n2).await;
    assert_eq!(listed[0], n2.url, "the answering node first");
    let mut sorted = listed.clone();
    sorted.sort();
    let mut all = vec![n1.url.clone(), n2.url.clone(), n3.url.clone()];
    all.sort();
    assert_eq!(sorted, all);

    let mut opts = options(&n1.url, "alice", "desk", DeviceType::Pc);
    opts.lbs_urls = vec![
        format!("{}/v1/lbs", n1.http()),
        format!("{}/v1/lbs", n2.http()),
    ];
    let desk = Vestibule::new().instance(opts).expect("desk");
    let mut events = desk.subscribe();
    desk.connect();
    desk.ready(WAIT).await.expect("desk on n1");
    let learned = Instant::now();
    while desk.gateways().len() < 3 {
        assert!(learned.elapsed() < WAIT, "learned {:?}", desk.gateways());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    while events.try_recv().is_ok() {}

    let dead = n1.url.clone();
    n1.kill9().await;
    let killed = Instant::now();
    let mut retries = 0;
    let mut dialed = Vec::new();
    loop {
        let event = tokio::time::timeout(WAIT, events.recv())
            .await
            .expect("back in time")
            .expect("events");
        match event {
            vestibule_client::Event::WillReconnect { retry_count, .. } => retries = retry_count,
            vestibule_client::Event::Dialing { url } => dialed.push(url),
            vestibule_client::Event::Ready => break,
            _ => {}
        }
    }
    println!(
        "back on {:?} {} ms after kill -9 ({retries} retry)",
        dialed.last(),
        killed.elapsed().as_millis()
    );
    assert_eq!(retries, 1, "back at the first retry; dialed {dialed:?}");
    assert_eq!(dialed.len(), 1, "{dialed:?}");
    assert_ne!(dialed[0], dead, "the next attempt went to another node");
    // Listed once, online, now and once the dead node's lease is gone.
    assert_eq!(devices(&n2, "alice").await.0, ["desk"]);
    let start = Instant::now();
    while lbs(&n2).await.contains(&dead) {
        assert!(start.elapsed() < WAIT, "the dead node stayed in the LBS");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(lbs(&n3).await.len(), 2);
    until_devices(&n2, "alice", &["desk"]).await;
    desk.destroy().await.expect("destroy");
}
