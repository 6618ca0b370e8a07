//! A throwaway Redis for tests and benchmarks.

use std::time::Duration;

/// A throwaway `redis-server` on a free loopback port (no persistence),
/// killed on drop. Needs Debian's `redis-server` (scripts/setup.sh --test installs it).
#[derive(Debug)]
pub struct RedisServer {
    child: std::process::Child,
    port: u16,
}

impl RedisServer {
    /// Starts one and waits until it answers.
    pub fn start() -> std::io::Result<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        Self::start_on(port)
    }

    /// Starts one on `port` (to restart a server where clients expect it).
    pub fn start_on(port: u16) -> std::io::Result<Self> {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                // The cluster benchmark holds thousands of node connections.
                "--maxclients",
                "10000",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("redis-server: {e} (install Debian's redis-server)"),
                )
            })?;
        let server = Self { child, port };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut stream) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                use std::io::{Read, Write};
                let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
                let mut reply = [0u8; 7];
                if stream.write_all(b"PING\r\n").is_ok()
                    && stream.read_exact(&mut reply).is_ok()
                    && &reply == b"+PONG\r\n"
                {
                    return Ok(server);
                }
            }
            if std::time::Instant::now() > deadline {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "redis-server did not answer",
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL) and waits for it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A throwaway Redis Cluster on loopback: three primaries, each with one
/// replica (`redis-server --cluster-enabled yes`, `redis-cli --cluster
/// create`), a short node timeout so a killed primary's replica takes over
/// within a few seconds. Killed, and its directory removed, on drop.
#[derive(Debug)]
pub struct RedisCluster {
    nodes: Vec<Option<std::process::Child>>,
    ports: Vec<u16>,
    dir: std::path::PathBuf,
}

/// How long a node may be silent before the cluster fails it over (ms).
pub const CLUSTER_NODE_TIMEOUT_MS: u64 = 1000;

/// A port `p` with `p + 10000` (its cluster bus) free too.
fn cluster_port(taken: &[u16]) -> std::io::Result<u16> {
    for _ in 0..200 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        if port >= 55_000 || taken.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port + 10_000)).is_ok() {
            return Ok(port);
        }
    }
    Err(std::io::Error::other(
        "no free port pair for a cluster node",
    ))
}

/// Sends one inline command and returns the whole reply (one read).
fn ask(port: u16, command: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_millis(1000)))?;
    stream.write_all(format!("{command}\r\n").as_bytes())?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = stream.read(&mut chunk)?;
        reply.extend_from_slice(&chunk[..n]);
        // A bulk reply is complete when its announced length has arrived.
        let text = String::from_utf8_lossy(&reply);
        let done = match text.strip_prefix('$') {
            Some(rest) => rest.split_once("\r\n").is_some_and(|(len, body)| {
                len.parse::<usize>().is_ok_and(|len| body.len() >= len + 2)
            }),
            None => text.ends_with("\r\n"),
        };
        if n == 0 || done {
            return Ok(text.into_owned());
        }
    }
}

impl RedisCluster {
    /// Starts six nodes, makes them a cluster and waits until it is ok everywhere.
    pub fn start() -> std::io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "vestibule-redis-cluster-{}-{}",
            std::process::id(),
            super::process::free_port()
        ));
        std::fs::create_dir_all(&dir)?;
        let mut cluster = Self {
            nodes: Vec::new(),
            ports: Vec::new(),
            dir,
        };
        for _ in 0..6 {
            let port = cluster_port(&cluster.ports)?;
            let child = std::process::Command::new("redis-server")
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
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    &format!("nodes-{port}.conf"),
                    "--cluster-node-timeout",
                    &CLUSTER_NODE_TIMEOUT_MS.to_string(),
                    "--dir",
                    &cluster.dir.display().to_string(),
                ])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| {
                    std::io::Error::new(
                        e.kind(),
                        format!("redis-server: {e} (install Debian's redis-server)"),
                    )
                })?;
            cluster.nodes.push(Some(child));
            cluster.ports.push(port);
            wait_until(Duration::from_secs(10), || {
                ask(port, "PING").is_ok_and(|r| r.starts_with("+PONG"))
            })?;
        }
        let addresses: Vec<String> = cluster
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let out = std::process::Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| std::io::Error::new(e.kind(), format!("redis-cli: {e}")))?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&out.stdout)
            )));
        }
        let ports = cluster.ports.clone();
        wait_until(Duration::from_secs(30), || {
            ports
                .iter()
                .all(|p| ask(*p, "CLUSTER INFO").is_ok_and(|r| r.contains("cluster_state:ok")))
        })?;
        // Every replica has finished its first sync, so a failover loses nothing written so far.
        wait_until(Duration::from_secs(30), || {
            ports.iter().all(|p| {
                ask(*p, "INFO replication")
                    .is_ok_and(|r| !r.contains("role:slave") || r.contains("master_link_status:up"))
            })
        })?;
        Ok(cluster)
    }

    /// The seed URLs of every node (`redis://127.0.0.1:PORT`).
    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }

    /// The process ids of the nodes still running (for CPU accounting).
    pub fn pids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .flatten()
            .map(std::process::Child::id)
            .collect()
    }

    /// The seeds as one `--redis-cluster` value.
    pub fn seeds(&self) -> String {
        self.urls().join(",")
    }

    /// The ports of the nodes that are primaries now (as the live ones see it).
    pub fn primaries(&self) -> Vec<u16> {
        self.live_ports()
            .into_iter()
            .filter(|p| ask(*p, "ROLE").is_ok_and(|r| r.contains("master")))
            .collect()
    }

    /// The port of the primary that holds `key`'s slot now, as the live
    /// nodes say (a node that does not hold it answers `MOVED slot host:port`).
    pub fn primary_of(&self, key: &str) -> Option<u16> {
        let port = *self.live_ports().first()?;
        let reply = ask(port, &format!("EXISTS {key}")).ok()?;
        match reply.strip_prefix("-MOVED ") {
            Some(moved) => moved
                .split_whitespace()
                .nth(1)?
                .rsplit(':')
                .next()?
                .trim()
                .parse()
                .ok(),
            None if reply.starts_with(':') => Some(port),
            None => None,
        }
    }

    /// Whether the gateway node `id` is still in the cluster's node set
    /// (a survivor takes a dead node out once its sessions are purged);
    /// `None` when Redis did not answer, which says neither.
    pub fn node_listed(&self, id: &str) -> Option<bool> {
        let key = "{vst}:nodes";
        let port = self.primary_of(key)?;
        let reply = ask(port, &format!("SISMEMBER {key} {id}")).ok()?;
        match reply.get(..2) {
            Some(":1") => Some(true),
            Some(":0") => Some(false),
            _ => None,
        }
    }

    fn live_ports(&self) -> Vec<u16> {
        self.ports
            .iter()
            .zip(&self.nodes)
            .filter(|(_, child)| child.is_some())
            .map(|(p, _)| *p)
            .collect()
    }

    /// Kills the node on `port` (SIGKILL), as a crash would.
    pub fn kill(&mut self, port: u16) {
        if let Some(i) = self.ports.iter().position(|p| *p == port)
            && let Some(mut child) = self.nodes[i].take()
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Waits until the surviving nodes agree the cluster is ok again (a
    /// replica took over every slot of a killed primary).
    pub fn wait_ok(&self, within: Duration) -> std::io::Result<()> {
        let live = self.live_ports();
        wait_until(within, || {
            live.iter()
                .all(|p| ask(*p, "CLUSTER INFO").is_ok_and(|r| r.contains("cluster_state:ok")))
        })
    }
}

fn wait_until(within: Duration, mut ready: impl FnMut() -> bool) -> std::io::Result<()> {
    let deadline = std::time::Instant::now() + within;
    while !ready() {
        if std::time::Instant::now() > deadline {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the Redis Cluster did not get ready",
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for child in self.nodes.iter_mut().filter_map(Option::take) {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
