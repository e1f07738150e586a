//! The OpenAI-protocol endpoints under `/v1`, and what their responses
//! have in common: JSON bodies and the headers api.openai.com sends.

pub mod chat;
pub mod embeddings;
pub mod errors;
pub mod images;
pub mod videos;
pub mod models;
pub(crate) mod request;
pub(crate) mod stream;
pub(crate) mod usage;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::header::{HeaderName, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::state::{AppState, SharedState};

pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json");
pub(crate) const EVENT_STREAM: HeaderValue =
    HeaderValue::from_static("text/event-stream; charset=utf-8");

/// Per-response values for the OpenAI headers.
#[derive(Debug, Clone)]
pub struct ResponseMeta {
    pub request_id: String,
    pub processing_ms: u64,
}

impl ResponseMeta {
    pub(crate) fn new(state: &AppState) -> Self {
        Self {
            request_id: state.ids.hex("req_", 32),
            processing_ms: 0,
        }
    }
}

/// Headers OpenAI puts on every API response, rate-limit ones included,
/// so that gateways parsing them have something realistic to parse.
pub(crate) fn add_openai_headers(headers: &mut HeaderMap, meta: &ResponseMeta) {
    const STATIC: [(&str, &str); 8] = [
        ("openai-organization", "user-simulator"),
        ("openai-version", "2020-10-01"),
        ("x-ratelimit-limit-requests", "30000"),
        ("x-ratelimit-limit-tokens", "150000000"),
        ("x-ratelimit-remaining-requests", "29999"),
        ("x-ratelimit-remaining-tokens", "149999990"),
        ("x-ratelimit-reset-requests", "2ms"),
        ("x-ratelimit-reset-tokens", "0s"),
    ];
    headers.reserve(STATIC.len() + 3);
    for (name, value) in STATIC {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if let Ok(id) = HeaderValue::from_str(&meta.request_id) {
        headers.insert(HeaderName::from_static("x-request-id"), id);
    }
    headers.insert(
        HeaderName::from_static("openai-processing-ms"),
        HeaderValue::from(meta.processing_ms),
    );
}

pub(crate) fn json_response(status: StatusCode, body: Vec<u8>, meta: &ResponseMeta) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, JSON);
    add_openai_headers(headers, meta);
    resp
}

/// Current time in Unix seconds, as in `created`.
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Any route or method the simulator does not serve: OpenAI's 404.
pub(crate) async fn invalid_url(State(state): State<SharedState>, req: Request) -> Response {
    let meta = ResponseMeta::new(&state);
    errors::invalid_url(req.method().as_str(), req.uri().path()).into_response(&meta)
}
