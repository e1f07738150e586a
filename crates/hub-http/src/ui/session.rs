//! Browser sessions: a random id in an HttpOnly, SameSite=Strict cookie (only its SHA-256 is
//! stored), a per-session CSRF token checked on every state-changing form, a fresh id at every
//! login. Forms shown before login use a double-submit CSRF cookie.

use axum::http::{header, HeaderMap, HeaderValue};
use hub_store::sessions::Session;
use hub_store::StoreError;
use subtle::ConstantTimeEq;

use crate::state::AppState;

pub const SESSION_COOKIE: &str = "aigne_hub_session";
pub const PRELOGIN_CSRF_COOKIE: &str = "aigne_hub_csrf";

pub fn random_token() -> String {
    hub_core::base62::random(&mut rand::rngs::OsRng, 43)
}

pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub async fn current(state: &AppState, headers: &HeaderMap) -> Result<Option<Session>, StoreError> {
    match cookie(headers, SESSION_COOKIE) {
        Some(id) if id.len() == 43 => state.store.session(id).await,
        _ => Ok(None),
    }
}

pub fn tokens_match(sent: &str, expected: &str) -> bool {
    !expected.is_empty() && sent.len() == expected.len() && bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
}

pub fn set_cookie(state: &AppState, name: &str, value: &str, max_age_secs: i64) -> HeaderValue {
    let secure = if state.config.secure_cookies { "; Secure" } else { "" };
    let text = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
}

pub fn clear_cookie(name: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("{name}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0")).unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
}
