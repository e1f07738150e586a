//! Settings → My credit: every signed-in user's own balance, the grants that made it and the
//! calls debited from it (the same figures as `GET /api/user/info` and the admin API).

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hub_core::scopes::format_rfc3339_ms;
use hub_core::NanoCredits;
use hub_store::usage::UsageFilter;

use super::pages::{nav, render, require_session, storage_failure, PageResult};
use super::views::Nav;
use crate::admin::money::balance_json;
use crate::state::AppState;

/// Debits listed on the page (the newest).
const RECENT_DEBITS: i64 = 100;

pub struct GrantRow {
    pub time: String,
    pub amount: String,
    pub expires: String,
    pub actor: String,
    pub note: String,
}

pub struct DebitRow {
    pub time: String,
    pub request_id: String,
    pub model: String,
    pub tokens: String,
    pub credits: String,
}

#[derive(Template)]
#[template(path = "credit.html")]
pub struct CreditPage {
    pub nav: Nav,
    pub billing_enabled: bool,
    pub balance: String,
    pub granted: String,
    pub spent: String,
    pub reserved: String,
    pub topup_link: Option<String>,
    pub grants: Vec<GrantRow>,
    pub debits: Vec<DebitRow>,
}

pub async fn credit_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let s = require_session(&state, &headers).await?;
    let me = &s.user.id;
    let b = balance_json(&state, me);
    let text = |k: &str| b[k].as_str().unwrap_or("0").to_owned();
    let grants = state.store.grants_of(me).await.map_err(storage_failure)?;
    let usage = state.store.list_usage(&UsageFilter { key_id: None, user_id: Some(me.clone()), limit: RECENT_DEBITS }).await.map_err(storage_failure)?;
    let page = CreditPage {
        nav: nav(&state, &s, "credit"),
        billing_enabled: state.credit.billing_enabled(),
        balance: text("balance"),
        granted: text("granted"),
        spent: text("spent"),
        reserved: text("reserved"),
        topup_link: state.credit.settings().topup_link.clone(),
        grants: grants
            .into_iter()
            .map(|g| GrantRow {
                time: format_rfc3339_ms(g.ts),
                amount: g.amount.to_string(),
                expires: g.expires_at.map(format_rfc3339_ms).unwrap_or_else(|| "never".to_owned()),
                actor: g.actor,
                note: g.note.unwrap_or_default(),
            })
            .collect(),
        debits: usage
            .into_iter()
            .filter(|u| u.billed && u.credits != 0)
            .map(|u| DebitRow {
                time: format_rfc3339_ms(u.ts),
                request_id: u.request_id,
                model: format!("{}/{}", u.provider, u.model),
                tokens: format!("{} / {}", u.tokens_in, u.tokens_out),
                credits: NanoCredits(u.credits).to_string(),
            })
            .collect(),
    };
    Ok(render(&page, StatusCode::OK))
}
