//! What the AIGNE SDK and CLI read besides model calls (those are in `inference/aigne.rs`):
//!
//! - `GET /__blocklet__.js?type=json` (public): discovery. The SDK looks for the component whose
//!   DID is [`AIGNE_HUB_DID`] and calls `origin + mountPoint + /api/v2/…`. Without `type=json`
//!   the same object is answered as a script (`window.blocklet = …`), as a Blocklet Server does.
//! - `GET /api/ai/models?type=chat|image|embedding|video` (public): the catalog models of the
//!   configured, callable providers, in the SDK's model-list shape, with their rates.
//! - `GET /api/v2/status` (bearer key): whether this key can call models now (with credit billing
//!   on, `code` 402 when its owner has no credit left).
//! - `GET /api/user/info` (bearer key): who the key belongs to, whether credit billing is on, the
//!   owner's live credit balance (decimal strings) and the top-up link.

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hub_core::aigne::listing::{self, ListType};
use serde::Serialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::inference::authenticate;
use crate::inference::authorize::RouteFamily;
use crate::inference::models::available;
use crate::state::AppState;

/// The DID that identifies AIGNE Hub among a Blocklet's components; the SDK looks for it.
pub const AIGNE_HUB_DID: &str = "z8ia3xzq2tMq8CRHfaXj1BTYJyYnEcHbqP8cJ";
const APP_NAME: &str = "AIGNE Hub";

/// The value of `name` in a query string (`a=1&type=json`); values here are plain words.
fn query_value<'q>(query: Option<&'q str>, name: &str) -> Option<&'q str> {
    query?.split('&').find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
}

/// The origin clients reach the hub at: the configured public URL, or the request's `Host` when
/// that URL names an unspecified address (`0.0.0.0`, `[::]`).
fn app_url(state: &AppState, headers: &HeaderMap) -> String {
    let configured = state.config.public_url.trim_end_matches('/');
    let unspecified = configured.contains("://0.0.0.0") || configured.contains("://[::]");
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()));
    match (unspecified, host) {
        (true, Some(h)) => format!("http://{h}"),
        _ => configured.to_owned(),
    }
}

pub async fn blocklet(State(state): State<AppState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let version = env!("CARGO_PKG_VERSION");
    let url = app_url(&state, &headers);
    let info = json!({
        "appId": AIGNE_HUB_DID,
        "appPid": AIGNE_HUB_DID,
        "appName": APP_NAME,
        "appDescription": "A self-hosted AI gateway: one key and one API for many model providers",
        "appUrl": url,
        "appLogo": "",
        "version": version,
        "prefix": "/",
        "groupPrefix": "/",
        "componentId": AIGNE_HUB_DID,
        "componentMountPoints": [{
            "did": AIGNE_HUB_DID,
            "name": "ai-kit",
            "title": APP_NAME,
            "mountPoint": "/",
            "version": version,
            "status": "running",
        }],
    });
    if query_value(query.as_deref(), "type") == Some("json") {
        return Json(info).into_response();
    }
    let script = format!("window.blocklet = {info};\n");
    (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("application/javascript; charset=utf-8"))], script).into_response()
}

pub async fn models(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let filter = match query_value(query.as_deref(), "type").filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => match ListType::parse(t) {
            Some(kind) => Some(kind),
            None => {
                let shown: String = t.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').take(32).collect();
                return ApiError::bad_request(Some("type"), format!("'type' must be chat, image, embedding or video, got '{shown}'")).into_response();
            }
        },
    };
    let list: Vec<_> = available(&state)
        .into_iter()
        .filter(|(_, m)| filter.is_none_or(|f| f.matches(m.kind)))
        .map(|(provider, m)| {
            let mut listed = listing::listed(&provider, m.provider.display_name(), m);
            // The price the hub charges, as the decimal strings the SDK reads.
            if let Some((rate, _)) = state.rates.rate(&provider, m.provider, m.id) {
                listed.input_credits_per_token = rate.input.to_string();
                listed.output_credits_per_token = rate.output.to_string();
            }
            listed
        })
        .collect();
    Json(list).into_response()
}

#[derive(Serialize)]
struct Status {
    available: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
}

pub async fn status(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let caller = match authenticate::from_headers(&state, &headers, RouteFamily::Inference).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let unavailable = |error| Json(Status { available: false, error: Some(error), code: Some(503) }).into_response();
    if !state.is_ready() {
        return unavailable("The hub is shutting down");
    }
    let snapshot = state.providers.snapshot();
    if !snapshot.values().any(|e| e.usable() && state.adapters.for_protocol(e.kind.protocol()).is_some()) {
        return unavailable("No model provider is configured on this hub");
    }
    // With credit billing on, a caller without credit cannot call models now.
    if state.credit.billing_enabled() && crate::admin::money::LiveBalance::of(&state, &caller.secret.owner_id).available().0 <= 0 {
        return Json(Status { available: false, error: Some("Not enough credit: top up to continue"), code: Some(402) }).into_response();
    }
    Json(Status { available: true, error: None, code: None }).into_response()
}

pub async fn user_info(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let caller = match authenticate::from_headers(&state, &headers, RouteFamily::Inference).await {
        Ok(c) => c,
        Err(e) => return e.into_response(),
    };
    let s = &caller.secret;
    let user = match state.store.user_by_id(&s.owner_id).await {
        Ok(u) => u,
        Err(e) => return ApiError::Storage(e).into_response(),
    };
    let (email, role) = user.as_ref().map_or((Value::Null, Value::Null), |u| (Value::from(u.email.clone()), Value::from(u.role.as_str())));
    let settings = state.credit.settings();
    let b = crate::admin::money::balance_json(&state, &s.owner_id);
    Json(json!({
        "user": {"did": s.owner_id, "email": email, "fullName": email, "role": role},
        "key": {"kid": s.kid, "name": s.key_name},
        "enableCredit": settings.billing_enabled,
        "creditBalance": {
            "balance": b["balance"],
            "total": b["granted"],
            "used": b["spent"],
            "pendingCredit": b["reserved"],
            "available": b["available"],
        },
        "creditPrefix": "$",
        "paymentLink": settings.topup_link,
        "profileLink": null,
    }))
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::query_value;

    #[test]
    fn query_values_are_found_by_name() {
        assert_eq!(query_value(Some("type=json"), "type"), Some("json"));
        assert_eq!(query_value(Some("a=1&type=chat"), "type"), Some("chat"));
        assert_eq!(query_value(Some("types=chat"), "type"), None);
        assert_eq!(query_value(Some("type"), "type"), None);
        assert_eq!(query_value(None, "type"), None);
    }
}
