//! `vestibule-bench`: Vestibule's benchmarks, each figure reported next to a
//! raw tokio-tungstenite baseline measured in the same run.
//!
//! ```text
//! cargo build --release -p vestibule-gateway -p vestibule-bench
//! target/release/vestibule-bench run            # the full run (a few minutes)
//! target/release/vestibule-bench run --quick    # every scenario, small (the test command's smoke test)
//! ```

mod net;
mod procs;
mod rejoin;
mod report;
mod scenarios;
mod soak;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Parser, Subcommand};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use vestibule_protocol::{DeviceType, ServerFrame};

use crate::report::Row;
use crate::scenarios::Scale;

#[derive(Debug, Parser)]
#[command(
    name = "vestibule-bench",
    about = "Vestibule's benchmarks, as ratios against a raw baseline"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the scenarios and report.
    Run {
        /// Every scenario at small scale, as a smoke test (figures are not meaningful).
        #[arg(long)]
        quick: bool,
        /// Only these scenarios (memory, throughput, latency, kick, push, storm, cluster).
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Where to write bench.json and bench.md.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
    },
    /// A bounded soak through a fault-injecting proxy; fails on panics, leftover
    /// sessions, ghost devices or memory growth.
    Soak {
        /// How long to run.
        #[arg(long, default_value_t = 120)]
        seconds: u64,
        /// Where to write soak.json.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
        /// Self-test: plant a panic in the gateway (the soak must then fail).
        #[arg(long, hide = true)]
        plant_panic: bool,
    },
    /// The raw baseline: accept a WebSocket (4 KiB read buffer), answer one frame, hold.
    BaselineServer {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:0")]
        listen: SocketAddr,
    },
    /// Open and hold logged-in connections (a separate process, so the
    /// measured server shares no memory with its clients). Exits when stdin closes.
    Hold {
        /// The server.
        #[arg(long)]
        target: SocketAddr,
        /// How many connections.
        #[arg(long)]
        count: usize,
        /// Loopback source address to connect from; the second octet is varied
        /// over 64 values so ephemeral ports never run out.
        #[arg(long, default_value = "127.0.0.1")]
        source: std::net::Ipv4Addr,
        /// Account name prefix (one account per connection).
        #[arg(long)]
        prefix: String,
        /// Send the baseline's echo frame instead of a login.
        #[arg(long)]
        baseline: bool,
        /// Logins in flight at once.
        #[arg(long, default_value_t = 256)]
        parallel: usize,
        /// Come back after a lost connection, like a client: backoff, then
        /// a live node from the first of these `GET /v1/lbs` URLs that answers.
        #[arg(long, value_delimiter = ',')]
        lbs: Vec<String>,
    },
}

const SCENARIOS: [&str; 9] = [
    "memory",
    "throughput",
    "latency",
    "kick",
    "push",
    "slowreader",
    "storm",
    "cluster",
    "desktop",
];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Run { quick, only, out } => run(Scale { quick }, &only, &out).await,
        Command::Soak {
            seconds,
            out,
            plant_panic,
        } => {
            let report = soak::soak(Duration::from_secs(seconds), plant_panic).await?;
            let json = serde_json::to_string_pretty(&report)?;
            std::fs::create_dir_all(&out)?;
            std::fs::write(out.join("soak.json"), &json)?;
            println!("{json}");
            Ok(())
        }
        Command::BaselineServer { listen } => baseline_server(listen).await,
        Command::Hold {
            target,
            count,
            source,
            prefix,
            baseline,
            parallel,
            lbs,
        } => hold(target, count, source, &prefix, baseline, parallel, lbs).await,
    }
}

async fn run(scale: Scale, only: &[String], out: &std::path::Path) -> anyhow::Result<()> {
    scenarios::preflight()?;
    for name in only {
        anyhow::ensure!(
            SCENARIOS.contains(&name.as_str()),
            "unknown scenario {name:?}; known: {}",
            SCENARIOS.join(", ")
        );
    }
    let started = Instant::now();
    let mut rows: Vec<Row> = Vec::new();
    for name in SCENARIOS {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        eprintln!("== {name}");
        let t = Instant::now();
        let result = match name {
            "memory" => scenarios::memory(scale).await,
            "throughput" => scenarios::throughput(scale).await,
            "latency" => scenarios::login_latency(scale).await,
            "kick" => scenarios::kicks(scale).await,
            "push" => scenarios::pushes(scale).await,
            "slowreader" => scenarios::slow_reader(scale).await,
            "storm" => scenarios::storm(scale).await,
            "desktop" => scenarios::desktop(scale).await,
            _ => scenarios::cluster(scale).await,
        };
        let found = result.with_context(|| format!("scenario {name}"))?;
        for row in &found {
            eprintln!("   {}: {:.3} {}", row.metric, row.value, row.unit);
        }
        eprintln!("   ({:.1} s)", t.elapsed().as_secs_f64());
        rows.extend(found);
    }
    let table = report::markdown(&rows);
    let json = serde_json::json!({
        "quick": scale.quick,
        "seconds": started.elapsed().as_secs_f64(),
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "rows": rows,
    });
    std::fs::create_dir_all(out)?;
    std::fs::write(out.join("bench.json"), serde_json::to_vec_pretty(&json)?)?;
    std::fs::write(out.join("bench.md"), &table)?;
    println!("{table}");
    println!(
        "total {:.0} s; results in {}/bench.json and bench.md",
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(())
}

/// The baseline server: a minimal tokio-tungstenite server, one task per connection.
async fn baseline_server(listen: SocketAddr) -> anyhow::Result<()> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(listen)?;
    let listener = socket.listen(4096)?;
    println!("listening {}", listener.local_addr()?);
    let config = WebSocketConfig::default().read_buffer_size(4096);
    loop {
        let (stream, _) = listener.accept().await?;
        tokio::spawn(async move {
            let Ok(mut ws) =
                tokio_tungstenite::accept_async_with_config(stream, Some(config)).await
            else {
                return;
            };
            // Answer the first frame, then hold the connection.
            while let Some(Ok(message)) = ws.next().await {
                if let Message::Text(text) = message
                    && ws.send(Message::Text(text)).await.is_err()
                {
                    return;
                }
            }
        });
    }
}

/// Opens `count` logged-in connections (or baseline echoes) and holds them.
async fn hold(
    target: SocketAddr,
    count: usize,
    source: std::net::Ipv4Addr,
    prefix: &str,
    baseline: bool,
    parallel: usize,
    lbs: Vec<String>,
) -> anyhow::Result<()> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let permit = semaphore.clone().acquire_owned().await?;
        let account = format!("{prefix}-{i}");
        let [_, _, c, d] = source.octets();
        let source = std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 1 + (i % 64) as u8, c, d));
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            // A busy cluster says 503: back off and try again, as clients do.
            for attempt in 0..12u32 {
                let result = if baseline {
                    net::echo(target, Some(source), "{\"type\":\"ping\"}")
                        .await
                        .map(|ws| (ws, None))
                } else {
                    let token = net::token(&account);
                    match net::login(
                        target,
                        Some(source),
                        &account,
                        "held",
                        DeviceType::Pc,
                        &token,
                    )
                    .await
                    {
                        // Its session token: a client comes back with it, not with the app's token.
                        Ok((ws, ServerFrame::LoginOk(ok))) => Ok((ws, ok.session_token)),
                        Ok((_, other)) => Err(anyhow::anyhow!("refused: {other:?}")),
                        Err(e) => Err(e),
                    }
                };
                match result {
                    Ok((ws, session)) => return Ok((ws, account, source, session)),
                    Err(_) => {
                        let wait = 200 * u64::from(attempt.min(10) + 1);
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                }
            }
            Err(anyhow::anyhow!("connection {account} failed 12 times"))
        }));
    }
    let mut held = Vec::with_capacity(count);
    for t in tasks {
        held.push(t.await??);
    }
    if !lbs.is_empty() {
        // Says ready itself, once every connection is watched.
        return rejoin::keep(held, target, lbs).await;
    }
    println!("ready {}", held.len());
    // Hold until the parent closes stdin (or kills us).
    let mut buf = [0u8; 64];
    let mut stdin = tokio::io::stdin();
    while stdin.read(&mut buf).await.unwrap_or(0) > 0 {}
    drop(held);
    Ok(())
}
