//! Kicks between devices of one account, and the refusal to reach across accounts.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_device_kicks_another_of_its_account() {
    let gw = TestGateway::start().await;
    let (mut a, _) = gw.login("alice", "pc-1", "PC").await;
    let (mut b, _) = gw.login("alice", "phone-1", "iOS").await;
    assert_eq!(
        device_ids(&a.frame_of("devices").await),
        ["pc-1", "phone-1"]
    );

    a.send(&json!({"type": "kick", "id": 5, "deviceIds": ["phone-1", "nope"]}))
        .await;
    let result = a.frame_of("kickResult").await;
    assert_eq!(
        result,
        json!({"type": "kickResult", "id": 5, "kicked": ["phone-1"], "notFound": ["nope"]})
    );

    let kicked = b.frame().await;
    assert_eq!(kicked["type"], "kicked");
    assert_eq!(kicked["reason"], "byDevice");
    assert_eq!(
        kicked["by"],
        json!({"deviceId": "pc-1", "type": "PC", "os": "PC test OS", "ip": "127.0.0.1"})
    );
    assert_eq!(b.closed().await, Some(4903));

    assert_eq!(device_ids(&a.frame_of("devices").await), ["pc-1"]);
    assert_eq!(gw.gw.registry().local_sessions(), 1);
}

#[tokio::test]
async fn kicking_across_accounts_or_yourself_finds_nothing() {
    let gw = TestGateway::start().await;
    let (mut alice, _) = gw.login("alice", "pc-1", "PC").await;
    let (mut bob, _) = gw.login("bob", "phone-1", "iOS").await;
    alice
        .send(&json!({"type": "kick", "id": 1, "deviceIds": ["phone-1", "pc-1"]}))
        .await;
    let result = alice.frame().await;
    assert_eq!(result["kicked"], json!([]));
    assert_eq!(result["notFound"], json!(["phone-1", "pc-1"]));
    bob.silent_for(Duration::from_millis(300)).await;
    assert_eq!(gw.gw.registry().local_sessions(), 2);
}

#[tokio::test]
async fn fresh_session_guard_stops_a_new_session_from_kicking() {
    let gw = TestGateway::start().await;
    gw.set_policy(json!({"mode": "perType", "freshSessionGuardSecs": 3600}))
        .await;
    let (_a, _) = gw.login("alice", "pc-1", "PC").await;
    let (mut b, _) = gw.login("alice", "phone-1", "iOS").await;
    b.send(&json!({"type": "kick", "id": 3, "deviceIds": ["pc-1"]}))
        .await;
    let err = b.frame().await;
    assert_eq!(err["type"], "error");
    assert_eq!(err["id"], 3);
    assert_eq!(err["code"], 403);
    // The session stays usable.
    b.send(&json!({"type": "logout", "id": 4})).await;
    assert_eq!(b.frame().await, json!({"type": "ok", "id": 4}));
}
