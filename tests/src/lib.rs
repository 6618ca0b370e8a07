//! Helpers for the cross-process tests: spawn the real binaries (gateway,
//! CLI, desktop app through tauri-driver) on loopback with fresh state, and
//! make sure every process dies with its test.
//!
//! The binaries must be built first (`scripts/test.sh` does it):
//! `cargo build -p vestibule-gateway -p vestibule-cli -p vestibule-desktop`.

pub mod ui;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;
pub use vestibule_testkit::{ADMIN_KEY, Proc, SECRET, bin, free_port, token};

/// A `vestibule-gateway serve --memory` process on a free loopback port.
#[derive(Debug)]
pub struct GatewayProc {
    /// The process.
    pub proc: Proc,
    /// `ws://127.0.0.1:PORT/v1/ws`.
    pub url: String,
}

impl GatewayProc {
    /// Starts a gateway and waits until it listens.
    pub async fn start() -> Self {
        Self::start_with(&["--memory"]).await
    }

    /// Starts a node of a cluster on the Redis at `redis_url`.
    pub async fn node(redis_url: &str, node_id: &str) -> Self {
        Self::start_with(&["--redis", redis_url, "--node-id", node_id]).await
    }

    /// Starts a node of a cluster on the Redis Cluster with these seeds (comma-separated).
    pub async fn cluster_node(seeds: &str, node_id: &str) -> Self {
        Self::start_with(&["--redis-cluster", seeds, "--node-id", node_id]).await
    }

    /// Starts a gateway with `extra` flags.
    pub async fn start_with(extra: &[&str]) -> Self {
        let mut command = Command::new(bin("vestibule-gateway"));
        command.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-key",
            ADMIN_KEY,
            "--demo-secret",
            SECRET,
        ]);
        command.args(extra);
        command.env("RUST_LOG", "warn");
        let mut proc = Proc::spawn(command);
        let line = proc
            .line_where(Duration::from_secs(20), |l| {
                l.contains("listening on ws://")
            })
            .await;
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("ws://"))
            .unwrap_or_else(|| panic!("no URL in {line:?}"))
            .to_owned();
        Self { proc, url }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn http(&self) -> String {
        self.url
            .trim_end_matches("/v1/ws")
            .replacen("ws://", "http://", 1)
    }

    /// Kills the process with SIGKILL, like a crash.
    pub async fn kill9(self) {
        self.proc.kill().await;
    }

    /// The online devices of `account` (sorted ids) and the list's rev, as
    /// the admin API of this node lists them. A ghost is an online entry
    /// whose connection is gone (a device that left without logging out
    /// stays listed, offline).
    pub async fn online_devices(&self, account: &str) -> (Vec<String>, u64) {
        let body: serde_json::Value = reqwest::Client::new()
            .get(format!(
                "{}/admin/v1/apps/demo/accounts/{account}/devices",
                self.http()
            ))
            .bearer_auth(ADMIN_KEY)
            .send()
            .await
            .expect("admin")
            .json()
            .await
            .expect("json");
        let mut ids: Vec<String> = body["devices"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter(|d| d["online"] == true)
                    .filter_map(|d| d["deviceId"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        ids.sort();
        (ids, body["rev"].as_u64().unwrap_or(0))
    }

    /// Waits (up to `within`) until `account`'s online devices are `want`;
    /// returns how long it took.
    pub async fn until_online(&self, account: &str, want: &[&str], within: Duration) -> Duration {
        let start = std::time::Instant::now();
        loop {
            let (ids, _) = self.online_devices(account).await;
            if ids == want {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < within,
                "online devices of {account} stayed {ids:?}, wanted {want:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `vestibule-cli` with the connection flags for `account` on `gateway`.
pub fn cli(gateway: &GatewayProc, account: &str, args: &[&str]) -> Command {
    let mut command = Command::new(bin("vestibule-cli"));
    command
        .args(args)
        .args([
            "--url",
            &gateway.url,
            "--app-key",
            "demo",
            "--account",
            account,
        ])
        .env("VESTIBULE_TOKEN", token(account))
        .stderr(Stdio::inherit());
    command
}

/// Fresh HOME / XDG directories for one app run.
#[derive(Debug)]
pub struct AppHome {
    /// The temp dir holding them all.
    pub dir: PathBuf,
}

impl AppHome {
    /// Creates the directories under the system temp dir.
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("vestibule-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["home", "config", "data", "cache", "downloads"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        Self { dir }
    }

    /// Environment for the app: fresh HOME and XDG dirs.
    pub fn env(&self) -> Vec<(String, String)> {
        let p = |s: &str| self.dir.join(s).display().to_string();
        vec![
            ("HOME".into(), p("home")),
            ("XDG_CONFIG_HOME".into(), p("config")),
            ("XDG_DATA_HOME".into(), p("data")),
            ("XDG_CACHE_HOME".into(), p("cache")),
            ("XDG_DOWNLOAD_DIR".into(), p("downloads")),
        ]
    }

    /// The app's config directory.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.join("config/vestibule")
    }

    /// The fresh HOME.
    pub fn home_dir(&self) -> PathBuf {
        self.dir.join("home")
    }

    /// Everything the app logged to its files (every process that used this home).
    pub fn log_text(&self) -> String {
        let mut out = String::new();
        let dir = self.dir.join("data/vestibule/logs");
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .collect();
        files.sort();
        for file in files {
            out.push_str(&std::fs::read_to_string(&file).unwrap_or_default());
        }
        out
    }

    /// Every file under the app's directories, as text.
    pub fn all_text(&self) -> String {
        fn walk(dir: &Path, out: &mut String) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    out.push_str(&String::from_utf8_lossy(&bytes));
                    out.push('\n');
                }
            }
        }
        let mut out = String::new();
        walk(&self.dir, &mut out);
        out
    }
}

/// tauri-driver (with Debian's WebKitWebDriver) on free ports; stopped with SIGTERM on drop.
#[derive(Debug)]
pub struct Driver {
    proc: Proc,
    /// The WebDriver port.
    pub port: u16,
}

impl Driver {
    /// Starts tauri-driver with the app's environment and waits until it accepts connections.
    pub async fn start(home: &AppHome) -> Self {
        Self::start_inner(home, false).await
    }

    /// Like [`Driver::start`], inside a private D-Bus session with an unlocked
    /// GNOME Keyring (a real Secret Service) whose files live in the app's HOME.
    pub async fn start_with_keyring(home: &AppHome) -> Self {
        Self::start_inner(home, true).await
    }

    /// Like [`Driver::start`], with more environment for the app (and the driver).
    pub async fn start_with_env(home: &AppHome, env: &[(&str, &str)]) -> Self {
        Self::start_env(home, false, env).await
    }

    async fn start_inner(home: &AppHome, keyring: bool) -> Self {
        Self::start_env(home, keyring, &[]).await
    }

    async fn start_env(home: &AppHome, keyring: bool, env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let native = free_port();
        let driver = which("tauri-driver");
        let mut command = if keyring {
            let mut c = Command::new("dbus-run-session");
            c.args([
                "--",
                "sh",
                "-c",
                "echo -n vestibule-e2e | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec \"$0\" \"$@\"",
            ]);
            c.arg(&driver);
            c
        } else {
            Command::new(&driver)
        };
        command
            .args([
                "--port",
                &port.to_string(),
                "--native-port",
                &native.to_string(),
            ])
            .envs(home.env())
            // The app's WebKit: fewer processes and less memory without the DMA-BUF renderer.
            .env("WEBKIT_DISABLE_DMABUF_RENDERER", "1")
            .env("VESTIBULE_LOG", "info")
            .envs(env.iter().copied())
            .stderr(Stdio::null());
        let proc = Proc::spawn(command);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "tauri-driver did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { proc, port }
    }

    /// A WebDriver session running the real app.
    pub async fn session(&self, app: &Path) -> fantoccini::Client {
        self.session_with_args(app, &[]).await
    }

    /// A WebDriver session running the real app with these arguments.
    pub async fn session_with_args(&self, app: &Path, args: &[&str]) -> fantoccini::Client {
        // Two rustls providers are compiled in (ring for Vestibule, another
        // for the WebDriver client): name one for the process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), serde_json::json!("wry"));
        caps.insert(
            "wdio:enforceWebDriverClassic".into(),
            serde_json::json!(true),
        );
        caps.insert(
            "tauri:options".into(),
            serde_json::json!({ "application": app.display().to_string(), "args": args }),
        );
        fantoccini::ClientBuilder::rustls()
            .unwrap_or_else(|e| panic!("webdriver client: {e}"))
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .unwrap_or_else(|e| panic!("webdriver session: {e}"))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        self.proc.signal_terminate();
    }
}

/// The path of a program on PATH or in ~/.cargo/bin.
pub fn which(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(PathBuf::from(home).join(".cargo/bin"));
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{name} not found on PATH (scripts/setup.sh --test installs it)"))
}

/// A private D-Bus session bus (`dbus-daemon --session`) on a socket in
/// `dir`, for the app's single-instance guard; stopped on drop.
#[derive(Debug)]
pub struct SessionBus {
    _proc: Proc,
    /// `unix:path=…`, for `DBUS_SESSION_BUS_ADDRESS`.
    pub address: String,
}

impl SessionBus {
    /// Starts the bus and waits for its socket.
    pub async fn start(dir: &Path) -> Self {
        let socket = dir.join("session-bus");
        let _ = std::fs::remove_file(&socket);
        let address = format!("unix:path={}", socket.display());
        let mut command = Command::new("dbus-daemon");
        command.args([
            "--session",
            "--nofork",
            "--nopidfile",
            "--address",
            &address,
        ]);
        let proc = Proc::spawn(command);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "dbus-daemon did not create {}",
                socket.display()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self {
            _proc: proc,
            address,
        }
    }
}

/// The ids of the running processes whose executable is `exe`.
pub fn pids_running(exe: &Path) -> Vec<u32> {
    let exe = exe.canonicalize().unwrap_or_else(|_| exe.to_owned());
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let link = std::fs::read_link(entry.path().join("exe")).ok()?;
            (link == exe).then_some(pid)
        })
        .collect()
}

/// Whether process `pid` still runs (a zombie does not count).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            // The state follows the parenthesised command name.
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        })
        .unwrap_or(false)
}
