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

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
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
        let shared = shared.clone();
        let router = router.clone();
        let http = http.clone();
        let watcher = graceful.watcher();
        // Routing reads the request head, so it runs in the connection's own
        // task: a slow client never holds up the accept loop.
        tokio::spawn(async move {
            let Some((stream, upgrade)) = read_head(stream, shared.config.login_deadline).await
            else {
                return;
            };
            if upgrade {
                accept_websocket(stream, peer, shared).await;
            } else {
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
async fn read_head(stream: TcpStream, wait: Duration) -> Option<(Prefixed, bool)> {
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

/// A TCP stream whose first bytes, already read to route the connection,
/// are replayed before the rest. The prefix is freed once consumed.
#[derive(Debug)]
pub(crate) struct Prefixed {
    prefix: Vec<u8>,
    pos: usize,
    inner: TcpStream,
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

async fn accept_websocket(stream: Prefixed, peer: SocketAddr, shared: Arc<Shared>) {
    if shared.shutdown.is_cancelled() {
        return;
    }
    // The signature is tungstenite's callback contract.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        if request.uri().path() != vestibule_protocol::WS_PATH {
            let mut refusal = ErrorResponse::new(Some("not found".into()));
            *refusal.status_mut() = StatusCode::NOT_FOUND;
            return Err(refusal);
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
            tracker.spawn(crate::session::run(ws, peer, shared));
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "websocket handshake failed"),
        Err(_) => tracing::debug!("websocket handshake timed out"),
    }
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
