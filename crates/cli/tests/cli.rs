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
    assert!(text.contains("1 device(s) signed in, 1 online"), "{text}");
    let pid = login.child.id().expect("pid").to_string();
    Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .expect("kill");
    assert_eq!(login.exit_code(Duration::from_secs(20)).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_token_has_no_expiry() {
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
            "0",
        ])
        .output()
        .await
        .expect("token");
    assert!(out.status.success());
    let token = String::from_utf8(out.stdout).expect("utf8");
    let claims = vestibule_protocol::token::verify(SECRET, "demo", "alice", &token.trim().into())
        .expect("valid");
    assert_eq!(claims.exp, None);
}

/// Waits for a text line containing `what`.
async fn line(proc: &mut Proc, what: &str) -> String {
    proc.line_where(Duration::from_secs(20), |l| l.contains(what))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_that_died_is_listed_offline_signed_out_and_refused_when_it_comes_back() {
    let gw = gateway().await;
    // A login that prints its session token when asked, and only then.
    let mut desk = Proc::spawn(cli(
        &gw,
        "alice",
        &[
            "login",
            "--json",
            "--device-id",
            "desk",
            "--print-session-token",
        ],
    ));
    let session = until(&mut desk, "sessionToken").await["sessionToken"]
        .as_str()
        .expect("a session token")
        .to_owned();
    assert!(session.starts_with("vst1."));
    let mut plain = Proc::spawn(cli(
        &gw,
        "alice",
        &["login", "--json", "--device-id", "other"],
    ));
    until(&mut plain, "ready").await;
    // The desk's login hears about the new sign-in.
    let alert = until(&mut desk, "newDevice").await;
    assert_eq!(alert["device"]["deviceId"], "other");
    assert!(
        !plain.seen.join("\n").contains("vst1."),
        "no session token unless asked"
    );
    // The desk's process dies: no logout.
    desk.kill().await;
    let out = cli(&gw, "alice", &["devices", "--device-id", "helper"])
        .output()
        .await
        .expect("devices");
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let desk_line = table
        .lines()
        .find(|l| l.trim_start().starts_with("desk "))
        .unwrap_or_else(|| panic!("the offline desk is listed: {table}"));
    assert!(
        desk_line.contains("offline, active just now"),
        "{desk_line}"
    );
    let out = cli(&gw, "alice", &["kick", "--device-id", "kicker", "desk"])
        .output()
        .await
        .expect("kick");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "signed out desk"
    );
    // It comes back with its session token: refused, saying who.
    let mut back = cli(&gw, "alice", &["login", "--device-id", "desk"]);
    back.env_remove("VESTIBULE_TOKEN")
        .env("VESTIBULE_SESSION_TOKEN", &session);
    let mut back = Proc::spawn(back);
    assert_eq!(back.exit_code(Duration::from_secs(20)).await, 3);
    let text = back.seen.join("\n");
    assert!(text.contains("signed out by kicker"), "{text}");
    assert!(!text.contains(&session), "never printed back");
    plain.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stay_signed_in_keeps_the_session_for_the_next_run_and_rename_names_devices() {
    let gw = gateway().await;
    let mut first = Proc::spawn(cli(
        &gw,
        "alice",
        &[
            "login",
            "--device-id",
            "desk",
            "--print-session-token",
            "--stay-signed-in",
        ],
    ));
    let printed = line(&mut first, "session token: ").await;
    let session = printed
        .split("session token: ")
        .nth(1)
        .expect("the token")
        .trim()
        .to_owned();
    let pid = first.child.id().expect("pid").to_string();
    Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .expect("kill");
    assert_eq!(first.exit_code(Duration::from_secs(20)).await, 0);
    assert!(
        first
            .seen
            .join("\n")
            .contains("this device stays signed in")
    );

    let out = cli(
        &gw,
        "alice",
        &["rename", "--device-id", "helper", "desk", " Work desk "],
    )
    .output()
    .await
    .expect("rename");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "desk is now named \"Work desk\""
    );
    let out = cli(
        &gw,
        "alice",
        &["rename", "--device-id", "helper", "desk", ""],
    )
    .output()
    .await
    .expect("rename");
    assert!(!out.status.success(), "an empty name is refused");

    let mut again = cli(&gw, "alice", &["login", "--json", "--device-id", "desk"]);
    again
        .env_remove("VESTIBULE_TOKEN")
        .env("VESTIBULE_SESSION_TOKEN", &session);
    let mut again = Proc::spawn(again);
    let connected = until(&mut again, "connected").await;
    assert_eq!(connected["info"]["newSession"], false, "the same session");
    let list = until(&mut again, "devicesChanged").await;
    let names: Vec<&str> = list["devices"]
        .as_array()
        .expect("devices")
        .iter()
        .filter_map(|d| d["name"].as_str())
        .collect();
    assert_eq!(names, ["Work desk"], "and the helpers logged out: {list}");
    again.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pair_shows_a_code_and_approve_signs_that_terminal_in() {
    let gw = gateway().await;
    let pair = |device: &str| {
        let mut command = Command::new(BIN);
        command
            .args(["pair", "--json", "--url", &gw.ws_url(), "--app-key", "demo"])
            .args(["--device-id", device, "--device-type", "Mac"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        Proc::spawn(command)
    };
    let mut waiting = pair("mac-1");
    let shown = until(&mut waiting, "pairCode").await;
    let code = shown["code"].as_str().expect("code").to_owned();

    // A wrong code is refused plainly (exit 3), and so is a "no".
    let out = cli(&gw, "alice", &["approve", "--yes", "ZZZZ-ZZZZ"])
        .output()
        .await
        .expect("approve a wrong code");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such code"));
    let mut asked = cli(&gw, "alice", &["approve", &code]);
    asked.stdin(Stdio::piped());
    let mut child = asked.spawn().expect("approve, asking");
    {
        use tokio::io::AsyncWriteExt as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"n\n").await.expect("answer no");
    }
    let out = child.wait_with_output().await.expect("approve exits");
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("Mac") && said.contains("127.0.0.1"),
        "who asks: {said}"
    );
    assert!(said.contains("not approved"), "{said}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Sign this device in to alice?"),
        "it asks first"
    );

    // Approved: the waiting terminal is signed in to alice.
    let out = cli(&gw, "alice", &["approve", "--yes", &code.to_lowercase()])
        .output()
        .await
        .expect("approve");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("approved: mac-1 (Mac) is signed in to alice"),
        "{said}"
    );
    let paired = until(&mut waiting, "paired").await;
    assert_eq!(paired["account"], "alice");
    assert_eq!(waiting.exit_code(Duration::from_secs(10)).await, 0);
    let devices = gw.registry().devices("demo", "alice").await;
    assert!(
        devices
            .devices
            .iter()
            .any(|d| d.device_id == "mac-1" && !d.online),
        "the paired device is signed in (offline until it logs in): {:?}",
        devices.devices
    );
    // Used: a second approval is refused.
    let out = cli(&gw, "alice", &["approve", "--yes", &code])
        .output()
        .await
        .expect("approve again");
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already used"));
}

/// The proxy comes from the environment as curl reads it (HTTP_PROXY for
/// ws://), NO_PROXY exempts a host, and --proxy direct ignores both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_comes_from_the_environment_unless_no_proxy_or_direct_says_otherwise() {
    let gw = gateway().await;
    let tinyproxy = vestibule_testkit::proxies::tinyproxy(Some(("alice", "s3cret"))).await;
    let via = format!("http://alice:s3cret@127.0.0.1:{}", tinyproxy.port);
    let tunnels = || tinyproxy.log().matches("): CONNECT ").count();

    let mut proxied = cli(&gw, "alice", &["login", "--json"]);
    proxied.env("HTTP_PROXY", &via).env_remove("NO_PROXY");
    let mut proxied = Proc::spawn(proxied);
    until(&mut proxied, "connected").await;
    assert!(tunnels() >= 1, "through tinyproxy: {}", tinyproxy.log());
    let before = tunnels();

    for (no_proxy, flag) in [(Some("localhost,127.0.0.1"), None), (None, Some("direct"))] {
        let mut args = vec!["login", "--json"];
        if let Some(flag) = flag {
            args.extend(["--proxy", flag]);
        }
        let mut direct = cli(&gw, "alice", &args);
        direct.env("HTTP_PROXY", &via);
        match no_proxy {
            Some(list) => direct.env("NO_PROXY", list),
            None => direct.env_remove("NO_PROXY"),
        };
        let mut direct = Proc::spawn(direct);
        until(&mut direct, "connected").await;
    }
    assert_eq!(tunnels(), before, "NO_PROXY and --proxy direct go straight");

    // A proxy that wants a password it does not get: the CLI says so.
    let mut refused = cli(&gw, "alice", &["login"]);
    refused.env("HTTP_PROXY", format!("http://127.0.0.1:{}", tinyproxy.port));
    let mut refused = Proc::spawn(refused);
    let line = line(&mut refused, "proxy refused").await;
    assert!(line.contains("407 Proxy Authentication Required"), "{line}");
}
