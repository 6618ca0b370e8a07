//! Restarting on the same data directory keeps apps, policies, flags and lastLoginDeviceId.

use serde_json::json;
use vestibule_gateway::{Gateway, GatewayConfig, Storage};

use crate::support::*;

async fn start(dir: &std::path::Path, admin_key: Option<&str>) -> Gateway {
    let mut config = GatewayConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.storage = Storage::Dir(dir.to_owned());
    config.admin_key = admin_key.map(str::to_owned);
    config.demo_secret = Some(SECRET.into());
    Gateway::start(config).await.expect("start")
}

#[tokio::test]
async fn restart_on_the_same_data_dir_keeps_everything() {
    let dir = tempfile::tempdir().expect("tempdir");
    let gw = TestGateway {
        gw: start(dir.path(), None).await,
    };
    let admin_key = gw
        .gw
        .generated_admin_key()
        .expect("first start generates an admin key")
        .to_owned();
    assert!(gw.gw.demo().is_some_and(|d| d.created));
    let res = admin()
        .put(gw.http("/admin/v1/apps/demo/policy"))
        .bearer_auth(&admin_key)
        .json(&json!({"mode": "single"}))
        .send()
        .await
        .expect("policy");
    assert_eq!(res.status(), 200);
    let res = admin()
        .put(gw.http("/admin/v1/apps/demo/accounts/mallory/ban"))
        .bearer_auth(&admin_key)
        .send()
        .await
        .expect("ban");
    assert_eq!(res.status(), 200);
    let (client, _) = gw.login("alice", "laptop-7", "PC").await;
    client.close().await;
    gw.gw.shutdown().await;

    let gw = TestGateway {
        gw: start(dir.path(), None).await,
    };
    assert_eq!(
        gw.gw.generated_admin_key(),
        None,
        "the stored admin key is kept"
    );
    assert!(
        gw.gw
            .demo()
            .is_some_and(|d| !d.created && d.secret.expose() == SECRET)
    );
    let (_client, ok) = gw.login("alice", "phone-1", "iOS").await;
    assert_eq!(ok["lastLoginDeviceId"], "laptop-7");
    let app = gw.gw.store().app("demo").expect("demo app");
    assert_eq!(
        serde_json::to_value(app.policy).expect("json")["mode"],
        "single"
    );
    assert!(gw.gw.store().flags("demo", "mallory").banned);
    // The old admin key still works.
    let res = admin()
        .get(gw.http("/admin/v1/apps"))
        .bearer_auth(&admin_key)
        .send()
        .await
        .expect("apps");
    assert_eq!(res.status(), 200);
    gw.gw.shutdown().await;
}

#[tokio::test]
async fn graceful_shutdown_closes_sessions_with_503() {
    let gw = TestGateway::start().await;
    let (mut client, _) = gw.login("alice", "pc-1", "PC").await;
    let shutdown = tokio::spawn(gw.gw.shutdown());
    // Told when to come back (spread between 1 and 5 s), then closed.
    let notice = client.frame().await;
    assert_eq!(notice["type"], "error");
    assert_eq!(notice["code"], 503);
    let retry = notice["retryAfterMs"].as_u64().expect("retryAfterMs");
    assert!((1000..5000).contains(&retry), "{retry}");
    assert_eq!(client.closed().await, Some(4503));
    shutdown.await.expect("shutdown completes");
}
