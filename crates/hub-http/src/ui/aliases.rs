//! Settings → Providers → Model aliases: the form posts of the aliases section (the page itself
//! is the providers page). The admin API's services do the work.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::{Extension, Form};
use serde::Deserialize;

use super::pages::{check_csrf, ip, providers_render, require_session, PageResult};
use crate::admin::aliases::{delete_service, set_service};
use crate::admin::Actor;
use crate::context::RequestCtx;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct AliasForm {
    csrf: String,
    name: String,
    #[serde(default)]
    targets: String,
}

pub async fn save(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Form(f): Form<AliasForm>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    check_csrf(&f.csrf, &s)?;
    let actor = Actor { user: s.user.clone() };
    let targets = hub_core::aliases::ModelAlias::parse_targets(&f.targets);
    match set_service(&state, &actor, &f.name, &targets, ip(&ctx).as_deref()).await {
        Ok(_) => Ok(Redirect::to("/settings/providers?notice=saved#aliases").into_response()),
        Err(e) => providers_render(&state, &s, Some(e.message().to_owned()), None, StatusCode::BAD_REQUEST).await,
    }
}

pub async fn delete(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Form(f): Form<AliasForm>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    check_csrf(&f.csrf, &s)?;
    let actor = Actor { user: s.user.clone() };
    match delete_service(&state, &actor, &f.name, ip(&ctx).as_deref()).await {
        Ok(()) => Ok(Redirect::to("/settings/providers?notice=saved#aliases").into_response()),
        Err(e) => providers_render(&state, &s, Some(e.message().to_owned()), None, StatusCode::BAD_REQUEST).await,
    }
}
