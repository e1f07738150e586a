//! Accounts: `GET /api/admin/users` (with pending invitations), `POST /api/admin/users/invite`
//! `{"email","role"}` (answers the one-time link once), `PATCH /api/admin/users/{id}`
//! `{"role"?,"disabled"?}`. Admins only; who may change whom is `hub_store::accounts::check_change`.
//! The UI's Users page calls the same services.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use hub_store::accounts::{check_change, check_invite, AccountChange, PendingInvitation};
use hub_store::users::{Role, User};
use serde::Deserialize;
use serde_json::json;

use super::{actor, ip, Actor, AdminError};
use crate::context::RequestCtx;
use crate::state::AppState;

fn forbidden(message: &str) -> AdminError {
    AdminError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

fn admins_only(a: &Actor) -> Result<(), AdminError> {
    if a.user.role.is_admin() {
        Ok(())
    } else {
        Err(forbidden("admins only"))
    }
}

pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AdminError> {
    admins_only(&actor(&state, &headers, false).await?)?;
    let users = state.store.list_users().await?;
    let invitations = state.store.pending_invitations().await?;
    Ok(Json(json!({"users": users, "invitations": invitations})).into_response())
}

#[derive(Deserialize)]
pub struct InviteBody {
    email: String,
    #[serde(default)]
    role: Option<String>,
}

pub async fn invite(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Json(body): Json<InviteBody>) -> Result<Response, AdminError> {
    let a = actor(&state, &headers, true).await?;
    let (invitation, url) = invite_service(&state, &a, &body.email, body.role.as_deref().unwrap_or("member"), ip(&ctx).as_deref()).await?;
    let mut res = (StatusCode::CREATED, Json(json!({"invitation": invitation, "invite_url": url}))).into_response();
    // The link logs its holder in once: never cached.
    res.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(res)
}

/// Invites `email` with `role`: stores the invitation and answers its one-time link.
pub async fn invite_service(state: &AppState, a: &Actor, email: &str, role: &str, address: Option<&str>) -> Result<(PendingInvitation, String), AdminError> {
    admins_only(a)?;
    let role = parse_role(role)?;
    check_invite(Some(&a.user), role).map_err(forbidden)?;
    let token = crate::ui::session::random_token();
    let invitation = state.store.create_invitation(&token, email, role, &a.label(), address).await?;
    Ok((invitation, invite_url(&state.config.public_url, &token)))
}

/// The link an invited person opens to set their password.
pub fn invite_url(public_url: &str, token: &str) -> String {
    format!("{}/invite?token={token}", public_url.trim_end_matches('/'))
}

#[derive(Deserialize)]
pub struct UserPatch {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    disabled: Option<bool>,
}

pub async fn update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestCtx>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Json(patch): Json<UserPatch>,
) -> Result<Response, AdminError> {
    let a = actor(&state, &headers, true).await?;
    let role = patch.role.as_deref().map(parse_role).transpose()?;
    let target = update_service(&state, &a, &id, role, patch.disabled, ip(&ctx).as_deref()).await?;
    let users = state.store.list_users().await?;
    let summary = users.into_iter().find(|u| u.id == target.id);
    Ok(Json(summary).into_response())
}

/// Applies a role and/or disabled change to the account `id` (or email), checking the rules
/// first; the change takes effect on this server at once (keys refreshed), elsewhere within a poll.
pub async fn update_service(state: &AppState, a: &Actor, id: &str, role: Option<Role>, disabled: Option<bool>, address: Option<&str>) -> Result<User, AdminError> {
    admins_only(a)?;
    let target = match state.store.user_by_id(id).await? {
        Some(u) => u,
        None => state.store.user_by_email(id).await?.ok_or_else(|| AdminError::new(StatusCode::NOT_FOUND, "not_found", "no such account"))?,
    };
    if let Some(r) = role {
        check_change(Some(&a.user), &target, AccountChange::Role(r)).map_err(forbidden)?;
    }
    if let Some(d) = disabled {
        check_change(Some(&a.user), &target, AccountChange::Disabled(d)).map_err(forbidden)?;
    }
    if let Some(r) = role.filter(|r| *r != target.role) {
        state.store.set_user_role(&target, r, &a.label(), address).await?;
    }
    if let Some(d) = disabled.filter(|d| *d != target.disabled) {
        state.store.set_user_disabled(&target, d, &a.label(), address).await?;
    }
    state.keys.refresh_user(&target.id).await?;
    Ok(target)
}

fn parse_role(role: &str) -> Result<Role, AdminError> {
    Role::parse(role.trim())
        .ok_or_else(|| AdminError::new(StatusCode::BAD_REQUEST, "invalid_request_error", "role must be member or admin").with_param("role"))
}
