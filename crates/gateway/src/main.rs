//! `vestibule-gateway serve`: run the login gateway; `check-config` and
//! `print-config` for its configuration file.

mod config_file;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use config_file::{FileConfig, LogFormat, Secret};
use vestibule_gateway::{Gateway, GatewayConfig, Storage};

#[derive(Parser)]
#[command(
    name = "vestibule-gateway",
    version,
    about = "Vestibule's IM login gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve WebSocket logins, the admin API, /healthz and /metrics.
    Serve(ServeArgs),
    /// Check the configuration (file, environment and flags together) and exit:
    /// 0 when it would start, 1 with a message naming the bad key otherwise.
    CheckConfig(ServeArgs),
    /// Print the effective configuration (file, environment and flags
    /// merged) as a configuration file; secrets are shown as "<redacted>".
    PrintConfig {
        #[command(flatten)]
        args: ServeArgs,
        /// Print the admin key and demo secret as they are.
        #[arg(long)]
        show_secrets: bool,
    },
}

/// No `Debug`: it holds the admin key and the demo secret.
#[derive(Args)]
struct ServeArgs {
    /// The configuration file (default: /etc/vestibule/gateway.toml if it
    /// exists). Flags and environment variables override its keys.
    #[arg(long, env = "VESTIBULE_CONFIG")]
    config: Option<PathBuf>,
    /// Log lines as text or as JSON objects (one a line), on stderr.
    #[arg(long, env = "VESTIBULE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
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
    /// Serve wss:// with this PEM certificate chain (with --tls-key); reread on SIGHUP.
    #[arg(long, env = "VESTIBULE_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key for --tls-cert; reread on SIGHUP.
    #[arg(long, env = "VESTIBULE_TLS_KEY")]
    tls_key: Option<PathBuf>,
}

impl ServeArgs {
    /// Fills in, from the configuration file, every key not given on the
    /// command line or in the environment.
    fn merge_file(&mut self, matches: &ArgMatches, file: FileConfig) {
        let given = |id: &str| {
            matches!(
                matches.value_source(id),
                Some(ValueSource::CommandLine | ValueSource::EnvVariable)
            )
        };
        macro_rules! plain {
            ($($field:ident),*) => {$(
                if !given(stringify!($field))
                    && let Some(value) = file.$field
                {
                    self.$field = value;
                }
            )*};
        }
        macro_rules! optional {
            ($($field:ident),*) => {$(
                if !given(stringify!($field))
                    && let Some(value) = file.$field
                {
                    self.$field = Some(value.into());
                }
            )*};
        }
        plain!(
            listen,
            memory,
            no_demo,
            idle_timeout,
            login_deadline,
            pair_code_ttl,
            redis_cluster,
            max_logins_per_sec,
            attempts_per_ip,
            failures_per_account_and_ip,
            failures_per_account,
            connections_per_ip,
            max_connections,
            allowed_origins,
            log_format
        );
        optional!(data_dir, redis, node_id, public_url, tls_cert, tls_key);
        if !given("admin_key")
            && let Some(Secret(key)) = file.admin_key
        {
            self.admin_key = Some(key);
        }
        if !given("demo_secret")
            && let Some(Secret(secret)) = file.demo_secret
        {
            self.demo_secret = Some(secret);
        }
    }

    /// The effective settings as a configuration file (for `print-config`).
    fn to_file(&self, show_secrets: bool) -> FileConfig {
        let secret = |s: &Option<String>| {
            s.as_ref().map(|s| {
                Secret(if show_secrets {
                    s.clone()
                } else {
                    "<redacted>".to_owned()
                })
            })
        };
        FileConfig {
            listen: Some(self.listen),
            data_dir: self.data_dir.clone(),
            memory: Some(self.memory),
            admin_key: secret(&self.admin_key),
            demo_secret: secret(&self.demo_secret),
            no_demo: Some(self.no_demo),
            idle_timeout: Some(self.idle_timeout),
            login_deadline: Some(self.login_deadline),
            pair_code_ttl: Some(self.pair_code_ttl),
            redis: self.redis.clone(),
            redis_cluster: Some(self.redis_cluster.clone()),
            node_id: self.node_id.clone(),
            public_url: self.public_url.clone(),
            max_logins_per_sec: Some(self.max_logins_per_sec),
            attempts_per_ip: Some(self.attempts_per_ip),
            failures_per_account_and_ip: Some(self.failures_per_account_and_ip),
            failures_per_account: Some(self.failures_per_account),
            connections_per_ip: Some(self.connections_per_ip),
            max_connections: Some(self.max_connections),
            allowed_origins: Some(self.allowed_origins.clone()),
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
            log_format: Some(self.log_format),
        }
    }
}

/// Parsed arguments with the configuration file merged in.
struct Loaded {
    args: ServeArgs,
    /// The file read, if any, and a warning about its permissions.
    file: Option<(PathBuf, Option<String>)>,
}

/// Reads the configuration file named by `--config` (or the default one)
/// and merges it under the flags and environment.
fn load(mut args: ServeArgs, matches: &ArgMatches) -> anyhow::Result<Loaded> {
    let Some(path) = config_file::resolve_path(args.config.as_deref()) else {
        return Ok(Loaded { args, file: None });
    };
    let file = FileConfig::load(&path)?;
    let warning = config_file::world_readable_warning(&path, &file);
    args.merge_file(matches, file);
    Ok(Loaded {
        args,
        file: Some((path, warning)),
    })
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

fn main() -> anyhow::Result<()> {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let sub = matches
        .subcommand()
        .map(|(_, m)| m.clone())
        .context("a subcommand is required")?;
    match cli.command {
        Command::Serve(args) => {
            let loaded = load(args, &sub)?;
            init_logging(loaded.args.log_format);
            if let Some((path, warning)) = &loaded.file {
                tracing::info!(config = %path.display(), "configuration file read");
                if let Some(warning) = warning {
                    tracing::warn!("{warning}");
                }
            }
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?
                .block_on(serve(loaded.args))
        }
        Command::CheckConfig(args) => {
            let loaded = load(args, &sub)?;
            check(&loaded.args)?;
            if let Some((_, Some(warning))) = &loaded.file {
                eprintln!("warning: {warning}");
            }
            match &loaded.file {
                Some((path, _)) => println!("configuration OK: {}", path.display()),
                None => println!(
                    "configuration OK (no configuration file; flags, environment and defaults)"
                ),
            }
            Ok(())
        }
        Command::PrintConfig { args, show_secrets } => {
            let loaded = load(args, &sub)?;
            let text = toml::to_string(&loaded.args.to_file(show_secrets))
                .context("cannot print the configuration")?;
            print!("{text}");
            Ok(())
        }
    }
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,vestibule_gateway=info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().with_current_span(false).init(),
    }
}

/// Everything `serve` would refuse, found before starting: the gateway
/// settings, and the TLS files, Redis URLs and public URL looked at.
fn check(args: &ServeArgs) -> anyhow::Result<()> {
    let config = gateway_config(args)?;
    if let Some(files) = &config.tls {
        vestibule_gateway::check_tls_files(files).context("tls-cert / tls-key")?;
    }
    let urls = args.redis.iter().chain(args.redis_cluster.iter());
    for url in urls {
        redis::Client::open(url.as_str())
            .with_context(|| format!("redis / redis-cluster: {url:?} is not a Redis URL"))?;
    }
    if let Some(url) = &args.public_url {
        anyhow::ensure!(
            url.starts_with("ws://") || url.starts_with("wss://"),
            "public-url: {url:?} must start with ws:// or wss://"
        );
    }
    Ok(())
}

/// The library's configuration from the merged settings.
fn gateway_config(args: &ServeArgs) -> anyhow::Result<GatewayConfig> {
    anyhow::ensure!(
        args.redis.is_none() || args.redis_cluster.is_empty(),
        "redis and redis-cluster are both set; keep one"
    );
    anyhow::ensure!(
        args.tls_cert.is_some() == args.tls_key.is_some(),
        "tls-cert and tls-key go together; only one is set"
    );
    let redis = match (args.redis.clone(), args.redis_cluster.clone()) {
        (Some(url), _) => Some(vestibule_gateway::RedisTarget::Single(url)),
        (None, seeds) if !seeds.is_empty() => Some(vestibule_gateway::RedisTarget::Cluster(seeds)),
        (None, _) => None,
    };
    // A Redis or --memory makes data-dir unused.
    let storage = if args.memory || redis.is_some() {
        Storage::Memory
    } else {
        Storage::Dir(match &args.data_dir {
            Some(dir) => dir.clone(),
            None => default_data_dir()?,
        })
    };
    let mut config = GatewayConfig::new(args.listen);
    config.storage = storage;
    config.admin_key = args.admin_key.clone();
    config.demo_secret = args.demo_secret.clone();
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
    config.max_connections = (args.max_connections > 0).then_some(args.max_connections);
    config.max_connections_per_ip =
        (args.connections_per_ip > 0).then_some(args.connections_per_ip);
    config.allowed_origins = args.allowed_origins.clone();
    config.tls = match (args.tls_cert.clone(), args.tls_key.clone()) {
        (Some(cert), Some(key)) => Some(vestibule_gateway::TlsFiles { cert, key }),
        _ => None,
    };
    Ok(config)
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    vestibule_gateway::raise_descriptor_limit();
    let mut config = gateway_config(&args)?;
    // Fault injection for the soak's self-test; never set in production.
    config.panic_on_account = std::env::var("VESTIBULE_TEST_PANIC_ACCOUNT").ok();
    let storage = config.storage.clone();
    let gateway = Gateway::start(config)
        .await
        .context("cannot start the gateway")?;
    print_banner(
        &gateway,
        &storage,
        args.admin_key.is_some(),
        args.log_format,
    );

    let gateway = std::sync::Arc::new(gateway);
    let reloads = tokio::spawn(reload_on_hangup(gateway.clone()));
    shutdown_signal().await;
    reloads.abort();
    let _ = reloads.await;
    eprintln!("shutting down: closing sessions (clients will reconnect elsewhere or later)");
    match std::sync::Arc::try_unwrap(gateway) {
        Ok(gateway) => gateway.shutdown().await,
        Err(_) => tracing::error!("cannot shut down cleanly: the gateway is still in use"),
    }
    Ok(())
}

/// SIGHUP (`systemctl reload`) rereads the TLS certificate and key; a
/// broken pair is logged and the old one kept.
async fn reload_on_hangup(gateway: std::sync::Arc<Gateway>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let Ok(mut hangups) = signal(SignalKind::hangup()) else {
            return;
        };
        while hangups.recv().await.is_some() {
            match gateway.reload_tls() {
                Ok(true) => tracing::info!("TLS certificate reloaded"),
                Ok(false) => tracing::info!("SIGHUP: no TLS certificate to reload"),
                Err(e) => {
                    tracing::error!(error = %e, "TLS certificate not reloaded; still serving the old one");
                }
            }
        }
    }
    #[cfg(not(unix))]
    drop(gateway);
}

fn print_banner(
    gateway: &Gateway,
    storage: &Storage,
    admin_key_given: bool,
    log_format: LogFormat,
) {
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
    // With JSON logs (a service), no demo token goes to stdout, i.e. the journal.
    if let Some(demo) = gateway.demo().filter(|_| log_format == LogFormat::Text) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The packaged default configuration file.
    const PACKAGED: &str = include_str!("../../../packaging/gateway/gateway.toml");

    /// The packaged file with every "#key = value" line switched on.
    fn uncommented() -> String {
        PACKAGED
            .lines()
            .map(|line| match line.strip_prefix('#') {
                Some(rest) if rest.starts_with(|c: char| c.is_ascii_lowercase()) => rest,
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `serve`'s flags by id, as configuration keys (`allowed_origins` →
    /// `allowed-origins`); `--config` itself is not a key.
    fn serve_keys() -> Vec<String> {
        let command = Cli::command();
        let serve = command.find_subcommand("serve").expect("serve");
        let mut keys: Vec<String> = serve
            .get_arguments()
            .map(|a| a.get_id().as_str().replace('_', "-"))
            .filter(|k| k != "config" && k != "help")
            .collect();
        keys.sort();
        keys
    }

    /// Parses a command line the way `main` does, configuration file included.
    fn parse(argv: &[&str]) -> anyhow::Result<ServeArgs> {
        let matches = Cli::command().try_get_matches_from(argv)?;
        let cli = Cli::from_arg_matches(&matches)?;
        let sub = matches.subcommand().expect("a subcommand").1.clone();
        let (Command::Serve(args) | Command::CheckConfig(args) | Command::PrintConfig { args, .. }) =
            cli.command;
        Ok(load(args, &sub)?.args)
    }

    fn write(dir: &tempfile::TempDir, text: &str) -> String {
        let path = dir.path().join("gateway.toml");
        std::fs::write(&path, text).expect("write");
        path.to_str().expect("utf-8 path").to_owned()
    }

    #[test]
    fn the_packaged_file_documents_every_flag_with_its_default() {
        let path = std::path::Path::new("gateway.toml");
        let file = FileConfig::parse(&uncommented(), path).expect("the uncommented file parses");
        let table = toml::Table::try_from(&file).expect("serializes");
        let mut keys: Vec<String> = table.keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            serve_keys(),
            "every serve flag is a key of the packaged file"
        );

        // Where a flag has a default, the commented line shows that default.
        let defaults = parse(&["vestibule-gateway", "print-config", "--config", "/dev/null"])
            .expect("defaults")
            .to_file(true);
        let defaults = toml::Table::try_from(&defaults).expect("serializes");
        let command = Cli::command();
        let serve = command.find_subcommand("serve").expect("serve");
        let mut checked = 0;
        for arg in serve.get_arguments() {
            let key = arg.get_id().as_str().replace('_', "-");
            if arg.get_default_values().is_empty() || key == "data-dir" || key == "no-demo" {
                continue; // no default, or set on purpose by the package
            }
            assert_eq!(
                table.get(&key),
                defaults.get(&key),
                "the default shown for {key}"
            );
            checked += 1;
        }
        assert!(checked >= 10, "only {checked} defaults compared");
    }

    #[test]
    fn the_packaged_file_round_trips() {
        let path = std::path::Path::new("gateway.toml");
        for text in [PACKAGED.to_owned(), uncommented()] {
            let parsed = FileConfig::parse(&text, path).expect("parses");
            let printed = toml::to_string(&parsed).expect("serializes");
            let again = FileConfig::parse(&printed, path).expect("the printed file parses");
            assert_eq!(parsed, again, "printed:\n{printed}");
        }
        // As shipped, it stores data in the state directory and seeds no demo app.
        let shipped = FileConfig::parse(PACKAGED, path).expect("parses");
        assert_eq!(shipped.data_dir, Some(PathBuf::from("/var/lib/vestibule")));
        assert_eq!(shipped.no_demo, Some(true));
        assert!(!shipped.has_secrets());
    }

    #[test]
    fn a_file_with_every_key_gives_the_same_gateway_config_as_the_flags() {
        let dir = tempfile::tempdir().expect("tempdir");
        let common = [
            ("listen", "0.0.0.0:9443"),
            ("admin-key", "file-admin-key-0123456789"),
            ("demo-secret", "file-demo-secret"),
            ("idle-timeout", "33"),
            ("login-deadline", "7"),
            ("pair-code-ttl", "60"),
            ("node-id", "gw-7"),
            ("public-url", "wss://login.example.com/v1/ws"),
            ("max-logins-per-sec", "250"),
            ("attempts-per-ip", "100"),
            ("failures-per-account-and-ip", "9"),
            ("failures-per-account", "99"),
            ("connections-per-ip", "12"),
            ("max-connections", "5000"),
            ("tls-cert", "/etc/vestibule/tls/cert.pem"),
            ("tls-key", "/etc/vestibule/tls/key.pem"),
            ("log-format", "json"),
        ];
        let variants: [&[(&str, &str)]; 3] = [
            &[("data-dir", "/srv/vestibule")],
            &[("redis", "redis://10.0.0.9:6379")],
            &[("memory", "")],
        ];
        for storage in variants {
            let mut flags = vec!["vestibule-gateway", "serve", "--config", "/dev/null"];
            let mut file = String::from("no-demo = true\n");
            flags.push("--no-demo");
            for &(key, value) in common.iter().chain(storage) {
                flags.push(Box::leak(format!("--{key}").into_boxed_str()));
                if value.is_empty() {
                    file.push_str(&format!("{key} = true\n"));
                    continue;
                }
                flags.push(value);
                match value.parse::<u64>() {
                    Ok(n) => file.push_str(&format!("{key} = {n}\n")),
                    Err(_) => file.push_str(&format!("{key} = {value:?}\n")),
                }
            }
            flags.extend([
                "--allowed-origin",
                "https://a.example",
                "--allowed-origin",
                "https://b.example",
            ]);
            file.push_str("allowed-origins = [\"https://a.example\", \"https://b.example\"]\n");
            let path = write(&dir, &file);
            let from_flags = parse(&flags).expect("flags parse");
            let from_file =
                parse(&["vestibule-gateway", "serve", "--config", &path]).expect("file parses");
            let (a, b) = (
                gateway_config(&from_flags).expect("config"),
                gateway_config(&from_file).expect("config"),
            );
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "file:\n{file}");
            assert_eq!(from_file.log_format, LogFormat::Json);
            assert_eq!(from_file.to_file(true), from_flags.to_file(true));
            assert_eq!(a.idle_timeout, Duration::from_secs(33), "not the defaults");
        }
        // Redis Cluster seeds: a comma-separated flag, a list in the file.
        let path = write(
            &dir,
            "redis-cluster = [\"redis://10.0.0.1:7000\", \"redis://10.0.0.2:7000\"]\n",
        );
        let from_file = parse(&["vestibule-gateway", "serve", "--config", &path]).expect("file");
        let from_flags = parse(&[
            "vestibule-gateway",
            "serve",
            "--config",
            "/dev/null",
            "--redis-cluster",
            "redis://10.0.0.1:7000,redis://10.0.0.2:7000",
        ])
        .expect("flags");
        let config = gateway_config(&from_file).expect("config");
        assert_eq!(
            config.redis,
            Some(vestibule_gateway::RedisTarget::Cluster(vec![
                "redis://10.0.0.1:7000".into(),
                "redis://10.0.0.2:7000".into()
            ]))
        );
        assert_eq!(
            format!("{config:?}"),
            format!("{:?}", gateway_config(&from_flags).expect("config"))
        );
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(
            &dir,
            "idle-timeout = 30\nlogin-deadline = 4\nmemory = true\n",
        );
        let args = parse(&[
            "vestibule-gateway",
            "serve",
            "--config",
            &path,
            "--idle-timeout",
            "99",
        ])
        .expect("parses");
        assert_eq!(args.idle_timeout, 99, "the flag wins");
        assert_eq!(args.login_deadline, 4, "the file beats the default");
        assert!(args.memory);
        assert_eq!(args.pair_code_ttl, 120, "the default stays");
    }

    #[test]
    fn bad_files_are_errors_naming_the_key_and_line() {
        let path = std::path::Path::new("/etc/vestibule/gateway.toml");
        let unknown = FileConfig::parse("listen = \"127.0.0.1:1\"\nidle-timeuot = 3\n", path)
            .expect_err("unknown key")
            .to_string();
        assert!(unknown.contains("idle-timeuot"), "{unknown}");
        assert!(unknown.contains("line 2"), "{unknown}");
        assert!(unknown.contains("/etc/vestibule/gateway.toml"), "{unknown}");
        let wrong = FileConfig::parse("\n\nidle-timeout = \"soon\"\n", path)
            .expect_err("wrong type")
            .to_string();
        assert!(
            wrong.contains("idle-timeout") && wrong.contains("line 3"),
            "{wrong}"
        );
        let address = FileConfig::parse("listen = \"localhost\"\n", path)
            .expect_err("bad address")
            .to_string();
        assert!(
            address.contains("listen") && address.contains("socket address"),
            "{address}"
        );
        // Merged settings that cannot work together are named too.
        let dir = tempfile::tempdir().expect("tempdir");
        let both = write(
            &dir,
            "redis = \"redis://a:1\"\nredis-cluster = [\"redis://b:1\"]\n",
        );
        let args = parse(&["vestibule-gateway", "serve", "--config", &both]).expect("parses");
        let error = gateway_config(&args).expect_err("both redis").to_string();
        assert!(error.contains("redis and redis-cluster"), "{error}");
        let half = write(&dir, "tls-cert = \"/x.pem\"\n");
        let args = parse(&["vestibule-gateway", "serve", "--config", &half]).expect("parses");
        let error = gateway_config(&args).expect_err("half TLS").to_string();
        assert!(error.contains("tls-key"), "{error}");
    }

    #[test]
    fn secrets_are_redacted_in_debug_and_print_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = write(&dir, "admin-key = \"hunter2-admin-key\"\n");
        let file = FileConfig::load(std::path::Path::new(&path)).expect("loads");
        assert!(!format!("{file:?}").contains("hunter2"), "{file:?}");
        let args =
            parse(&["vestibule-gateway", "print-config", "--config", &path]).expect("parses");
        let printed = toml::to_string(&args.to_file(false)).expect("prints");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("admin-key = \"<redacted>\""), "{printed}");
        let shown = toml::to_string(&args.to_file(true)).expect("prints");
        assert!(shown.contains("hunter2-admin-key"), "{shown}");
    }
}
