//! The network surface. One accept loop: a WebSocket upgrade of `/v1/ws` is
//! recognised by peeking at the request head and handed straight to
//! tokio-tungstenite (no HTTP framework in the hot path — cheaper per login
//! and per idle connection); everything else (`/healthz`, `/metrics`,
//! `/admin/v1`, and a plain GET of `/v1/ws`) is served by axum through hyper.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use vestibule_protocol::limits::{MAX_FRAME_BYTES, MAX_SERVER_FRAME_BYTES};

use crate::Shared;

/// Read buffer per connection. tungstenite's default is 128 KiB; frames are
/// small JSON, so 4 KiB keeps idle connections cheap.
const READ_BUFFER: usize = 4 * 1024;
/// Cap on unsent data per connection; a client that stops reading is dropped
/// past it. It must hold the largest frame the gateway sends.
const MAX_WRITE_BUFFER: usize = MAX_SERVER_FRAME_BYTES + 64 * 1024;
/// Bytes of the request head looked at to recognise an upgrade.
const PEEK: usize = 2048;

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        // Frames are flushed as soon as they are written.
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(vestibule_protocol::WS_PATH, get(not_an_upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .nest("/admin/v1", crate::admin::router(shared.clone()))
        .with_state(shared)
}

pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let router = router(shared.clone());
    let http = Arc::new(auto::Builder::new(TokioExecutor::new()));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shared.shutdown.cancelled() => break,
            () = shared.kill.cancelled() => return,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) => {
                // Out of file descriptors and the like: back off a little.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Frames are small and latency matters more than packet count: no Nagle.
        let _ = stream.set_nodelay(true);
        let slot = match &shared.connection_cap {
            Some(cap) => match cap.acquire(peer.ip()) {
                Some(slot) => Some(slot),
                None => {
                    tracing::info!(ip = %peer.ip(), "connection refused: too many open connections from this IP");
                    tokio::spawn(too_many(stream));
                    continue;
                }
            },
            None => None,
        };
        let shared = shared.clone();
        let router = router.clone();
        let http = http.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        // Routing reads the request head, so it runs in the connection's own
        // task: a slow client never holds up the accept loop.
        tokio::spawn(async move {
            let stream = match tls {
                None => Stream::Plain(stream),
                Some(acceptor) => {
                    match tokio::time::timeout(
                        shared.config.login_deadline,
                        acceptor.accept(stream),
                    )
                    .await
                    {
                        Ok(Ok(tls)) => Stream::Tls(Box::new(tls)),
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
            };
            let Some((stream, upgrade)) = read_head(stream, shared.config.login_deadline).await
            else {
                return;
            };
            if upgrade {
                accept_websocket(stream, peer, shared, slot).await;
            } else {
                let _slot = slot;
                let service = hyper_util::service::TowerToHyperService::new(router);
                let connection = http.serve_connection_with_upgrades(TokioIo::new(stream), service);
                if let Err(e) = watcher.watch(connection).await {
                    tracing::debug!(error = %e, "http connection ended with an error");
                }
            }
        });
    }
    // Let in-flight HTTP requests finish; idle keep-alive connections close now.
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// Reads the request head (up to its blank line, at most [`PEEK`] bytes)
/// and says whether it is `GET /v1/ws` with `Upgrade: websocket`. The bytes
/// read are replayed to whichever side serves the connection.
async fn read_head(stream: Stream, wait: Duration) -> Option<(Prefixed, bool)> {
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
    let upgrade = path_ok
        && text
            .lines()
            .any(|l| l.starts_with("upgrade:") && l.contains("websocket"));
    Some((
        Prefixed {
            prefix: head,
            pos: 0,
            inner: stream,
        },
        upgrade,
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

async fn accept_websocket(
    stream: Prefixed,
    peer: SocketAddr,
    shared: Arc<Shared>,
    slot: Option<crate::guard::Slot>,
) {
    if shared.shutdown.is_cancelled() {
        return;
    }
    let origins = shared.config.allowed_origins.clone();
    let gate = shared.clone();
    // The signature is tungstenite's callback contract.
    #[allow(clippy::result_large_err)]
    let check = move |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        if request.uri().path() != vestibule_protocol::WS_PATH {
            let mut refusal = ErrorResponse::new(Some("not found".into()));
            *refusal.status_mut() = StatusCode::NOT_FOUND;
            return Err(refusal);
        }
        // Browsers always send Origin; a page on another site must not be able
        // to log in with a user's token. Native clients send none.
        if let Some(origin) = request.headers().get(header::ORIGIN)
            && !origins.is_empty()
            && !origins.iter().any(|o| origin.as_bytes() == o.as_bytes())
        {
            let mut refusal = ErrorResponse::new(Some("origin not allowed".into()));
            *refusal.status_mut() = StatusCode::FORBIDDEN;
            return Err(refusal);
        }
        // Admission control: over the login rate, the client is told when to
        // come back before any WebSocket exists — the cheapest refusal there
        // is, which matters most in a reconnect storm.
        if let Some(Err(wait)) = gate.admission.as_ref().map(|a| a.try_admit()) {
            gate.metrics.login("503".to_owned());
            return Err(busy(wait));
        }
        Ok(response)
    };
    let handshake =
        tokio_tungstenite::accept_hdr_async_with_config(stream, check, Some(ws_config()));
    match tokio::time::timeout(shared.config.login_deadline, handshake).await {
        // A fresh task for the session: this one carried the handshake's
        // (large) state, which an idle connection should not keep paying for.
        Ok(Ok(ws)) => {
            let tracker = shared.connections.clone();
            tracker.spawn(async move {
                // The connection counts against its IP's cap until the session ends.
                let _slot = slot;
                crate::session::run(ws, peer, shared).await;
            });
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "websocket handshake failed"),
        Err(_) => tracing::debug!("websocket handshake timed out"),
    }
}

/// The 503 for a login over the admission rate: `Retry-After` in whole
/// seconds for generic HTTP clients, `Retry-After-Ms` for ours.
fn busy(wait: Duration) -> ErrorResponse {
    let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX).max(1);
    let mut refusal = ErrorResponse::new(Some("too many logins right now; retry later".into()));
    *refusal.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let headers = refusal.headers_mut();
    headers.insert(header::RETRY_AFTER, ms.div_ceil(1000).into());
    headers.insert(vestibule_protocol::RETRY_AFTER_MS_HEADER, ms.into());
    refusal
}

/// Answers 429 to a connection over the per-IP cap, then closes it.
async fn too_many(mut stream: TcpStream) {
    use tokio::io::AsyncWriteExt;
    let body = "too many open connections from this address";
    let response = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        stream.write_all(response.as_bytes()),
    )
    .await;
    let _ = stream.shutdown().await;
}

/// The TLS acceptor for `wss://`, from PEM files.
pub(crate) fn tls_acceptor(files: &crate::TlsFiles) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| format!("{}: {e}", files.cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", files.cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate", files.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("{}: {e}", files.key.display()))?;
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS: {e}"))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| format!("certificate and key do not fit: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

async fn not_an_upgrade() -> impl IntoResponse {
    (
        StatusCode::UPGRADE_REQUIRED,
        [(header::UPGRADE, "websocket")],
        "this endpoint speaks WebSocket: send an upgrade request (see docs/protocol.md)",
    )
}

async fn healthz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    axum::Json(serde_json::json!({
        "status": if shared.shutdown.is_cancelled() { "shuttingDown" } else { "ok" },
        "sessions": shared.registry.local_sessions(),
        "connections": shared.connections.len(),
    }))
}

async fn metrics(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        shared.metrics.render(shared.registry.local_sessions()),
    )
}
