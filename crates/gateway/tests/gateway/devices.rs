//! Device-list pushes, `rev`, and the silent same-deviceId replace.

use std::time::Duration;

use serde_json::json;

use crate::support::*;

#[tokio::test(start_paused = true)]
async fn same_device_id_replaces_silently_without_a_flap() {
    let _clock = hold_clock();
    let gw = TestGateway::start().await;
    let (mut old, first) = gw.login("alice", "pc-1", "PC").await;
    let (mut phone, _) = gw.login("alice", "phone-1", "iOS").await;
    assert_eq!(
        device_ids(&old.frame_of("devices").await),
        ["pc-1", "phone-1"]
    );

    // pc-1 reconnects with its session token (say after a network change)
    // while its old socket is still open.
    assert!(
        first["sessionToken"]
            .as_str()
            .is_some_and(|t| t.len() >= 43),
        "{first}"
    );
    let (_new, ok) = gw
        .resume("alice", "pc-1", "PC", &first["sessionToken"])
        .await;
    assert_eq!(
        ok.get("sessionToken"),
        None,
        "a reconnect keeps its session"
    );
    assert_eq!(ok["repeatLogin"], true);
    assert_ne!(ok["connectionId"], first["connectionId"]);
    assert_eq!(device_ids(&ok), ["pc-1", "phone-1"]);

    // The old socket is closed with 4001 and no kicked frame.
    assert_eq!(old.next_event().await, Event::Closed(Some(4001)));

    // The phone sees exactly one push, and pc-1 is in it, with the new connection.
    let push = phone.devices().await;
    assert_eq!(push["type"], "devices");
    assert_eq!(device_ids(&push), ["pc-1", "phone-1"]);
    let pc = push["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["deviceId"] == "pc-1")
        .cloned()
        .expect("pc-1");
    assert_eq!(pc["connectionId"], ok["connectionId"]);
    advance(Duration::from_secs(5)).await;
    phone.silent_for(Duration::from_millis(200)).await;
    assert_eq!(gw.gw.registry().local_sessions(), 2);
}

#[tokio::test]
async fn every_change_pushes_the_full_list_to_every_connection() {
    let gw = TestGateway::start().await;
    let (mut a, login_a) = gw.login("alice", "a", "PC").await;
    let (mut b, login_b) = gw.login("alice", "b", "iOS").await;
    let push = a.devices().await;
    assert_eq!(
        push["rev"], login_b["rev"],
        "a push carries the same rev as the login that caused it"
    );
    assert!(push["rev"].as_u64() > login_a["rev"].as_u64());
    let me_in_a: Vec<bool> = push["devices"]
        .as_array()
        .expect("list")
        .iter()
        .map(|d| d["current"] == true)
        .collect();
    assert_eq!(me_in_a, [true, false], "a's copy marks a as current");

    // Logout: b answers ok and leaves; a sees the shrink.
    b.send(&json!({"type": "logout", "id": 9})).await;
    assert_eq!(b.frame().await, json!({"type": "ok", "id": 9}));
    assert_eq!(b.closed().await, Some(1000));
    let push2 = a.frame_of("devices").await;
    assert_eq!(device_ids(&push2), ["a"]);
    assert!(push2["rev"].as_u64() > push["rev"].as_u64());

    // A dropped connection (no logout) stays signed in, offline.
    let (c, _) = gw.login("alice", "c", "Android").await;
    let push3 = a.frame_of("devices").await;
    assert_eq!(presence(&push3), [("a".into(), true), ("c".into(), true)]);
    drop(c);
    let push4 = a.frame_of("devices").await;
    assert_eq!(presence(&push4), [("a".into(), true), ("c".into(), false)]);
    let c = &push4["devices"][1];
    assert_eq!(c["connectionId"], "", "no connection while offline");
    assert!(c["lastActiveAt"].as_u64() >= c["createdAt"].as_u64());
    assert!(push4["rev"].as_u64() > push3["rev"].as_u64());
}

#[tokio::test]
async fn rev_strictly_rises_across_a_burst_of_fifty_logins() {
    let gw = TestGateway::start().await;
    gw.set_policy(json!({"mode": "all", "maxDevices": 200}))
        .await;
    let (mut observer, first) = gw.login("alice", "observer", "PC").await;
    let url = gw.url();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(&url).await;
            let ok = client
                .login_with(&login_frame(
                    "alice",
                    &format!("dev-{i:02}"),
                    "Android",
                    &token("alice"),
                ))
                .await;
            assert_eq!(ok["type"], "loginOk", "{ok}");
            client
        }));
    }
    let mut clients = Vec::new();
    for task in tasks {
        clients.push(task.await.expect("login task"));
    }
    // Lists waiting for a slow reader coalesce (only the newest matters), so
    // the observer may see fewer than 50 pushes: each newer than the last,
    // the final one with all 51 devices.
    let mut last = first["rev"].as_u64().expect("rev");
    let mut seen = 0;
    loop {
        let push = observer.frame_of("devices").await;
        let rev = push["rev"].as_u64().expect("rev");
        assert!(rev > last, "rev went from {last} to {rev}");
        last = rev;
        seen += 1;
        assert!(seen <= 50, "more pushes than changes");
        if push["devices"].as_array().map(Vec::len) == Some(51) {
            break;
        }
    }
    let list = gw.gw.registry().devices(APP, "alice").await;
    assert_eq!(
        list.rev, last,
        "the observer ends on the registry's latest rev"
    );
}
