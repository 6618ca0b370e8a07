//! Bans, flags and Redis trouble across a cluster: real gateway processes on a
//! real redis-server, one of them behind a fault-injecting proxy.

use std::time::{Duration, Instant};

use serde_json::Value;
use vestibule_client::{
    ClientOptions, DeviceType, DisconnectReason, Event, KickReason, ReadyError, Status, Vestibule,
};
use vestibule_e2e::{ADMIN_KEY, GatewayProc, token};
use vestibule_testkit::{Mode, Proxy, RedisCluster, RedisServer};

const WAIT: Duration = Duration::from_secs(30);

fn options(url: &str, account: &str, device_id: &str, device_type: DeviceType) -> ClientOptions {
    ClientOptions::builder(url, "demo", account, token(account), device_id)
        .device_type(device_type)
        .auto_connect(false)
        .build()
        .expect("options")
}

async fn admin(node: &GatewayProc, method: reqwest::Method, path: &str) -> (u16, Value) {
    let response = reqwest::Client::new()
        .request(
            method,
            format!("{}/admin/v1/apps/demo/accounts/{path}", node.http()),
        )
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .expect("admin");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn device_ids(node: &GatewayProc, account: &str) -> Vec<String> {
    let (_, body) = admin(node, reqwest::Method::GET, &format!("{account}/devices")).await;
    let mut ids: Vec<String> = body["devices"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| d["deviceId"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_holds_on_every_node_at_once() {
    let redis = RedisServer::start().expect("redis-server");
    let n1 = GatewayProc::node(&redis.url(), "n1").await;
    let n2 = GatewayProc::node(&redis.url(), "n2").await;
    a_ban_holds_on(&n1, &n2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ban_holds_on_every_node_of_a_redis_cluster_at_once() {
    let cluster = RedisCluster::start().expect("redis cluster");
    let n1 = GatewayProc::cluster_node(&cluster.seeds(), "n1").await;
    let n2 = GatewayProc::cluster_node(&cluster.seeds(), "n2").await;
    a_ban_holds_on(&n1, &n2).await;
}

/// A ban through `n1` refuses a login through `n2` at once and signs out
/// the session that was online there, five times over.
async fn a_ban_holds_on(n1: &GatewayProc, n2: &GatewayProc) {
    for round in 0..5 {
        // alice is online on n2.
        let online = Vestibule::new()
            .instance(options(
                &n2.url,
                "alice",
                &format!("desk-{round}"),
                DeviceType::Pc,
            ))
            .expect("instance");
        let mut events = online.subscribe();
        online.connect();
        online.ready(WAIT).await.expect("alice online");
        // Banned through n1; at once, a login through n2.
        let (status, _) = admin(n1, reqwest::Method::PUT, "alice/ban").await;
        assert_eq!(status, 200);
        let late = Vestibule::new()
            .instance(options(
                &n2.url,
                "alice",
                &format!("phone-{round}"),
                DeviceType::Ios,
            ))
            .expect("instance");
        late.connect();
        match late.ready(WAIT).await {
            Err(ReadyError::Ended(info)) => {
                assert_eq!(info.code, Some(403), "round {round}: {info:?}")
            }
            other => panic!(
                "round {round}: a banned account logged in through the other node: {other:?}"
            ),
        }
        // The one that was online is signed out, with the reason.
        let kicked = tokio::time::timeout(WAIT, async {
            loop {
                if let Ok(Event::Disconnected { info }) = events.recv().await {
                    return info;
                }
            }
        })
        .await
        .expect("signed out");
        assert_eq!(
            kicked.reason,
            DisconnectReason::Kicked {
                reason: KickReason::Banned
            }
        );
        let (status, _) = admin(n1, reqwest::Method::DELETE, "alice/ban").await;
        assert_eq!(status, 200);
        let _ = online.destroy().await;
        let _ = late.destroy().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_changes_on_two_nodes_never_undo_each_other() {
    let redis = RedisServer::start().expect("redis-server");
    let n1 = GatewayProc::node(&redis.url(), "n1").await;
    let n2 = GatewayProc::node(&redis.url(), "n2").await;
    for round in 0..5 {
        let account = format!("bob-{round}");
        let (status, _) = admin(&n1, reqwest::Method::PUT, &format!("{account}/ban")).await;
        assert_eq!(status, 200);
        // Enabling (the other flag) through n2 right after must not unban.
        let (status, _) = admin(&n2, reqwest::Method::DELETE, &format!("{account}/disable")).await;
        assert_eq!(status, 200);
        for node in [&n1, &n2] {
            let deadline = Instant::now() + Duration::from_secs(5);
            loop {
                let (_, body) = admin(node, reqwest::Method::GET, &account).await;
                if body["banned"] == true {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "round {round}: {account} is not banned any more: {body}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_call_that_cannot_reach_redis_fails_loudly() {
    let redis = RedisServer::start().expect("redis-server");
    let n1 = GatewayProc::node(&redis.url(), "n1").await;
    redis.kill();
    let (status, body) = admin(&n1, reqwest::Method::PUT, "alice/ban").await;
    assert!(
        status >= 500,
        "a ban that reached no one answered {status} {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_blip_loses_no_kick_and_leaves_no_ghost() {
    let redis = RedisServer::start().expect("redis-server");
    let to_redis = Proxy::start(([127, 0, 0, 1], redis.port()).into())
        .await
        .expect("proxy");
    let n1 = GatewayProc::node(&redis.url(), "n1").await;
    let n2 = GatewayProc::node(&format!("redis://{}", to_redis.addr()), "n2").await;
    let alice = Vestibule::new()
        .instance(options(&n2.url, "alice", "desk", DeviceType::Pc))
        .expect("alice");
    let mut alice_events = alice.subscribe();
    alice.connect();
    alice.ready(WAIT).await.expect("alice online");
    let dave = Vestibule::new()
        .instance(options(&n2.url, "dave", "desk", DeviceType::Pc))
        .expect("dave");
    dave.connect();
    dave.ready(WAIT).await.expect("dave online");
    assert_eq!(device_ids(&n1, "dave").await, ["desk"]);

    // n2 loses Redis for 4 s (well under the 10 s lease).
    to_redis.set_mode(Mode::Blackhole);
    let (status, _) = admin(&n1, reqwest::Method::PUT, "alice/ban").await;
    assert_eq!(status, 200);
    dave.disconnect().await.expect("dave logs out");
    tokio::time::sleep(Duration::from_secs(4)).await;
    to_redis.set_mode(Mode::Forward);

    // The ban reaches alice on n2 once it is back.
    let kicked = tokio::time::timeout(WAIT, async {
        loop {
            if let Ok(Event::Disconnected { info }) = alice_events.recv().await {
                return info;
            }
        }
    })
    .await
    .expect("the ban reached alice after the blip");
    assert_eq!(
        kicked.reason,
        DisconnectReason::Kicked {
            reason: KickReason::Banned
        }
    );
    assert_eq!(alice.snapshot().status, Status::SignedOut);
    // dave, who left during the blip, is not listed (within a few heartbeats).
    let deadline = Instant::now() + Duration::from_secs(12);
    while !device_ids(&n1, "dave").await.is_empty() {
        assert!(
            Instant::now() < deadline,
            "dave is a ghost 12 s after the blip"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // And nothing brings alice back.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(device_ids(&n1, "alice").await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revisions_keep_rising_after_redis_loses_its_data() {
    let redis = RedisServer::start().expect("redis-server");
    let n1 = GatewayProc::node(&redis.url(), "n1").await;
    let a = Vestibule::new()
        .instance(options(&n1.url, "erin", "desk", DeviceType::Pc))
        .expect("a");
    a.connect();
    a.ready(WAIT).await.expect("a online");
    let first = a.snapshot().devices_rev;
    let flushed = std::process::Command::new("redis-cli")
        .args(["-p", &redis.port().to_string(), "FLUSHALL"])
        .status()
        .expect("redis-cli");
    assert!(flushed.success());
    let b = Vestibule::new()
        .instance(options(&n1.url, "erin", "phone", DeviceType::Ios))
        .expect("b");
    b.connect();
    b.ready(WAIT).await.expect("b online");
    let deadline = Instant::now() + WAIT;
    loop {
        let snapshot = a.snapshot();
        let ids: Vec<&str> = snapshot
            .devices
            .iter()
            .map(|d| d.device_id.as_str())
            .collect();
        if ids.contains(&"phone") && ids.contains(&"desk") {
            assert!(
                snapshot.devices_rev > first,
                "rev went from {first} to {}",
                snapshot.devices_rev
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a never saw b: {ids:?} at rev {}",
            snapshot.devices_rev
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
