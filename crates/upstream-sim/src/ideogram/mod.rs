//! Ideogram 3.0: `POST /v1/ideogram-v3/generate`, a `multipart/form-data` form with the key in
//! `Api-Key`, answered with `{"created","data":[{"prompt","resolution","is_image_safe","seed",
//! "url","style_type"}]}`. The URLs point at the simulator's own files
//! (`GET /__sim/files/{id}.png`, the same PNG the OpenAI images route serves), as Ideogram's
//! point at its ephemeral image store.
//!
//! - A missing or wrong key: `401 {"detail":"Unauthorized"}`.
//! - No `prompt`, a `num_images` outside 1–8, an unknown `rendering_speed` or `aspect_ratio`:
//!   `400 {"error":"…"}`.
//! - A prompt containing `[[sim:unsafe]]`: `422 {"error":"Prompt failed the safety check."}`.
//! - Status faults answer `{"error":"…"}` with that status (a 429 with `Retry-After`).
//!
//! Counted in `ideogram_requests` and, per key, in `calls_by_key`.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::header::{CONTENT_TYPE, HOST, RETRY_AFTER};
use http::{HeaderValue, StatusCode};
use serde_json::{json, Map, Value};

use crate::faults::{Applied, RequestKind};
use crate::openai::chat::MAX_BODY;
use crate::state::{AppState, SharedState};
use crate::stats::{bump, InFlight};

/// Ideogram's rendering speeds.
pub const RENDERING_SPEEDS: [&str; 4] = ["FLASH", "TURBO", "DEFAULT", "QUALITY"];
/// Ideogram's aspect ratios.
pub const ASPECT_RATIOS: [&str; 15] = ["1x3", "3x1", "1x2", "2x1", "9x16", "16x9", "10x16", "16x10", "2x3", "3x2", "3x4", "4x3", "4x5", "5x4", "1x1"];
/// Most images one call makes.
pub const MAX_IMAGES: u64 = 8;

fn reply(status: StatusCode, body: Value, retry_after: Option<u64>) -> Response {
    let mut resp = Response::new(Body::from(serde_json::to_vec(&body).unwrap_or_default()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(secs) = retry_after {
        resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

fn bad_request(message: &str) -> Response {
    reply(StatusCode::BAD_REQUEST, json!({"error": message}), None)
}

/// The body Ideogram sends for a status fault.
fn for_status(status: u16, retry_after: Option<u64>) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = match status {
        401 => return reply(code, json!({"detail": "Unauthorized"}), None),
        429 => "Too many requests",
        422 => "Prompt failed the safety check.",
        s if s >= 500 => "Internal server error",
        _ => "Invalid input provided",
    };
    reply(code, json!({"error": message}), if status == 429 { Some(retry_after.unwrap_or(1)) } else { retry_after })
}

/// Checks `Api-Key`, counting the request as a generation by that key: `false` when refused.
fn authorized(state: &AppState, headers: &http::HeaderMap) -> bool {
    let presented = headers.get("api-key").and_then(|v| v.to_str().ok()).map(str::trim).unwrap_or("");
    if !presented.is_empty() {
        state.count_call(presented);
    }
    if state.api_key.is_none() || (!presented.is_empty() && state.accepts(presented)) {
        return true;
    }
    bump(&state.counters.unauthorized);
    false
}

fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    fields.get(name).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// `POST /v1/ideogram-v3/generate`.
pub(crate) async fn generate(State(state): State<SharedState>, req: Request) -> Response {
    let _in_flight = InFlight::new(&state.counters);
    bump(&state.counters.ideogram_requests);
    let (parts, body) = req.into_parts();
    if !authorized(&state, &parts.headers) {
        return reply(StatusCode::UNAUTHORIZED, json!({"detail": "Unauthorized"}), None);
    }
    let host = parts.headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1").to_owned();
    let content_type = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return bad_request("Request body too large");
    };
    let boundary = content_type.split(';').find_map(|p| p.trim().strip_prefix("boundary=")).map(|b| b.trim_matches('"').to_owned());
    let fields = match boundary {
        Some(b) if content_type.trim_start().starts_with("multipart/form-data") => match crate::openai::videos::multipart_fields(&body, &b) {
            Ok(f) => f,
            Err(_) => return bad_request("Malformed multipart form"),
        },
        _ => return bad_request("The request must be multipart/form-data"),
    };
    state.counters.record_image_request(Value::Object(fields.clone()));
    let Some(prompt) = field(&fields, "prompt") else {
        return bad_request("prompt: Field required");
    };
    let n = match field(&fields, "num_images").map(str::parse::<u64>) {
        None => 1,
        Some(Ok(n)) if (1..=MAX_IMAGES).contains(&n) => n,
        Some(_) => return bad_request("num_images: Input should be less than or equal to 8"),
    };
    if let Some(speed) = field(&fields, "rendering_speed") {
        if !RENDERING_SPEEDS.contains(&speed) {
            return bad_request("rendering_speed: Input should be 'FLASH', 'TURBO', 'DEFAULT' or 'QUALITY'");
        }
    }
    let resolution = match field(&fields, "aspect_ratio") {
        None => "1024x1024",
        Some(r) if ASPECT_RATIOS.contains(&r) => match r {
            "16x9" => "1312x736",
            "9x16" => "736x1312",
            "3x2" => "1248x832",
            "2x3" => "832x1248",
            _ => "1024x1024",
        },
        Some(_) => return bad_request("aspect_ratio: Input should be a valid aspect ratio"),
    };
    if prompt.contains("[[sim:unsafe]]") {
        return reply(StatusCode::UNPROCESSABLE_ENTITY, json!({"error": "Prompt failed the safety check."}), None);
    }
    let mut applied = Applied::default();
    state.faults.take_for(RequestKind::Images, &mut applied);
    if applied.any_fault() {
        bump(&state.counters.faults_served);
    }
    let wait = state.tunables.latency() + applied.delay;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    if let Some((status, retry_after)) = applied.status {
        return for_status(status, retry_after);
    }
    let style = field(&fields, "style_type").unwrap_or("GENERAL").to_owned();
    let data: Vec<Value> = (0..n)
        .map(|i| {
            let id = state.ids.hex("", 22);
            json!({
                "prompt": prompt,
                "resolution": resolution,
                "is_image_safe": true,
                "seed": 1000 + i,
                "url": format!("http://{host}/__sim/files/ideogram_{id}.png"),
                "style_type": style,
            })
        })
        .collect();
    reply(StatusCode::OK, json!({"created": "2025-01-01T00:00:00.000000+00:00", "data": data}), None)
}
