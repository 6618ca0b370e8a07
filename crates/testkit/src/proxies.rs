//! Real proxy servers on loopback for the proxy tests: Debian's tinyproxy
//! (HTTP CONNECT, optionally with basic auth) and dante (SOCKS5), each with
//! its own config in a temporary directory, killed with the test. Their log
//! tells a test which tunnels they opened.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// A proxy server process.
#[derive(Debug)]
pub struct ProxyServer {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
    log: PathBuf,
    _dir: TempDir,
}

impl ProxyServer {
    /// Everything it logged so far (tinyproxy logs each tunnel as
    /// `Request (file descriptor N): CONNECT host:port HTTP/1.1`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops it now.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// tinyproxy on a free port, allowing CONNECT to any port; with `auth`,
/// only for that user and password (basic auth).
pub async fn tinyproxy(auth: Option<(&str, &str)>) -> ProxyServer {
    let dir = TempDir::new("tinyproxy");
    let port = crate::free_port();
    let log = dir.path.join("tinyproxy.log");
    let mut conf = format!(
        "Port {port}\nListen 127.0.0.1\nTimeout 60\nMaxClients 100\nAllow 127.0.0.1\nLogLevel Info\nLogFile \"{}\"\n",
        log.display()
    );
    if let Some((user, password)) = auth {
        conf.push_str(&format!("BasicAuth {user} {password}\n"));
    }
    let path = dir.path.join("tinyproxy.conf");
    std::fs::write(&path, conf).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    // Readable by the unprivileged user tinyproxy may switch to.
    allow_all(&dir.path);
    let child = spawn(
        Command::new("tinyproxy").arg("-d").arg("-c").arg(&path),
        "tinyproxy (package tinyproxy; scripts/setup.sh --test installs it)",
    );
    started(child, port, log, dir).await
}

/// dante's `danted` on a free port: SOCKS5 CONNECT without authentication,
/// from and to loopback.
pub async fn dante() -> ProxyServer {
    let dir = TempDir::new("dante");
    let port = crate::free_port();
    let log = dir.path.join("danted.log");
    let conf = format!(
        "logoutput: {log}\n\
         internal: 127.0.0.1 port = {port}\n\
         external: 127.0.0.1\n\
         socksmethod: none\n\
         clientmethod: none\n\
         user.privileged: root\n\
         user.unprivileged: nobody\n\
         client pass {{\n from: 127.0.0.0/8 to: 0.0.0.0/0\n log: connect error\n}}\n\
         socks pass {{\n from: 127.0.0.0/8 to: 127.0.0.0/8\n command: connect\n log: connect error\n}}\n",
        log = log.display()
    );
    let path = dir.path.join("danted.conf");
    std::fs::write(&path, conf).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    allow_all(&dir.path);
    let child = spawn(
        Command::new("danted")
            .arg("-f")
            .arg(&path)
            .arg("-p")
            .arg(dir.path.join("danted.pid")),
        "danted (package dante-server; scripts/setup.sh --test installs it)",
    );
    started(child, port, log, dir).await
}

fn spawn(command: &mut Command, what: &str) -> Child {
    command
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"))
}

/// Waits (real time, 10 s at most) until it accepts connections.
async fn started(mut child: Child, port: u16, log: PathBuf, dir: TempDir) -> ProxyServer {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return ProxyServer {
                child,
                port,
                log,
                _dir: dir,
            };
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the proxy exited ({status}) before listening; its log: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the proxy is not listening on {port} after 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn allow_all(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777));
}

/// A directory removed on drop.
#[derive(Debug)]
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(what: &str) -> Self {
        let path = std::env::temp_dir().join(format!(
            "vestibule-{what}-{}-{}",
            std::process::id(),
            crate::free_port()
        ));
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        Self { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
