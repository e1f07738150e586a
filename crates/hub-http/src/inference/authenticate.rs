//! Step 1: who is calling. `Authorization: Bearer <key>` (or, on `/v1/messages`, `x-api-key`) → parse and checksum (no storage) →
//! HMAC → in-memory directory (one indexed query on a miss) → constant-time compare → status.
//! Unknown kid and wrong secret are the same error; revoked and expired are told only to a
//! caller who presented the full correct secret.

use std::sync::Arc;

use axum::http::HeaderMap;
use hub_core::key::{ApiKey, KeyParseError};
use hub_store::keys::StoredSecret;

use crate::error::{ApiError, AuthFailure};
use crate::inference::authorize::{self, RouteFamily};
use crate::state::AppState;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub secret: Arc<StoredSecret>,
}

pub fn bearer_token(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers.get(axum::http::header::AUTHORIZATION).ok_or(AuthFailure::MissingKey)?;
    let text = value.to_str().map_err(|_| AuthFailure::MalformedHeader)?.trim();
    let (scheme, token) = text.split_once(' ').ok_or(AuthFailure::MalformedHeader)?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthFailure::MalformedHeader.into());
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthFailure::MissingKey.into());
    }
    Ok(token)
}

pub async fn authenticate(state: &AppState, token: &str, family: RouteFamily) -> Result<Caller, ApiError> {
    let key = ApiKey::parse(token).map_err(|e| match e {
        KeyParseError::Malformed => AuthFailure::MalformedKey,
        KeyParseError::BadChecksum => AuthFailure::BadChecksum,
    })?;
    // The prefix alone decides which route families a key may try: refused before any lookup.
    authorize::key_type(family, key.key_type())?;
    let checked = check(state, &key).await;
    if let Err(e) = &checked {
        state.monitor.on_auth_failure(key.kid(), e);
    }
    checked
}

/// Lookup, then the key's status. Every refusal after the lookup goes to the alert detector
/// (repeated failures against one kid); the client sees the same answer either way.
async fn check(state: &AppState, key: &ApiKey) -> Result<Caller, ApiError> {
    let secret = state.keys.lookup(key).await?.ok_or(AuthFailure::UnknownKey)?;
    status(secret)
}

/// The key's status: revoked, expired, a rotated-out secret past its grace, a disabled owner.
fn status(secret: Arc<StoredSecret>) -> Result<Caller, ApiError> {
    let now = hub_core::ids::now_ms();
    if secret.revoked_at.is_some() {
        return Err(AuthFailure::RevokedKey.into());
    }
    if secret.policy.expires_at.is_some_and(|t| t <= now) {
        return Err(AuthFailure::ExpiredKey.into());
    }
    if secret.expires_at.is_some_and(|t| t <= now) {
        return Err(AuthFailure::RotatedKey.into());
    }
    if secret.owner_disabled {
        return Err(AuthFailure::OwnerDisabled.into());
    }
    Ok(Caller { secret })
}

/// The principal of a key the hub manages for a signed-in user (the Playground key), for a call
/// the hub makes on the user's behalf without the key's secret: its current secret as stored,
/// read fresh (revocation, owner status, scopes and limits as of now), then the same status
/// checks as a presented key.
pub async fn managed(state: &AppState, key_id: &str) -> Result<Caller, ApiError> {
    let secrets = state.store.secrets_of_key(key_id).await?;
    let current = secrets.into_iter().find(|s| s.expires_at.is_none()).ok_or(AuthFailure::UnknownKey)?;
    status(Arc::new(current))
}

/// The key of an Anthropic-style client: `x-api-key` (what Anthropic SDKs send), else bearer.
pub fn api_key_or_bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    match headers.get("x-api-key") {
        Some(value) => {
            let token = value.to_str().map_err(|_| AuthFailure::MalformedHeader)?.trim();
            if token.is_empty() {
                return Err(AuthFailure::MissingKey.into());
            }
            Ok(token)
        }
        None => bearer_token(headers),
    }
}

pub async fn from_api_key_or_bearer(state: &AppState, headers: &HeaderMap, family: RouteFamily) -> Result<Caller, ApiError> {
    let token = api_key_or_bearer(headers)?;
    authenticate(state, token, family).await
}

pub async fn from_headers(state: &AppState, headers: &HeaderMap, family: RouteFamily) -> Result<Caller, ApiError> {
    let token = bearer_token(headers)?;
    authenticate(state, token, family).await
}
