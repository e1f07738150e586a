//! Alerts page (admins): the alerts, unread first, each linking to what it is about (the key's
//! page, or the providers page for a credential); marking read; the webhook's settings.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use hub_core::alerts::AlertKind;
use std::collections::HashMap;

use hub_store::alerts::{Alert, Delivery, DeliveryState};
use hub_store::sessions::Session;
use serde::Deserialize;

use super::pages::{check_csrf, ip, nav, no_store, render, require_session, storage_failure, NoticeQuery, PageResult};
use super::views::{format_time, MessagePage, Nav};
use crate::admin::{clear_webhook, refresh_unread, set_webhook, test_webhook, Actor};
use crate::context::RequestCtx;
use crate::state::AppState;

const SHOWN: i64 = 200;

pub struct AlertRow {
    pub id: String,
    pub time: String,
    pub severity: String,
    pub kind: String,
    pub title: &'static str,
    pub message: String,
    pub subject: String,
    pub link: String,
    pub unread: bool,
    /// The webhook delivery: its state (`delivered`, `pending`, `failed`) and a line about it.
    pub delivery: Option<(&'static str, String)>,
}

#[derive(Template)]
#[template(path = "alerts.html")]
pub struct AlertsPage {
    pub nav: Nav,
    pub alerts: Vec<AlertRow>,
    /// URL and secret hint.
    pub webhook: Option<(String, String)>,
    pub generated_secret: Option<String>,
    pub error: Option<String>,
    pub notice: Option<String>,
}

fn title(kind: &str) -> &'static str {
    match AlertKind::parse(kind) {
        Some(AlertKind::SilentKeyUsed) => "Key used after a long silence",
        Some(AlertKind::UsageSpike) => "Usage spike",
        Some(AlertKind::NewAddress) => "New client address",
        Some(AlertKind::FailedAttempts) => "Repeated failed attempts",
        Some(AlertKind::CredentialSetAside) => "Provider credential set aside",
        Some(AlertKind::BudgetThreshold) => "Budget threshold",
        None => "Alert",
    }
}

/// One line about a delivery: when it arrived, when it is tried next, or why it failed.
fn delivery_line(d: &Delivery) -> (&'static str, String) {
    let last = match (d.last_status, d.last_error.as_deref()) {
        (Some(s), _) => format!("last answer HTTP {s}"),
        (None, Some(e)) => format!("last attempt: {e}"),
        (None, None) => "not tried yet".to_owned(),
    };
    let attempts = if d.attempts == 1 { "1 attempt".to_owned() } else { format!("{} attempts", d.attempts) };
    let line = match d.state {
        DeliveryState::Delivered => format!("delivered {} ({attempts})", format_time(d.delivered_at.unwrap_or(d.next_at))),
        DeliveryState::Pending => format!("pending: {attempts}, next try {}; {last}", format_time(d.next_at)),
        DeliveryState::Failed => format!("failed after {attempts}; {last}"),
    };
    (d.state.as_str(), line)
}

fn row(a: Alert, delivery: Option<&Delivery>) -> AlertRow {
    let (subject, link) = match a.subject_type.as_str() {
        "credential" => (format!("credential {}", a.subject_id), "/settings/providers".to_owned()),
        "kid" => (format!("kid {}", a.subject_id), format!("/settings/api-keys/{}", a.subject_id)),
        "user" => (format!("user {}", a.subject_id), "/settings/api-keys".to_owned()),
        _ => (a.detail["kid"].as_str().map_or_else(|| format!("key {}", a.subject_id), |k| format!("key {k}")), format!("/settings/api-keys/{}", a.subject_id)),
    };
    AlertRow {
        time: format_time(a.ts),
        title: title(&a.kind),
        unread: a.read_at.is_none(),
        id: a.id,
        severity: a.severity,
        kind: a.kind,
        message: a.message,
        subject,
        link,
        delivery: delivery.map(delivery_line),
    }
}

async fn admin_session(state: &AppState, headers: &HeaderMap) -> Result<Session, Response> {
    let s = require_session(state, headers).await?;
    if !s.user.role.is_admin() {
        return Err(render(&MessagePage { title: "Admins only".into(), message: "Only admins see alerts.".into(), link: Some(("/settings/api-keys".into(), "Back".into())) }, StatusCode::FORBIDDEN));
    }
    Ok(s)
}

struct Extra {
    generated_secret: Option<String>,
    error: Option<String>,
    notice: Option<String>,
}

async fn page(state: &AppState, s: &Session, extra: Extra, status: StatusCode) -> PageResult {
    let alerts = state.store.list_alerts(SHOWN).await.map_err(storage_failure)?;
    refresh_unread(state).await.map_err(storage_failure)?;
    let webhook = state.store.alert_webhook_info().await.map_err(storage_failure)?.map(|w| (w.url, w.secret_hint));
    let ids: Vec<String> = alerts.iter().map(|a| a.id.clone()).collect();
    let deliveries: HashMap<String, Delivery> = state.store.alert_deliveries(&ids).await.map_err(storage_failure)?.into_iter().map(|d| (d.alert_id.clone(), d)).collect();
    let rows = alerts.into_iter().map(|a| {
        let d = deliveries.get(&a.id);
        row(a, d)
    });
    let view = AlertsPage { nav: nav(state, s, "alerts"), alerts: rows.collect(), webhook, generated_secret: extra.generated_secret, error: extra.error, notice: extra.notice };
    Ok(no_store(render(&view, status)))
}

pub async fn alerts_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<NoticeQuery>) -> PageResult {
    let s = admin_session(&state, &headers).await?;
    let notice = match q.notice.as_deref() {
        Some("read") => Some("Marked read.".to_owned()),
        Some("cleared") => Some("The webhook was removed.".to_owned()),
        _ => None,
    };
    page(&state, &s, Extra { generated_secret: None, error: None, notice }, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct ReadForm {
    csrf: String,
    /// Empty: every alert.
    #[serde(default)]
    id: String,
}

pub async fn alerts_read(State(state): State<AppState>, headers: HeaderMap, Form(f): Form<ReadForm>) -> PageResult {
    let s = admin_session(&state, &headers).await?;
    check_csrf(&f.csrf, &s)?;
    let done = if f.id.is_empty() { state.store.mark_all_alerts_read().await.map(drop) } else { state.store.mark_alert_read(&f.id).await };
    match done {
        Ok(()) | Err(hub_store::StoreError::NotFound(_)) => Ok(Redirect::to("/alerts?notice=read").into_response()),
        Err(e) => Err(storage_failure(e)),
    }
}

#[derive(Deserialize)]
pub struct WebhookForm {
    csrf: String,
    action: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    secret: String,
}

pub async fn alerts_webhook(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Form(f): Form<WebhookForm>) -> PageResult {
    let s = admin_session(&state, &headers).await?;
    check_csrf(&f.csrf, &s)?;
    let actor = Actor { user: s.user.clone() };
    let address = ip(&ctx);
    let mut extra = Extra { generated_secret: None, error: None, notice: None };
    match f.action.as_str() {
        "set" => match set_webhook(&state, &actor, address.as_deref(), &f.url, Some(f.secret)).await {
            Ok((_, generated)) => {
                extra.notice = Some("The webhook is saved.".into());
                extra.generated_secret = generated.map(|g| g.expose().to_owned());
            }
            Err(e) => extra.error = Some(e.message().to_owned()),
        },
        "clear" => {
            if let Err(e) = clear_webhook(&state, &actor, address.as_deref()).await {
                extra.error = Some(e.message().to_owned());
            } else {
                return Ok(Redirect::to("/alerts?notice=cleared").into_response());
            }
        }
        "test" => match test_webhook(&state).await {
            Ok(status) => extra.notice = Some(format!("The test event was delivered (HTTP {status}).")),
            Err(e) => extra.error = Some(format!("The test event was not delivered: {}", e.message())),
        },
        _ => extra.error = Some("Unknown action.".into()),
    }
    let status = if extra.error.is_some() { StatusCode::BAD_REQUEST } else { StatusCode::OK };
    page(&state, &s, extra, status).await
}
