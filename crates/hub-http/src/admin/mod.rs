//! The admin API (JSON), used by automation and by anyone scripting the hub. Authenticated by a
//! browser session (state changes need the `x-csrf-token` header) or by an admin key (`aiha_`);
//! never by an inference key. Members see and manage only their own keys and usage.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use hub_core::{KeyType, Secret};
use hub_core::scopes::{KeyPolicy, PolicyPatch, ScopeError};
use hub_store::keys::{AuditActor, KeyInfo};
use hub_store::usage::UsageFilter;
use hub_store::users::User;
use hub_store::StoreError;
use serde::Deserialize;
use serde_json::json;

use crate::context::RequestCtx;
use crate::inference::authenticate;
use crate::inference::authorize::RouteFamily;
use crate::state::AppState;
use crate::ui::session;

pub mod aliases;
pub mod users;
pub mod analytics;
pub mod money;
mod alerts;
pub(crate) use alerts::{clear_webhook, refresh_unread, set_webhook, test_webhook};

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(alerts::router())
        .merge(analytics::router())
        .route("/api/admin/keys", get(list_keys).post(create_key))
        .route("/api/admin/keys/{kid}", get(get_key).patch(update_key))
        .route("/api/admin/keys/{kid}/revoke", post(revoke_key))
        .route("/api/admin/keys/{kid}/rotate", post(rotate_key))
        .route("/api/admin/keys/{kid}/audit", get(key_audit))
        .route("/api/admin/providers", get(list_providers).post(add_provider))
        .route("/api/admin/providers/{provider}/credentials/{credential}/test", post(test_credential))
        .route("/api/admin/users", get(users::list))
        .route("/api/admin/users/invite", post(users::invite))
        .route("/api/admin/users/{id}", axum::routing::patch(users::update))
        .route("/api/admin/aliases", get(aliases::list))
        .route("/api/admin/aliases/{name}", axum::routing::put(aliases::set).delete(aliases::delete))
        .route("/api/admin/usage", get(list_usage))
        .route("/api/admin/audit", get(list_audit))
        .merge(money::router())
}

/// Admin API failures: `{"error":{"message","type"}}`.
#[derive(Debug)]
pub struct AdminError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    param: Option<&'static str>,
}

impl AdminError {
    pub fn message(&self) -> &str {
        &self.message
    }

    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> AdminError {
        AdminError { status, kind, message: message.into(), param: None }
    }

    fn with_param(mut self, param: &'static str) -> AdminError {
        self.param = Some(param);
        self
    }
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> AdminError {
        match e {
            StoreError::NotFound(what) => AdminError::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found")),
            StoreError::Conflict(m) => AdminError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Invalid(m) => AdminError::new(StatusCode::BAD_REQUEST, "invalid_request_error", m),
            other => {
                tracing::error!(error = %other, "admin API storage failure");
                AdminError::new(StatusCode::SERVICE_UNAVAILABLE, "storage_unavailable", "storage is unavailable")
            }
        }
    }
}

impl From<crate::error::ApiError> for AdminError {
    fn from(e: crate::error::ApiError) -> AdminError {
        let status = e.status();
        AdminError::new(status, e.class(), e.to_string())
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": {"message": self.message, "type": self.kind, "param": self.param}}))).into_response()
    }
}

/// Who is calling the admin API.
pub struct Actor {
    pub user: User,
}

impl Actor {
    pub fn label(&self) -> String {
        self.user.email.clone()
    }
}

/// Session (with CSRF on state changes) or admin key.
async fn actor(state: &AppState, headers: &HeaderMap, changes_state: bool) -> Result<Actor, AdminError> {
    if headers.contains_key(header::AUTHORIZATION) {
        let caller = authenticate::from_headers(state, headers, RouteFamily::Admin).await?;
        let user = state
            .store
            .user_by_id(&caller.secret.owner_id)
            .await?
            .ok_or_else(|| AdminError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the key's owner no longer exists"))?;
        return Ok(Actor { user });
    }
    let Some(s) = session::current(state, headers).await? else {
        return Err(AdminError::new(StatusCode::UNAUTHORIZED, "unauthorized", "log in, or send an admin API key as 'Authorization: Bearer aiha_…'"));
    };
    if changes_state {
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok()).unwrap_or("");
        if !session::tokens_match(sent, &s.csrf_token) {
            return Err(AdminError::new(StatusCode::FORBIDDEN, "csrf", "missing or wrong x-csrf-token header"));
        }
    }
    Ok(Actor { user: s.user })
}

fn ip(ctx: &RequestCtx) -> Option<String> {
    ctx.client_ip.map(|i| i.to_string())
}

async fn list_keys(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Vec<KeyInfo>>, AdminError> {
    let a = actor(&state, &headers, false).await?;
    let owner = (!a.user.role.is_admin()).then_some(a.user.id.as_str());
    Ok(Json(state.store.list_keys(owner).await?))
}

#[derive(Deserialize)]
struct CreateKey {
    name: String,
    #[serde(default)]
    owner_email: Option<String>,
    #[serde(default, rename = "type")]
    key_type: Option<String>,
}

fn scope_error(e: ScopeError) -> AdminError {
    AdminError::new(StatusCode::BAD_REQUEST, "invalid_request_error", e.message).with_param(e.param)
}

fn bad_json(e: serde_json::Error) -> AdminError {
    AdminError::new(StatusCode::BAD_REQUEST, "invalid_request_error", format!("invalid request body: {e}"))
}

/// The body of a create: the key's name, owner and type, and its scopes and limits (the same
/// fields as an update), unknown fields refused.
fn split_create(mut body: serde_json::Map<String, serde_json::Value>) -> Result<(CreateKey, PolicyPatch), AdminError> {
    let mut head = serde_json::Map::new();
    for f in ["name", "owner_email", "type"] {
        if let Some(v) = body.remove(f) {
            head.insert(f.to_owned(), v);
        }
    }
    let create: CreateKey = serde_json::from_value(head.into()).map_err(bad_json)?;
    let patch: PolicyPatch = serde_json::from_value(body.into()).map_err(bad_json)?;
    Ok((create, patch))
}

async fn create_key(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    Json(raw): Json<serde_json::Map<String, serde_json::Value>>,
) -> Result<Response, AdminError> {
    let a = actor(&state, &headers, true).await?;
    let (body, patch) = split_create(raw)?;
    let policy = patch.apply(&KeyPolicy::default()).map_err(scope_error)?;
    let owner = match &body.owner_email {
        Some(email) if a.user.role.is_admin() => state
            .store
            .user_by_email(email)
            .await?
            .ok_or_else(|| AdminError::new(StatusCode::NOT_FOUND, "not_found", "no account with that email"))?,
        Some(_) => return Err(AdminError::new(StatusCode::FORBIDDEN, "forbidden", "only admins create keys for other accounts")),
        None => a.user.clone(),
    };
    let key_type = match body.key_type.as_deref() {
        None => KeyType::Inference,
        Some(t) => KeyType::parse(t).ok_or_else(|| AdminError::new(StatusCode::BAD_REQUEST, "invalid_request_error", "type must be inference, analytics or admin"))?,
    };
    if key_type == KeyType::Admin && !owner.role.is_admin() {
        return Err(AdminError::new(StatusCode::FORBIDDEN, "forbidden", "admin keys belong to admin accounts only"));
    }
    let issued = state.store.issue_key(state.keys.pepper(), &owner.id, &body.name, key_type, &policy, &a.label(), ip(&ctx).as_deref()).await?;
    let body = json!({
        "id": issued.info.id,
        "kid": issued.info.kid,
        "key": issued.key.expose_secret(),
        "name": issued.info.name,
        "hint": issued.info.hint,
        "type": issued.info.key_type,
    });
    let mut res = (StatusCode::CREATED, Json(body)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// The key named by a kid (or id), if the actor may manage it; otherwise "not found".
async fn managed_key(state: &AppState, a: &Actor, kid: &str) -> Result<KeyInfo, AdminError> {
    let info = state.store.key_by_ref(kid).await?.ok_or(StoreError::NotFound("key"))?;
    if !a.user.role.is_admin() && info.owner_id != a.user.id {
        return Err(StoreError::NotFound("key").into());
    }
    Ok(info)
}

/// `GET /api/admin/keys/{kid}`: the key, and for a key with a budget what it spent in the
/// current period and what calls in flight reserve (live, from this instance's books).
async fn get_key(State(state): State<AppState>, headers: HeaderMap, Path(kid): Path<String>) -> Result<Json<serde_json::Value>, AdminError> {
    let a = actor(&state, &headers, false).await?;
    let info = managed_key(&state, &a, &kid).await?;
    let mut doc = serde_json::to_value(&info).map_err(|e| AdminError::new(StatusCode::INTERNAL_SERVER_ERROR, "server_error", e.to_string()))?;
    if let Some((spent, reserved)) = budget_standing(&state, &info) {
        doc["budget_spent"] = json!(spent.to_string());
        doc["budget_reserved"] = json!(reserved.to_string());
    }
    Ok(Json(doc))
}

/// What a budgeted key spent in its current period, and what its calls in flight reserve.
pub fn budget_standing(state: &AppState, info: &KeyInfo) -> Option<(hub_core::NanoCredits, hub_core::NanoCredits)> {
    let budget = info.policy.budget?;
    let s = state.accountant.key_standing(&info.id, &budget, hub_core::ids::now_ms());
    Some((s.spent, s.reserved))
}

/// `PATCH /api/admin/keys/{kid}`: absent fields keep their value, `null` clears one.
async fn update_key(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    Path(kid): Path<String>,
    Json(raw): Json<serde_json::Value>,
) -> Result<Json<KeyInfo>, AdminError> {
    let a = actor(&state, &headers, true).await?;
    let patch: PolicyPatch = serde_json::from_value(raw).map_err(bad_json)?;
    let info = managed_key(&state, &a, &kid).await?;
    let info = update_key_service(&state, &a, &info, &patch, ip(&ctx).as_deref()).await?;
    Ok(Json(info))
}

/// Shared by the admin API and the UI: applies the patch, stores it (audited) and refreshes
/// this instance's directory at once (others follow from the change log).
pub async fn update_key_service(state: &AppState, a: &Actor, info: &KeyInfo, patch: &PolicyPatch, address: Option<&str>) -> Result<KeyInfo, AdminError> {
    let policy = patch.apply(&info.policy).map_err(scope_error)?;
    let label = a.label();
    let updated = state.store.update_key_policy(&info.id, &policy, AuditActor { actor: &label, address }).await?;
    state.keys.refresh_key(&updated.id).await?;
    Ok(updated)
}

#[derive(Deserialize)]
struct RotateKey {
    grace: String,
}

/// `POST /api/admin/keys/{kid}/rotate {"grace":"24h"}`: a new secret for the same key, shown
/// once; the old one works until the grace period ends.
async fn rotate_key(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    Path(kid): Path<String>,
    Json(body): Json<RotateKey>,
) -> Result<Response, AdminError> {
    let a = actor(&state, &headers, true).await?;
    let info = managed_key(&state, &a, &kid).await?;
    let issued = rotate_key_service(&state, &a, &info, &body.grace, ip(&ctx).as_deref()).await?;
    let body = json!({
        "id": issued.info.id,
        "kid": issued.info.kid,
        "key": issued.key.expose_secret(),
        "name": issued.info.name,
        "hint": issued.info.hint,
        "type": issued.info.key_type,
        "previous_secret_until": issued.info.previous_secret_until,
    });
    let mut res = (StatusCode::CREATED, Json(body)).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Shared by the admin API and the UI.
pub async fn rotate_key_service(state: &AppState, a: &Actor, info: &KeyInfo, grace: &str, address: Option<&str>) -> Result<hub_store::keys::IssuedKey, AdminError> {
    let grace = hub_core::scopes::parse_grace(grace).map_err(scope_error)?;
    let grace_ms = i64::try_from(grace.as_millis()).unwrap_or(i64::MAX);
    let label = a.label();
    let issued = state.store.rotate_key(state.keys.pepper(), &info.id, grace_ms, AuditActor { actor: &label, address }).await?;
    state.keys.refresh_key(&issued.info.id).await?;
    Ok(issued)
}

async fn key_audit(State(state): State<AppState>, headers: HeaderMap, Path(kid): Path<String>) -> Result<Response, AdminError> {
    let a = actor(&state, &headers, false).await?;
    let info = managed_key(&state, &a, &kid).await?;
    Ok(Json(state.store.key_audit(&info.id, 200).await?).into_response())
}

async fn revoke_key(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    Path(kid): Path<String>,
) -> Result<Json<KeyInfo>, AdminError> {
    let a = actor(&state, &headers, true).await?;
    let info = state.store.key_by_ref(&kid).await?.ok_or(StoreError::NotFound("key"))?;
    if !a.user.role.is_admin() && info.owner_id != a.user.id {
        return Err(StoreError::NotFound("key").into());
    }
    let info = state.store.revoke_key_audited(&info.id, &a.label(), ip(&ctx).as_deref()).await?;
    // Effective here at once; other processes pick it up from the change log.
    state.keys.refresh_key(&info.id).await?;
    Ok(Json(info))
}

async fn list_providers(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AdminError> {
    let a = actor(&state, &headers, false).await?;
    if !a.user.role.is_admin() {
        return Err(AdminError::new(StatusCode::FORBIDDEN, "forbidden", "admins only"));
    }
    let configured = state.store.list_providers().await?;
    let env: Vec<_> = state
        .providers
        .snapshot()
        .values()
        .filter(|e| e.source == hub_store::provider_directory::ProviderSource::Environment)
        .map(|e| json!({"name": e.name, "base_url": e.base_url, "source": "environment", "credentials": e.credentials.iter().map(|c| json!({"id": c.id, "hint": c.secret.hint()})).collect::<Vec<_>>()}))
        .collect();
    // Live health of every credential that has carried traffic, by credential id.
    let health: serde_json::Map<String, serde_json::Value> = state
        .health
        .snapshot()
        .into_iter()
        .map(|(id, st, last_error)| {
            let view = crate::connection::HealthView::from_parts(st.clone(), last_error.clone());
            (id, json!({"status": st, "last_error": last_error, "reason": view.reason, "next_check_ms": view.next_check_ms}))
        })
        .collect();
    Ok(Json(json!({"providers": configured, "environment": env, "health": health})).into_response())
}

/// `POST /api/admin/providers/{provider}/credentials/{credential}/test`: the provider's
/// cheapest authenticated request with this credential, now. `provider` is its name (`openai`,
/// `custom:lab`) or its id. Answers `{ok, status, latency_ms, error, error_class, health}`; a
/// success restores a set-aside credential, a refusal sets it aside.
async fn test_credential(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    Path((provider, credential)): Path<(String, String)>,
) -> Result<Response, AdminError> {
    let a = actor(&state, &headers, true).await?;
    if !a.user.role.is_admin() {
        return Err(AdminError::new(StatusCode::FORBIDDEN, "forbidden", "admins only"));
    }
    use crate::connection::TestRefused;
    let report = crate::connection::test_credential(&state, &provider, &credential).await.map_err(|r| match r {
        TestRefused::UnknownProvider => AdminError::new(StatusCode::NOT_FOUND, "not_found", "no such provider"),
        TestRefused::UnknownCredential => AdminError::new(StatusCode::NOT_FOUND, "not_found", "no such credential for this provider"),
        TestRefused::NoAdapter => AdminError::new(StatusCode::BAD_REQUEST, "invalid_request_error", "this provider's protocol is not served by this hub"),
    })?;
    let detail = format!("credential={} ok={}", report.credential_id, report.ok);
    state.store.audit(&a.label(), "provider.tested", Some(&report.provider), ip(&ctx).as_deref(), Some(&detail)).await?;
    Ok(Json(report).into_response())
}

#[derive(Deserialize)]
struct AddProvider {
    name: String,
    base_url: Option<String>,
    #[serde(default)]
    api_key: Option<String>,
}

async fn add_provider(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    Json(body): Json<AddProvider>,
) -> Result<Response, AdminError> {
    let a = actor(&state, &headers, true).await?;
    if !a.user.role.is_admin() {
        return Err(AdminError::new(StatusCode::FORBIDDEN, "forbidden", "admins only"));
    }
    let info = add_provider_service(&state, &a, &body.name, body.base_url.as_deref(), body.api_key.map(Secret::new), ip(&ctx).as_deref()).await?;
    Ok((StatusCode::CREATED, Json(info)).into_response())
}

/// Shared by the admin API and the UI: validates, stores (sealed), audits, reloads.
pub async fn add_provider_service(
    state: &AppState,
    a: &Actor,
    name: &str,
    base_url: Option<&str>,
    api_key: Option<Secret>,
    address: Option<&str>,
) -> Result<hub_store::providers::ProviderInfo, AdminError> {
    let (canonical, kind) = hub_store::providers::parse_provider_name(name)?;
    let base_url = match base_url.map(str::trim).filter(|b| !b.is_empty()) {
        Some(b) => b.to_owned(),
        None => kind
            .default_base_url()
            .map(str::to_owned)
            .ok_or_else(|| AdminError::new(StatusCode::BAD_REQUEST, "invalid_request_error", "this provider needs a base URL"))?,
    };
    let info = state.store.upsert_provider(&canonical, &base_url, api_key.as_ref(), &state.master_key).await?;
    state.store.audit(&a.label(), "provider.saved", Some(&info.name), address, Some(&format!("base_url={}", info.base_url))).await?;
    state.providers.reload(&state.store, &state.master_key).await?;
    Ok(info)
}

#[derive(Deserialize)]
struct UsageQuery {
    key_id: Option<String>,
    limit: Option<i64>,
}

async fn list_usage(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<UsageQuery>) -> Result<Response, AdminError> {
    let a = actor(&state, &headers, false).await?;
    let filter = UsageFilter {
        key_id: q.key_id,
        user_id: (!a.user.role.is_admin()).then(|| a.user.id.clone()),
        limit: q.limit.unwrap_or(100),
    };
    Ok(Json(state.store.list_usage(&filter).await?).into_response())
}

async fn list_audit(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AdminError> {
    let a = actor(&state, &headers, false).await?;
    if !a.user.role.is_admin() {
        return Err(AdminError::new(StatusCode::FORBIDDEN, "forbidden", "admins only"));
    }
    Ok(Json(state.store.audit_entries(500).await?).into_response())
}

/// Unknown paths: the OpenAI envelope under API prefixes, a plain 404 elsewhere.
pub async fn not_found(uri: axum::http::Uri) -> Response {
    let path = uri.path();
    let body = json!({"error": {"message": format!("Unknown route {path}"), "type": "invalid_request_error", "param": null, "code": "unknown_route"}});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// A known path with the wrong method, in the same envelope.
pub async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Response {
    let body = json!({"error": {"message": format!("{method} is not allowed on {}", uri.path()), "type": "invalid_request_error", "param": null, "code": "method_not_allowed"}});
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}
