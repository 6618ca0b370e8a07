//! The Vestibule login gateway: a WebSocket server that authenticates
//! appKey + account + token, knows which devices of each account are online,
//! enforces each app's multi-device policy, pushes device-list changes and
//! routes kicks. `docs/protocol.md` is the wire contract.
//!
//! Embed it with [`Gateway::start`]; the `vestibule-gateway` binary wraps it.
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod admin;
pub mod admission;
pub mod clock;
#[doc(hidden)]
pub mod fuzzing;
pub mod guard;
mod http;
mod listener;
pub mod metrics;
pub mod pairing;
pub mod policy;
pub mod registry;
pub mod secret;
mod session;
pub mod sessions;
pub mod store;
mod transport;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use vestibule_protocol::limits;

pub use crate::admin::openapi as admin_openapi;
use crate::metrics::Metrics;
use crate::policy::DevicePolicy;
pub use crate::registry::redis::RedisTarget;
use crate::registry::{MemoryRegistry, RedisRegistry, SessionRegistry};
use crate::secret::AppSecret;
use crate::store::{App, Store, StoreError};
pub use crate::transport::{TlsError, check_tls_files};

/// The appKey of the app seeded on first start.
pub const DEMO_APP_KEY: &str = "demo";

const ADMIN_KEY_META: &str = "admin_key_sha256";

/// Where the gateway keeps its data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Storage {
    /// Nothing survives a restart.
    Memory,
    /// SQLite in this directory.
    Dir(PathBuf),
}

/// How to run a gateway. `Debug` leaves out the admin key, the demo secret
/// and the Redis URLs (which may carry a password).
#[derive(Clone)]
pub struct GatewayConfig {
    /// Address to listen on; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Where data lives.
    pub storage: Storage,
    /// The admin API's bearer key. `None`: keep the stored one, or generate one on first start.
    pub admin_key: Option<String>,
    /// The demo app's secret when it is seeded. `None`: generated.
    pub demo_secret: Option<String>,
    /// Seed the `demo` app when the store has no apps.
    pub seed_demo: bool,
    /// Close connections silent this long.
    pub idle_timeout: Duration,
    /// Close connections that send no `login` this long after the upgrade.
    pub login_deadline: Duration,
    /// How long a pairing code may be approved (2 minutes).
    pub pair_code_ttl: Duration,
    /// A send that cannot complete this long (a client that stopped reading) closes the connection.
    pub write_timeout: Duration,
    /// Join a cluster through this Redis (one `redis://host:port`, or the
    /// seed nodes of a Redis Cluster): sessions, apps and account flags are
    /// shared; `storage` is then unused.
    pub redis: Option<RedisTarget>,
    /// This node's id in the cluster (default: random).
    pub node_id: Option<String>,
    /// The WebSocket URL clients reach this node at, for `GET /v1/lbs`
    /// (default: `ws://` or `wss://` on the listening address).
    pub public_url: Option<String>,
    /// Admit at most this many logins per second (503 + retryAfterMs beyond); `None`: no limit.
    pub max_logins_per_sec: Option<u32>,
    /// Login attempts per client IP (416 + retryAfterMs beyond); `None`: no limit.
    pub attempts_per_ip: Option<guard::Rate>,
    /// Failed logins per account (416 + retryAfterMs beyond, even with the right token); `None`: no limit.
    pub failures_per_account: Option<guard::Rate>,
    /// Failed logins per account from one client IP (416 + retryAfterMs
    /// beyond, for that address only); `None`: no limit. Much lower than the
    /// account-wide ceiling, so a guesser elsewhere cannot lock the owner out.
    pub failures_per_account_and_ip: Option<guard::Rate>,
    /// Open connections per client IP (429 beyond); `None`: no limit.
    pub max_connections_per_ip: Option<u32>,
    /// Open connections in all (503 "server full" beyond), so the process
    /// never runs out of file descriptors; `None`: the descriptor limit less a reserve.
    pub max_connections: Option<u32>,
    /// Browser origins allowed to open a WebSocket (403 otherwise); empty: any.
    /// Requests without an `Origin` header (native clients) are always allowed.
    pub allowed_origins: Vec<String>,
    /// Serve `wss://` with this certificate chain and key (PEM files).
    pub tls: Option<TlsFiles>,
    /// Serve only native apps on this machine: refuse (403) any request that
    /// carries an `Origin` (a web page) or whose `Host` is not this loopback
    /// address (DNS rebinding). The desktop's embedded demo gateway sets it.
    pub local_only: bool,
    /// Wall-clock time for session lifetimes (tests inject one).
    pub clock: clock::Clock,
    /// Fault injection for tests: the session of a login of this account
    /// panics right after joining the registry (`VESTIBULE_TEST_PANIC_ACCOUNT`).
    #[doc(hidden)]
    pub panic_on_account: Option<String>,
}

/// PEM files for TLS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// Wrong pairing codes one signed-in connection may try: 5 at once, then
/// one a minute (guessing a 40-bit code is hopeless at that rate).
pub const PAIR_FAILURES_PER_SESSION: guard::Rate = guard::Rate {
    burst: 5,
    per_minute: 1,
};

/// Wrong pairing codes one address may try, over all its connections.
pub const PAIR_FAILURES_PER_IP: guard::Rate = guard::Rate {
    burst: 20,
    per_minute: 5,
};

/// The default login-attempt limit per IP: 600 a minute (all at once if need be).
pub const DEFAULT_ATTEMPTS_PER_IP: guard::Rate = guard::Rate {
    burst: 600,
    per_minute: 600,
};
/// The default failed-login ceiling per account, from all addresses together:
/// 600 a minute (a guessing botnet stays slow; one address alone cannot reach it).
pub const DEFAULT_FAILURES_PER_ACCOUNT: guard::Rate = guard::Rate {
    burst: 600,
    per_minute: 600,
};
/// The default failed-login limit per account and client IP: 20 a minute.
pub const DEFAULT_FAILURES_PER_ACCOUNT_AND_IP: guard::Rate = guard::Rate {
    burst: 20,
    per_minute: 20,
};
/// The default cap on open connections per IP.
pub const DEFAULT_CONNECTIONS_PER_IP: u32 = 1024;

impl GatewayConfig {
    /// Defaults: in-memory, demo seeded, the protocol's timeouts.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            storage: Storage::Memory,
            admin_key: None,
            demo_secret: None,
            seed_demo: true,
            idle_timeout: limits::IDLE_TIMEOUT,
            login_deadline: limits::LOGIN_DEADLINE,
            pair_code_ttl: Duration::from_millis(vestibule_protocol::pairing::CODE_TTL_MS),
            write_timeout: Duration::from_secs(10),
            redis: None,
            node_id: None,
            public_url: None,
            max_logins_per_sec: None,
            attempts_per_ip: Some(DEFAULT_ATTEMPTS_PER_IP),
            failures_per_account: Some(DEFAULT_FAILURES_PER_ACCOUNT),
            failures_per_account_and_ip: Some(DEFAULT_FAILURES_PER_ACCOUNT_AND_IP),
            max_connections_per_ip: Some(DEFAULT_CONNECTIONS_PER_IP),
            max_connections: None,
            allowed_origins: Vec::new(),
            tls: None,
            local_only: false,
            clock: clock::Clock::system(),
            panic_on_account: None,
        }
    }
}

/// Why the gateway could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Redis could not be reached.
    #[error("cannot join the cluster: {0}")]
    Redis(#[from] redis::RedisError),
    /// The TLS certificate or key could not be used.
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// State shared by every connection and request.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) store: Arc<Store>,
    pub(crate) registry: Arc<dyn SessionRegistry>,
    pub(crate) metrics: Metrics,
    pub(crate) config: GatewayConfig,
    pub(crate) admin_key_hash: String,
    pub(crate) shutdown: CancellationToken,
    pub(crate) kill: CancellationToken,
    pub(crate) connections: TaskTracker,
    pub(crate) admission: Option<admission::Admission>,
    pub(crate) ip_attempts: Option<guard::Limiter<std::net::IpAddr>>,
    pub(crate) account_failures: Option<guard::Limiter<(String, String)>>,
    pub(crate) address_failures: Option<guard::Limiter<(String, String, std::net::IpAddr)>>,
    pub(crate) connection_cap: Option<Arc<guard::ConnectionCap>>,
    /// Wrong pairing codes tried, per approving connection and per address.
    pub(crate) pair_failures_by_session: guard::Limiter<String>,
    pub(crate) pair_failures_by_ip: guard::Limiter<std::net::IpAddr>,
    /// Every open connection holds one permit.
    pub(crate) all_connections: Arc<tokio::sync::Semaphore>,
}

/// How long an end of a session that could not be written (the store was
/// unreachable) keeps being retried in the background.
const END_RETRY_FOR: Duration = Duration::from_secs(120);

impl Shared {
    /// Ends a device's session. When the store cannot be reached (a Redis
    /// blip), the end is retried in the background for two minutes, so a
    /// logout or a sign-out during an outage still lands; the error is
    /// returned for the caller to report.
    pub(crate) async fn end_session(
        &self,
        app_key: &str,
        account: &str,
        device_id: &str,
        end: &vestibule_protocol::SessionEnd,
    ) -> Result<Option<sessions::DeviceSession>, StoreError> {
        let error = match self
            .store
            .end_session(app_key, account, device_id, end)
            .await
        {
            Ok(ended) => return Ok(ended),
            Err(e) => e,
        };
        tracing::warn!(error = %error, app = %app_key, %account, device = %device_id, "cannot end a session yet; retrying");
        let (store, registry) = (self.store.clone(), self.registry.clone());
        let (app_key, account, device_id, end) = (
            app_key.to_owned(),
            account.to_owned(),
            device_id.to_owned(),
            end.clone(),
        );
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + END_RETRY_FOR;
            let mut wait = Duration::from_millis(500);
            while tokio::time::Instant::now() < deadline {
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(10));
                // A sign-in after the end is a new session: leave it alone.
                match store.session(&app_key, &account, &device_id).await {
                    Ok(Some(current)) if current.created_at > end.at => return,
                    Ok(None) => return,
                    Ok(Some(_)) => {}
                    Err(_) => continue,
                }
                if let Ok(ended) = store
                    .end_session(&app_key, &account, &device_id, &end)
                    .await
                {
                    if ended.is_some() {
                        tracing::info!(app = %app_key, %account, device = %device_id, "a session end landed after an outage");
                        let _ = registry.refresh(&app_key, &account).await;
                    }
                    return;
                }
            }
            tracing::error!(app = %app_key, %account, device = %device_id, "gave up ending a session: the store stayed unreachable");
        });
        Err(error)
    }

    pub(crate) fn new(
        config: GatewayConfig,
        store: Arc<Store>,
        registry: Arc<dyn SessionRegistry>,
        admin_key_hash: String,
    ) -> Self {
        Self {
            store,
            registry,
            metrics: Metrics::new(),
            admin_key_hash,
            shutdown: CancellationToken::new(),
            kill: CancellationToken::new(),
            connections: TaskTracker::new(),
            admission: config.max_logins_per_sec.map(admission::Admission::new),
            ip_attempts: config.attempts_per_ip.map(guard::Limiter::new),
            account_failures: config.failures_per_account.map(guard::Limiter::new),
            address_failures: config.failures_per_account_and_ip.map(guard::Limiter::new),
            pair_failures_by_session: guard::Limiter::new(PAIR_FAILURES_PER_SESSION),
            pair_failures_by_ip: guard::Limiter::new(PAIR_FAILURES_PER_IP),
            connection_cap: config
                .max_connections_per_ip
                .map(|m| Arc::new(guard::ConnectionCap::new(m))),
            all_connections: Arc::new(tokio::sync::Semaphore::new(
                config
                    .max_connections
                    .map_or_else(default_max_connections, |m| m as usize),
            )),
            config,
        }
    }
}

/// What a newcomer needs to log in to the demo app.
#[derive(Clone, Debug)]
pub struct DemoApp {
    /// The demo appKey.
    pub app_key: String,
    /// The demo app's secret, for minting tokens.
    pub secret: AppSecret,
    /// Whether it was created by this start.
    pub created: bool,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |set: bool| if set { "<redacted>" } else { "none" };
        f.debug_struct("GatewayConfig")
            .field("listen", &self.listen)
            .field("storage", &self.storage)
            .field("admin_key", &redacted(self.admin_key.is_some()))
            .field("demo_secret", &redacted(self.demo_secret.is_some()))
            .field("seed_demo", &self.seed_demo)
            .field("idle_timeout", &self.idle_timeout)
            .field("login_deadline", &self.login_deadline)
            .field("redis", &redacted(self.redis.is_some()))
            .field("node_id", &self.node_id)
            .field("public_url", &self.public_url)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

/// A gateway that is serving.
#[derive(Debug)]
pub struct Gateway {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    /// An admin key made at this start (shown once by the binary).
    generated_admin_key: Option<AppSecret>,
    demo: Option<DemoApp>,
    server: JoinHandle<()>,
    /// The served certificate, for [`Gateway::reload_tls`].
    tls_cert: Option<Arc<transport::ReloadableCert>>,
}

impl Gateway {
    /// Opens the store, seeds the demo app if needed, binds and starts serving.
    pub async fn start(config: GatewayConfig) -> Result<Self, StartError> {
        metrics::count_panics();
        if let Some(target) = config.redis.clone() {
            let node = config
                .node_id
                .clone()
                .unwrap_or_else(|| format!("node-{}", secret::random_string(8)));
            let mut config = config;
            config.node_id = Some(node.clone());
            let store = Arc::new(Store::redis(target.clone()).await?);
            let registry: Arc<dyn SessionRegistry> =
                Arc::new(RedisRegistry::connect(target, &node).await?);
            return Self::start_with(config, store, registry).await;
        }
        let store = Arc::new(match &config.storage {
            Storage::Memory => Store::memory(),
            Storage::Dir(dir) => Store::open(dir)?,
        });
        let registry: Arc<dyn SessionRegistry> = Arc::new(MemoryRegistry::new());
        Self::start_with(config, store, registry).await
    }

    /// Starts with a given store and registry (a Redis registry, a shared store in tests).
    pub async fn start_with(
        config: GatewayConfig,
        store: Arc<Store>,
        registry: Arc<dyn SessionRegistry>,
    ) -> Result<Self, StartError> {
        let (admin_key_hash, generated_admin_key) =
            admin_key(&store, config.admin_key.as_deref()).await?;
        let demo = if config.seed_demo {
            seed_demo(&store, config.demo_secret.as_deref()).await?
        } else {
            None
        };
        let (tls, tls_cert) = match &config.tls {
            Some(files) => {
                let (acceptor, cert) = transport::tls_acceptor(files)?;
                (Some(acceptor), Some(cert))
            }
            None => (None, None),
        };
        let listener = listen(config.listen).map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let local_addr = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        registry.attach_sessions(store.clone());
        let scheme = if config.tls.is_some() { "wss" } else { "ws" };
        let public_url = config
            .public_url
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{local_addr}{}", vestibule_protocol::WS_PATH));
        registry.advertise(&public_url);
        let shared = Arc::new(Shared::new(config, store, registry, admin_key_hash));
        {
            // Sessions that end by themselves (idle, token expired while offline).
            let shared = Arc::downgrade(&shared);
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(SWEEP_EVERY);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticker.tick().await;
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    if shared.shutdown.is_cancelled() {
                        return;
                    }
                    sweep_sessions(&shared).await;
                }
            });
        }
        if shared.store.is_shared() {
            // Other nodes change apps and flags too: re-read them every 2 s.
            let store = Arc::downgrade(&shared.store);
            let stop = shared.shutdown.clone();
            tokio::spawn(async move {
                let mut ticker = tokio::time::interval(Duration::from_secs(2));
                loop {
                    tokio::select! {
                        _ = ticker.tick() => {}
                        () = stop.cancelled() => return,
                    }
                    let Some(store) = store.upgrade() else { return };
                    if let Err(e) = store.refresh().await {
                        tracing::debug!(error = %e, "cannot refresh apps and flags");
                    }
                }
            });
        }
        let server = tokio::spawn(listener::serve(listener, shared.clone(), tls));
        tracing::info!(%local_addr, "gateway listening");
        Ok(Self {
            shared,
            local_addr,
            generated_admin_key: generated_admin_key.map(AppSecret::new),
            demo,
            server,
            tls_cert,
        })
    }

    /// Reads the TLS certificate and key files again (the binary does on
    /// SIGHUP). New handshakes get the new pair; open connections are not
    /// touched. On error the old certificate stays served. `Ok(false)`: no TLS.
    pub fn reload_tls(&self) -> Result<bool, TlsError> {
        match &self.tls_cert {
            Some(cert) => cert.reload().map(|()| true),
            None => Ok(false),
        }
    }

    /// The address the gateway listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `ws://ADDR/v1/ws` (`wss://` with TLS).
    pub fn ws_url(&self) -> String {
        let scheme = if self.shared.config.tls.is_some() {
            "wss"
        } else {
            "ws"
        };
        format!(
            "{scheme}://{}{}",
            self.local_addr,
            vestibule_protocol::WS_PATH
        )
    }

    /// `http://ADDR`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The admin key, when this start generated it (shown once).
    pub fn generated_admin_key(&self) -> Option<&str> {
        self.generated_admin_key.as_ref().map(AppSecret::expose)
    }

    /// The demo app, when seeding is on.
    pub fn demo(&self) -> Option<&DemoApp> {
        self.demo.as_ref()
    }

    /// The store.
    pub fn store(&self) -> &Arc<Store> {
        &self.shared.store
    }

    /// The session registry.
    pub fn registry(&self) -> &Arc<dyn SessionRegistry> {
        &self.shared.registry
    }

    /// This node's cluster id, when running on Redis.
    pub fn cluster_node(&self) -> Option<&str> {
        self.shared.config.redis.as_ref()?;
        self.shared.config.node_id.as_deref()
    }

    /// Ends the sessions that are due now (idle for the app's
    /// `sessionIdleDays`, or whose token expired while offline) and pushes the
    /// lists; the gateway does it every minute by itself. Returns how many ended.
    pub async fn sweep_sessions(&self) -> usize {
        sweep_sessions(&self.shared).await
    }

    /// Connections currently open (logged in or not).
    pub fn open_connections(&self) -> usize {
        self.shared.connections.len()
    }

    /// Stops accepting, closes every session with 4503 (clients retry), and
    /// waits until every connection has finished.
    pub async fn shutdown(self) {
        self.shared.shutdown.cancel();
        self.shared.connections.close();
        let _ = self.server.await;
        self.shared.connections.wait().await;
        self.shared.registry.shutdown().await;
    }

    /// Stops at once, like a crash: every socket is dropped without a close frame.
    pub fn abort(self) {
        self.server.abort();
        self.shared.kill.cancel();
        // Wakes every session, which sees `kill` and drops its socket unclosed.
        self.shared.shutdown.cancel();
    }
}

/// How often sessions that end by themselves are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(60);

/// See [`Gateway::sweep_sessions`].
async fn sweep_sessions(shared: &Shared) -> usize {
    let now = shared.config.clock.now();
    let due = match shared.store.due_sessions(now).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "cannot look for expired sessions");
            return 0;
        }
    };
    let mut ended = 0;
    for session in due {
        let Some(reason) = session.expired(now) else {
            continue;
        };
        let (app, account, device) = (
            &session.app_key,
            &session.account,
            &session.device.device_id,
        );
        // An online device is active (its own task handles its token's expiry).
        let list = shared.registry.devices(app, account).await;
        if list
            .devices
            .iter()
            .any(|d| d.online && d.device_id == *device)
        {
            continue;
        }
        let end = vestibule_protocol::SessionEnd {
            reason,
            by: None,
            at: session.expires_at.unwrap_or(now),
        };
        match shared.store.end_session(app, account, device, &end).await {
            Ok(Some(_)) => {
                ended += 1;
                tracing::info!(%app, %account, %device, ?reason, "device session expired");
                let _ = shared.registry.refresh(app, account).await;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot end an expired session"),
        }
    }
    ended
}

/// Descriptors kept for everything that is not a client connection (the
/// store, Redis, logs, the listener, outgoing connections).
const RESERVED_DESCRIPTORS: u64 = 256;

/// As many connections as the descriptor limit allows, less a reserve.
fn default_max_connections() -> usize {
    let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap_or((1024, 1024));
    usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS).max(64)).unwrap_or(usize::MAX)
}

/// Raises this process's open-file soft limit to its hard limit (logged), so
/// the gateway can hold as many connections as the system allows it.
pub fn raise_descriptor_limit() {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft);
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) => {
            tracing::info!(before = ?before.ok(), now, "open-file limit raised to the hard limit")
        }
        Err(e) => tracing::warn!(error = %e, "cannot raise the open-file limit"),
    }
}

/// Binds with a listen backlog of 4096 (tokio's default, 1024, overflows in a reconnect storm).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

async fn admin_key(
    store: &Store,
    given: Option<&str>,
) -> Result<(String, Option<String>), StoreError> {
    if let Some(key) = given {
        let hash = secret::hash_admin_key(key);
        store.set_meta(ADMIN_KEY_META, &hash).await?;
        return Ok((hash, None));
    }
    if let Some(hash) = store.meta(ADMIN_KEY_META).await? {
        return Ok((hash, None));
    }
    let key = secret::random_string(32);
    let hash = secret::hash_admin_key(&key);
    store.set_meta(ADMIN_KEY_META, &hash).await?;
    Ok((hash, Some(key)))
}

async fn seed_demo(store: &Store, secret: Option<&str>) -> Result<Option<DemoApp>, StoreError> {
    if let Some(app) = store.app(DEMO_APP_KEY) {
        if secret.is_some_and(|s| s != app.secret.expose()) {
            tracing::warn!(
                "--demo-secret differs from the stored demo app's secret; keeping the stored one"
            );
        }
        return Ok(Some(DemoApp {
            app_key: app.app_key.clone(),
            secret: app.secret.clone(),
            created: false,
        }));
    }
    if !store.apps().is_empty() {
        return Ok(None);
    }
    let created = store
        .create_app(App {
            app_key: DEMO_APP_KEY.to_owned(),
            name: "Demo".to_owned(),
            secret: secret.map_or_else(AppSecret::generate, AppSecret::new),
            policy: DevicePolicy::default(),
            created_at: clock::unix_millis(),
        })
        .await;
    let app = match created {
        Ok(app) => app,
        // Another node of the cluster seeded it at the same moment.
        Err(StoreError::AppExists(_)) => {
            store.refresh().await?;
            let app = store
                .app(DEMO_APP_KEY)
                .ok_or(StoreError::NoSuchApp(DEMO_APP_KEY.to_owned()))?;
            return Ok(Some(DemoApp {
                app_key: app.app_key.clone(),
                secret: app.secret.clone(),
                created: false,
            }));
        }
        Err(e) => return Err(e),
    };
    Ok(Some(DemoApp {
        app_key: app.app_key.clone(),
        secret: app.secret.clone(),
        created: true,
    }))
}

#[cfg(test)]
mod debug_tests {
    use super::*;

    #[test]
    fn a_configs_debug_output_holds_no_secret() {
        let mut config = GatewayConfig::new("127.0.0.1:0".parse().expect("addr"));
        config.admin_key = Some("admin-key-that-must-not-show".into());
        config.demo_secret = Some("demo-secret-that-must-not-show".into());
        config.redis = Some(RedisTarget::Single(
            "redis://:redis-password-that-must-not-show@127.0.0.1:6379".into(),
        ));
        let shown = format!("{config:?}");
        for secret in ["admin-key", "demo-secret", "redis-password"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("127.0.0.1:0"), "the rest is shown: {shown}");
    }
}
