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
        let tracker = shared.connections.clone();
        if is_websocket_upgrade(&stream, shared.config.login_deadline).await {
            tracker.spawn(accept_websocket(stream, peer, shared));
        } else {
            let service = hyper_util::service::TowerToHyperService::new(router.clone());
            let connection = http
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned();
            let connection = graceful.watch(connection);
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "http connection ended with an error");
                }
            });
        }
    }
    // Let in-flight HTTP requests finish; idle keep-alive connections close now.
    let _ = tokio::time::timeout(Duration::from_secs(5), graceful.shutdown()).await;
}

/// Peeks (without consuming) until the request head shows whether this is
/// `GET /v1/ws` with `Upgrade: websocket`.
async fn is_websocket_upgrade(stream: &TcpStream, wait: Duration) -> bool {
    let mut buf = vec![0u8; PEEK];
    let deadline = tokio::time::Instant::now() + wait;
    let mut last = 0;
    loop {
        let n = match tokio::time::timeout_at(deadline, stream.peek(&mut buf)).await {
            Ok(Ok(n)) => n,
            _ => return false,
        };
        let head = &buf[..n];
        let prefix = b"GET /v1/ws";
        let matches_so_far = head.len().min(prefix.len());
        if head[..matches_so_far] != prefix[..matches_so_far] {
            return false;
        }
        if let Some(end) = find(head, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&head[..end]).to_ascii_lowercase();
            let path_ok = head.starts_with("get /v1/ws ") || head.starts_with("get /v1/ws?");
            return path_ok
                && head
                    .lines()
                    .any(|l| l.starts_with("upgrade:") && l.contains("websocket"));
        }
        if n == PEEK || n == 0 {
            return false;
        }
        if n == last {
            // Nothing new yet: peek returns at once while data is buffered.
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        last = n;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

async fn accept_websocket(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
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
        Ok(Ok(ws)) => crate::session::run(ws, peer, shared).await,
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
