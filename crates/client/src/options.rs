//! How an instance connects.

use std::sync::Arc;
use std::time::Duration;

use vestibule_protocol::limits::{PING_INTERVAL, PONG_TIMEOUT};
use vestibule_protocol::{ClientInfo, DeviceInfo, DeviceType, Token, UnixMillis};

use crate::backoff::BackoffConfig;
use crate::error::ClientError;

/// A source of wall-clock time in milliseconds since the epoch. Replaceable so
/// tests can simulate a machine waking from sleep (the wall clock jumps while
/// the monotonic clock does not).
#[derive(Clone)]
pub struct WallClock(Arc<dyn Fn() -> UnixMillis + Send + Sync>);

impl WallClock {
    /// The system clock.
    pub fn system() -> Self {
        Self(Arc::new(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                .unwrap_or(0)
        }))
    }

    /// A clock read from a function.
    pub fn from_fn(f: impl Fn() -> UnixMillis + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Now.
    pub fn now(&self) -> UnixMillis {
        (self.0)()
    }
}

impl Default for WallClock {
    fn default() -> Self {
        Self::system()
    }
}

impl std::fmt::Debug for WallClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WallClock")
    }
}

/// A description of this machine's OS for `device.os`, e.g.
/// "Debian GNU/Linux 12 (bookworm) (x86_64)".
pub fn os_description() -> String {
    let name = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| std::env::consts::OS.to_owned());
    format!("{name} ({})", std::env::consts::ARCH)
}

/// Timing knobs; the defaults are the protocol's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Reconnect backoff.
    pub backoff: BackoffConfig,
    /// A session up this long resets the retry count.
    pub stable_after: Duration,
    /// Ping the gateway this often.
    pub ping_interval: Duration,
    /// No frame this long after a ping: the socket is dead (408).
    pub pong_timeout: Duration,
    /// Socket + WebSocket handshake + `loginOk` must complete within this.
    pub connect_timeout: Duration,
    /// How often to compare the wall clock with the monotonic clock.
    pub wake_check_interval: Duration,
    /// A wall-clock lead larger than this means the machine slept.
    pub wake_threshold: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            backoff: BackoffConfig::default(),
            stable_after: Duration::from_secs(30),
            ping_interval: PING_INTERVAL,
            pong_timeout: PONG_TIMEOUT,
            connect_timeout: Duration::from_secs(10),
            wake_check_interval: Duration::from_secs(5),
            wake_threshold: Duration::from_secs(10),
        }
    }
}

/// Asked for a fresh app token when the client has none it can sign in with
/// (NIM V2's token provider): before a sign-in whose token is missing or past
/// the expiry the gateway last reported, and when the gateway said the token
/// expired (`NeedsToken`). `None` leaves it to the app (the login page).
///
/// ```
/// use vestibule_client::{ClientOptions, Token, TokenProvider};
///
/// let fetch = TokenProvider::from_fn(|| async {
///     // Ask the app's own server for a token for this account.
///     Some(Token::new("a fresh JWT"))
/// });
/// let options = ClientOptions::builder("ws://127.0.0.1:7878/v1/ws", "demo", "alice", "", "alice-pc")
///     .token_provider(fetch)
///     .build()
///     .expect("no token yet is fine with a provider");
/// # drop(options);
/// ```
#[derive(Clone)]
pub struct TokenProvider(
    Arc<dyn Fn() -> futures_util::future::BoxFuture<'static, Option<Token>> + Send + Sync>,
);

impl TokenProvider {
    /// A provider calling `f` each time a token is needed.
    pub fn from_fn<F, Fut>(f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Option<Token>> + Send + 'static,
    {
        Self(Arc::new(move || Box::pin(f())))
    }

    /// Asks for a token.
    pub fn fetch(&self) -> futures_util::future::BoxFuture<'static, Option<Token>> {
        (self.0)()
    }
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenProvider")
    }
}

/// Everything an instance needs (NIM's getInstance options).
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// The gateway, `ws://host:port/v1/ws` or `wss://...`.
    pub url: String,
    /// The app.
    pub app_key: String,
    /// The account.
    pub account: String,
    /// The app's login token, for a new sign-in (and as the fallback when a
    /// gateway no longer knows the session); may be empty when
    /// `session_token` is given. `Debug` never shows it.
    pub token: Token,
    /// The device session's token from an earlier sign-in (what *Remember
    /// me* keeps): logins use it while it lasts, and a sign-in with `token`
    /// replaces it with the one the gateway issues.
    pub session_token: Option<Token>,
    /// This device; keep `device_id` stable per install so reconnects replace their own session.
    pub device: DeviceInfo,
    /// This program.
    pub client: ClientInfo,
    /// Connect as soon as the instance is created (NIM logs in on getInstance).
    pub auto_connect: bool,
    /// Timeouts and backoff.
    pub timing: Timing,
    /// Wall clock (for wake-from-sleep detection and timestamps).
    pub wall_clock: WallClock,
    /// Extra CA certificates (DER) to trust for `wss://`, besides the
    /// public web PKI roots — for a gateway with a private or self-signed certificate.
    pub trusted_certs: Vec<Vec<u8>>,
    /// Decides each reconnect delay instead of the backoff (NIM V2's
    /// reconnect-delay provider); a server's `retryAfterMs` still wins.
    pub reconnect_delay: Option<crate::backoff::ReconnectDelay>,
    /// Asked for a fresh app token when there is none to sign in with.
    pub token_provider: Option<TokenProvider>,
    /// More gateways of the same cluster (NIM's `linkUrl` list): after a
    /// failed attempt or a lost connection, the next attempt goes to the
    /// next one, round-robin from `url`.
    pub fallback_urls: Vec<String>,
    /// The cluster's LBS (NIM's `lbsUrls`): `http(s)://node/v1/lbs`, asked in
    /// turn for the live nodes at the first attempt and after each failure;
    /// later attempts choose among them (same scheme as `url` only).
    pub lbs_urls: Vec<String>,
    /// The way to the gateways: as the environment says (`HTTPS_PROXY`,
    /// `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`; the default), direct, or a
    /// proxy of the app's (TIM's `proxyServer`).
    pub proxy: crate::proxy::Proxy,
}

impl ClientOptions {
    /// A builder starting from the identity; everything else has defaults
    /// (this desktop's type and OS, connect on creation, the protocol's timing).
    ///
    /// ```
    /// use vestibule_client::{ClientOptions, DeviceType};
    ///
    /// let options = ClientOptions::builder("ws://127.0.0.1:7878/v1/ws", "demo", "alice", "TOKEN", "alice-phone")
    ///     .device_type(DeviceType::Ios)
    ///     .os("iOS 18.2")
    ///     .custom_tag("work")
    ///     .build()
    ///     .expect("valid options");
    /// assert_eq!(options.device.device_type, DeviceType::Ios);
    /// assert!(ClientOptions::builder("http://x", "demo", "alice", "T", "d").build().is_err());
    /// ```
    pub fn builder(
        url: impl Into<String>,
        app_key: impl Into<String>,
        account: impl Into<String>,
        token: impl Into<Token>,
        device_id: impl Into<String>,
    ) -> ClientOptionsBuilder {
        ClientOptionsBuilder {
            options: Self::new(url, app_key, account, token, device_id),
        }
    }

    /// Options with defaults for everything but the identity.
    pub fn new(
        url: impl Into<String>,
        app_key: impl Into<String>,
        account: impl Into<String>,
        token: impl Into<Token>,
        device_id: impl Into<String>,
    ) -> Self {
        Self {
            url: url.into(),
            app_key: app_key.into(),
            account: account.into(),
            token: token.into(),
            session_token: None,
            device: DeviceInfo {
                device_id: device_id.into(),
                device_type: DeviceType::for_this_desktop(),
                os: os_description(),
                mac: None,
                custom_tag: None,
            },
            client: ClientInfo {
                name: "vestibule-client".to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            auto_connect: true,
            timing: Timing::default(),
            wall_clock: WallClock::system(),
            trusted_certs: Vec::new(),
            reconnect_delay: None,
            token_provider: None,
            fallback_urls: Vec::new(),
            lbs_urls: Vec::new(),
            proxy: crate::proxy::Proxy::default(),
        }
    }

    /// Whether every gateway is on this machine (`localhost`, 127.0.0.0/8,
    /// `::1`): the OS network's state then says nothing about reaching them.
    pub fn gateways_are_local(&self) -> bool {
        std::iter::once(&self.url)
            .chain(&self.fallback_urls)
            .all(|candidate| {
                url::Url::parse(candidate).is_ok_and(|url| match url.host() {
                    Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
                    Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                    Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                    None => false,
                })
            })
    }

    /// Checks what can be checked before connecting.
    pub fn validate(&self) -> Result<(), ClientError> {
        for candidate in std::iter::once(&self.url).chain(&self.fallback_urls) {
            let url = url::Url::parse(candidate)
                .map_err(|e| ClientError::InvalidOptions(format!("url {candidate:?}: {e}")))?;
            if !matches!(url.scheme(), "ws" | "wss") {
                return Err(ClientError::InvalidOptions(format!(
                    "url must start with ws:// or wss://, got {candidate:?}"
                )));
            }
        }
        for (name, value) in [
            ("appKey", &self.app_key),
            ("account", &self.account),
            ("deviceId", &self.device.device_id),
        ] {
            if value.trim().is_empty() {
                return Err(ClientError::InvalidOptions(format!(
                    "{name} must not be empty"
                )));
            }
        }
        for lbs in &self.lbs_urls {
            let ok = url::Url::parse(lbs).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                return Err(ClientError::InvalidOptions(format!(
                    "an LBS URL is http:// or https://, got {lbs:?}"
                )));
            }
        }
        self.proxy.validate()?;
        let session = self.session_token.as_ref().is_some_and(|t| !t.is_empty());
        if self.token.is_empty() && !session && self.token_provider.is_none() {
            return Err(ClientError::InvalidOptions(
                "token must not be empty".into(),
            ));
        }
        Ok(())
    }
}

/// Builds [`ClientOptions`]; see [`ClientOptions::builder`].
#[derive(Clone, Debug)]
#[must_use]
pub struct ClientOptionsBuilder {
    options: ClientOptions,
}

impl ClientOptionsBuilder {
    /// The device type reported (default: this desktop's, PC or Mac).
    pub fn device_type(mut self, device_type: DeviceType) -> Self {
        self.options.device.device_type = device_type;
        self
    }

    /// The OS string reported (default: this machine's, e.g. "Debian GNU/Linux 12 (x86_64)").
    pub fn os(mut self, os: impl Into<String>) -> Self {
        self.options.device.os = os.into();
        self
    }

    /// NIM's customTag for this login.
    pub fn custom_tag(mut self, tag: impl Into<String>) -> Self {
        self.options.device.custom_tag = Some(tag.into());
        self
    }

    /// The client program's name and version, as other devices see them.
    pub fn client(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.options.client = ClientInfo {
            name: name.into(),
            version: version.into(),
        };
        self
    }

    /// Logs in with a device session's token kept from an earlier sign-in
    /// (the app's token may then be empty).
    pub fn session_token(mut self, token: impl Into<Token>) -> Self {
        self.options.session_token = Some(token.into());
        self
    }

    /// Whether `instance()` starts connecting at once (default: yes, like NIM).
    pub fn auto_connect(mut self, auto_connect: bool) -> Self {
        self.options.auto_connect = auto_connect;
        self
    }

    /// Timeouts and backoff.
    pub fn timing(mut self, timing: Timing) -> Self {
        self.options.timing = timing;
        self
    }

    /// The wall clock (tests simulate sleep with it).
    pub fn wall_clock(mut self, clock: WallClock) -> Self {
        self.options.wall_clock = clock;
        self
    }

    /// Lets `f(attempt, proposed)` decide each reconnect delay (see
    /// [`crate::backoff::ReconnectDelay`]).
    pub fn reconnect_delay(
        mut self,
        f: impl Fn(u32, std::time::Duration) -> std::time::Duration + Send + Sync + 'static,
    ) -> Self {
        self.options.reconnect_delay = Some(crate::backoff::ReconnectDelay::from_fn(f));
        self
    }

    /// Adds a gateway of the same cluster to fail over to.
    pub fn fallback_url(mut self, url: impl Into<String>) -> Self {
        self.options.fallback_urls.push(url.into());
        self
    }

    /// Adds an LBS URL of the cluster (`http(s)://node/v1/lbs`).
    pub fn lbs_url(mut self, url: impl Into<String>) -> Self {
        self.options.lbs_urls.push(url.into());
        self
    }

    /// Asks `provider` for a fresh app token when there is none to sign in with.
    pub fn token_provider(mut self, provider: TokenProvider) -> Self {
        self.options.token_provider = Some(provider);
        self
    }

    /// The way to the gateways (default: [`crate::Proxy::FromEnvironment`]).
    pub fn proxy(mut self, proxy: crate::Proxy) -> Self {
        self.options.proxy = proxy;
        self
    }

    /// Trusts one more CA certificate (DER) for `wss://`.
    pub fn trust_certificate(mut self, der: Vec<u8>) -> Self {
        self.options.trusted_certs.push(der);
        self
    }

    /// The options, checked.
    pub fn build(self) -> Result<ClientOptions, ClientError> {
        self.options.validate()?;
        Ok(self.options)
    }
}

/// A partial update for [`crate::Client::set_options`] (NIM setOptions).
#[derive(Clone, Debug, Default)]
pub struct OptionsUpdate {
    /// A new token: sent as `refreshToken` while online, used for the next login otherwise.
    pub token: Option<Token>,
    /// A new customTag for the next login.
    pub custom_tag: Option<Option<String>>,
    /// New timing.
    pub timing: Option<Timing>,
    /// A new way to the gateway, for the next attempt.
    pub proxy: Option<crate::proxy::Proxy>,
    /// Must equal the instance's account if given (it cannot change).
    pub account: Option<String>,
    /// Must equal the instance's appKey if given (it cannot change).
    pub app_key: Option<String>,
    /// Must equal the instance's URL if given (it cannot change).
    pub url: Option<String>,
}

impl OptionsUpdate {
    /// An update that only replaces the token.
    pub fn token(token: impl Into<Token>) -> Self {
        Self {
            token: Some(token.into()),
            ..Self::default()
        }
    }

    /// Everything in `options` that may change, plus the identity to check.
    pub fn from_options(options: &ClientOptions) -> Self {
        Self {
            // A session-only instance keeps whatever app token it has.
            token: Some(options.token.clone()).filter(|t| !t.is_empty()),
            custom_tag: Some(options.device.custom_tag.clone()),
            timing: Some(options.timing),
            proxy: Some(options.proxy.clone()),
            account: Some(options.account.clone()),
            app_key: Some(options.app_key.clone()),
            url: Some(options.url.clone()),
        }
    }
}
