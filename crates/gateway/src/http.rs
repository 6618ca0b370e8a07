//! The HTTP surface served by axum: `/healthz`, `/metrics`, the admin API,
//! and the answer to a `/v1/ws` request that is not an upgrade.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::Shared;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(vestibule_protocol::WS_PATH, get(not_an_upgrade))
        .route("/healthz", get(healthz))
        .route("/v1/lbs", get(lbs))
        .route("/metrics", get(metrics))
        .nest("/admin/v1", crate::admin::router(shared.clone()))
        .with_state(shared)
}

/// `GET /v1/lbs` (NIM's LBS): `{"nodes": [url, …]}`, the WebSocket URLs of
/// the cluster's live nodes (their leases current), this node first; an
/// empty list while this node stops. 503 when the registry is unreachable.
async fn lbs(State(shared): State<Arc<Shared>>) -> axum::response::Response {
    let no_store = [(header::CACHE_CONTROL, "no-store")];
    if shared.shutdown.is_cancelled() {
        return (no_store, axum::Json(serde_json::json!({ "nodes": [] }))).into_response();
    }
    match shared.registry.live_nodes().await {
        Ok(nodes) => (no_store, axum::Json(serde_json::json!({ "nodes": nodes }))).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            no_store,
            axum::Json(serde_json::json!({ "error": "the cluster's registry is unreachable" })),
        )
            .into_response(),
    }
}

async fn not_an_upgrade() -> impl IntoResponse {
    (
        StatusCode::UPGRADE_REQUIRED,
        [(header::UPGRADE, "websocket")],
        "this endpoint speaks WebSocket: send an upgrade request (see docs/protocol.md)",
    )
}

/// `200 {"status":"ok"}` while the gateway can log people in; `503` with
/// `"shuttingDown"` or `"degraded"` (its session registry, e.g. Redis, is
/// unreachable) otherwise, so a load balancer stops sending logins here.
async fn healthz(State(shared): State<Arc<Shared>>) -> impl IntoResponse {
    let registry_ok = shared.registry.healthy();
    let status = if shared.shutdown.is_cancelled() {
        "shuttingDown"
    } else if !registry_ok {
        "degraded"
    } else {
        "ok"
    };
    let code = if status == "ok" {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        axum::Json(serde_json::json!({
            "status": status,
            "registry": if registry_ok { "ok" } else { "unreachable" },
            "sessions": shared.registry.local_sessions(),
            "connections": shared.connections.len(),
        })),
    )
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
