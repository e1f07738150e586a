//! Operations endpoints: liveness, readiness and Prometheus metrics.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

/// Answers as soon as the server listens, before any owner exists.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Ready while accepting calls and the database answers; fails first during shutdown so load
/// balancers stop sending traffic before connections drain.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if !state.is_ready() {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "shutting_down"})));
    }
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ready", "usage_backlog": state.journal.backlog()}))),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "database_unavailable"}))),
    }
}

/// `GET /metrics`: the Prometheus exposition. Not found unless the server was started with
/// `--metrics`; with `--metrics-token`, only for `Authorization: Bearer <token>`.
pub async fn metrics(State(state): State<AppState>, headers: axum::http::HeaderMap) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    use axum::response::IntoResponse;
    if !state.config.metrics_enabled {
        return crate::admin::not_found(axum::http::Uri::from_static("/metrics")).await;
    }
    if let Some(token) = &state.config.metrics_token {
        let sent = crate::inference::authenticate::bearer_token(&headers).unwrap_or("");
        let matches: bool = subtle::ConstantTimeEq::ct_eq(sent.as_bytes(), token.expose().as_bytes()).into();
        if !matches {
            let mut res = (StatusCode::UNAUTHORIZED, "metrics need 'Authorization: Bearer <metrics token>'\n").into_response();
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return res;
        }
    }
    let body = crate::monitor::metrics::render(&state);
    (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))], body).into_response()
}
