//! The admin API for money: model rates (list, set, reset to the list price), the credit billing
//! settings, credit grants, and a user's balance with its history. Admins only; every change is
//! audited by the store and takes effect here at once (other instances follow the change log).
//!
//! Amounts travel as decimal credit strings (`"0.00000015"`), never as floats.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use hub_core::money::NanoCredits;
use hub_core::pricing::{ModelRate, UnitCost};
use hub_store::billing::BillingSettings;
use hub_store::keys::AuditActor;
use hub_store::usage::UsageFilter;
use hub_store::StoreError;
use serde::Deserialize;
use serde_json::json;

use super::{actor, ip, Actor, AdminError};
use crate::context::RequestCtx;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/rates", get(list_rates).post(set_rate).delete(reset_rate))
        .route("/api/admin/billing", get(get_billing).put(put_billing))
        .route("/api/admin/credits/grants", post(grant))
        .route("/api/admin/users/{email}/credit", get(user_credit))
}

fn invalid(message: impl Into<String>, param: &'static str) -> AdminError {
    AdminError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message).with_param(param)
}

fn amount(text: &str, param: &'static str) -> Result<NanoCredits, AdminError> {
    NanoCredits::parse_credits(text).map_err(|e| invalid(format!("{param}: {e}"), param))
}

async fn admin(state: &AppState, headers: &HeaderMap, changes_state: bool) -> Result<Actor, AdminError> {
    let a = actor(state, headers, changes_state).await?;
    if !a.user.role.is_admin() {
        return Err(AdminError::new(StatusCode::FORBIDDEN, "forbidden", "admins only"));
    }
    Ok(a)
}

async fn list_rates(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AdminError> {
    admin(&state, &headers, false).await?;
    Ok(Json(hub_store::rate_directory::listing(state.store.list_rates().await?)).into_response())
}

/// A rate as the API and the UI write it: credits per token (or per image) as decimals.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateForm {
    pub provider: String,
    pub model: String,
    pub input: String,
    pub output: String,
    #[serde(default)]
    pub cached_input: Option<String>,
    #[serde(default)]
    pub per_image: Option<String>,
    #[serde(default)]
    pub per_video_second: Option<String>,
    #[serde(default)]
    pub unit_cost_input: Option<String>,
    #[serde(default)]
    pub unit_cost_output: Option<String>,
    #[serde(default)]
    pub unit_cost_cached_input: Option<String>,
    #[serde(default)]
    pub unit_cost_per_image: Option<String>,
}

impl RateForm {
    /// The rate; an absent cached or unit-cost amount defaults to the matching sell rate.
    pub fn rate(&self) -> Result<ModelRate, AdminError> {
        let opt = |v: &Option<String>, param: &'static str, default: NanoCredits| match v.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
            Some(t) => amount(t, param),
            None => Ok(default),
        };
        let input = amount(&self.input, "input")?;
        let output = amount(&self.output, "output")?;
        let cached_input = opt(&self.cached_input, "cached_input", input)?;
        let per_image = opt(&self.per_image, "per_image", NanoCredits::ZERO)?;
        Ok(ModelRate {
            input,
            output,
            cached_input,
            per_image,
            per_video_second: opt(&self.per_video_second, "per_video_second", NanoCredits::ZERO)?,
            per_web_search: NanoCredits::ZERO,
            unit_cost: UnitCost {
                input: opt(&self.unit_cost_input, "unit_cost_input", input)?,
                output: opt(&self.unit_cost_output, "unit_cost_output", output)?,
                cached_input: opt(&self.unit_cost_cached_input, "unit_cost_cached_input", cached_input)?,
                per_image: opt(&self.unit_cost_per_image, "unit_cost_per_image", per_image)?,
            },
        })
    }
}

/// Shared by the admin API and the UI: stores the rate (audited) and reloads this instance's
/// rates at once.
pub async fn set_rate_service(state: &AppState, a: &Actor, form: &RateForm, address: Option<&str>) -> Result<(), AdminError> {
    let rate = form.rate()?;
    let label = a.label();
    state.store.set_rate(form.provider.trim(), form.model.trim(), &rate, AuditActor { actor: &label, address }).await?;
    state.rates.reload(&state.store).await?;
    Ok(())
}

pub async fn reset_rate_service(state: &AppState, a: &Actor, provider: &str, model: &str, address: Option<&str>) -> Result<bool, AdminError> {
    let label = a.label();
    let removed = state.store.delete_rate(provider, model, AuditActor { actor: &label, address }).await?;
    state.rates.reload(&state.store).await?;
    Ok(removed)
}

async fn set_rate(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Json(form): Json<RateForm>) -> Result<Response, AdminError> {
    let a = admin(&state, &headers, true).await?;
    set_rate_service(&state, &a, &form, ip(&ctx).as_deref()).await?;
    list_rates(State(state), headers).await
}

#[derive(Deserialize)]
struct RateRef {
    provider: String,
    model: String,
}

/// `DELETE /api/admin/rates?provider=…&model=…`: back to the list price.
async fn reset_rate(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Query(r): Query<RateRef>) -> Result<Response, AdminError> {
    let a = admin(&state, &headers, true).await?;
    if !reset_rate_service(&state, &a, &r.provider, &r.model, ip(&ctx).as_deref()).await? {
        return Err(StoreError::NotFound("rate override").into());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn get_billing(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AdminError> {
    admin(&state, &headers, false).await?;
    Ok(Json(settings_json(&state.store.billing_settings().await?)).into_response())
}

fn settings_json(s: &BillingSettings) -> serde_json::Value {
    json!({"billing_enabled": s.billing_enabled, "starter_grant": s.starter_grant.to_string(), "topup_link": s.topup_link})
}

/// A change to the billing settings: absent fields keep their value.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BillingForm {
    #[serde(default)]
    pub billing_enabled: Option<bool>,
    #[serde(default)]
    pub starter_grant: Option<String>,
    /// An empty string removes the link.
    #[serde(default)]
    pub topup_link: Option<String>,
}

/// Shared by the admin API and the UI.
pub async fn billing_service(state: &AppState, a: &Actor, form: &BillingForm, address: Option<&str>) -> Result<BillingSettings, AdminError> {
    let mut s = state.store.billing_settings().await?;
    if let Some(on) = form.billing_enabled {
        s.billing_enabled = on;
    }
    if let Some(g) = form.starter_grant.as_deref() {
        s.starter_grant = amount(g, "starter_grant")?;
    }
    if let Some(link) = &form.topup_link {
        s.topup_link = Some(link.trim().to_owned()).filter(|l| !l.is_empty());
    }
    let label = a.label();
    state.store.set_billing_settings(&s, AuditActor { actor: &label, address }).await?;
    state.credit.reload_settings(&state.store).await?;
    Ok(s)
}

async fn put_billing(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Json(form): Json<BillingForm>) -> Result<Response, AdminError> {
    let a = admin(&state, &headers, true).await?;
    let s = billing_service(&state, &a, &form, ip(&ctx).as_deref()).await?;
    Ok(Json(settings_json(&s)).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantForm {
    pub email: String,
    pub amount: String,
    /// RFC 3339; absent or empty: never.
    #[serde(default)]
    pub expires_at: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
}

/// Shared by the admin API and the UI: records the grant (audited) and refreshes the user's
/// grants here at once.
pub async fn grant_service(state: &AppState, a: &Actor, form: &GrantForm, address: Option<&str>) -> Result<hub_store::billing::CreditGrant, AdminError> {
    let user = state.store.user_by_email(&form.email).await?.ok_or_else(|| AdminError::new(StatusCode::NOT_FOUND, "not_found", "no account with that email"))?;
    let value = amount(&form.amount, "amount")?;
    let expires_at = match form.expires_at.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => Some(hub_core::scopes::parse_rfc3339_ms(e).map_err(|e| invalid(e.message, "expires_at"))?),
        None => None,
    };
    let label = a.label();
    let note = form.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let grant = state.store.grant_credit(&user.id, value, expires_at, note, AuditActor { actor: &label, address }).await?;
    state.credit.reload_user(&state.store, &user.id).await?;
    Ok(grant)
}

async fn grant(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Json(form): Json<GrantForm>) -> Result<Response, AdminError> {
    let a = admin(&state, &headers, true).await?;
    let g = grant_service(&state, &a, &form, ip(&ctx).as_deref()).await?;
    Ok((StatusCode::CREATED, Json(g)).into_response())
}

/// A user's live balance: every grant, what settled calls debited, what expired grants lost
/// (their unconsumed remainders), and what calls in flight hold (this instance's books).
pub struct LiveBalance {
    pub granted: NanoCredits,
    pub spent: NanoCredits,
    pub expired: NanoCredits,
    pub reserved: NanoCredits,
}

impl LiveBalance {
    pub fn of(state: &AppState, user_id: &str) -> LiveBalance {
        let credit = state.credit.standing(user_id, hub_core::ids::now_ms());
        let standing = state.accountant.user_standing(user_id);
        LiveBalance { granted: credit.granted, spent: standing.spent, expired: credit.expired, reserved: standing.reserved }
    }

    /// `granted − spent − expired`: the ledger always sums to it.
    pub fn balance(&self) -> NanoCredits {
        NanoCredits(self.granted.0.saturating_sub(self.spent.0).saturating_sub(self.expired.0))
    }

    /// What a new call may reserve.
    pub fn available(&self) -> NanoCredits {
        NanoCredits(self.balance().0.saturating_sub(self.reserved.0))
    }
}

pub fn balance_json(state: &AppState, user_id: &str) -> serde_json::Value {
    let b = LiveBalance::of(state, user_id);
    json!({
        "balance": b.balance().to_string(),
        "granted": b.granted.to_string(),
        "spent": b.spent.to_string(),
        "expired": b.expired.to_string(),
        "reserved": b.reserved.to_string(),
        "available": b.available().to_string(),
    })
}

async fn user_credit(State(state): State<AppState>, headers: HeaderMap, Path(email): Path<String>) -> Result<Response, AdminError> {
    admin(&state, &headers, false).await?;
    let user = state.store.user_by_email(&email).await?.ok_or(StoreError::NotFound("user"))?;
    let ledger = state.store.grant_ledger(&user.id, hub_core::ids::now_ms()).await?;
    let usage = state.store.list_usage(&UsageFilter { key_id: None, user_id: Some(user.id.clone()), limit: 100 }).await?;
    // Calls debited from the balance (a failed call is billed nothing and not listed).
    let billed: Vec<_> = usage.into_iter().filter(|u| u.billed && u.credits != 0).collect();
    let mut doc = balance_json(&state, &user.id);
    doc["email"] = json!(user.email);
    doc["billing_enabled"] = json!(state.credit.billing_enabled());
    doc["expired_entries"] = json!(expired_entries(&ledger));
    let mut grants = ledger.grants;
    grants.reverse();
    doc["grants"] = json!(grants);
    doc["debits"] = json!(billed);
    Ok(Json(doc).into_response())
}

/// One expired grant in a user's history: when it expired and what it took with it (its
/// unconsumed remainder), newest first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExpiredEntry {
    pub grant_id: String,
    pub expired_at: i64,
    pub amount: String,
}

pub fn expired_entries(ledger: &hub_store::billing::GrantLedger) -> Vec<ExpiredEntry> {
    let mut out: Vec<ExpiredEntry> = ledger
        .grants
        .iter()
        .filter(|g| g.expired && g.lost.0 > 0)
        .map(|g| ExpiredEntry { grant_id: g.grant.id.clone(), expired_at: g.grant.expires_at.unwrap_or(ledger.at_ms), amount: g.lost.to_string() })
        .collect();
    out.sort_by_key(|e| std::cmp::Reverse(e.expired_at));
    out
}
