//! The control API under `/__sim`, for tests and benchmarks running in
//! other processes. It needs no API key and never counts in the stats.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use http::StatusCode;
use serde::Deserialize;
use serde_json::json;

use crate::faults::FaultSpec;
use crate::state::SharedState;

/// Upper bound on `count`, so a typo cannot exhaust memory.
const MAX_COUNT: usize = 100_000;

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": message.into() })),
    )
        .into_response()
}

/// An empty body means "all defaults", so `curl -X POST` works bare.
fn parse<T: for<'de> Deserialize<'de> + Default>(body: &Bytes) -> Result<T, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// `POST /__sim/faults`: queue one fault, or `count` copies of it.
pub(crate) async fn push_faults(State(state): State<SharedState>, body: Bytes) -> Response {
    let spec: FaultSpec = match parse(&body) {
        Ok(s) => s,
        Err(e) => return bad_request(e),
    };
    let fault = match spec.fault() {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    let count = spec.count.unwrap_or(1).min(MAX_COUNT);
    for _ in 0..count {
        state.faults.push(fault.clone());
    }
    Json(json!({ "queued": state.faults.queued() })).into_response()
}

/// `POST /__sim/fault_rate`: `{"probability":0.1,"seed":7,"status":503}`;
/// a missing or zero probability turns the rate-based fault off.
pub(crate) async fn fault_rate(State(state): State<SharedState>, body: Bytes) -> Response {
    let spec: FaultSpec = match parse(&body) {
        Ok(s) => s,
        Err(e) => return bad_request(e),
    };
    let probability = spec.probability.unwrap_or(0.0);
    if probability <= 0.0 {
        state.faults.set_rate(0.0, crate::faults::Fault::NoUsage, 0);
        return Json(json!({ "probability": 0.0 })).into_response();
    }
    let fault = match spec.fault() {
        Ok(f) => f,
        Err(e) => return bad_request(e),
    };
    state
        .faults
        .set_rate(probability, fault, spec.seed.unwrap_or(0));
    Json(json!({ "probability": probability })).into_response()
}

/// `GET /__sim/stats`.
pub(crate) async fn stats(State(state): State<SharedState>) -> Response {
    Json(state.counters.snapshot()).into_response()
}

/// `POST /__sim/reset`: zero the stats and drop every queued and
/// rate-based fault, so each test starts clean.
pub(crate) async fn reset(State(state): State<SharedState>) -> Response {
    state.counters.reset();
    state.faults.clear();
    Json(json!({ "ok": true })).into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ConfigPatch {
    latency_ms: Option<u64>,
    chunk_interval_ms: Option<u64>,
    default_completion_tokens: Option<u32>,
    video_render_ms: Option<u64>,
}

/// `POST /__sim/config`: change latency, chunk interval or default reply
/// length while running; answers with the values now in force.
pub(crate) async fn config(State(state): State<SharedState>, body: Bytes) -> Response {
    let patch: ConfigPatch = match parse(&body) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let t = &state.tunables;
    if let Some(ms) = patch.latency_ms {
        t.set_latency(Duration::from_millis(ms));
    }
    if let Some(ms) = patch.chunk_interval_ms {
        t.set_chunk_interval(Duration::from_millis(ms));
    }
    if let Some(n) = patch.default_completion_tokens {
        t.set_default_completion_tokens(n);
    }
    if let Some(ms) = patch.video_render_ms {
        t.set_video_render(Duration::from_millis(ms));
    }
    Json(json!({
        "latency_ms": t.latency().as_millis() as u64,
        "chunk_interval_ms": t.chunk_interval().as_millis() as u64,
        "default_completion_tokens": t.default_completion_tokens(),
        "video_render_ms": t.video_render().as_millis() as u64,
    }))
    .into_response()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeysPatch {
    #[serde(default)]
    accept: Vec<String>,
    #[serde(default)]
    refuse: Vec<String>,
}

/// `POST /__sim/keys {"accept":["k"],"refuse":["k"]}`: keys accepted from now on besides the
/// configured one (a refused credential made valid again), or no longer accepted.
pub(crate) async fn keys(State(state): State<SharedState>, body: Bytes) -> Response {
    let patch: KeysPatch = match parse(&body) {
        Ok(p) => p,
        Err(e) => return bad_request(e),
    };
    let mut extra = state.extra_keys.write();
    for k in patch.refuse {
        extra.remove(&k);
    }
    for k in patch.accept {
        extra.insert(k);
    }
    Json(json!({ "extra_keys": extra.len() })).into_response()
}

/// `GET /__sim/health`: readiness probe.
pub(crate) async fn health() -> Response {
    Json(json!({ "ok": true })).into_response()
}
