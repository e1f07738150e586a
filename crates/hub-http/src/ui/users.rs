//! Settings → Users (admins): the accounts, their roles and status, pending invitations, and the
//! invitation form; and `/invite?token=…`, where an invited person sets their password. The
//! admin API's services do the work and apply the same rules.

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use hub_core::scopes::format_rfc3339_ms;
use hub_store::users::Role;
use serde::Deserialize;

use super::pages::{check_csrf, ip, nav, no_store, prelogin_csrf, render, require_session, start_session, storage_failure, PageResult};
use super::session::{self, PRELOGIN_CSRF_COOKIE};
use hub_store::sessions::Session;
use super::views::{MessagePage, Nav};
use crate::admin::users::{invite_service, update_service};
use crate::admin::Actor;
use crate::context::RequestCtx;
use crate::state::AppState;

pub struct UserRow {
    pub id: String,
    pub email: String,
    pub role: &'static str,
    pub disabled: bool,
    pub active_keys: i64,
    pub created: String,
}

pub struct InvitationRow {
    pub email: String,
    pub role: String,
    pub invited_by: String,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "users.html")]
pub struct UsersPage {
    pub nav: Nav,
    pub users: Vec<UserRow>,
    pub invitations: Vec<InvitationRow>,
    /// The link just created, shown once.
    pub invite_link: Option<String>,
    pub error: Option<String>,
    pub notice: Option<String>,
}

#[derive(Template)]
#[template(path = "invite.html")]
pub struct InvitePage {
    pub token: String,
    pub csrf: String,
    pub email: String,
    pub role: &'static str,
    pub error: Option<String>,
}

async fn users_render(state: &AppState, s: &Session, invite_link: Option<String>, error: Option<String>, status: StatusCode) -> PageResult {
    if !s.user.role.is_admin() {
        let page = MessagePage { title: "Admins only".into(), message: "Only admins manage users.".into(), link: Some(("/settings/api-keys".into(), "Back".into())) };
        return Ok(render(&page, StatusCode::FORBIDDEN));
    }
    let users = state.store.list_users().await.map_err(storage_failure)?;
    let invitations = state.store.pending_invitations().await.map_err(storage_failure)?;
    let page = UsersPage {
        nav: nav(state, s, "users"),
        users: users
            .into_iter()
            .map(|u| UserRow { id: u.id, email: u.email, role: u.role, disabled: u.disabled, active_keys: u.active_keys, created: format_rfc3339_ms(u.created_at) })
            .collect(),
        invitations: invitations
            .into_iter()
            .map(|i| InvitationRow { email: i.email, role: i.role, invited_by: i.invited_by, expires: format_rfc3339_ms(i.expires_at) })
            .collect(),
        notice: None,
        invite_link,
        error,
    };
    // The page may hold an invitation link: never cached.
    Ok(no_store(render(&page, status)))
}

pub async fn users_page(State(state): State<AppState>, headers: HeaderMap) -> PageResult {
    let s = require_session(&state, &headers).await?;
    users_render(&state, &s, None, None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct InviteForm {
    csrf: String,
    email: String,
    role: String,
}

pub async fn invite(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Form(f): Form<InviteForm>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    check_csrf(&f.csrf, &s)?;
    let actor = Actor { user: s.user.clone() };
    match invite_service(&state, &actor, &f.email, &f.role, ip(&ctx).as_deref()).await {
        Ok((_, link)) => users_render(&state, &s, Some(link), None, StatusCode::OK).await,
        Err(e) => users_render(&state, &s, None, Some(e.message().to_owned()), StatusCode::BAD_REQUEST).await,
    }
}

#[derive(Deserialize)]
pub struct UpdateForm {
    csrf: String,
    id: String,
    /// `disable`, `enable`, `admin` or `member`.
    action: String,
}

pub async fn update(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Form(f): Form<UpdateForm>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    check_csrf(&f.csrf, &s)?;
    let actor = Actor { user: s.user.clone() };
    let (role, disabled) = match f.action.as_str() {
        "disable" => (None, Some(true)),
        "enable" => (None, Some(false)),
        "admin" => (Some(Role::Admin), None),
        "member" => (Some(Role::Member), None),
        _ => return users_render(&state, &s, None, Some("unknown action".into()), StatusCode::BAD_REQUEST).await,
    };
    match update_service(&state, &actor, &f.id, role, disabled, ip(&ctx).as_deref()).await {
        Ok(_) => Ok(Redirect::to("/settings/users").into_response()),
        Err(e) => users_render(&state, &s, None, Some(e.message().to_owned()), StatusCode::BAD_REQUEST).await,
    }
}

#[derive(Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn expired_link() -> Response {
    let page = MessagePage {
        title: "Invitation expired".into(),
        message: "This invitation link is invalid, used or expired. Ask an admin for a new one.".into(),
        link: Some(("/login".into(), "Log in".into())),
    };
    render(&page, StatusCode::FORBIDDEN)
}

pub async fn invite_form(State(state): State<AppState>, Query(q): Query<TokenQuery>) -> Response {
    let (email, role) = match state.store.invitation(&q.token).await {
        Ok(Some(found)) => found,
        Ok(None) => return expired_link(),
        Err(e) => return storage_failure(e),
    };
    let csrf = session::random_token();
    let mut res = no_store(render(&InvitePage { token: q.token, csrf: csrf.clone(), email, role: role.as_str(), error: None }, StatusCode::OK));
    prelogin_csrf(&state, &mut res, &csrf);
    res
}

#[derive(Deserialize)]
pub struct JoinForm {
    token: String,
    csrf: String,
    password: String,
    password_confirm: String,
}

pub async fn invite_submit(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, Form(f): Form<JoinForm>) -> Response {
    let (email, role) = match state.store.invitation(&f.token).await {
        Ok(Some(found)) => found,
        Ok(None) => return expired_link(),
        Err(e) => return storage_failure(e),
    };
    let again = |error: String| {
        let csrf = session::random_token();
        let page = InvitePage { token: f.token.clone(), csrf: csrf.clone(), email: email.clone(), role: role.as_str(), error: Some(error) };
        let mut res = no_store(render(&page, StatusCode::BAD_REQUEST));
        prelogin_csrf(&state, &mut res, &csrf);
        res
    };
    let expected = session::cookie(&headers, PRELOGIN_CSRF_COOKIE).unwrap_or("");
    if !session::tokens_match(&f.csrf, expected) {
        return again("The form expired; please submit it again.".into());
    }
    if f.password != f.password_confirm {
        return again("The passwords do not match.".into());
    }
    if let Err(e) = hub_core::password::check_strength(&f.password) {
        return again(e.to_string());
    }
    let hash = match hub_core::password::hash(&f.password) {
        Ok(h) => h,
        Err(e) => return again(e.to_string()),
    };
    match state.store.accept_invitation(&f.token, &hash, ip(&ctx).as_deref()).await {
        Ok(Some(user)) => start_session(&state, &headers, &user.id).await,
        Ok(None) => expired_link(),
        Err(e) => storage_failure(e),
    }
}
