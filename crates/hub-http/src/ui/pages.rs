//! UI page handlers: extract the form, check the session and CSRF token, call one store or
//! service function, render.
#![expect(clippy::result_large_err, reason = "UI handlers return ready-made error pages; off the hot path")]

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use hub_core::{KeyType, Secret};
use hub_store::provider_directory::ProviderSource;
use hub_store::sessions::Session;
use hub_store::usage::UsageFilter;
use hub_store::users::Role;
use hub_store::StoreError;
use serde::Deserialize;

use super::session::{self, PRELOGIN_CSRF_COOKIE, SESSION_COOKIE};
use super::views::*;
use crate::admin::{add_provider_service, Actor};
use crate::context::RequestCtx;
use crate::state::AppState;

pub(super) type PageResult = Result<Response, Response>;

pub(super) fn render(t: &impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "page rendering failed").into_response()
        }
    }
}

pub(super) fn storage_failure(e: StoreError) -> Response {
    tracing::error!(error = %e, "UI storage failure");
    render(
        &MessagePage { title: "Storage unavailable".into(), message: "The hub could not reach its database. Try again shortly.".into(), link: None },
        StatusCode::SERVICE_UNAVAILABLE,
    )
}

pub(super) fn no_store(mut res: Response) -> Response {
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

pub(super) async fn require_session(state: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    match session::current(state, headers).await {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(Redirect::to("/login").into_response()),
        Err(e) => Err(storage_failure(e)),
    }
}

pub(super) fn check_csrf(sent: &str, s: &Session) -> Result<(), Response> {
    if session::tokens_match(sent, &s.csrf_token) {
        Ok(())
    } else {
        Err(render(
            &MessagePage { title: "Form expired".into(), message: "The form's security token did not match. Reload the page and try again.".into(), link: Some(("/".into(), "Back".into())) },
            StatusCode::FORBIDDEN,
        ))
    }
}

/// The navigation bar; admins also get the Alerts link with its unread count (from memory).
pub(super) fn nav(state: &AppState, s: &Session, active: &'static str) -> Nav {
    let alerts = s.user.role.is_admin();
    let unread = if alerts { state.monitor.unread_alerts() } else { 0 };
    Nav { email: s.user.email.clone(), csrf: s.csrf_token.clone(), active, alerts, unread }
}

pub(super) fn ip(ctx: &RequestCtx) -> Option<String> {
    ctx.client_ip.map(|i| i.to_string())
}

pub async fn home(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match session::current(&state, &headers).await {
        Ok(Some(_)) => Redirect::to("/settings/api-keys").into_response(),
        Ok(None) => Redirect::to("/login").into_response(),
        Err(e) => storage_failure(e),
    }
}

// ------------------------------------------------------------------------------------------
// First owner and login

#[derive(Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// A fresh pre-login CSRF token, set as a cookie and echoed in the form.
pub(super) fn prelogin_csrf(state: &AppState, res: &mut Response, token: &str) {
    res.headers_mut().append(header::SET_COOKIE, session::set_cookie(state, PRELOGIN_CSRF_COOKIE, token, 3600));
}

pub async fn setup_form(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> Response {
    let token = q.token.unwrap_or_default();
    match state.store.owner_exists().await {
        Ok(true) => return Redirect::to("/login").into_response(),
        Ok(false) => {}
        Err(e) => return storage_failure(e),
    }
    match state.store.setup_token_valid(&token).await {
        Ok(true) => {}
        Ok(false) => {
            return render(
                &MessagePage {
                    title: "Setup link expired".into(),
                    message: "This setup link is invalid, used or expired. Restart the hub to print a new one, or run `aigne-hub admin create`.".into(),
                    link: None,
                },
                StatusCode::FORBIDDEN,
            )
        }
        Err(e) => return storage_failure(e),
    }
    let csrf = session::random_token();
    let mut res = no_store(render(&SetupPage { token, csrf: csrf.clone(), error: None }, StatusCode::OK));
    prelogin_csrf(&state, &mut res, &csrf);
    res
}

#[derive(Deserialize)]
pub struct SetupForm {
    token: String,
    csrf: String,
    email: String,
    password: String,
    password_confirm: String,
}

pub async fn setup_submit(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Form(f): Form<SetupForm>) -> Response {
    let expected = session::cookie(&headers, PRELOGIN_CSRF_COOKIE).unwrap_or("");
    let again = |error: String| {
        let csrf = session::random_token();
        let mut res = no_store(render(&SetupPage { token: f.token.clone(), csrf: csrf.clone(), error: Some(error) }, StatusCode::BAD_REQUEST));
        prelogin_csrf(&state, &mut res, &csrf);
        res
    };
    if !session::tokens_match(&f.csrf, expected) {
        return again("The form expired; please submit it again.".into());
    }
    if f.password != f.password_confirm {
        return again("The passwords do not match.".into());
    }
    if let Err(e) = hub_core::password::check_strength(&f.password) {
        return again(e.to_string());
    }
    if let Err(e) = hub_store::users::normalize_email(&f.email) {
        return again(e.to_string());
    }
    let hash = match hub_core::password::hash(&f.password) {
        Ok(h) => h,
        Err(e) => return again(e.to_string()),
    };
    match state.store.consume_setup_token(&f.token).await {
        Ok(true) => {}
        Ok(false) => return render(&MessagePage { title: "Setup link expired".into(), message: "This setup link was already used or has expired.".into(), link: Some(("/login".into(), "Log in".into())) }, StatusCode::FORBIDDEN),
        Err(e) => return storage_failure(e),
    }
    let user = match state.store.create_user(&f.email, &hash, Role::Owner).await {
        Ok(u) => u,
        Err(e) => return storage_failure(e),
    };
    let _ = state.store.audit(&user.email, "user.owner_created", Some(&user.id), ip(&ctx).as_deref(), None).await;
    start_session(&state, &headers, &user.id).await
}

/// A brand-new session id at every login (never reuse one the browser already had).
pub(super) async fn start_session(state: &AppState, headers: &HeaderMap, user_id: &str) -> Response {
    if let Some(old) = session::cookie(headers, SESSION_COOKIE) {
        let _ = state.store.delete_session(old).await;
    }
    let id = session::random_token();
    let csrf = session::random_token();
    if let Err(e) = state.store.create_session(&id, user_id, &csrf, state.config.session_ttl_ms).await {
        return storage_failure(e);
    }
    let mut res = Redirect::to("/settings/api-keys").into_response();
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, session::set_cookie(state, SESSION_COOKIE, &id, state.config.session_ttl_ms / 1000));
    h.append(header::SET_COOKIE, session::clear_cookie(PRELOGIN_CSRF_COOKIE));
    res
}

#[derive(Deserialize)]
pub struct NoticeQuery {
    pub(super) notice: Option<String>,
}

pub(super) fn notice_text(code: Option<&str>) -> Option<String> {
    match code? {
        "logged_out" => Some("You are logged out.".into()),
        "revoked" => Some("The key was revoked. Calls with it are refused from now on.".into()),
        "saved" => Some("Saved.".into()),
        _ => None,
    }
}

pub async fn login_form(State(state): State<AppState>, Query(q): Query<NoticeQuery>) -> Response {
    let csrf = session::random_token();
    let mut res = no_store(render(&LoginPage { csrf: csrf.clone(), error: None, notice: notice_text(q.notice.as_deref()) }, StatusCode::OK));
    prelogin_csrf(&state, &mut res, &csrf);
    res
}

#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    email: String,
    password: String,
}

pub async fn login_submit(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Form(f): Form<LoginForm>) -> Response {
    let expected = session::cookie(&headers, PRELOGIN_CSRF_COOKIE).unwrap_or("");
    let fail = |error: &str, status: StatusCode| {
        let csrf = session::random_token();
        let mut res = no_store(render(&LoginPage { csrf: csrf.clone(), error: Some(error.to_owned()), notice: None }, status));
        prelogin_csrf(&state, &mut res, &csrf);
        res
    };
    if !session::tokens_match(&f.csrf, expected) {
        return fail("The form expired; please log in again.", StatusCode::FORBIDDEN);
    }
    let user = match state.store.user_by_email(&f.email).await {
        Ok(u) => u,
        Err(e) => return storage_failure(e),
    };
    // Unknown accounts cost the same argon2 work as known ones.
    let stored = user.as_ref().map_or(hub_core::password::decoy_hash(), |u| u.password_hash.as_str());
    let password = f.password.clone();
    let stored = stored.to_owned();
    let ok = tokio::task::spawn_blocking(move || hub_core::password::verify(&password, &stored)).await.unwrap_or(false);
    match user {
        Some(u) if ok && !u.disabled => {
            let _ = state.store.audit(&u.email, "user.login", Some(&u.id), ip(&ctx).as_deref(), None).await;
            start_session(&state, &headers, &u.id).await
        }
        _ => {
            let _ = state.store.audit(f.email.trim(), "user.login_failed", None, ip(&ctx).as_deref(), None).await;
            fail("Wrong email or password.", StatusCode::UNAUTHORIZED)
        }
    }
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap, Form(f): Form<CsrfForm>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    check_csrf(&f.csrf, &s)?;
    if let Some(id) = session::cookie(&headers, SESSION_COOKIE) {
        state.store.delete_session(id).await.map_err(storage_failure)?;
    }
    let mut res = Redirect::to("/login?notice=logged_out").into_response();
    res.headers_mut().append(header::SET_COOKIE, session::clear_cookie(SESSION_COOKIE));
    Ok(res)
}

// ------------------------------------------------------------------------------------------
// Settings → API Keys

async fn key_rows(state: &AppState, s: &Session) -> Result<Vec<KeyRow>, Response> {
    let owner = (!s.user.role.is_admin()).then_some(s.user.id.as_str());
    let keys = state.store.list_keys(owner).await.map_err(storage_failure)?;
    Ok(keys
        .into_iter()
        .map(|k| KeyRow {
            status: k.status(),
            kid: k.kid,
            name: k.name,
            hint: k.hint,
            owner: k.owner_email,
            created: format_time(k.created_at),
            last_used: match (k.last_used_at, k.last_used_ip) {
                (Some(t), Some(ip)) => format!("{} from {ip}", format_time(t)),
                (t, _) => format_optional_time(t),
            },
            requests: k.request_count,
            tokens: format!("{} in / {} out", k.tokens_in, k.tokens_out),
            playground: k.managed.as_deref() == Some(hub_store::keys::MANAGED_PLAYGROUND),
        })
        .collect())
}

pub async fn keys_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<NoticeQuery>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    let keys = key_rows(&state, &s).await?;
    Ok(render(&KeysPage { nav: nav(&state, &s, "keys"), keys, new_key: None, error: None, notice: notice_text(q.notice.as_deref()) }, StatusCode::OK))
}

#[derive(Deserialize)]
pub struct CreateKeyForm {
    csrf: String,
    name: String,
    #[serde(default)]
    budget: String,
    #[serde(default)]
    budget_period: String,
}

pub async fn keys_create(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Form(f): Form<CreateKeyForm>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    check_csrf(&f.csrf, &s)?;
    let budget = hub_core::scopes::PolicyPatch {
        budget: Some(Some(f.budget.trim().to_owned()).filter(|b| !b.is_empty())),
        budget_period: Some(f.budget_period.trim().to_owned()).filter(|p| !p.is_empty() && !f.budget.trim().is_empty()),
        ..hub_core::scopes::PolicyPatch::default()
    };
    let issued = match budget.apply(&hub_core::scopes::KeyPolicy::default()) {
        Ok(policy) => state.store.issue_key(state.keys.pepper(), &s.user.id, &f.name, KeyType::Inference, &policy, &s.user.email, ip(&ctx).as_deref()).await,
        Err(e) => Err(StoreError::Invalid(e.message)),
    };
    let (new_key, error, status) = match issued {
        Ok(i) => (Some(NewKey { key: i.key.expose_secret().to_owned(), name: i.info.name }), None, StatusCode::OK),
        Err(StoreError::Invalid(m) | StoreError::Conflict(m)) => (None, Some(m), StatusCode::BAD_REQUEST),
        Err(e) => return Err(storage_failure(e)),
    };
    let keys = key_rows(&state, &s).await?;
    // The one response that carries the key: never cached.
    Ok(no_store(render(&KeysPage { nav: nav(&state, &s, "keys"), keys, new_key, error, notice: None }, status)))
}

pub async fn revoke_confirm(State(state): State<AppState>, headers: HeaderMap, Path(kid): Path<String>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    let key = state.store.key_by_ref(&kid).await.map_err(storage_failure)?;
    match key {
        Some(k) if s.user.role.is_admin() || k.owner_id == s.user.id => {
            Ok(render(&RevokePage { nav: nav(&state, &s, "keys"), kid: k.kid, name: k.name, hint: k.hint }, StatusCode::OK))
        }
        _ => Ok(render(&MessagePage { title: "Key not found".into(), message: "There is no such key.".into(), link: Some(("/settings/api-keys".into(), "Back to API keys".into())) }, StatusCode::NOT_FOUND)),
    }
}

pub async fn revoke_submit(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    Path(kid): Path<String>,
    Form(f): Form<CsrfForm>,
) -> PageResult {
    let s = require_session(&state, &headers).await?;
    check_csrf(&f.csrf, &s)?;
    let key = state.store.key_by_ref(&kid).await.map_err(storage_failure)?;
    let Some(k) = key.filter(|k| s.user.role.is_admin() || k.owner_id == s.user.id) else {
        return Ok(Redirect::to("/settings/api-keys").into_response());
    };
    let info = state.store.revoke_key_audited(&k.id, &s.user.email, ip(&ctx).as_deref()).await.map_err(storage_failure)?;
    state.keys.refresh_key(&info.id).await.map_err(storage_failure)?;
    Ok(Redirect::to("/settings/api-keys?notice=revoked").into_response())
}

// ------------------------------------------------------------------------------------------
// Settings → Providers

pub async fn providers_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<NoticeQuery>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    providers_render(&state, &s, None, notice_text(q.notice.as_deref()), StatusCode::OK).await
}

pub(super) async fn providers_render(state: &AppState, s: &Session, error: Option<String>, notice: Option<String>, status: StatusCode) -> PageResult {
    if !s.user.role.is_admin() {
        return Ok(render(&MessagePage { title: "Admins only".into(), message: "Only admins manage providers.".into(), link: Some(("/settings/api-keys".into(), "Back".into())) }, StatusCode::FORBIDDEN));
    }
    let configured = state.store.list_providers().await.map_err(storage_failure)?;
    let mut providers: Vec<ProviderRow> = configured
        .into_iter()
        .map(|p| ProviderRow {
            credentials: p.credentials.iter().map(|c| credential_row(state, &c.id, &c.hint)).collect(),
            name: p.name,
            base_url: p.base_url,
            source: "configured",
            enabled: p.enabled,
        })
        .collect();
    for e in state.providers.snapshot().values().filter(|e| e.source == ProviderSource::Environment) {
        providers.push(ProviderRow {
            name: e.name.clone(),
            base_url: e.base_url.clone(),
            source: "environment",
            credentials: e.credentials.iter().map(|c| credential_row(state, &c.id, &c.secret.hint())).collect(),
            enabled: true,
        });
    }
    let aliases = state.providers.aliases().into_iter().map(|(name, chain)| (name, chain.join(" → "))).collect();
    let models = ModelStatusRow::from_monitor(&state.monitor);
    Ok(render(&ProvidersPage { nav: nav(state, s, "providers"), providers, aliases, models, error, notice }, status))
}

/// A masked credential and its live health, e.g. `…abcd (cooling down)`; for a set-aside one
/// also its last error and the time of its next re-check.
fn credential_row(state: &AppState, id: &str, hint: &str) -> CredentialRow {
    use hub_providers::health::HealthState;
    let Some(h) = state.health.peek(id) else {
        return CredentialRow { id: id.to_owned(), label: hint.to_owned(), detail: None };
    };
    let (status, detail) = match h.state() {
        HealthState::Healthy => return CredentialRow { id: id.to_owned(), label: hint.to_owned(), detail: None },
        HealthState::CoolingDown { .. } => ("cooling down after a rate limit".to_owned(), None),
        HealthState::CircuitOpen { .. } => ("failing; held back".to_owned(), None),
        HealthState::SetAside { reason, until_ms } => {
            let last = h.last_error().unwrap_or_else(|| reason.clone());
            (format!("set aside: {reason}"), Some(format!("last error: {last}; next check {}", format_time(until_ms))))
        }
    };
    CredentialRow { id: id.to_owned(), label: format!("{hint} ({status})"), detail }
}

#[derive(Deserialize)]
pub struct TestConnectionForm {
    csrf: String,
    provider: String,
    credential: String,
}

/// `POST /settings/providers/test`: the Test connection button of one credential; the page
/// comes back with the result.
pub async fn providers_test(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Form(f): Form<TestConnectionForm>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    check_csrf(&f.csrf, &s)?;
    if !s.user.role.is_admin() {
        return providers_render(&state, &s, None, None, StatusCode::FORBIDDEN).await;
    }
    match crate::connection::test_credential(&state, &f.provider, &f.credential).await {
        Ok(r) => {
            let detail = format!("credential={} ok={}", r.credential_id, r.ok);
            state.store.audit(&s.user.email, "provider.tested", Some(&r.provider), ip(&ctx).as_deref(), Some(&detail)).await.map_err(storage_failure)?;
            if r.ok {
                let notice = format!("Connection test of {} passed: the provider accepted the credential ({} ms).", r.provider, r.latency_ms);
                providers_render(&state, &s, None, Some(notice), StatusCode::OK).await
            } else {
                let error = format!("Connection test of {} failed after {} ms: {}", r.provider, r.latency_ms, r.error.unwrap_or_default());
                providers_render(&state, &s, Some(error), None, StatusCode::OK).await
            }
        }
        Err(_) => providers_render(&state, &s, Some("There is no such provider credential.".to_owned()), None, StatusCode::NOT_FOUND).await,
    }
}

#[derive(Deserialize)]
pub struct ProviderForm {
    csrf: String,
    name: String,
    base_url: String,
    #[serde(default)]
    api_key: String,
}

pub async fn providers_save(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Form(f): Form<ProviderForm>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    check_csrf(&f.csrf, &s)?;
    if !s.user.role.is_admin() {
        return providers_render(&state, &s, None, None, StatusCode::FORBIDDEN).await;
    }
    let actor = Actor { user: s.user.clone() };
    let key = Some(f.api_key.trim()).filter(|k| !k.is_empty()).map(Secret::new);
    match add_provider_service(&state, &actor, &f.name, Some(&f.base_url), key, ip(&ctx).as_deref()).await {
        Ok(_) => Ok(Redirect::to("/settings/providers?notice=saved").into_response()),
        Err(e) => providers_render(&state, &s, Some(e.message().to_owned()), None, StatusCode::BAD_REQUEST).await,
    }
}

// ------------------------------------------------------------------------------------------
// Usage

pub async fn usage_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let s = require_session(&state, &headers).await?;
    let filter = UsageFilter { key_id: None, user_id: (!s.user.role.is_admin()).then(|| s.user.id.clone()), limit: 200 };
    let rows = state.store.list_usage(&filter).await.map_err(storage_failure)?;
    let rows = rows
        .into_iter()
        .map(|r| UsageRowView {
            time: format_time(r.ts),
            request_id: r.request_id,
            key: r.kid,
            project: r.project.unwrap_or_default(),
            model: if r.provider.is_empty() { r.model } else { format!("{}/{}", r.provider, r.model) },
            status: r.status,
            outcome: r.outcome,
            tokens_in: r.tokens_in,
            tokens_out: r.tokens_out,
            duration_ms: r.duration_ms,
        })
        .collect();
    Ok(render(&UsagePage { nav: nav(&state, &s, "usage"), rows }, StatusCode::OK))
}

// ------------------------------------------------------------------------------------------
// Settings → API Keys → one key: scopes and limits, rotation, audit

async fn managed_key(state: &AppState, s: &Session, kid: &str) -> Result<hub_store::keys::KeyInfo, Response> {
    let key = state.store.key_by_ref(kid).await.map_err(storage_failure)?;
    match key {
        Some(k) if s.user.role.is_admin() || k.owner_id == s.user.id => Ok(k),
        _ => Err(render(&MessagePage { title: "Key not found".into(), message: "There is no such key.".into(), link: Some(("/settings/api-keys".into(), "Back to API keys".into())) }, StatusCode::NOT_FOUND)),
    }
}

struct KeyPageExtra {
    new_key: Option<String>,
    error: Option<String>,
    notice: Option<String>,
}

async fn key_render(state: &AppState, s: &Session, k: hub_store::keys::KeyInfo, extra: KeyPageExtra, status: StatusCode) -> PageResult {
    let audit = state.store.key_audit(&k.id, 100).await.map_err(storage_failure)?;
    let usage = super::dashboard::key_usage(state, &k).await?;
    let p = &k.policy;
    let num = |n: Option<u64>| n.map(|n| n.to_string()).unwrap_or_default();
    let page = KeyPage {
        nav: nav(state, s, "keys"),
        status: k.status(),
        playground: k.managed.as_deref() == Some(hub_store::keys::MANAGED_PLAYGROUND),
        models: p.models_text(),
        endpoints: p.endpoints_text(),
        ips: p.ips_text(),
        rpm: num(p.rpm.map(u64::from)),
        tpm: num(p.tpm),
        max_concurrency: num(p.max_concurrency.map(u64::from)),
        expires: p.expires_at.map(hub_core::scopes::format_rfc3339_ms).unwrap_or_default(),
        budget: p.budget.map(|b| b.limit.to_string()).unwrap_or_default(),
        budget_period: p.budget.map_or("total", |b| b.period.as_str()),
        budget_use: crate::admin::budget_standing(state, &k).map(|(spent, reserved)| format!("{spent} spent this period, {reserved} reserved by calls in flight")),
        audit: audit
            .into_iter()
            .map(|a| (format_time(a.ts), a.action, a.actor, a.address.unwrap_or_default(), a.detail.unwrap_or_default()))
            .collect(),
        grace_until: k.previous_secret_until.map(format_time),
        kid: k.kid,
        name: k.name,
        hint: k.hint,
        new_key: extra.new_key,
        error: extra.error,
        notice: extra.notice,
        usage,
    };
    let res = render(&page, status);
    // The page may carry a new secret: never cached.
    Ok(no_store(res))
}

pub async fn key_page(State(state): State<AppState>, headers: HeaderMap, Path(kid): Path<String>, Query(q): Query<NoticeQuery>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    let k = managed_key(&state, &s, &kid).await?;
    key_render(&state, &s, k, KeyPageExtra { new_key: None, error: None, notice: notice_text(q.notice.as_deref()) }, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct KeyScopesForm {
    csrf: String,
    #[serde(default)]
    models: String,
    #[serde(default)]
    endpoints: String,
    #[serde(default)]
    ips: String,
    #[serde(default)]
    rpm: String,
    #[serde(default)]
    tpm: String,
    #[serde(default)]
    max_concurrency: String,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    budget: String,
    #[serde(default)]
    budget_period: String,
}

/// The form as a full replacement: an empty field clears its scope or limit.
fn form_patch(f: &KeyScopesForm) -> Result<hub_core::scopes::PolicyPatch, String> {
    fn list(v: &str) -> Option<Option<Vec<String>>> {
        let v = v.trim();
        Some((!v.is_empty()).then(|| vec![v.to_owned()]))
    }
    fn number<T: std::str::FromStr>(v: &str, what: &str) -> Result<Option<Option<T>>, String> {
        let v = v.trim();
        if v.is_empty() {
            return Ok(Some(None));
        }
        v.parse().map(|n| Some(Some(n))).map_err(|_| format!("{what} must be a whole number"))
    }
    Ok(hub_core::scopes::PolicyPatch {
        models: list(&f.models),
        endpoints: list(&f.endpoints),
        ips: list(&f.ips),
        rpm: number(&f.rpm, "Requests per minute")?,
        tpm: number(&f.tpm, "Tokens per minute")?,
        max_concurrency: number(&f.max_concurrency, "Concurrent requests")?,
        expires_at: Some(Some(f.expires.trim().to_owned()).filter(|e| !e.is_empty())),
        budget: Some(Some(f.budget.trim().to_owned()).filter(|b| !b.is_empty())),
        budget_period: Some(f.budget_period.trim().to_owned()).filter(|p| !p.is_empty() && !f.budget.trim().is_empty()),
    })
}

pub async fn key_update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    Path(kid): Path<String>,
    Form(f): Form<KeyScopesForm>,
) -> PageResult {
    let s = require_session(&state, &headers).await?;
    check_csrf(&f.csrf, &s)?;
    let k = managed_key(&state, &s, &kid).await?;
    let actor = Actor { user: s.user.clone() };
    let result = match form_patch(&f) {
        Ok(patch) => crate::admin::update_key_service(&state, &actor, &k, &patch, ip(&ctx).as_deref()).await.map_err(|e| e.message().to_owned()),
        Err(e) => Err(e),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/settings/api-keys/{}?notice=saved", k.kid)).into_response()),
        Err(error) => key_render(&state, &s, k, KeyPageExtra { new_key: None, error: Some(error), notice: None }, StatusCode::BAD_REQUEST).await,
    }
}

#[derive(Deserialize)]
pub struct RotateForm {
    csrf: String,
    grace: String,
}

pub async fn key_rotate(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    Path(kid): Path<String>,
    Form(f): Form<RotateForm>,
) -> PageResult {
    let s = require_session(&state, &headers).await?;
    check_csrf(&f.csrf, &s)?;
    let k = managed_key(&state, &s, &kid).await?;
    let actor = Actor { user: s.user.clone() };
    match crate::admin::rotate_key_service(&state, &actor, &k, &f.grace, ip(&ctx).as_deref()).await {
        Ok(issued) => {
            let extra = KeyPageExtra { new_key: Some(issued.key.expose_secret().to_owned()), error: None, notice: None };
            key_render(&state, &s, issued.info, extra, StatusCode::OK).await
        }
        Err(e) => key_render(&state, &s, k, KeyPageExtra { new_key: None, error: Some(e.message().to_owned()), notice: None }, StatusCode::BAD_REQUEST).await,
    }
}
