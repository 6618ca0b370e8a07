//! `vestibule-gateway serve`: run the login gateway.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use vestibule_gateway::{Gateway, GatewayConfig, Storage};

#[derive(Debug, Parser)]
#[command(
    name = "vestibule-gateway",
    version,
    about = "Vestibule's IM login gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve WebSocket logins, the admin API, /healthz and /metrics.
    Serve(ServeArgs),
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "VESTIBULE_LISTEN", default_value = "127.0.0.1:7878")]
    listen: SocketAddr,
    /// Directory for the SQLite database (default: the platform data dir).
    #[arg(long, env = "VESTIBULE_DATA_DIR", conflicts_with = "memory")]
    data_dir: Option<PathBuf>,
    /// Keep everything in memory; nothing survives a restart.
    #[arg(long, env = "VESTIBULE_MEMORY")]
    memory: bool,
    /// The admin API's bearer key (default: the stored one, or a new one printed once).
    #[arg(long, env = "VESTIBULE_ADMIN_KEY", hide_env_values = true)]
    admin_key: Option<String>,
    /// The demo app's secret when it is created (default: generated).
    #[arg(long, env = "VESTIBULE_DEMO_SECRET", hide_env_values = true)]
    demo_secret: Option<String>,
    /// Do not create the demo app.
    #[arg(long, env = "VESTIBULE_NO_DEMO")]
    no_demo: bool,
    /// Close connections silent for this many seconds.
    #[arg(long, env = "VESTIBULE_IDLE_TIMEOUT", default_value_t = 45)]
    idle_timeout: u64,
    /// Close connections that send no login this many seconds after connecting.
    #[arg(long, env = "VESTIBULE_LOGIN_DEADLINE", default_value_t = 10)]
    login_deadline: u64,
    /// How many seconds a pairing code may be approved.
    #[arg(long, env = "VESTIBULE_PAIR_CODE_TTL", default_value_t = 120)]
    pair_code_ttl: u64,
    /// Run as a node of a cluster sharing this Redis (e.g. redis://127.0.0.1:6379).
    #[arg(long, env = "VESTIBULE_REDIS", conflicts_with_all = ["data_dir", "memory", "redis_cluster"])]
    redis: Option<String>,
    /// Run as a node of a cluster sharing this Redis Cluster, given by some of
    /// its nodes (comma-separated, e.g. redis://10.0.0.1:7000,redis://10.0.0.2:7000).
    #[arg(
        long,
        env = "VESTIBULE_REDIS_CLUSTER",
        value_delimiter = ',',
        conflicts_with_all = ["data_dir", "memory"]
    )]
    redis_cluster: Vec<String>,
    /// This node's id in the cluster (default: random).
    #[arg(long, env = "VESTIBULE_NODE_ID")]
    node_id: Option<String>,
    /// The WebSocket URL clients use to reach this node, listed by
    /// `GET /v1/lbs` (default: ws:// or wss:// on the listening address).
    #[arg(long, env = "VESTIBULE_PUBLIC_URL")]
    public_url: Option<String>,
    /// Admit at most this many logins per second; beyond it logins get 503
    /// with retryAfterMs (clients back off). 0: no limit.
    #[arg(long, env = "VESTIBULE_MAX_LOGINS_PER_SEC", default_value_t = 0)]
    max_logins_per_sec: u32,
    /// Login attempts per client IP per minute before 416 + retryAfterMs. 0: no limit.
    #[arg(long, env = "VESTIBULE_ATTEMPTS_PER_IP", default_value_t = vestibule_gateway::DEFAULT_ATTEMPTS_PER_IP.per_minute)]
    attempts_per_ip: u32,
    /// Failed logins per account and client IP per minute before that address
    /// gets 416 + retryAfterMs (even with the right token). 0: no limit.
    #[arg(long, env = "VESTIBULE_FAILURES_PER_ACCOUNT_AND_IP", default_value_t = vestibule_gateway::DEFAULT_FAILURES_PER_ACCOUNT_AND_IP.per_minute)]
    failures_per_account_and_ip: u32,
    /// Failed logins per account per minute from all addresses together
    /// before every address gets 416 (a ceiling for guessing botnets). 0: no limit.
    #[arg(long, env = "VESTIBULE_FAILURES_PER_ACCOUNT", default_value_t = vestibule_gateway::DEFAULT_FAILURES_PER_ACCOUNT.per_minute)]
    failures_per_account: u32,
    /// Open connections per client IP (beyond: HTTP 429). 0: no limit.
    #[arg(long, env = "VESTIBULE_CONNECTIONS_PER_IP", default_value_t = vestibule_gateway::DEFAULT_CONNECTIONS_PER_IP)]
    connections_per_ip: u32,
    /// Open connections in all (beyond: HTTP 503 "server full"). 0: the
    /// open-file limit less a reserve of 256.
    #[arg(long, env = "VESTIBULE_MAX_CONNECTIONS", default_value_t = 0)]
    max_connections: u32,
    /// A browser origin allowed to open WebSockets (repeatable; default: any).
    /// Clients that send no Origin header are always allowed.
    #[arg(
        long = "allowed-origin",
        env = "VESTIBULE_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    allowed_origins: Vec<String>,
    /// Serve wss:// with this PEM certificate chain (with --tls-key).
    #[arg(long, env = "VESTIBULE_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key for --tls-cert.
    #[arg(long, env = "VESTIBULE_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

fn rate(per_minute: u32) -> Option<vestibule_gateway::guard::Rate> {
    (per_minute > 0).then_some(vestibule_gateway::guard::Rate {
        burst: per_minute,
        per_minute,
    })
}

fn default_data_dir() -> anyhow::Result<PathBuf> {
    directories::ProjectDirs::from("im", "Vestibule", "vestibule")
        .map(|dirs| dirs.data_dir().join("gateway"))
        .context("no home directory to keep data in; pass --data-dir or --memory")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,vestibule_gateway=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let Command::Serve(args) = Cli::parse().command;
    vestibule_gateway::raise_descriptor_limit();
    let redis = match (args.redis.clone(), args.redis_cluster.clone()) {
        (Some(url), _) => Some(vestibule_gateway::RedisTarget::Single(url)),
        (None, seeds) if !seeds.is_empty() => Some(vestibule_gateway::RedisTarget::Cluster(seeds)),
        (None, _) => None,
    };
    let storage = if args.memory || redis.is_some() {
        Storage::Memory
    } else {
        Storage::Dir(match args.data_dir {
            Some(dir) => dir,
            None => default_data_dir()?,
        })
    };
    let admin_key_given = args.admin_key.is_some();
    let mut config = GatewayConfig::new(args.listen);
    config.storage = storage.clone();
    config.admin_key = args.admin_key;
    config.demo_secret = args.demo_secret;
    config.seed_demo = !args.no_demo;
    config.idle_timeout = Duration::from_secs(args.idle_timeout.max(1));
    config.login_deadline = Duration::from_secs(args.login_deadline.max(1));
    config.pair_code_ttl = Duration::from_secs(args.pair_code_ttl.clamp(5, 600));
    config.redis = redis;
    config.node_id = args.node_id.clone();
    config.public_url = args.public_url.clone();
    config.max_logins_per_sec = (args.max_logins_per_sec > 0).then_some(args.max_logins_per_sec);
    config.attempts_per_ip = rate(args.attempts_per_ip);
    config.failures_per_account = rate(args.failures_per_account);
    config.failures_per_account_and_ip = rate(args.failures_per_account_and_ip);
    // Fault injection for the soak's self-test; never set in production.
    config.panic_on_account = std::env::var("VESTIBULE_TEST_PANIC_ACCOUNT").ok();
    config.max_connections = (args.max_connections > 0).then_some(args.max_connections);
    config.max_connections_per_ip =
        (args.connections_per_ip > 0).then_some(args.connections_per_ip);
    config.allowed_origins = args.allowed_origins.clone();
    config.tls = match (args.tls_cert.clone(), args.tls_key.clone()) {
        (Some(cert), Some(key)) => Some(vestibule_gateway::TlsFiles { cert, key }),
        _ => None,
    };
    let gateway = Gateway::start(config)
        .await
        .context("cannot start the gateway")?;
    print_banner(&gateway, &storage, admin_key_given);

    shutdown_signal().await;
    eprintln!("shutting down: closing sessions (clients will reconnect elsewhere or later)");
    gateway.shutdown().await;
    Ok(())
}

fn print_banner(gateway: &Gateway, storage: &Storage, admin_key_given: bool) {
    println!("Vestibule gateway listening on {}", gateway.ws_url());
    println!(
        "  health:  {}/healthz   metrics: {}/metrics",
        gateway.http_url(),
        gateway.http_url()
    );
    match storage {
        Storage::Memory if gateway.cluster_node().is_some() => {
            println!(
                "  cluster: node {} (shared through Redis)",
                gateway.cluster_node().unwrap_or_default()
            );
        }
        Storage::Memory => println!("  data:    in memory (nothing is kept after exit)"),
        Storage::Dir(dir) => println!(
            "  data:    {}",
            dir.join(vestibule_gateway::store::DB_FILE).display()
        ),
    }
    match gateway.generated_admin_key() {
        Some(key) => println!("  admin key (shown once, keep it): {key}"),
        None if admin_key_given => println!("  admin key: the one given with --admin-key"),
        None => {
            println!("  admin key: the one printed at first start (pass --admin-key to replace it)")
        }
    }
    if let Some(demo) = gateway.demo() {
        let secret = demo.secret.expose();
        println!();
        println!("Demo app: appKey \"{}\", secret \"{secret}\"", demo.app_key);
        match vestibule_protocol::token::mint(
            secret,
            &demo.app_key,
            "alice",
            Duration::from_secs(24 * 3600),
        ) {
            Ok(token) => {
                println!("  log in as alice (token valid 24 h):");
                println!(
                    "    vestibule-cli login --url {} --app-key {} --account alice --token {}",
                    gateway.ws_url(),
                    demo.app_key,
                    token.expose()
                );
            }
            Err(e) => println!("  (could not mint a demo token: {e})"),
        }
        println!("  a token for any account:");
        println!(
            "    vestibule-cli token --secret {secret} --app-key {} --account bob --ttl 86400",
            demo.app_key
        );
    }
    println!();
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
