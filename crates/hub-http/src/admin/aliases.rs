//! `GET /api/admin/aliases`, `PUT /api/admin/aliases/{name}` `{"targets":["openai/gpt-4o-mini",…]}`
//! and `DELETE /api/admin/aliases/{name}`: model aliases and their fallback chains (admins only).
//! The UI's providers page calls the same services.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hub_core::aliases::ModelAlias;
use serde::Deserialize;

use super::{actor, ip, Actor, AdminError};
use crate::context::RequestCtx;
use crate::state::AppState;

fn admins_only(a: &Actor) -> Result<(), AdminError> {
    if a.user.role.is_admin() {
        Ok(())
    } else {
        Err(AdminError::new(StatusCode::FORBIDDEN, "forbidden", "admins only"))
    }
}

pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AdminError> {
    admins_only(&actor(&state, &headers, false).await?)?;
    Ok(Json(state.store.list_aliases().await?).into_response())
}

#[derive(Deserialize)]
pub struct SetAlias {
    targets: Vec<String>,
}

pub async fn set(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    Path(name): Path<String>,
    Json(body): Json<SetAlias>,
) -> Result<Response, AdminError> {
    let a = actor(&state, &headers, true).await?;
    let alias = set_service(&state, &a, &name, &body.targets, ip(&ctx).as_deref()).await?;
    Ok(Json(alias).into_response())
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, AdminError> {
    let a = actor(&state, &headers, true).await?;
    delete_service(&state, &a, &name, ip(&ctx).as_deref()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Validates, stores, audits and makes the alias effective here at once.
pub async fn set_service(state: &AppState, a: &Actor, name: &str, targets: &[String], address: Option<&str>) -> Result<ModelAlias, AdminError> {
    admins_only(a)?;
    let alias = ModelAlias::new(name, targets).map_err(|e| AdminError::new(StatusCode::BAD_REQUEST, "invalid_request_error", e.to_string()))?;
    state.store.set_alias(&alias, &a.label(), address).await?;
    state.providers.reload(&state.store, &state.master_key).await?;
    Ok(alias)
}

pub async fn delete_service(state: &AppState, a: &Actor, name: &str, address: Option<&str>) -> Result<(), AdminError> {
    admins_only(a)?;
    if !state.store.delete_alias(name, &a.label(), address).await? {
        return Err(AdminError::new(StatusCode::NOT_FOUND, "not_found", format!("no alias named {name:?}")));
    }
    state.providers.reload(&state.store, &state.master_key).await?;
    Ok(())
}
