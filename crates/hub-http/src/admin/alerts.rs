//! Alerts in the admin API (admins only): the list (unread first), marking read, and the
//! webhook's settings. The webhook's signing secret is write-only: it is answered once, when the
//! hub generates it, and never again.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use hub_core::Secret;
use hub_store::alerts::{Alert, WebhookInfo};
use serde::Deserialize;
use serde_json::json;

use super::{actor, ip, Actor, AdminError};
use crate::context::RequestCtx;
use crate::state::AppState;

const DEFAULT_LIST: i64 = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/alerts", get(list))
        .route("/api/admin/alerts/read", post(read_all))
        .route("/api/admin/alerts/{id}/read", post(read_one))
        .route("/api/admin/alerts/webhook", get(webhook_get).put(webhook_set).delete(webhook_clear))
        .route("/api/admin/alerts/webhook/test", post(webhook_test))
}

async fn admin(state: &AppState, headers: &HeaderMap, changes_state: bool) -> Result<Actor, AdminError> {
    let a = actor(state, headers, changes_state).await?;
    if !a.user.role.is_admin() {
        return Err(AdminError::new(StatusCode::FORBIDDEN, "forbidden", "only admins see alerts"));
    }
    Ok(a)
}

#[derive(Deserialize)]
struct ListQuery {
    limit: Option<i64>,
}

async fn list(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<ListQuery>) -> Result<Response, AdminError> {
    admin(&state, &headers, false).await?;
    let alerts: Vec<Alert> = state.store.list_alerts(q.limit.unwrap_or(DEFAULT_LIST)).await?;
    let ids: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
    let mut deliveries: std::collections::HashMap<String, hub_store::alerts::Delivery> =
        state.store.alert_deliveries(&ids).await?.into_iter().map(|d| (d.alert_id.clone(), d)).collect();
    let listed: Vec<serde_json::Value> = alerts
        .into_iter()
        .map(|a| {
            let delivery = deliveries.remove(&a.id);
            let mut v = json!(a);
            if let Some(o) = v.as_object_mut() {
                o.insert("delivery".into(), json!(delivery));
            }
            v
        })
        .collect();
    let unread = refresh_unread(&state).await?;
    Ok(Json(json!({"alerts": listed, "unread": unread})).into_response())
}

/// Re-counts unread alerts for the navigation badge and answers the count.
pub(crate) async fn refresh_unread(state: &AppState) -> Result<i64, hub_store::StoreError> {
    let n = state.store.unread_alert_count().await?;
    state.monitor.set_unread_alerts(n);
    Ok(n)
}

async fn read_one(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response, AdminError> {
    admin(&state, &headers, true).await?;
    state.store.mark_alert_read(&id).await?;
    let unread = refresh_unread(&state).await?;
    Ok(Json(json!({"id": id, "unread": unread})).into_response())
}

async fn read_all(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AdminError> {
    admin(&state, &headers, true).await?;
    let marked = state.store.mark_all_alerts_read().await?;
    let unread = refresh_unread(&state).await?;
    Ok(Json(json!({"marked": marked, "unread": unread})).into_response())
}

fn webhook_json(info: Option<&WebhookInfo>) -> serde_json::Value {
    match info {
        Some(w) => json!({"url": w.url, "secret_hint": w.secret_hint, "updated_at": w.updated_at}),
        None => json!({"url": null}),
    }
}

async fn webhook_get(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AdminError> {
    admin(&state, &headers, false).await?;
    Ok(Json(webhook_json(state.store.alert_webhook_info().await?.as_ref())).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SetWebhook {
    url: String,
    /// At least 16 characters; when absent the hub generates one and answers it this once.
    #[serde(default)]
    secret: Option<String>,
}

/// Sets the webhook; answers its settings and, when the hub generated the secret, that secret.
pub(crate) async fn set_webhook(state: &AppState, a: &Actor, address: Option<&str>, url: &str, secret: Option<String>) -> Result<(WebhookInfo, Option<Secret>), AdminError> {
    let (secret, generated) = match secret.filter(|s| !s.trim().is_empty()) {
        Some(s) => (Secret::new(s.trim()), false),
        None => (Secret::new(crate::ui::session::random_token()), true),
    };
    let info = state.store.set_alert_webhook(url, &secret, &state.master_key).await?;
    state.store.audit(&a.label(), "alert_webhook.set", Some(&info.url), address, None).await?;
    Ok((info, generated.then_some(secret)))
}

pub(crate) async fn clear_webhook(state: &AppState, a: &Actor, address: Option<&str>) -> Result<(), AdminError> {
    state.store.clear_alert_webhook().await?;
    state.store.audit(&a.label(), "alert_webhook.clear", None, address, None).await?;
    Ok(())
}

async fn webhook_set(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Json(body): Json<SetWebhook>) -> Result<Response, AdminError> {
    let a = admin(&state, &headers, true).await?;
    let (info, generated) = set_webhook(&state, &a, ip(&ctx).as_deref(), &body.url, body.secret).await?;
    let mut out = webhook_json(Some(&info));
    if let Some(s) = generated {
        out["secret"] = json!(s.expose());
    }
    let mut res = Json(out).into_response();
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

async fn webhook_clear(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap) -> Result<Response, AdminError> {
    let a = admin(&state, &headers, true).await?;
    clear_webhook(&state, &a, ip(&ctx).as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Sends one signed test event to the webhook now (no retries); answers its status.
pub(crate) async fn test_webhook(state: &AppState) -> Result<u16, AdminError> {
    let hook = state.store.alert_webhook(&state.master_key).await?.ok_or_else(|| AdminError::new(StatusCode::NOT_FOUND, "not_found", "no webhook is set"))?;
    let test = Alert {
        id: "alr_test".into(),
        ts: hub_core::ids::now_ms(),
        kind: "test".into(),
        severity: "info".into(),
        subject_type: "hub".into(),
        subject_id: "webhook".into(),
        message: "A test event from AIGNE Hub".into(),
        detail: json!({}),
        read_at: None,
    };
    let body = crate::monitor::detector::webhook_body(&test, &state.config.public_url);
    state
        .monitor
        .webhooks
        .post(&hook.url, hook.secret.expose().as_bytes(), &body)
        .await
        .map_err(|e| AdminError::new(StatusCode::BAD_GATEWAY, "webhook_failed", e.to_string()))
}

async fn webhook_test(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AdminError> {
    admin(&state, &headers, true).await?;
    let status = test_webhook(&state).await?;
    Ok(Json(json!({"delivered": true, "status": status})).into_response())
}
