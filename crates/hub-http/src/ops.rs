//! Operations endpoints: liveness and readiness.

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
