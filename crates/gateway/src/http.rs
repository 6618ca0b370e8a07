//! The HTTP surface: `/v1/ws`, `/healthz`, `/metrics` and `/admin/v1`.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{ConnectInfo, State, WebSocketUpgrade};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use vestibule_protocol::limits::MAX_FRAME_BYTES;

use crate::Shared;

/// Read buffer per connection. tungstenite's default is 128 KiB; frames are
/// small JSON, so 4 KiB keeps idle connections cheap.
const READ_BUFFER: usize = 4 * 1024;
/// Write buffer target: frames are flushed as soon as they are written.
const WRITE_BUFFER: usize = 0;
/// Cap on unsent data per connection; a client that stops reading is dropped
/// past it. It must hold the largest frame the gateway sends.
const MAX_WRITE_BUFFER: usize = vestibule_protocol::limits::MAX_SERVER_FRAME_BYTES + 64 * 1024;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(vestibule_protocol::WS_PATH, get(upgrade))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .nest("/admin/v1", crate::admin::router(shared.clone()))
        .with_state(shared)
}

pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let shutdown = shared.shutdown.clone();
    let app = router(shared).into_make_service_with_connect_info::<SocketAddr>();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
    {
        tracing::error!(error = %e, "gateway server stopped");
    }
}

async fn upgrade(
    ws: WebSocketUpgrade,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    State(shared): State<Arc<Shared>>,
) -> Response {
    if shared.shutdown.is_cancelled() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down").into_response();
    }
    let tracker = shared.connections.clone();
    ws.read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_failed_upgrade(|e| tracing::debug!(error = %e, "websocket upgrade failed"))
        .on_upgrade(move |socket| tracker.track_future(crate::session::run(socket, peer, shared)))
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
