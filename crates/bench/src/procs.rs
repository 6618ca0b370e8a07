//! The processes a benchmark runs (gateway, baseline server, redis, holders)
//! and what /proc says about them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// A child process whose stdout is read line by line; killed on drop.
#[derive(Debug)]
pub struct Proc {
    /// The child.
    pub child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Proc {
    /// Spawns `command` with stdout piped and stdin piped (closing it stops holders).
    pub fn spawn(mut command: Command) -> anyhow::Result<Self> {
        command
            .stdout(Stdio::piped())
            .stdin(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("spawn {command:?}"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        Ok(Self {
            child,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// The pid.
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Reads lines until one starts with `prefix`; returns the rest of it.
    pub async fn expect_line(&mut self, prefix: &str, wait: Duration) -> anyhow::Result<String> {
        let found = tokio::time::timeout(wait, async {
            while let Ok(Some(line)) = self.lines.next_line().await {
                if let Some(rest) = line.strip_prefix(prefix) {
                    return Some(rest.trim().to_owned());
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(rest)) => Ok(rest),
            Ok(None) => bail!("process ended before printing {prefix:?}"),
            Err(_) => bail!("no {prefix:?} line within {wait:?}"),
        }
    }

    /// SIGKILL (a crash: no close frames, no notice), then wait for exit.
    pub async fn kill(mut self) {
        let _ = self.child.start_kill();
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
    }

    /// SIGTERM, then wait for exit.
    pub async fn terminate(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
        let _ = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await;
    }
}

/// A binary built next to this one (`target/<profile>/NAME`).
pub fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().ok_or_else(|| anyhow!("no parent"))?;
    let path = dir.join(name);
    if !path.exists() {
        bail!(
            "{} not found: build it (cargo build --release -p vestibule-gateway)",
            path.display()
        );
    }
    Ok(path)
}

/// A running `vestibule-gateway`.
#[derive(Debug)]
pub struct GatewayProc {
    /// The process.
    pub proc: Proc,
    /// Where it listens.
    pub addr: SocketAddr,
}

impl GatewayProc {
    /// Starts `vestibule-gateway serve` on `listen` with `extra` flags.
    pub async fn start(listen: &str, extra: &[&str]) -> anyhow::Result<Self> {
        let mut command = Command::new(sibling("vestibule-gateway")?);
        command
            .args([
                "serve",
                "--listen",
                listen,
                "--admin-key",
                crate::net::ADMIN_KEY,
                "--demo-secret",
                crate::net::SECRET,
            ])
            .args(extra)
            .env("RUST_LOG", "warn");
        let mut proc = Proc::spawn(command)?;
        let line = proc
            .expect_line(
                "Vestibule gateway listening on ws://",
                Duration::from_secs(30),
            )
            .await?;
        let addr = line
            .split('/')
            .next()
            .ok_or_else(|| anyhow!("no address in {line:?}"))?
            .parse()
            .with_context(|| format!("address in {line:?}"))?;
        Ok(Self { proc, addr })
    }

    /// `http://ADDR`.
    pub fn http(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the demo app's device policy through the admin API.
    pub async fn set_policy(&self, policy: serde_json::Value) -> anyhow::Result<()> {
        let status = reqwest::Client::new()
            .put(format!("{}/admin/v1/apps/demo/policy", self.http()))
            .bearer_auth(crate::net::ADMIN_KEY)
            .json(&policy)
            .send()
            .await?
            .status();
        anyhow::ensure!(status.is_success(), "policy: {status}");
        Ok(())
    }

    /// Logged-in sessions on this process (from /healthz).
    pub async fn sessions(&self) -> anyhow::Result<u64> {
        let body: serde_json::Value = reqwest::get(format!("{}/healthz", self.http()))
            .await?
            .json()
            .await?;
        body["sessions"]
            .as_u64()
            .ok_or_else(|| anyhow!("no sessions in {body}"))
    }
}

/// A throwaway `redis-server` on a free loopback port.
#[derive(Debug)]
pub struct RedisProc {
    child: Child,
    /// Its port.
    pub port: u16,
}

impl RedisProc {
    /// Starts one and waits until it answers PING.
    pub async fn start() -> anyhow::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--maxclients",
                "10000",
            ])
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("redis-server (install Debian's redis-server)")?;
        for _ in 0..100 {
            if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 7];
                if s.write_all(b"PING\r\n").await.is_ok()
                    && s.read_exact(&mut buf).await.is_ok()
                    && &buf == b"+PONG\r\n"
                {
                    return Ok(Self { child, port });
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("redis-server did not answer")
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time (user + system) a process has used.
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(") ")
        .map(|(_, r)| r.split_whitespace().collect())
        .unwrap_or_default();
    // After the command name: state is field 0, utime 11, stime 12 (in clock ticks).
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<u64>().ok())
        .sum();
    Duration::from_millis(ticks * 10)
}

/// Kernel memory used by TCP sockets, in KiB (`/proc/net/sockstat`, pages of 4 KiB).
pub fn tcp_kernel_kib() -> u64 {
    std::fs::read_to_string("/proc/net/sockstat")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("TCP:"))?.to_owned();
            let mut words = line.split_whitespace();
            while let Some(w) = words.next() {
                if w == "mem" {
                    return words.next()?.parse::<u64>().ok();
                }
            }
            None
        })
        .map_or(0, |pages| pages * 4)
}

/// Starts `vestibule-bench hold` as a separate process (so the measured
/// server does not share memory with its clients).
pub async fn hold(
    target: SocketAddr,
    count: usize,
    source: &str,
    prefix: &str,
    baseline: bool,
) -> anyhow::Result<Proc> {
    let mut command = Command::new(std::env::current_exe()?);
    command.args([
        "hold",
        "--target",
        &target.to_string(),
        "--count",
        &count.to_string(),
        "--source",
        source,
        "--prefix",
        prefix,
    ]);
    if baseline {
        command.arg("--baseline");
    }
    let mut proc = Proc::spawn(command)?;
    proc.expect_line("ready", Duration::from_secs(600)).await?;
    Ok(proc)
}
