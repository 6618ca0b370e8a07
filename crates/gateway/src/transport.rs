//! Bytes in and out: plain TCP or TLS, and the request head read to route a
//! connection, replayed to whichever side serves it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;

/// Bytes of the request head looked at to recognise an upgrade.
const PEEK: usize = 2048;

/// What the router learns from a request head.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Head {
    /// `GET /v1/ws` with `Upgrade: websocket`.
    pub(crate) upgrade: bool,
    /// The `Host` header, lower-cased.
    pub(crate) host: Option<String>,
    /// An `Origin` header is present (a browser sent it).
    pub(crate) origin: bool,
}

/// Reads the request head (up to its blank line, at most [`PEEK`] bytes) and
/// says what it asks for. The bytes read are replayed to whichever side
/// serves the connection.
pub(crate) async fn read_head(stream: Stream, wait: Duration) -> Option<(Prefixed, Head)> {
    use tokio::io::AsyncReadExt;
    let mut stream = stream;
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    let read = async {
        loop {
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            head.extend_from_slice(&chunk[..n]);
            if find(&head, b"\r\n\r\n").is_some() || head.len() >= PEEK {
                return Some(());
            }
        }
    };
    tokio::time::timeout(wait, read).await.ok()??;
    let end = find(&head, b"\r\n\r\n").unwrap_or(head.len());
    let text = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
    let path_ok = text.starts_with("get /v1/ws ") || text.starts_with("get /v1/ws?");
    let header = |name: &str| {
        text.lines().skip(1).find_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(':')
                .map(|v| v.trim().to_owned())
        })
    };
    let parsed = Head {
        upgrade: path_ok && header("upgrade").is_some_and(|v| v.contains("websocket")),
        host: header("host"),
        origin: header("origin").is_some(),
    };
    Some((
        Prefixed {
            prefix: head,
            pos: 0,
            inner: stream,
        },
        parsed,
    ))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A plain or TLS connection.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Plain(_) => "Plain",
            Self::Tls(_) => "Tls",
        })
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            Stream::Plain($s) => {
                let $s = std::pin::Pin::new($s);
                $e
            }
            Stream::Tls($s) => {
                let $s = std::pin::Pin::new($s.as_mut());
                $e
            }
        }
    };
}

impl tokio::io::AsyncRead for Stream {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        delegate!(self, s => s.poll_read(cx, buf))
    }
}

impl tokio::io::AsyncWrite for Stream {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        delegate!(self, s => s.poll_write(cx, buf))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        delegate!(self, s => s.poll_flush(cx))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        delegate!(self, s => s.poll_shutdown(cx))
    }
}

/// A connection whose first bytes, already read to route it, are replayed
/// before the rest. The prefix is freed once consumed.
#[derive(Debug)]
pub(crate) struct Prefixed {
    prefix: Vec<u8>,
    pos: usize,
    inner: Stream,
}

impl tokio::io::AsyncRead for Prefixed {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.pos < self.prefix.len() {
            let n = (self.prefix.len() - self.pos).min(buf.remaining());
            let start = self.pos;
            buf.put_slice(&self.prefix[start..start + n]);
            self.pos += n;
            if self.pos == self.prefix.len() {
                self.prefix = Vec::new();
                self.pos = 0;
            }
            return std::task::Poll::Ready(Ok(()));
        }
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Prefixed {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Why the TLS certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("{path}: {source}")]
    Pem {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("{0}: no certificate")]
    NoCertificate(std::path::PathBuf),
    /// rustls refused the configuration (e.g. the key does not fit the certificate).
    #[error("certificate and key do not fit: {0}")]
    Config(#[from] rustls::Error),
}

/// The certificate and key served for `wss://`, read from PEM files and
/// swapped in place by [`ReloadableCert::reload`] (SIGHUP in the binary).
/// Each handshake takes the current pair, so a renewed certificate reaches
/// new connections while established ones keep their session untouched.
#[derive(Debug)]
pub(crate) struct ReloadableCert {
    files: crate::TlsFiles,
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: std::sync::RwLock<Arc<rustls::sign::CertifiedKey>>,
}

impl ReloadableCert {
    /// Reads the files again; on any error the old certificate stays served.
    pub(crate) fn reload(&self) -> Result<(), TlsError> {
        let fresh = load_certified_key(&self.files, &self.provider)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(fresh);
        Ok(())
    }
}

impl rustls::server::ResolvesServerCert for ReloadableCert {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone(),
        )
    }
}

/// Parses the chain and key and checks that the key fits the certificate.
fn load_certified_key(
    files: &crate::TlsFiles,
    provider: &rustls::crypto::CryptoProvider,
) -> Result<rustls::sign::CertifiedKey, TlsError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let pem = |path: &std::path::Path| {
        let path = path.to_owned();
        move |source| TlsError::Pem { path, source }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(pem(&files.cert))?
        .collect::<Result<_, _>>()
        .map_err(pem(&files.cert))?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(files.cert.clone()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(pem(&files.key))?;
    Ok(rustls::sign::CertifiedKey::from_der(certs, key, provider)?)
}

/// Checks that the PEM files make a usable certificate and key
/// (`vestibule-gateway check-config`).
pub fn check_tls_files(files: &crate::TlsFiles) -> Result<(), TlsError> {
    load_certified_key(files, &rustls::crypto::ring::default_provider()).map(drop)
}

/// The TLS acceptor for `wss://`, from PEM files, and the handle that reloads them.
pub(crate) fn tls_acceptor(
    files: &crate::TlsFiles,
) -> Result<(tokio_rustls::TlsAcceptor, Arc<ReloadableCert>), TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let current = load_certified_key(files, &provider)?;
    let cert = Arc::new(ReloadableCert {
        files: files.clone(),
        provider: provider.clone(),
        current: std::sync::RwLock::new(Arc::new(current)),
    });
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(cert.clone());
    Ok((tokio_rustls::TlsAcceptor::from(Arc::new(config)), cert))
}

/// A stream that fails with `TimedOut` once no byte has moved either way for
/// `idle`: an HTTP connection left open after a request (or a client that
/// stops halfway through one) does not hold a socket forever.
pub(crate) struct IdleTimeout<S> {
    inner: S,
    idle: Duration,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl<S> IdleTimeout<S> {
    pub(crate) fn new(inner: S, idle: Duration) -> Self {
        Self {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn moved(&mut self) {
        let next = tokio::time::Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }

    fn expired(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn idle_error() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "connection idle too long")
}

impl<S: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for IdleTimeout<S> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut self.inner).poll_read(cx, buf) {
            std::task::Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                std::task::Poll::Ready(Ok(()))
            }
            std::task::Poll::Pending if self.expired(cx) => {
                std::task::Poll::Ready(Err(idle_error()))
            }
            other => other,
        }
    }
}

impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for IdleTimeout<S> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        match std::pin::Pin::new(&mut self.inner).poll_write(cx, buf) {
            std::task::Poll::Ready(Ok(n)) => {
                if n > 0 {
                    self.moved();
                }
                std::task::Poll::Ready(Ok(n))
            }
            std::task::Poll::Pending if self.expired(cx) => {
                std::task::Poll::Ready(Err(idle_error()))
            }
            other => other,
        }
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
