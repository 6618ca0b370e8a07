//! The accept loop. A WebSocket upgrade of `/v1/ws` is recognised by peeking
//! at the request head and handed straight to tokio-tungstenite (no HTTP
//! framework in the hot path — cheaper per login and per idle connection);
//! everything else (`/healthz`, `/metrics`, `/admin/v1`, and a plain GET of
//! `/v1/ws`) is served by axum through hyper.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{StatusCode, header};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use vestibule_protocol::limits::{MAX_FRAME_BYTES, MAX_SERVER_FRAME_BYTES};

use crate::Shared;
use crate::transport::{Head, IdleTimeout, Prefixed, Stream, read_head};

/// An HTTP connection (not a WebSocket) with no traffic this long is closed.
const HTTP_IDLE: Duration = Duration::from_secs(30);

/// Read buffer per connection. tungstenite's default is 128 KiB; frames are
/// small JSON, so 4 KiB keeps idle connections cheap.
const READ_BUFFER: usize = 4 * 1024;
/// Cap on unsent data per connection; a client that stops reading is dropped
/// past it. It must hold the largest frame the gateway sends.
const MAX_WRITE_BUFFER: usize = MAX_SERVER_FRAME_BYTES + 64 * 1024;

fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        // Frames are flushed as soon as they are written.
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(Some(MAX_FRAME_BYTES))
        .max_frame_size(Some(MAX_FRAME_BYTES))
}

pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let router = crate::http::router(shared.clone());
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // A request head must arrive whole within the login deadline, the first
    // and every later one on a kept-alive connection.
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(shared.config.login_deadline);
    let http = Arc::new(builder);
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
        let Ok(held) = shared.all_connections.clone().try_acquire_owned() else {
            tracing::warn!("connection refused: the gateway is at its connection limit");
            tokio::spawn(refuse(
                stream,
                "503 Service Unavailable",
                "the server is full; try again later",
            ));
            continue;
        };
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
        let local = stream.local_addr().ok();
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
            let Some((stream, head)) = read_head(stream, shared.config.login_deadline).await else {
                return;
            };
            if shared.config.local_only && !local_request(&head, local) {
                tracing::info!(host = ?head.host, origin = head.origin, "refused: this gateway serves only local apps");
                refuse(
                    stream,
                    "403 Forbidden",
                    "this gateway serves only the local app",
                )
                .await;
                return;
            }
            let upgrade = head.upgrade;
            if upgrade {
                accept_websocket(stream, peer, shared, (slot, held)).await;
            } else {
                // Counted against both caps until this connection ends.
                let _counted = (slot, held);
                let service = hyper_util::service::TowerToHyperService::new(router);
                let stream = IdleTimeout::new(stream, HTTP_IDLE);
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

async fn accept_websocket(
    stream: Prefixed,
    peer: SocketAddr,
    shared: Arc<Shared>,
    counted: (
        Option<crate::guard::Slot>,
        tokio::sync::OwnedSemaphorePermit,
    ),
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
                // The connection counts against its IP's cap and the total until the session ends.
                let _counted = counted;
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

/// A request a local-only gateway serves: no `Origin` (no web page), and a
/// `Host` that names this loopback address (not a rebinding host name).
fn local_request(head: &Head, local: Option<SocketAddr>) -> bool {
    let Some(local) = local else { return false };
    let port = local.port();
    let ok = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    !head.origin
        && head
            .host
            .as_deref()
            .is_some_and(|h| ok.iter().any(|o| o == h))
}

/// Answers `status` with a short text body, then closes.
async fn refuse<S: tokio::io::AsyncWrite + Unpin>(mut stream: S, status: &str, body: &str) {
    use tokio::io::AsyncWriteExt;
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(
        Duration::from_secs(2),
        stream.write_all(response.as_bytes()),
    )
    .await;
    let _ = stream.shutdown().await;
}

/// Answers 429 to a connection over the per-IP cap, then closes it.
async fn too_many(stream: TcpStream) {
    refuse(
        stream,
        "429 Too Many Requests",
        "too many open connections from this address",
    )
    .await;
}
