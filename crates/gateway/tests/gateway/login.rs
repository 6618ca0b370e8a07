use std::time::Duration;

use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn login_ok_carries_every_field() {
    let gw = TestGateway::start().await;
    let mut client = Client::connect(&gw.url()).await;
    let port = client.local_port();
    let mut frame = login_frame("alice", "pc-1", "PC", &token("alice"));
    frame["id"] = json!(42);
    frame["device"]["customTag"] = json!("work laptop");
    let before = vestibule_gateway::clock::unix_millis();
    let ok = client.login_with(&frame).await;
    let after = vestibule_gateway::clock::unix_millis();

    assert_eq!(ok["type"], "loginOk");
    assert_eq!(ok["id"], 42);
    let connection_id = ok["connectionId"].as_str().expect("connectionId");
    assert!(connection_id.len() >= 16);
    assert_eq!(ok["ip"], "127.0.0.1");
    assert_eq!(ok["port"], port, "the client's own source port");
    assert_eq!(
        ok["country"], "",
        "unknown country is empty, never invented"
    );
    assert_eq!(ok["lastLoginDeviceId"], json!(null), "first login ever");
    assert_eq!(ok["customTag"], "work laptop");
    let server_time = ok["serverTime"].as_u64().expect("serverTime");
    assert!((before..=after).contains(&server_time));
    assert_eq!(ok["repeatLogin"], false);
    let expires = ok["tokenExpiresAt"].as_u64().expect("tokenExpiresAt");
    assert!(
        expires > after + 3_500_000 && expires <= after + 3_600_000,
        "{expires}"
    );
    assert!(ok["rev"].as_u64().expect("rev") > 0);
    let devices = ok["devices"].as_array().expect("devices");
    assert_eq!(devices.len(), 1);
    let me = &devices[0];
    assert_eq!(me["deviceId"], "pc-1");
    assert_eq!(me["type"], "PC");
    assert_eq!(me["os"], "PC test OS");
    assert_eq!(me["customTag"], "work laptop");
    assert_eq!(me["connectionId"], connection_id);
    assert_eq!(me["ip"], "127.0.0.1");
    assert_eq!(me["loginTime"], server_time);
    assert_eq!(me["online"], true);
    assert_eq!(me["current"], true);

    // The next login of the account reports this device as the last one.
    let (_other, second) = gw.login("alice", "phone-1", "iOS").await;
    assert_eq!(second["lastLoginDeviceId"], "pc-1");
    assert_eq!(device_ids(&second), ["pc-1", "phone-1"]);
    let current: Vec<bool> = second["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .map(|d| {
            d["deviceId"] == "phone-1" && d["current"] == true
                || d["deviceId"] == "pc-1" && d["current"] == false
        })
        .collect();
    assert_eq!(
        current,
        [true, true],
        "only the receiving connection is current"
    );
}

async fn refused(gw: &TestGateway, frame: serde_json::Value) -> (serde_json::Value, Option<u16>) {
    let mut client = Client::connect(&gw.url()).await;
    let reply = client.login_with(&frame).await;
    let close = client.closed().await;
    (reply, close)
}

#[tokio::test]
async fn every_login_failure_code_and_its_close_code() {
    let gw = TestGateway::start().await;
    let good = || login_frame("alice", "pc-1", "PC", &token("alice"));

    let mut unknown_app = good();
    unknown_app["appKey"] = json!("no-such-app");
    let mut bad_signature = good();
    bad_signature["token"] = json!(
        vestibule_protocol::token::mint(
            "another-secret-0123456789",
            APP,
            "alice",
            Duration::from_secs(60)
        )
        .expect("mint")
        .expose()
    );
    let mut other_account = good();
    other_account["token"] = json!(token("bob"));
    let now = vestibule_gateway::clock::unix_millis() / 1000;
    let mut expired = good();
    expired["token"] = json!(
        vestibule_protocol::token::mint_at(SECRET, APP, "alice", now - 100, now - 1)
            .expect("mint")
            .expose()
    );
    let mut garbage = good();
    garbage["token"] = json!("not-a-jwt");
    let mut missing_field = good();
    missing_field
        .as_object_mut()
        .expect("object")
        .remove("device");
    let mut empty_account = good();
    empty_account["account"] = json!("");
    let mut bad_type = good();
    bad_type["device"]["type"] = json!("Toaster");

    let cases = [
        ("unknown appKey", unknown_app, 404, "unknown appKey"),
        (
            "bad signature",
            bad_signature,
            302,
            "wrong account or token",
        ),
        (
            "another account's token",
            other_account,
            302,
            "another account",
        ),
        ("expired token", expired, 302, "expired"),
        ("not a JWT", garbage, 302, "wrong account or token"),
        ("missing device", missing_field, 414, "device"),
        ("empty account", empty_account, 414, "account"),
        ("unknown device type", bad_type, 414, "Toaster"),
    ];
    for (name, frame, code, words) in cases {
        let (reply, close) = refused(&gw, frame).await;
        assert_eq!(reply["type"], "loginFailed", "{name}: {reply}");
        assert_eq!(reply["code"], code, "{name}: {reply}");
        let message = reply["message"].as_str().expect("message");
        assert!(
            message.contains(words),
            "{name}: message {message:?} should mention {words:?}"
        );
        assert_eq!(close, Some(4000 + code), "{name}: close code");
        assert!(
            !message.contains("not-a-jwt"),
            "the token never echoes back"
        );
    }

    // Banned and disabled accounts, set through the admin API.
    let http = admin();
    for (path, code) in [("ban", 403), ("disable", 422)] {
        let account = format!("user-{path}");
        let url = gw.http(&format!("/admin/v1/apps/demo/accounts/{account}/{path}"));
        let res = http
            .put(&url)
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .expect("admin");
        assert_eq!(res.status(), 200);
        let (reply, close) =
            refused(&gw, login_frame(&account, "pc-1", "PC", &token(&account))).await;
        assert_eq!(reply["code"], code, "{path}: {reply}");
        assert_eq!(close, Some(4000 + code));
    }
}

#[tokio::test(start_paused = true)]
async fn no_login_within_ten_seconds_is_408() {
    let _clock = hold_clock();
    let gw = TestGateway::start().await;
    let mut client = Client::connect(&gw.url()).await;
    // Pings do not count as a login.
    client
        .send_raw(tokio_tungstenite::tungstenite::Message::Ping("hi".into()))
        .await;
    advance(Duration::from_millis(9_900)).await;
    client.silent_for(Duration::from_millis(100)).await;
    advance(Duration::from_millis(100)).await;
    let reply = client.frame().await;
    assert_eq!(reply["type"], "loginFailed");
    assert_eq!(reply["code"], 408);
    assert_eq!(reply.get("id"), None, "no login, no id to echo");
    assert_eq!(client.closed().await, Some(4408));
}

#[tokio::test(start_paused = true)]
async fn token_expiry_while_online_kicks_with_token_expired() {
    let _clock = hold_clock();
    let gw = TestGateway::start().await;
    let mut watcher = gw.login("alice", "phone", "iOS").await.0;
    let mut client = Client::connect(&gw.url()).await;
    let frame = login_frame(
        "alice",
        "pc-1",
        "PC",
        &token_for("alice", Duration::from_secs(3)),
    );
    let ok = client.login_with(&frame).await;
    assert_eq!(ok["type"], "loginOk");
    assert_eq!(
        watcher.frame_of("devices").await["devices"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    advance(Duration::from_secs(4)).await;
    let kicked = client.frame().await;
    assert_eq!(kicked["type"], "kicked", "{kicked}");
    assert_eq!(kicked["reason"], "tokenExpired");
    assert_eq!(kicked.get("by"), None);
    assert_eq!(client.closed().await, Some(4904));
    // The other device sees it leave.
    let list = watcher.frame_of("devices").await;
    assert_eq!(device_ids(&list), ["phone"]);
}

#[tokio::test(start_paused = true)]
async fn refreshing_the_token_keeps_the_session() {
    let _clock = hold_clock();
    let gw = TestGateway::start().await;
    let mut client = Client::connect(&gw.url()).await;
    let frame = login_frame(
        "alice",
        "pc-1",
        "PC",
        &token_for("alice", Duration::from_secs(3)),
    );
    assert_eq!(client.login_with(&frame).await["type"], "loginOk");

    // A refresh with a bad token is refused and the session stays.
    client
        .send(&json!({"type": "refreshToken", "id": 7, "token": token("bob")}))
        .await;
    let err = client.frame().await;
    assert_eq!(
        (
            err["type"].as_str(),
            err["id"].as_u64(),
            err["code"].as_u64()
        ),
        (Some("error"), Some(7), Some(302))
    );

    client.send(&json!({"type": "refreshToken", "id": 8, "token": token_for("alice", Duration::from_secs(60))})).await;
    assert_eq!(client.frame().await, json!({"type": "ok", "id": 8}));
    // Well past the first token's expiry (pinging so the connection does not idle out).
    for _ in 0..3 {
        advance(Duration::from_secs(10)).await;
        client
            .send_raw(tokio_tungstenite::tungstenite::Message::Ping("x".into()))
            .await;
    }
    client.silent_for(Duration::from_millis(200)).await;
    let list = gw.gw.registry().devices(APP, "alice").await;
    assert_eq!(
        list.devices.len(),
        1,
        "still online after the first token's expiry"
    );
    // The new token's expiry still applies.
    advance(Duration::from_secs(31)).await;
    assert_eq!(client.frame().await["reason"], "tokenExpired");
}

#[tokio::test(start_paused = true)]
async fn pings_are_answered_and_silence_is_closed_after_45_seconds() {
    let _clock = hold_clock();
    let gw = TestGateway::start().await;
    let (mut client, _) = gw.login("alice", "pc-1", "PC").await;
    // A client that pings every 20 s stays.
    for _ in 0..4 {
        advance(Duration::from_secs(20)).await;
        client
            .send_raw(tokio_tungstenite::tungstenite::Message::Ping("beat".into()))
            .await;
        // The pong is a control frame that next_within skips, so read it directly.
        let pong = real_timeout(
            Duration::from_secs(5),
            futures_util::StreamExt::next(&mut client.ws),
        )
        .await;
        assert!(
            matches!(&pong, Some(Some(Ok(tokio_tungstenite::tungstenite::Message::Pong(p)))) if p.as_ref() == b"beat"),
            "{pong:?}"
        );
    }
    assert_eq!(gw.gw.registry().local_sessions(), 1);
    // Then silence: still open at 44.9 s, closed with 4408 at 45 s.
    advance(Duration::from_millis(44_900)).await;
    client.silent_for(Duration::from_millis(100)).await;
    advance(Duration::from_millis(100)).await;
    assert_eq!(client.closed().await, Some(4408));
    assert_eq!(
        gw.gw.registry().local_sessions(),
        0,
        "an idle-closed session leaves the registry"
    );
}

#[tokio::test]
async fn healthz_reports_sessions() {
    let gw = TestGateway::start().await;
    let (_client, _) = gw.login("alice", "pc-1", "PC").await;
    let body: serde_json::Value = reqwest::get(gw.http("/healthz"))
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["sessions"], 1);
}

#[tokio::test(start_paused = true)]
async fn admission_control_refuses_the_upgrade_with_503_and_a_spread_of_retry_times() {
    use tokio_tungstenite::tungstenite::Error;
    let _clock = hold_clock();
    // 20 logins a second: a burst of 2, then one slot every 50 ms.
    let gw = TestGateway::start_with(|c| c.max_logins_per_sec = Some(20)).await;
    gw.login("a", "pc-1", "PC").await;
    gw.login("b", "pc-1", "PC").await;
    let mut waits = Vec::new();
    for _ in 0..3 {
        let refused = tokio_tungstenite::connect_async(gw.url()).await;
        let Err(Error::Http(response)) = refused else {
            panic!("expected an HTTP refusal, got {refused:?}");
        };
        assert_eq!(response.status().as_u16(), 503);
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no {name} header: {:?}", response.headers()))
        };
        let ms = header("retry-after-ms");
        assert_eq!(
            header("retry-after"),
            ms.div_ceil(1000),
            "whole seconds, rounded up"
        );
        waits.push(ms);
    }
    assert!(
        waits.windows(2).all(|w| w[1] > w[0]),
        "each refused client gets a later slot: {waits:?}"
    );
    let metrics = reqwest::get(gw.http("/metrics"))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains(r#"vestibule_logins_total{result="503"} 3"#),
        "refusals are counted: {metrics}"
    );
    // Once the bucket refills, logins are admitted again.
    advance(Duration::from_secs(1)).await;
    gw.login("c", "pc-1", "PC").await;
}
