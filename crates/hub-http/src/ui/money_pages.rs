//! Settings → Rates (every model's rate per million tokens, with override and reset) and
//! Settings → Billing (credit billing on or off, starter grant, top-up link, granting credit,
//! a user's balance). Admins only; the forms call the same services as the admin API, so every
//! change is audited and takes effect at once.
#![expect(clippy::result_large_err, reason = "UI handlers return ready-made error pages; off the hot path")]

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use hub_store::rate_directory::RateListing;
use hub_store::sessions::Session;
use serde::Deserialize;

use super::pages::{check_csrf, ip, nav, notice_text, render, require_session, storage_failure, NoticeQuery, PageResult};
use super::views::{MessagePage, Nav};
use crate::admin::money::{billing_service, grant_service, reset_rate_service, set_rate_service, BillingForm, GrantForm, RateForm};
use crate::admin::Actor;
use crate::context::RequestCtx;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "rates.html")]
pub struct RatesPage {
    pub nav: Nav,
    pub rates: Vec<RateListing>,
    pub error: Option<String>,
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "billing.html")]
pub struct BillingPage {
    pub nav: Nav,
    pub billing_enabled: bool,
    pub starter_grant: String,
    pub topup_link: String,
    /// (email, balance, granted, spent, expired, reserved) of the account looked up.
    pub account: Option<(String, String, String, String, String, String)>,
    /// (time, amount lost) of the looked-up account's expired grants, newest first.
    pub account_expired: Vec<(String, String)>,
    pub error: Option<String>,
    pub notice: Option<String>,
}

fn admins_only(s: &Session) -> Result<Actor, Response> {
    if s.user.role.is_admin() {
        return Ok(Actor { user: s.user.clone() });
    }
    Err(render(&MessagePage { title: "Admins only".into(), message: "Only admins manage rates and billing.".into(), link: Some(("/settings/api-keys".into(), "Back".into())) }, StatusCode::FORBIDDEN))
}

async fn rates_render(state: &AppState, s: &Session, error: Option<String>, notice: Option<String>, status: StatusCode) -> PageResult {
    let rates = hub_store::rate_directory::listing(state.store.list_rates().await.map_err(storage_failure)?);
    Ok(render(&RatesPage { nav: nav(state, s, "rates"), rates, error, notice }, status))
}

pub async fn rates_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<NoticeQuery>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    admins_only(&s)?;
    rates_render(&state, &s, None, notice_text(q.notice.as_deref()), StatusCode::OK).await
}

/// The rate form writes credits per million tokens, as the page shows them.
#[derive(Deserialize)]
pub struct RatePageForm {
    csrf: String,
    action: String,
    provider: String,
    model: String,
    #[serde(default)]
    input_per_million: String,
    #[serde(default)]
    output_per_million: String,
    #[serde(default)]
    cached_input_per_million: String,
    #[serde(default)]
    per_image: String,
}

/// A per-million decimal as a per-token decimal (exact: moves the point six places).
fn per_token(per_million: &str) -> Result<String, String> {
    let n = hub_core::NanoCredits::parse_credits(per_million).map_err(|e| e.to_string())?;
    if n.0 % 1_000_000 != 0 {
        return Err(format!("{per_million} per million tokens is finer than one nano-credit per token"));
    }
    Ok(hub_core::NanoCredits(n.0 / 1_000_000).to_string())
}

pub async fn rates_save(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Form(f): Form<RatePageForm>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    check_csrf(&f.csrf, &s)?;
    let actor = admins_only(&s)?;
    let address = ip(&ctx);
    let done = if f.action == "reset" {
        reset_rate_service(&state, &actor, &f.provider, &f.model, address.as_deref()).await.map(drop).map_err(|e| e.message().to_owned())
    } else {
        let optional = |v: &str| -> Result<Option<String>, String> { Some(v.trim()).filter(|t| !t.is_empty()).map(per_token).transpose() };
        let form = (|| -> Result<RateForm, String> {
            Ok(RateForm {
                provider: f.provider.clone(),
                model: f.model.clone(),
                input: per_token(&f.input_per_million)?,
                output: per_token(&f.output_per_million)?,
                cached_input: optional(&f.cached_input_per_million)?,
                per_image: Some(f.per_image.trim().to_owned()).filter(|t| !t.is_empty()),
                ..RateForm::default()
            })
        })();
        match form {
            Ok(form) => set_rate_service(&state, &actor, &form, address.as_deref()).await.map_err(|e| e.message().to_owned()),
            Err(e) => Err(e),
        }
    };
    match done {
        Ok(()) => Ok(Redirect::to("/settings/rates?notice=saved").into_response()),
        Err(e) => rates_render(&state, &s, Some(e), None, StatusCode::BAD_REQUEST).await,
    }
}

#[derive(Deserialize)]
pub struct BillingQuery {
    notice: Option<String>,
    email: Option<String>,
}

async fn billing_render(state: &AppState, s: &Session, email: Option<&str>, error: Option<String>, notice: Option<String>, status: StatusCode) -> PageResult {
    let settings = state.store.billing_settings().await.map_err(storage_failure)?;
    let mut account = None;
    let mut account_expired = Vec::new();
    if let Some(email) = email.map(str::trim).filter(|e| !e.is_empty()) {
        if let Some(u) = state.store.user_by_email(email).await.map_err(storage_failure)? {
            let b = crate::admin::money::balance_json(state, &u.id);
            let text = |k: &str| b[k].as_str().unwrap_or_default().to_owned();
            let ledger = state.store.grant_ledger(&u.id, hub_core::ids::now_ms()).await.map_err(storage_failure)?;
            account_expired = crate::admin::money::expired_entries(&ledger).into_iter().map(|e| (hub_core::scopes::format_rfc3339_ms(e.expired_at), e.amount)).collect();
            account = Some((u.email, text("balance"), text("granted"), text("spent"), text("expired"), text("reserved")));
        }
    }
    let page = BillingPage {
        nav: nav(state, s, "billing"),
        billing_enabled: settings.billing_enabled,
        starter_grant: settings.starter_grant.to_string(),
        topup_link: settings.topup_link.unwrap_or_default(),
        account,
        account_expired,
        error,
        notice,
    };
    Ok(render(&page, status))
}

pub async fn billing_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<BillingQuery>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    admins_only(&s)?;
    billing_render(&state, &s, q.email.as_deref(), None, notice_text(q.notice.as_deref()), StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct BillingPageForm {
    csrf: String,
    action: String,
    #[serde(default)]
    billing_enabled: Option<String>,
    #[serde(default)]
    starter_grant: String,
    #[serde(default)]
    topup_link: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    expires_at: String,
    #[serde(default)]
    note: String,
}

pub async fn billing_save(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Form(f): Form<BillingPageForm>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    check_csrf(&f.csrf, &s)?;
    let actor = admins_only(&s)?;
    let address = ip(&ctx);
    let done = if f.action == "grant" {
        let form = GrantForm { email: f.email.clone(), amount: f.amount.clone(), expires_at: Some(f.expires_at.clone()), note: Some(f.note.clone()) };
        grant_service(&state, &actor, &form, address.as_deref()).await.map(drop)
    } else {
        let form = BillingForm {
            billing_enabled: Some(f.billing_enabled.is_some()),
            starter_grant: Some(Some(f.starter_grant.trim()).filter(|g| !g.is_empty()).unwrap_or("0").to_owned()),
            topup_link: Some(f.topup_link.clone()),
        };
        billing_service(&state, &actor, &form, address.as_deref()).await.map(drop)
    };
    match done {
        Ok(()) if f.action == "grant" => Ok(Redirect::to(&format!("/settings/billing?notice=saved&email={}", urlencode(&f.email))).into_response()),
        Ok(()) => Ok(Redirect::to("/settings/billing?notice=saved").into_response()),
        Err(e) => billing_render(&state, &s, Some(&f.email), Some(e.message().to_owned()), None, StatusCode::BAD_REQUEST).await,
    }
}

/// Percent-encodes a query value.
fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}
