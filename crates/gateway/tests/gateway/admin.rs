//! The admin REST API.

use serde_json::{Value, json};

use crate::support::*;

async fn call(
    gw: &TestGateway,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = admin()
        .request(method, gw.http(path))
        .bearer_auth(ADMIN_KEY);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let res = req.send().await.expect("request");
    let status = res.status().as_u16();
    let body = res.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn wrong_or_missing_key_is_401_without_hints() {
    let gw = TestGateway::start().await;
    let http = admin();
    for path in [
        "/admin/v1/apps",
        "/admin/v1/apps/demo",
        "/admin/v1/apps/nope",
        "/admin/v1/secret-endpoint",
    ] {
        let missing = http.get(gw.http(path)).send().await.expect("get");
        assert_eq!(missing.status(), 401, "{path}");
        assert_eq!(
            missing
                .headers()
                .get("www-authenticate")
                .map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
        let body_missing = missing.text().await.expect("body");
        let wrong = http
            .get(gw.http(path))
            .bearer_auth("wrong")
            .send()
            .await
            .expect("get");
        assert_eq!(wrong.status(), 401, "{path}");
        let body_wrong = wrong.text().await.expect("body");
        assert_eq!(body_missing, body_wrong, "same answer whatever exists");
        assert!(!body_wrong.contains("demo"));
    }
    // With the key, an unknown endpoint is a plain 404.
    let (status, _) = call(&gw, reqwest::Method::GET, "/admin/v1/secret-endpoint", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn bad_json_is_400_with_a_message() {
    let gw = TestGateway::start().await;
    let res = admin()
        .post(gw.http("/admin/v1/apps"))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["code"], "badRequest");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );

    let (status, body) = call(
        &gw,
        reqwest::Method::PUT,
        "/admin/v1/apps/demo/policy",
        Some(json!({"mode": "sometimes"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    // A typo is an error, not a silent default.
    let (status, body) = call(
        &gw,
        reqwest::Method::PUT,
        "/admin/v1/apps/demo/policy",
        Some(json!({"mode": "perType", "maxWebInstance": 3})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("maxWebInstance"))
    );
    // A wrong method gets the same JSON error shape.
    let (status, body) = call(&gw, reqwest::Method::DELETE, "/admin/v1/apps", None).await;
    assert_eq!(status, 405);
    assert_eq!(body["error"]["code"], "methodNotAllowed");
    let (status, body) = call(
        &gw,
        reqwest::Method::PUT,
        "/admin/v1/apps/demo/policy",
        Some(json!({"mode": "all", "maxDevices": 0})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("maxDevices"))
    );
}

#[tokio::test]
async fn create_an_app_mint_a_token_and_log_in_with_it() {
    let gw = TestGateway::start().await;
    let (status, app) = call(&gw, reqwest::Method::POST, "/admin/v1/apps", Some(json!({
        "appKey": "chat", "name": "Chat", "policy": {"mode": "single", "onConflict": "rejectNew"}
    }))).await;
    assert_eq!(status, 201, "{app}");
    assert_eq!(app["appKey"], "chat");
    assert_eq!(app["policy"]["mode"], "single");
    assert!(app["secret"].as_str().is_some_and(|s| s.len() >= 32));
    let (status, _) = call(
        &gw,
        reqwest::Method::POST,
        "/admin/v1/apps",
        Some(json!({"appKey": "chat"})),
    )
    .await;
    assert_eq!(status, 409);

    let (status, apps) = call(&gw, reqwest::Method::GET, "/admin/v1/apps", None).await;
    assert_eq!(status, 200);
    let keys: Vec<&str> = apps["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .filter_map(|a| a["appKey"].as_str())
        .collect();
    assert_eq!(keys, ["chat", "demo"]);

    let (status, minted) = call(
        &gw,
        reqwest::Method::POST,
        "/admin/v1/apps/chat/tokens",
        Some(json!({"account": "carol", "ttlSecs": 600})),
    )
    .await;
    assert_eq!(status, 200, "{minted}");
    let token = minted["token"].as_str().expect("token");
    let mut client = Client::connect(&gw.url()).await;
    let mut frame = login_frame("carol", "pc-1", "PC", token);
    frame["appKey"] = json!("chat");
    let ok = client.login_with(&frame).await;
    assert_eq!(ok["type"], "loginOk", "{ok}");
    assert_eq!(ok["tokenExpiresAt"], minted["expiresAt"]);

    // The app's policy applies: a second device is refused with 417.
    let mut second = Client::connect(&gw.url()).await;
    let mut frame = login_frame("carol", "phone-1", "iOS", token);
    frame["appKey"] = json!("chat");
    assert_eq!(second.login_with(&frame).await["code"], 417);

    let (status, _) = call(
        &gw,
        reqwest::Method::POST,
        "/admin/v1/apps/nope/tokens",
        Some(json!({"account": "x"})),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn list_and_kick_devices_of_an_account() {
    let gw = TestGateway::start().await;
    let (mut pc, _) = gw.login("alice", "pc-1", "PC").await;
    let (mut phone, _) = gw.login("alice", "phone-1", "iOS").await;
    assert_eq!(
        device_ids(&pc.frame_of("devices").await),
        ["pc-1", "phone-1"]
    );
    let (status, list) = call(
        &gw,
        reqwest::Method::GET,
        "/admin/v1/apps/demo/accounts/alice/devices",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(device_ids(&list), ["pc-1", "phone-1"]);
    assert!(list["rev"].as_u64() > Some(0));

    let (status, body) = call(
        &gw,
        reqwest::Method::POST,
        "/admin/v1/apps/demo/accounts/alice/kick",
        Some(json!({"deviceIds": ["phone-1", "nope", "nope"]})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["kicked"], json!(["phone-1"]));
    assert_eq!(body["notFound"], json!(["nope"]));
    let kicked = phone.frame_of("kicked").await;
    assert_eq!(kicked["reason"], "admin");
    assert_eq!(kicked.get("by"), None);
    assert_eq!(phone.closed().await, Some(4905));
    assert_eq!(device_ids(&pc.frame_of("devices").await), ["pc-1"]);

    // No body: the whole account.
    let res = admin()
        .post(gw.http("/admin/v1/apps/demo/accounts/alice/kick"))
        .bearer_auth(ADMIN_KEY)
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 200);
    assert_eq!(pc.frame_of("kicked").await["reason"], "admin");
    assert_eq!(gw.gw.registry().local_sessions(), 0);
}

#[tokio::test]
async fn ban_kicks_and_blocks_until_unbanned() {
    let gw = TestGateway::start().await;
    let (mut pc, _) = gw.login("alice", "pc-1", "PC").await;
    let (status, body) = call(
        &gw,
        reqwest::Method::PUT,
        "/admin/v1/apps/demo/accounts/alice/ban",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["banned"], true);
    assert_eq!(body["kicked"], json!(["pc-1"]));
    assert_eq!(pc.frame().await["reason"], "banned");
    assert_eq!(pc.closed().await, Some(4906));

    let mut again = Client::connect(&gw.url()).await;
    assert_eq!(
        again
            .login_with(&login_frame("alice", "pc-1", "PC", &token("alice")))
            .await["code"],
        403
    );

    let (_, account) = call(
        &gw,
        reqwest::Method::GET,
        "/admin/v1/apps/demo/accounts/alice",
        None,
    )
    .await;
    assert_eq!(account["banned"], true);
    let (status, _) = call(
        &gw,
        reqwest::Method::DELETE,
        "/admin/v1/apps/demo/accounts/alice/ban",
        None,
    )
    .await;
    assert_eq!(status, 200);
    gw.login("alice", "pc-1", "PC").await;
}

#[tokio::test]
async fn metrics_count_what_happened() {
    let gw = TestGateway::start().await;
    let (mut a, _) = gw.login("alice", "pc-1", "PC").await;
    let (mut b, _) = gw.login("alice", "phone-1", "iOS").await;
    let mut bad = Client::connect(&gw.url()).await;
    bad.login_with(&login_frame("alice", "x", "PC", "garbage"))
        .await;
    a.send(&json!({"type": "kick", "id": 1, "deviceIds": ["phone-1"]}))
        .await;
    a.frame_of("kickResult").await;
    a.send(&json!({"type": "bogus", "id": 2})).await;
    a.frame_of("error").await;
    // The kick is counted when the kicked connection delivers it.
    b.frame_of("kicked").await;
    // A client that vanishes without a close is not a bad frame.
    let (gone, _) = gw.login("carol", "pc-1", "PC").await;
    drop(gone);
    assert!(
        vestibule_testkit::eventually(std::time::Duration::from_secs(5), || gw
            .gw
            .registry()
            .local_sessions()
            == 1)
        .await
    );

    let text = reqwest::get(gw.http("/metrics"))
        .await
        .expect("get")
        .text()
        .await
        .expect("text");
    let value = |needle: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{needle} missing from:\n{text}"))
    };
    assert_eq!(value("vestibule_logins_total{result=\"ok\"}"), 3.0);
    assert_eq!(value("vestibule_logins_total{result=\"302\"}"), 1.0);
    assert_eq!(value("vestibule_kicks_total{reason=\"byDevice\"}"), 1.0);
    assert_eq!(value("vestibule_bad_frames_total{kind=\"malformed\"}"), 1.0);
    assert_eq!(value("vestibule_sessions "), 1.0);
    assert!(value("vestibule_connections ") >= 1.0);
    // Process-wide (other tests' gateways share it): at least this one's three logins.
    assert!(value("vestibule_login_stage_seconds_count{stage=\"all\"}") >= 3.0);
    assert!(value("vestibule_login_stage_seconds_count{stage=\"credential\"}") >= 3.0);
}
