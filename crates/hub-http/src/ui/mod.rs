//! The admin web UI: server-rendered HTML (askama, escaped by default), a small embedded
//! stylesheet and script, no framework and no build step. Pages: setup (first owner), login,
//! Settings → API Keys (and each key's page: scopes and limits, rotation, audit), Settings →
//! Providers (with model aliases and each model's recent status), Users (invitations, roles,
//! disabling) and the invitation page, Usage, the Playground (`playground.rs`), Alerts (admins; unread
//! count in the navigation).

mod aliases;
mod alerts;
mod assets;
mod credit;
mod dashboard;
mod money_pages;
mod pages;
mod playground;
mod users;
pub mod session;
mod views;

use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(pages::home))
        .route("/setup", get(pages::setup_form).post(pages::setup_submit))
        .route("/login", get(pages::login_form).post(pages::login_submit))
        .route("/logout", post(pages::logout))
        .route("/settings/api-keys", get(pages::keys_page).post(pages::keys_create))
        .route("/settings/api-keys/{kid}", get(pages::key_page).post(pages::key_update))
        .route("/settings/api-keys/{kid}/rotate", post(pages::key_rotate))
        .route("/settings/api-keys/{kid}/revoke", get(pages::revoke_confirm).post(pages::revoke_submit))
        .route("/settings/providers", get(pages::providers_page).post(pages::providers_save))
        .route("/settings/providers/test", post(pages::providers_test))
        .route("/settings/aliases", post(aliases::save))
        .route("/settings/aliases/delete", post(aliases::delete))
        .route("/settings/rates", get(money_pages::rates_page).post(money_pages::rates_save))
        .route("/settings/billing", get(money_pages::billing_page).post(money_pages::billing_save))
        .route("/settings/credit", get(credit::credit_page))
        .route("/settings/users", get(users::users_page))
        .route("/settings/users/invite", post(users::invite))
        .route("/settings/users/update", post(users::update))
        .route("/invite", get(users::invite_form).post(users::invite_submit))
        .route("/usage", get(pages::usage_page))
        .route("/alerts", get(alerts::alerts_page))
        .route("/alerts/read", post(alerts::alerts_read))
        .route("/alerts/webhook", post(alerts::alerts_webhook))
        .route("/playground", get(playground::playground_page))
        .route("/playground/chat", post(playground::playground_chat))
        .route("/playground/calls/{request_id}", get(playground::playground_call))
        .route("/assets/playground.js", get(assets::playground_js))
        .route("/dashboard", get(dashboard::dashboard_page))
        .route("/calls", get(dashboard::calls_page))
        .route("/calls/{request_id}", get(dashboard::call_page))
        .route("/assets/charts.js", get(assets::charts_js))
        .route("/assets/dashboard.css", get(assets::dashboard_css))
        .route("/assets/app.css", get(assets::css))
        .route("/assets/app.js", get(assets::js))
}
