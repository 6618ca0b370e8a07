//! The real `vestibule-cli` binary against a real gateway on 127.0.0.1:0.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};
use vestibule_gateway::{Gateway, GatewayConfig};

const SECRET: &str = "cli-tests-secret-0123456789";
const BIN: &str = env!("CARGO_BIN_EXE_vestibule-cli");

async fn gateway() -> Gateway {
    let mut config = GatewayConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.admin_key = Some("cli-tests-admin-key".into());
    config.demo_secret = Some(SECRET.into());
    let gw = Gateway::start(config).await.expect("gateway");
    let policy = serde_json::from_value(serde_json::json!({"mode": "all", "maxDevices": 10}))
        .expect("policy");
    gw.store().set_policy("demo", policy).await.expect("policy");
    gw
}

fn token(account: &str) -> String {
    vestibule_protocol::token::mint(SECRET, "demo", account, Duration::from_secs(600))
        .expect("mint")
        .expose()
        .to_owned()
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

struct Running {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<String>,
}

impl Running {
    fn start(mut command: Command) -> Self {
        let mut child = command.spawn().expect("spawn vestibule-cli");
        let stdout = child.stdout.take().expect("stdout");
        Self {
            child,
            lines: BufReader::new(stdout).lines(),
            seen: Vec::new(),
        }
    }

    /// Reads JSON lines until one has `"type": kind`.
    async fn until(&mut self, kind: &str) -> Value {
        let wait = tokio::time::timeout(Duration::from_secs(20), async {
            while let Some(line) = self.lines.next_line().await.expect("read stdout") {
                self.seen.push(line.clone());
                let value: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if value["type"] == kind {
                    return value;
                }
            }
            panic!("stdout ended before {kind}: {:?}", self.seen);
        });
        wait.await
            .unwrap_or_else(|_| panic!("no {kind} within 20 s: {:?}", self.seen))
    }

    async fn exit_code(&mut self) -> i32 {
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("exits within 20 s")
            .expect("wait");
        while let Ok(Some(line)) = self.lines.next_line().await {
            self.seen.push(line);
        }
        status.code().expect("exit code")
    }
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
    assert!(claims.exp >= claims.iat + 119 && claims.exp <= claims.iat + 121);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kick_from_a_third_process_makes_the_kicked_login_exit_4() {
    let gw = gateway().await;
    let mut a = Running::start(cli(
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
    a.until("ready").await;
    let mut b = Running::start(cli(
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
    b.until("ready").await;
    let list = a.until("devicesChanged").await;
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

    let kicked = b.until("disconnected").await;
    assert_eq!(kicked["info"]["reason"]["kind"], "kicked");
    assert_eq!(kicked["info"]["reason"]["reason"], "byDevice");
    assert_eq!(kicked["info"]["by"]["deviceId"], "kicker");
    assert_eq!(b.exit_code().await, 4);

    // a is untouched and leaves cleanly on Ctrl-C.
    let pid = a.child.id().expect("pid").to_string();
    let status = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .expect("kill");
    assert!(status.success());
    assert_eq!(a.exit_code().await, 0);
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
    let mut login = Running::start(command);
    assert_eq!(login.exit_code().await, 3);
    let text = login.seen.join("\n");
    assert!(text.contains("302"), "{text}");
    assert!(!text.contains("wrong-token"), "the token is never printed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn human_output_shows_the_session_and_the_devices() {
    let gw = gateway().await;
    let mut login = Running::start(cli(
        &gw,
        "alice",
        &["login", "--device-id", "desk", "--custom-tag", "office"],
    ));
    let wait = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = login.lines.next_line().await.expect("read") {
            login.seen.push(line.clone());
            if line.contains("(this device)") {
                return;
            }
        }
    });
    wait.await.expect("the device table within 20 s");
    let text = login.seen.join("\n");
    assert!(text.contains("connected as alice on desk"), "{text}");
    assert!(text.contains("1 device(s) online"), "{text}");
    let pid = login.child.id().expect("pid").to_string();
    Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .expect("kill");
    assert_eq!(login.exit_code().await, 0);
}
