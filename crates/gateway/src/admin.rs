//! The admin REST API under `/admin/v1`, guarded by `Authorization: Bearer <admin key>`.
//!
//! Every route is registered through `utoipa_axum::routes!` from its
//! `#[utoipa::path]` annotation, so the OpenAPI document ([`openapi`], served
//! without the key at `/admin/v1/openapi.json`, committed as
//! `docs/admin-openapi.json`) cannot miss one.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use vestibule_protocol::limits::{MAX_ACCOUNT_LEN, MAX_APP_KEY_LEN};
use vestibule_protocol::{Device, KickReason, UnixMillis, token};

use crate::Shared;
use crate::clock::unix_millis;
use crate::policy::DevicePolicy;
use crate::secret::{AppSecret, admin_key_matches, random_string};
use crate::store::{App, Flag, StoreError};

/// Longest token lifetime the admin API mints: 30 days.
const MAX_TOKEN_TTL_SECS: u64 = 30 * 24 * 3600;
const DEFAULT_TOKEN_TTL_SECS: u64 = 24 * 3600;

/// The admin routes and their OpenAPI paths, from one list.
fn routes() -> OpenApiRouter<Arc<Shared>> {
    OpenApiRouter::new()
        .routes(routes!(list_apps, create_app))
        .routes(routes!(get_app))
        .routes(routes!(set_policy))
        .routes(routes!(mint_token))
        .routes(routes!(get_account))
        .routes(routes!(list_devices))
        .routes(routes!(kick))
        .routes(routes!(ban, unban))
        .routes(routes!(disable, enable))
}

pub(crate) fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let (routes, _) = routes().split_for_parts();
    routes
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "notFound", "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "methodNotAllowed",
                "this endpoint does not take that method",
            )
        })
        .layer(middleware::from_fn_with_state(shared, require_admin_key))
        // Added after the key layer: the document is public (it describes
        // this open-source API, nothing of the deployment).
        .route("/openapi.json", get(serve_openapi))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Vestibule gateway admin API",
        description = "Apps, tokens, devices, kicks, bans. Every endpoint but this \
            document needs `Authorization: Bearer <admin key>`. Errors are \
            `{\"error\": {\"code\", \"message\"}}`."
    ),
    modifiers(&AdminKey),
    security(("adminKey" = [])),
    tags(
        (name = "apps", description = "Apps and their device policies"),
        (name = "accounts", description = "An app's accounts: devices, kicks, bans")
    )
)]
struct ApiDoc;

/// The `adminKey` bearer scheme.
struct AdminKey;

impl utoipa::Modify for AdminKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "adminKey",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The admin API's OpenAPI document, generated from the handlers' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, paths) = routes().split_for_parts();
    ApiDoc::openapi().nest("/admin/v1", paths)
}

async fn serve_openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi())
}

/// Every admin request, matched or not, needs the key first, so a caller
/// without it learns nothing about what exists.
async fn require_admin_key(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented {
        Some(key) if admin_key_matches(key, &shared.admin_key_hash) => next.run(request).await,
        _ => {
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong admin key",
            )
            .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            response
        }
    }
}

/// The body of every error (documentation of [`ApiError`]'s JSON).
#[derive(Serialize, ToSchema)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, ToSchema)]
struct ErrorDetail {
    /// A stable code: badRequest, unauthorized, notFound, conflict, unavailable, internal.
    code: String,
    /// For people.
    message: String,
}

/// An app as the API shows it (the store's `App`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AppView {
    app_key: String,
    name: String,
    /// Signs the app's login tokens (HS256).
    secret: String,
    /// The device policy (docs/protocol.md, "Device policy").
    #[schema(value_type = Object)]
    policy: serde_json::Value,
    /// Unix milliseconds.
    created_at: u64,
}

#[derive(Serialize, ToSchema)]
struct AppList {
    apps: Vec<AppView>,
}

/// An account's flags and devices.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct AccountView {
    app_key: String,
    account: String,
    banned: bool,
    disabled: bool,
    /// The device list (docs/protocol.md, "devices").
    #[schema(value_type = Vec<Object>)]
    devices: Vec<serde_json::Value>,
    rev: u64,
}

/// Flags after a change, and the devices it signed out.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct FlagsView {
    app_key: String,
    account: String,
    banned: bool,
    disabled: bool,
    kicked: Vec<String>,
}

/// What a kick did.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct KickResult {
    /// Signed out: online ones in login order, then offline ones.
    kicked: Vec<String>,
    /// Named in the request but with no session.
    not_found: Vec<String>,
}

/// An admin API error: `{"error": {"code", "message"}}`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "badRequest", message)
    }

    fn unavailable(e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "admin request could not reach the session registry");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the session registry is unreachable; nothing was changed on the sessions",
        )
    }

    fn no_app() -> Self {
        Self::new(StatusCode::NOT_FOUND, "notFound", "no such app")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::AppExists(_) => Self::new(StatusCode::CONFLICT, "conflict", e.to_string()),
            StoreError::NoSuchApp(_) => Self::no_app(),
            StoreError::Redis(_) | StoreError::Closed => Self::unavailable(e),
            other => {
                tracing::error!(error = %other, "admin request failed in the store");
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "storage error",
                )
            }
        }
    }
}

/// `Json<T>` whose rejections are `400 {"error": ...}` with serde's message.
#[derive(Debug)]
struct Body<T>(T);

impl<S, T> FromRequest<S> for Body<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn app_of(shared: &Shared, app_key: &str) -> ApiResult<Arc<App>> {
    shared.store.app(app_key).ok_or_else(ApiError::no_app)
}

#[utoipa::path(
    get,
    path = "/apps",
    tag = "apps",
    summary = "List the apps",
    responses((status = 200, description = "Every app", body = AppList), (status = 401, description = "Missing or wrong admin key", body = ErrorBody))
)]
async fn list_apps(State(shared): State<Arc<Shared>>) -> Json<serde_json::Value> {
    let apps: Vec<_> = shared.store.apps().iter().map(|a| json!(**a)).collect();
    Json(json!({ "apps": apps }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateApp {
    /// 1–64 characters of [A-Za-z0-9_-] (default: random).
    app_key: Option<String>,
    /// Default: the appKey.
    name: Option<String>,
    /// At least 16 characters (default: generated).
    secret: Option<String>,
    /// The device policy (default: the default policy).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    policy: Option<serde_json::Value>,
}

#[utoipa::path(
    post,
    path = "/apps",
    tag = "apps",
    summary = "Create an app",
    request_body = CreateApp,
    responses((status = 201, description = "The new app", body = AppView), (status = 400, description = "Invalid request", body = ErrorBody), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 409, description = "The appKey is taken", body = ErrorBody))
)]
async fn create_app(
    State(shared): State<Arc<Shared>>,
    Body(req): Body<CreateApp>,
) -> ApiResult<impl IntoResponse> {
    let app_key = req.app_key.unwrap_or_else(|| random_string(16));
    if app_key.is_empty()
        || app_key.len() > MAX_APP_KEY_LEN
        || !app_key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::bad_request(format!(
            "appKey must be 1–{MAX_APP_KEY_LEN} characters of [A-Za-z0-9_-]"
        )));
    }
    if req.secret.as_deref().is_some_and(|s| s.len() < 16) {
        return Err(ApiError::bad_request(
            "secret must be at least 16 characters",
        ));
    }
    let policy = match req.policy {
        Some(value) => {
            DevicePolicy::from_json(value).map_err(|e| ApiError::bad_request(e.to_string()))?
        }
        None => DevicePolicy::default(),
    };
    let app = shared
        .store
        .create_app(App {
            name: req.name.unwrap_or_else(|| app_key.clone()),
            app_key,
            secret: req.secret.map_or_else(AppSecret::generate, AppSecret::new),
            policy,
            created_at: unix_millis(),
        })
        .await?;
    tracing::info!(app_key = %app.app_key, "app created");
    Ok((StatusCode::CREATED, Json(json!(*app))))
}

#[utoipa::path(
    get,
    path = "/apps/{app_key}",
    tag = "apps",
    summary = "Get an app",
    params(("app_key" = String, Path, description = "The app")),
    responses((status = 200, description = "The app", body = AppView), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such app", body = ErrorBody))
)]
async fn get_app(
    State(shared): State<Arc<Shared>>,
    Path(app_key): Path<String>,
) -> ApiResult<Json<serde_json::Value>> {
    Ok(Json(json!(*app_of(&shared, &app_key)?)))
}

#[utoipa::path(
    put,
    path = "/apps/{app_key}/policy",
    tag = "apps",
    summary = "Replace an app's device policy",
    params(("app_key" = String, Path, description = "The app")),
    request_body = Object,
    responses((status = 200, description = "The app with its new policy", body = AppView), (status = 400, description = "Invalid request", body = ErrorBody), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such app", body = ErrorBody))
)]
async fn set_policy(
    State(shared): State<Arc<Shared>>,
    Path(app_key): Path<String>,
    Body(policy): Body<serde_json::Value>,
) -> ApiResult<Json<serde_json::Value>> {
    let policy =
        DevicePolicy::from_json(policy).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let app = shared.store.set_policy(&app_key, policy).await?;
    tracing::info!(app_key = %app.app_key, ?policy, "policy changed");
    Ok(Json(json!(*app)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct MintToken {
    account: String,
    /// 1 s to 30 days (default: 24 h).
    ttl_secs: Option<u64>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct MintedToken {
    account: String,
    token: String,
    /// Unix milliseconds.
    #[schema(value_type = u64)]
    expires_at: UnixMillis,
}

#[utoipa::path(
    post,
    path = "/apps/{app_key}/tokens",
    tag = "apps",
    summary = "Mint a login token for an account",
    params(("app_key" = String, Path, description = "The app")),
    request_body = MintToken,
    responses((status = 200, description = "The token", body = MintedToken), (status = 400, description = "Invalid request", body = ErrorBody), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such app", body = ErrorBody))
)]
async fn mint_token(
    State(shared): State<Arc<Shared>>,
    Path(app_key): Path<String>,
    Body(req): Body<MintToken>,
) -> ApiResult<Json<MintedToken>> {
    let app = app_of(&shared, &app_key)?;
    check_account(&req.account)?;
    let ttl = req.ttl_secs.unwrap_or(DEFAULT_TOKEN_TTL_SECS);
    if ttl == 0 || ttl > MAX_TOKEN_TTL_SECS {
        return Err(ApiError::bad_request(format!(
            "ttlSecs must be 1–{MAX_TOKEN_TTL_SECS}"
        )));
    }
    let iat = unix_millis() / 1000;
    let exp = iat + ttl;
    let token = token::mint_at(app.secret.expose(), &app.app_key, &req.account, iat, exp)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let expires_at = exp * 1000;
    Ok(Json(MintedToken {
        account: req.account,
        token: token.expose().to_owned(),
        expires_at,
    }))
}

fn check_account(account: &str) -> ApiResult<()> {
    if account.trim().is_empty()
        || account.len() > MAX_ACCOUNT_LEN
        || account.chars().any(char::is_control)
    {
        return Err(ApiError::bad_request(format!(
            "account must be 1–{MAX_ACCOUNT_LEN} bytes without control characters"
        )));
    }
    Ok(())
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
struct DeviceListBody {
    /// The device list (docs/protocol.md, "devices").
    #[schema(value_type = Vec<Object>)]
    devices: Vec<Device>,
    /// Grows with every change of the list.
    rev: u64,
}

#[utoipa::path(
    get,
    path = "/apps/{app_key}/accounts/{account}/devices",
    tag = "accounts",
    summary = "An account's device list",
    params(("app_key" = String, Path, description = "The app"), ("account" = String, Path, description = "The account")),
    responses((status = 200, description = "The devices", body = DeviceListBody), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such app", body = ErrorBody))
)]
async fn list_devices(
    State(shared): State<Arc<Shared>>,
    Path((app_key, account)): Path<(String, String)>,
) -> ApiResult<Json<DeviceListBody>> {
    app_of(&shared, &app_key)?;
    let list = shared.registry.devices(&app_key, &account).await;
    Ok(Json(DeviceListBody {
        devices: list.devices.clone(),
        rev: list.rev,
    }))
}

#[utoipa::path(
    get,
    path = "/apps/{app_key}/accounts/{account}",
    tag = "accounts",
    summary = "An account's flags and devices",
    params(("app_key" = String, Path, description = "The app"), ("account" = String, Path, description = "The account")),
    responses((status = 200, description = "The account", body = AccountView), (status = 400, description = "Invalid request", body = ErrorBody), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such app", body = ErrorBody))
)]
async fn get_account(
    State(shared): State<Arc<Shared>>,
    Path((app_key, account)): Path<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    app_of(&shared, &app_key)?;
    check_account(&account)?;
    // As stored now: another node may have changed them a moment ago.
    let flags = shared.store.fresh_flags(&app_key, &account).await?;
    let list = shared.registry.devices(&app_key, &account).await;
    Ok(Json(json!({
        "appKey": app_key,
        "account": account,
        "banned": flags.banned,
        "disabled": flags.disabled,
        "devices": list.devices,
        "rev": list.rev,
    })))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct KickRequest {
    /// The devices to sign out (default: all of the account's).
    device_ids: Option<Vec<String>>,
}

#[utoipa::path(
    post,
    path = "/apps/{app_key}/accounts/{account}/kick",
    tag = "accounts",
    summary = "Sign devices out (all without a body)",
    params(("app_key" = String, Path, description = "The app"), ("account" = String, Path, description = "The account")),
    request_body = Option<KickRequest>,
    responses((status = 200, description = "Who was signed out", body = KickResult), (status = 400, description = "Invalid request", body = ErrorBody), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such app", body = ErrorBody), (status = 503, description = "The session registry (Redis) is unreachable", body = ErrorBody))
)]
async fn kick(
    State(shared): State<Arc<Shared>>,
    Path((app_key, account)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<Json<serde_json::Value>> {
    app_of(&shared, &app_key)?;
    // The body is optional: none kicks every device of the account.
    let req: KickRequest = if body.iter().all(u8::is_ascii_whitespace) {
        KickRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("invalid JSON body: {e}")))?
    };
    let kicked = sign_out(
        &shared,
        &app_key,
        &account,
        req.device_ids.as_deref(),
        KickReason::Admin,
    )
    .await?;
    let mut seen = std::collections::HashSet::new();
    let not_found: Vec<&String> = req
        .device_ids
        .iter()
        .flatten()
        .filter(|id| !kicked.contains(id) && seen.insert(id.as_str()))
        .collect();
    tracing::info!(%app_key, %account, ?kicked, "admin kick");
    Ok(Json(json!({ "kicked": kicked, "notFound": not_found })))
}

/// Signs out the given devices of an account (all when `None`), online or
/// not: online ones are kicked with `reason` on every node, and every named
/// session ends, so its token is refused afterwards with how it ended.
/// Returns the deviceIds signed out: the online ones in login order, then the
/// offline ones.
async fn sign_out(
    shared: &Shared,
    app_key: &str,
    account: &str,
    device_ids: Option<&[String]>,
    reason: KickReason,
) -> ApiResult<Vec<String>> {
    let mut signed_out = shared
        .registry
        .kick_account(app_key, account, device_ids, reason)
        .await
        .map_err(ApiError::unavailable)?;
    let end = vestibule_protocol::SessionEnd {
        reason: vestibule_protocol::EndReason::of_kick(reason),
        by: None,
        at: shared.config.clock.now(),
    };
    let mut offline_ended = false;
    for session in shared.store.sessions(app_key, account).await? {
        let id = &session.device.device_id;
        if device_ids.is_some_and(|ids| !ids.contains(id)) {
            continue;
        }
        if shared
            .end_session(app_key, account, id, &end)
            .await?
            .is_some()
            && !signed_out.contains(id)
        {
            signed_out.push(id.clone());
            offline_ended = true;
        }
    }
    if offline_ended {
        shared
            .registry
            .refresh(app_key, account)
            .await
            .map_err(ApiError::unavailable)?;
    }
    Ok(signed_out)
}

/// Sets one flag (never rewriting the other: two admins on two nodes cannot
/// undo each other) and, when it signs the account out, kicks every session
/// on every node. Either step failing (Redis unreachable) is a 503, never a
/// success that reached no one.
async fn set_flag(
    shared: &Shared,
    app_key: &str,
    account: &str,
    flag: Flag,
    on: bool,
    kick_reason: Option<KickReason>,
) -> ApiResult<Json<serde_json::Value>> {
    app_of(shared, app_key)?;
    check_account(account)?;
    let flags = shared.store.set_flag(app_key, account, flag, on).await?;
    let kicked = match kick_reason {
        Some(reason) => sign_out(shared, app_key, account, None, reason).await?,
        None => Vec::new(),
    };
    tracing::info!(%app_key, %account, ?flags, ?kicked, "account flags changed");
    Ok(Json(json!({
        "appKey": app_key,
        "account": account,
        "banned": flags.banned,
        "disabled": flags.disabled,
        "kicked": kicked,
    })))
}

#[utoipa::path(
    put,
    path = "/apps/{app_key}/accounts/{account}/ban",
    tag = "accounts",
    summary = "Ban an account (signs it out everywhere)",
    params(("app_key" = String, Path, description = "The app"), ("account" = String, Path, description = "The account")),
    responses((status = 200, description = "The flags", body = FlagsView), (status = 400, description = "Invalid request", body = ErrorBody), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such app", body = ErrorBody), (status = 503, description = "The session registry (Redis) is unreachable", body = ErrorBody))
)]
async fn ban(
    State(shared): State<Arc<Shared>>,
    Path((app_key, account)): Path<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    let reason = Some(KickReason::Banned);
    set_flag(&shared, &app_key, &account, Flag::Banned, true, reason).await
}

#[utoipa::path(
    delete,
    path = "/apps/{app_key}/accounts/{account}/ban",
    tag = "accounts",
    summary = "Lift a ban",
    params(("app_key" = String, Path, description = "The app"), ("account" = String, Path, description = "The account")),
    responses((status = 200, description = "The flags", body = FlagsView), (status = 400, description = "Invalid request", body = ErrorBody), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such app", body = ErrorBody), (status = 503, description = "The session registry (Redis) is unreachable", body = ErrorBody))
)]
async fn unban(
    State(shared): State<Arc<Shared>>,
    Path((app_key, account)): Path<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    set_flag(&shared, &app_key, &account, Flag::Banned, false, None).await
}

#[utoipa::path(
    put,
    path = "/apps/{app_key}/accounts/{account}/disable",
    tag = "accounts",
    summary = "Disable an account (signs it out everywhere)",
    params(("app_key" = String, Path, description = "The app"), ("account" = String, Path, description = "The account")),
    responses((status = 200, description = "The flags", body = FlagsView), (status = 400, description = "Invalid request", body = ErrorBody), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such app", body = ErrorBody), (status = 503, description = "The session registry (Redis) is unreachable", body = ErrorBody))
)]
async fn disable(
    State(shared): State<Arc<Shared>>,
    Path((app_key, account)): Path<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    let reason = Some(KickReason::Admin);
    set_flag(&shared, &app_key, &account, Flag::Disabled, true, reason).await
}

#[utoipa::path(
    delete,
    path = "/apps/{app_key}/accounts/{account}/disable",
    tag = "accounts",
    summary = "Enable a disabled account",
    params(("app_key" = String, Path, description = "The app"), ("account" = String, Path, description = "The account")),
    responses((status = 200, description = "The flags", body = FlagsView), (status = 400, description = "Invalid request", body = ErrorBody), (status = 401, description = "Missing or wrong admin key", body = ErrorBody), (status = 404, description = "No such app", body = ErrorBody), (status = 503, description = "The session registry (Redis) is unreachable", body = ErrorBody))
)]
async fn enable(
    State(shared): State<Arc<Shared>>,
    Path((app_key, account)): Path<(String, String)>,
) -> ApiResult<Json<serde_json::Value>> {
    set_flag(&shared, &app_key, &account, Flag::Disabled, false, None).await
}
