//! The CLI hears the OS: a network namespace whose link the test cuts and
//! restores (a veth pair; CI runs as root), and a logind — a small service
//! on a private D-Bus — announcing sleep and wake.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::process::Command;
use vestibule_gateway::{Gateway, GatewayConfig};
use vestibule_testkit::{Proc, SECRET, token};

const BIN: &str = env!("CARGO_BIN_EXE_vestibule-cli");

fn is(kind: &str) -> impl Fn(&str) -> bool + '_ {
    move |line| serde_json::from_str::<Value>(line).is_ok_and(|v| v["type"] == kind)
}

async fn gateway_on(addr: SocketAddr) -> Gateway {
    let mut config = GatewayConfig::new(addr);
    config.demo_secret = Some(SECRET.into());
    Gateway::start(config).await.expect("gateway")
}

/// `vestibule-cli login --json` for alice, run through `wrapper` (e.g. `ip netns exec NS`).
fn login(url: &str, wrapper: &[&str]) -> Command {
    let mut command = Command::new(wrapper.first().copied().unwrap_or(BIN));
    if !wrapper.is_empty() {
        command.args(&wrapper[1..]).arg(BIN);
    }
    command
        .args(["login", "--json", "--url", url, "--app-key", "demo"])
        .args(["--account", "alice", "--device-id", "alice-cli"])
        .env("VESTIBULE_TOKEN", token("alice"))
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    command
}

fn ip(args: &[&str]) {
    let status = std::process::Command::new("ip")
        .args(args)
        .status()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e} (this test needs iproute2 and root)"));
    assert!(status.success(), "ip {args:?}: {status}");
}

/// A network namespace joined to this one by a veth pair: 10.231.N.1 here,
/// 10.231.N.2 inside. Removed on drop.
struct Netns {
    name: String,
    host_if: String,
    host_addr: String,
}

impl Netns {
    fn create() -> Self {
        let n = std::process::id() % 200 + 20;
        let name = format!("vst-cli-{n}");
        let host_if = format!("vsth{n}");
        let peer_if = format!("vstp{n}");
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &name])
            .stderr(Stdio::null())
            .status();
        ip(&["netns", "add", &name]);
        ip(&[
            "link", "add", &host_if, "type", "veth", "peer", "name", &peer_if,
        ]);
        ip(&["link", "set", &peer_if, "netns", &name]);
        let host_addr = format!("10.231.{n}.1");
        ip(&["addr", "add", &format!("{host_addr}/30"), "dev", &host_if]);
        ip(&["link", "set", &host_if, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", &name, "ip"];
            all.extend_from_slice(args);
            ip(&all);
        };
        inside(&["addr", "add", &format!("10.231.{n}.2/30"), "dev", &peer_if]);
        inside(&["link", "set", &peer_if, "up"]);
        inside(&["link", "set", "lo", "up"]);
        Self {
            name,
            host_if,
            host_addr,
        }
    }

    /// Plugs or unplugs the cable: inside, the link loses or regains its carrier.
    fn cable(&self, plugged: bool) {
        ip(&[
            "link",
            "set",
            &self.host_if,
            if plugged { "up" } else { "down" },
        ]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting the namespace deletes the pair.
        let _ = std::process::Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unplugged_cable_is_no_network_at_once_nothing_is_tried_and_the_plug_reconnects() {
    let ns = Netns::create();
    let gw = gateway_on(format!("{}:0", ns.host_addr).parse().expect("addr")).await;
    let wrapper = ["ip", "netns", "exec", ns.name.as_str()];
    let mut cli = Proc::spawn(login(&gw.ws_url(), &wrapper));
    cli.line_where(Duration::from_secs(20), is("connected"))
        .await;

    let cut = Instant::now();
    ns.cable(false);
    cli.line_where(Duration::from_secs(10), |line| {
        serde_json::from_str::<Value>(line)
            .is_ok_and(|v| v["type"] == "netState" && v["state"] == "disconnected")
    })
    .await;
    eprintln!("no network {:?} after the cable was pulled", cut.elapsed());
    // Unplugged, the client tries nothing (the old one redialed every
    // backoff step, ~0.5 s, 1 s, 2 s...).
    let dialed = cli
        .try_line_where(Duration::from_secs(4), is("dialing"))
        .await;
    assert!(dialed.is_err(), "dialed with no network: {dialed:?}");

    let plugged = Instant::now();
    ns.cable(true);
    cli.line_where(Duration::from_secs(10), is("dialing")).await;
    let first_dial = plugged.elapsed();
    cli.line_where(Duration::from_secs(10), is("connected"))
        .await;
    eprintln!(
        "plugged back: dialing after {first_dial:?}, connected after {:?}",
        plugged.elapsed()
    );
    let lost = cli
        .seen
        .iter()
        .filter(|l| l.contains("\"willReconnect\""))
        .count();
    assert_eq!(lost, 0, "no countdown at any point: {:?}", cli.seen);
}

/// logind's `org.freedesktop.login1.Manager`, as far as sleep goes.
struct Logind;

#[zbus::interface(name = "org.freedesktop.login1.Manager")]
impl Logind {
    #[zbus(signal)]
    async fn prepare_for_sleep(
        emitter: &zbus::object_server::SignalEmitter<'_>,
        start: bool,
    ) -> zbus::Result<()>;
}

/// A private bus (`dbus-daemon --session`) with a logind on it.
async fn private_logind(
    dir: &std::path::Path,
) -> (tokio::process::Child, String, zbus::Connection) {
    let address = format!("unix:path={}", dir.join("bus").display());
    let mut daemon = Command::new("dbus-daemon")
        .args(["--session", "--nofork", "--nopidfile"])
        .arg(format!("--address={address}"))
        .arg("--print-address=1")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("dbus-daemon (this test needs package dbus-daemon)");
    // It prints its address once it listens.
    let stdout = daemon.stdout.take().expect("stdout");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("dbus-daemon started")
        .expect("read")
        .expect("an address");
    let logind = zbus::connection::Builder::address(address.as_str())
        .expect("address")
        .name("org.freedesktop.login1")
        .expect("name")
        .serve_at("/org/freedesktop/login1", Logind)
        .expect("serve")
        .build()
        .await
        .expect("logind on the private bus");
    (daemon, address, logind)
}

async fn sleep_signal(logind: &zbus::Connection, start: bool) {
    let iface = logind
        .object_server()
        .interface::<_, Logind>("/org/freedesktop/login1")
        .await
        .expect("interface");
    Logind::prepare_for_sleep(iface.signal_emitter(), start)
        .await
        .expect("signal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wake_from_sleep_dials_at_once_instead_of_waiting_out_the_backoff() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_daemon, bus, logind) = private_logind(dir.path()).await;
    let gw = gateway_on("127.0.0.1:0".parse().expect("addr")).await;
    let addr = gw.local_addr();
    let url = gw.ws_url();
    let mut command = login(&url, &[]);
    command.env("DBUS_SYSTEM_BUS_ADDRESS", &bus);
    let mut cli = Proc::spawn(command);
    cli.line_where(Duration::from_secs(20), is("connected"))
        .await;

    // The gateway goes away; the client backs off until one wait is long
    // enough (≥ 5 s) to tell a wake's dial from the timer's even on a busy
    // machine, where starting the gateway again may take a second or more.
    gw.shutdown().await;
    let (delay, seen_at) = loop {
        let line = cli
            .line_where(Duration::from_secs(60), is("willReconnect"))
            .await;
        let v: Value = serde_json::from_str(&line).expect("json");
        let delay = Duration::from_millis(v["delayMs"].as_u64().expect("delayMs"));
        if delay >= Duration::from_secs(5) {
            break (delay, Instant::now());
        }
    };
    let _gw = gateway_on(addr).await;
    sleep_signal(&logind, true).await;
    sleep_signal(&logind, false).await;
    cli.line_where(Duration::from_secs(10), is("connected"))
        .await;
    let took = seen_at.elapsed();
    eprintln!("woke: connected {took:?} into a {delay:?} wait");
    assert!(
        took + Duration::from_millis(1500) < delay,
        "connected {took:?} into a {delay:?} wait: the timer, not the wake"
    );
}
