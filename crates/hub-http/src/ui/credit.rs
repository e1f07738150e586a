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
    pub consumed: String,
    pub remaining: String,
    pub actor: String,
    pub note: String,
}

/// An expired grant's unconsumed remainder, lost at its expiry.
pub struct ExpiredRow {
    pub time: String,
    pub grant_id: String,
    pub amount: String,
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
    pub expired: String,
    pub reserved: String,
    pub topup_link: Option<String>,
    pub grants: Vec<GrantRow>,
    pub expired_rows: Vec<ExpiredRow>,
    pub debits: Vec<DebitRow>,
}

pub async fn credit_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let s = require_session(&state, &headers).await?;
    let me = &s.user.id;
    let b = balance_json(&state, me);
    let text = |k: &str| b[k].as_str().unwrap_or("0").to_owned();
    let ledger = state.store.grant_ledger(me, hub_core::ids::now_ms()).await.map_err(storage_failure)?;
    let expired_rows = crate::admin::money::expired_entries(&ledger)
        .into_iter()
        .map(|e| ExpiredRow { time: format_rfc3339_ms(e.expired_at), grant_id: e.grant_id, amount: e.amount })
        .collect();
    let mut grants = ledger.grants;
    grants.reverse();
    let usage = state.store.list_usage(&UsageFilter { key_id: None, user_id: Some(me.clone()), limit: RECENT_DEBITS }).await.map_err(storage_failure)?;
    let page = CreditPage {
        nav: nav(&state, &s, "credit"),
        billing_enabled: state.credit.billing_enabled(),
        balance: text("balance"),
        granted: text("granted"),
        spent: text("spent"),
        expired: text("expired"),
        reserved: text("reserved"),
        topup_link: state.credit.settings().topup_link.clone(),
        grants: grants
            .into_iter()
            .map(|l| GrantRow {
                time: format_rfc3339_ms(l.grant.ts),
                amount: l.grant.amount.to_string(),
                expires: l.grant.expires_at.map(format_rfc3339_ms).unwrap_or_else(|| "never".to_owned()),
                consumed: l.consumed.to_string(),
                remaining: l.remaining.to_string(),
                actor: l.grant.actor,
                note: l.grant.note.unwrap_or_default(),
            })
            .collect(),
        expired_rows,
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
