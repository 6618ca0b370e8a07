//! Reaching the gateway through a proxy (TIM's `proxyServer`): HTTP CONNECT
//! (with basic auth) or SOCKS5 (with a user and password), for `ws://` and
//! `wss://` alike (TLS runs inside the tunnel, end to end with the gateway).
//!
//! By default the proxy comes from the environment, as curl reads it:
//! `HTTPS_PROXY` for `wss://`, `HTTP_PROXY` for `ws://`, else `ALL_PROXY`
//! (lower-case names too), skipped for hosts that `NO_PROXY` lists. An
//! explicit proxy (the login page's *Advanced* section) overrides it.

use std::net::IpAddr;

use crate::error::ClientError;
use base64::Engine as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Which way to the gateway.
#[derive(Clone, Default, PartialEq, Eq)]
pub enum Proxy {
    /// As the environment says (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`,
    /// `NO_PROXY`); direct when it says nothing.
    #[default]
    FromEnvironment,
    /// Straight to the gateway, whatever the environment says.
    Direct,
    /// Through this proxy: `http://[user:password@]host:port` or
    /// `socks5://[user:password@]host:port` (`socks5h://` too).
    Url(String),
}

impl std::fmt::Debug for Proxy {
    /// Never shows a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::FromEnvironment => f.write_str("FromEnvironment"),
            Self::Direct => f.write_str("Direct"),
            Self::Url(url) => f.debug_tuple("Url").field(&redacted(url)).finish(),
        }
    }
}

impl Proxy {
    /// Whether the proxy can be used at all (scheme, host, port), before any dial.
    pub fn validate(&self) -> Result<(), ClientError> {
        match self {
            Self::Url(url) => Route::parse(url)
                .map(|_| ())
                .map_err(ClientError::InvalidOptions),
            Self::FromEnvironment | Self::Direct => Ok(()),
        }
    }
}

/// `url` with any password replaced by `***` (for logs and errors).
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        Ok(parsed) => parsed.to_string(),
        Err(_) => "(not a URL)".to_owned(),
    }
}

/// A proxy to dial through, parsed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Route {
    kind: Kind,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    HttpConnect,
    Socks5,
}

impl Route {
    /// Parses a proxy URL; the error says what is wrong with it.
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("proxy {:?}: {e}", redacted(url)))?;
        let kind = match parsed.scheme() {
            "http" => Kind::HttpConnect,
            "socks5" | "socks5h" => Kind::Socks5,
            other => {
                return Err(format!(
                    "proxy {}: {other}:// is not supported (use http:// or socks5://)",
                    redacted(url)
                ));
            }
        };
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("proxy {}: no host", redacted(url)))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = parsed.port().unwrap_or(match kind {
            Kind::HttpConnect => 8080,
            Kind::Socks5 => 1080,
        });
        let decode = |s: &str| {
            form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let credentials = (!parsed.username().is_empty()).then(|| {
            (
                decode(parsed.username()),
                decode(parsed.password().unwrap_or("")),
            )
        });
        Ok(Self {
            kind,
            host,
            port,
            credentials,
        })
    }

    /// The proxy as people know it, without the password.
    fn name(&self) -> String {
        let scheme = match self.kind {
            Kind::HttpConnect => "http",
            Kind::Socks5 => "socks5",
        };
        format!("{scheme}://{}:{}", self.host, self.port)
    }

    /// A TCP stream to `host:port` through the proxy; the error says which
    /// step failed ("proxy refused: 407 Proxy Authentication Required").
    pub(crate) async fn connect(&self, host: &str, port: u16) -> Result<TcpStream, String> {
        match self.kind {
            Kind::HttpConnect => self.http_connect(host, port).await,
            Kind::Socks5 => self.socks5(host, port).await,
        }
    }

    async fn http_connect(&self, host: &str, port: u16) -> Result<TcpStream, String> {
        let mut stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("cannot reach the proxy {}: {e}", self.name()))?;
        let authority = match host.parse::<IpAddr>() {
            Ok(IpAddr::V6(ip)) => format!("[{ip}]:{port}"),
            _ => format!("{host}:{port}"),
        };
        let mut request = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some((user, password)) = &self.credentials {
            let basic =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            request.push_str(&format!("Proxy-Authorization: Basic {basic}\r\n"));
        }
        request.push_str("\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("proxy {}: {e}", self.name()))?;
        // The answer's head, byte by byte: nothing of the tunnel may be read here.
        let mut head = Vec::with_capacity(256);
        while !head.ends_with(b"\r\n\r\n") {
            if head.len() >= 8 * 1024 {
                return Err(format!("proxy {}: an answer head over 8 KiB", self.name()));
            }
            let byte = stream.read_u8().await.map_err(|e| {
                format!("proxy {} closed before answering CONNECT: {e}", self.name())
            })?;
            head.push(byte);
        }
        let status_line = String::from_utf8_lossy(&head);
        let status_line = status_line.lines().next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let (version, code, reason) = (parts.next(), parts.next(), parts.next());
        let code: u16 = match (version, code.and_then(|c| c.parse().ok())) {
            (Some(v), Some(code)) if v.starts_with("HTTP/1.") => code,
            _ => {
                return Err(format!(
                    "proxy {}: not an HTTP answer ({status_line:?})",
                    self.name()
                ));
            }
        };
        if !(200..300).contains(&code) {
            return Err(format!(
                "proxy refused: {code} {} ({})",
                reason.unwrap_or("").trim(),
                self.name()
            ));
        }
        Ok(stream)
    }

    async fn socks5(&self, host: &str, port: u16) -> Result<TcpStream, String> {
        let proxy = (self.host.as_str(), self.port);
        let target = (host, port);
        let result = match &self.credentials {
            Some((user, password)) => {
                tokio_socks::tcp::Socks5Stream::connect_with_password(proxy, target, user, password)
                    .await
            }
            None => tokio_socks::tcp::Socks5Stream::connect(proxy, target).await,
        };
        match result {
            Ok(stream) => Ok(stream.into_inner()),
            Err(tokio_socks::Error::Io(e)) => {
                Err(format!("cannot reach the proxy {}: {e}", self.name()))
            }
            Err(e) => Err(format!("proxy refused: SOCKS5 {e} ({})", self.name())),
        }
    }
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Proxy {
    /// The proxy for a connection to `url`, if any, reading the environment through `env`.
    pub(crate) fn route_with(
        &self,
        url: &url::Url,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Route>, String> {
        match self {
            Self::Direct => Ok(None),
            Self::Url(proxy) => Route::parse(proxy).map(Some),
            Self::FromEnvironment => {
                let get = |name: &str| {
                    env(name)
                        .or_else(|| env(&name.to_ascii_lowercase()))
                        .filter(|v| !v.trim().is_empty())
                };
                let host = url.host_str().unwrap_or_default();
                if get("NO_PROXY").is_some_and(|list| no_proxy_matches(&list, host)) {
                    return Ok(None);
                }
                let first = if url.scheme() == "wss" {
                    "HTTPS_PROXY"
                } else {
                    "HTTP_PROXY"
                };
                match get(first).or_else(|| get("ALL_PROXY")) {
                    Some(proxy) => Route::parse(proxy.trim()).map(Some),
                    None => Ok(None),
                }
            }
        }
    }

    /// [`Proxy::route_with`] the process environment.
    pub(crate) fn route(&self, url: &url::Url) -> Result<Option<Route>, String> {
        self.route_with(url, |name| std::env::var(name).ok())
    }
}

/// Whether `NO_PROXY` (comma- or space-separated: `*`, host names that also
/// cover their subdomains, with or without a leading dot, IP addresses, and
/// CIDR blocks) exempts `host`.
pub(crate) fn no_proxy_matches(list: &str, host: &str) -> bool {
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    let ip = host.parse::<IpAddr>().ok();
    list.split([',', ' '])
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .any(|entry| {
            let entry = entry.to_ascii_lowercase();
            if entry == "*" {
                return true;
            }
            if let (Some(ip), Some((net, bits))) = (ip, entry.split_once('/')) {
                return match (net.parse::<IpAddr>(), bits.parse::<u8>()) {
                    (Ok(net), Ok(bits)) => in_block(ip, net, bits),
                    _ => false,
                };
            }
            // "host:port" entries: the port is not looked at.
            let name = match entry.rsplit_once(':') {
                Some((name, port)) if port.parse::<u16>().is_ok() && !name.contains(':') => name,
                _ => entry.as_str(),
            };
            let name = name.trim_start_matches('[').trim_end_matches(']');
            if let (Some(ip), Ok(listed)) = (ip, name.parse::<IpAddr>()) {
                return ip == listed;
            }
            let name = name.trim_start_matches("*.").trim_start_matches('.');
            host == name || host.ends_with(&format!(".{name}"))
        })
}

fn in_block(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).expect("url")
    }

    #[test]
    fn the_environment_picks_the_proxy_by_scheme_and_no_proxy_exempts() {
        let vars = env(&[
            ("HTTPS_PROXY", "http://secure:3128"),
            ("http_proxy", "http://plain:3128"),
            ("ALL_PROXY", "socks5://any:1080"),
            ("NO_PROXY", "localhost, .corp.example,10.0.0.0/8 ,[::1]"),
        ]);
        let route = |u: &str| {
            Proxy::FromEnvironment
                .route_with(&url(u), &vars)
                .expect("parses")
                .map(|r| r.name())
        };
        assert_eq!(
            route("wss://chat.example/v1/ws").as_deref(),
            Some("http://secure:3128")
        );
        assert_eq!(
            route("ws://chat.example/v1/ws").as_deref(),
            Some("http://plain:3128")
        );
        assert_eq!(route("ws://gw.corp.example/v1/ws"), None);
        assert_eq!(route("ws://corp.example/v1/ws"), None);
        assert_eq!(route("ws://10.2.3.4:7878/v1/ws"), None);
        assert_eq!(route("ws://[::1]:7878/v1/ws"), None);
        assert_eq!(route("ws://localhost:7878/v1/ws"), None);
        assert_eq!(
            route("ws://notcorp.example/v1/ws").as_deref(),
            Some("http://plain:3128")
        );
        let all = env(&[("ALL_PROXY", "socks5h://any:1080")]);
        let r = Proxy::FromEnvironment
            .route_with(&url("wss://chat.example/"), all)
            .expect("parses");
        assert_eq!(r.map(|r| r.name()).as_deref(), Some("socks5://any:1080"));
        // An explicit choice wins over the environment.
        assert_eq!(
            Proxy::Direct.route_with(&url("wss://chat.example/"), &vars),
            Ok(None)
        );
    }

    #[test]
    fn proxy_urls_are_checked_and_passwords_never_shown() {
        let r = Route::parse("http://al%40ice:p%3Ass@proxy.example:3128").expect("parses");
        assert_eq!(
            r.credentials,
            Some(("al@ice".to_owned(), "p:ss".to_owned()))
        );
        assert_eq!(format!("{r:?}"), "http://proxy.example:3128");
        assert_eq!(Route::parse("socks5://p").expect("parses").port, 1080);
        let e = Route::parse("https://p:443").expect_err("refused");
        assert!(e.contains("https:// is not supported"), "{e}");
        let e = Route::parse("ftp://user:hunter2@p").expect_err("refused");
        assert!(!e.contains("hunter2"), "{e}");
        let shown = format!("{:?}", Proxy::Url("socks5://u:hunter2@p:1080".into()));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
