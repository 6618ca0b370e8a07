//! The real `vestibule-cli` binary against a real gateway on 127.0.0.1:0.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;
use vestibule_gateway::{Gateway, GatewayConfig};
use vestibule_testkit::{ADMIN_KEY, Proc, SECRET, token};

const BIN: &str = env!("CARGO_BIN_EXE_vestibule-cli");

async fn gateway() -> Gateway {
    let mut config = GatewayConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.admin_key = Some(ADMIN_KEY.into());
    config.demo_secret = Some(SECRET.into());
    let gw = Gateway::start(config).await.expect("gateway");
    let policy = serde_json::from_value(serde_json::json!({"mode": "all", "maxDevices": 10}))
        .expect("policy");
    gw.store().set_policy("demo", policy).await.expect("policy");
    gw
}

fn cli(gw: &Gateway, account: &str, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .args([
            "--url",
            &gw.ws_url(),
            "--app-key",
            "demo",
            "--account",
            account,
        ])
        .env("VESTIBULE_TOKEN", token(account))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Reads JSON lines until one has `"type": kind`.
async fn until(proc: &mut Proc, kind: &str) -> Value {
    let line = proc
        .line_where(Duration::from_secs(20), |l| {
            serde_json::from_str::<Value>(l).is_ok_and(|v| v["type"] == kind)
        })
        .await;
    serde_json::from_str(&line).expect("json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_is_minted_offline_and_verifies() {
    let out = Command::new(BIN)
        .args([
            "token",
            "--secret",
            SECRET,
            "--app-key",
            "demo",
            "--account",
            "alice",
            "--ttl",
            "120",
        ])
        .output()
        .await
        .expect("run");
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).expect("utf8");
    let claims = vestibule_protocol::token::verify(SECRET, "demo", "alice", &token.trim().into())
        .expect("valid");
    let exp = claims.exp.unwrap_or_default();
    assert!(exp >= claims.iat + 119 && exp <= claims.iat + 121);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_from_a_third_process_makes_the_kicked_login_exit_4() {
    let gw = gateway().await;
    let mut a = Proc::spawn(cli(
        &gw,
        "alice",
        &[
            "login",
            "--json",
            "--device-id",
            "desk-a",
            "--device-type",
            "PC",
        ],
    ));
    until(&mut a, "ready").await;
    let mut b = Proc::spawn(cli(
        &gw,
        "alice",
        &[
            "login",
            "--json",
            "--device-id",
            "phone-b",
            "--device-type",
            "iOS",
        ],
    ));
    until(&mut b, "ready").await;
    let list = until(&mut a, "devicesChanged").await;
    assert_eq!(list["devices"].as_array().map(Vec::len), Some(2), "{list}");

    // The devices command sees both (plus itself while it is logged in).
    let out = cli(
        &gw,
        "alice",
        &["devices", "--json", "--device-id", "helper"],
    )
    .output()
    .await
    .expect("devices");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let devices: Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut ids: Vec<&str> = devices
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|d| d["deviceId"].as_str())
        .collect();
    ids.sort();
    assert_eq!(ids, ["desk-a", "helper", "phone-b"]);

    let out = cli(&gw, "alice", &["kick", "--device-id", "kicker", "phone-b"])
        .output()
        .await
        .expect("kick");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "signed out phone-b"
    );

    let kicked = until(&mut b, "disconnected").await;
    assert_eq!(kicked["info"]["reason"]["kind"], "kicked");
    assert_eq!(kicked["info"]["reason"]["reason"], "byDevice");
    assert_eq!(kicked["info"]["by"]["deviceId"], "kicker");
    assert_eq!(b.exit_code(Duration::from_secs(20)).await, 4);

    // a is untouched and leaves cleanly on Ctrl-C.
    let pid = a.child.id().expect("pid").to_string();
    let status = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .expect("kill");
    assert!(status.success());
    assert_eq!(a.exit_code(Duration::from_secs(20)).await, 0);
    assert!(
        vestibule_testkit::eventually(Duration::from_secs(10), || gw.registry().local_sessions()
            == 0)
        .await,
        "every CLI session logged out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_exits_3_and_says_why() {
    let gw = gateway().await;
    let mut command = cli(&gw, "alice", &["login", "--device-id", "desk"]);
    command.env("VESTIBULE_TOKEN", "wrong-token");
    let mut login = Proc::spawn(command);
    assert_eq!(login.exit_code(Duration::from_secs(20)).await, 3);
    let text = login.seen.join("\n");
    assert!(text.contains("302"), "{text}");
    assert!(!text.contains("wrong-token"), "the token is never printed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn human_output_shows_the_session_and_the_devices() {
    let gw = gateway().await;
    let mut login = Proc::spawn(cli(
        &gw,
        "alice",
        &["login", "--device-id", "desk", "--custom-tag", "office"],
    ));
    login
        .line_where(Duration::from_secs(20), |l| l.contains("(this device)"))
        .await;
    let text = login.seen.join("\n");
    assert!(text.contains("connected as alice on desk"), "{text}");
    assert!(text.contains("1 device(s) online"), "{text}");
    let pid = login.child.id().expect("pid").to_string();
    Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .expect("kill");
    assert_eq!(login.exit_code(Duration::from_secs(20)).await, 0);
}
