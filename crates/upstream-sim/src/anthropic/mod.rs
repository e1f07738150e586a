//! The Anthropic Messages API: `POST /v1/messages`, as api.anthropic.com answers it.
//!
//! - **Headers**: `x-api-key` is checked when the simulator has an API key (401
//!   `authentication_error`); `anthropic-version` is required (400 without it). Replies carry
//!   `request-id`, `anthropic-organization-id` and the `anthropic-ratelimit-*` headers.
//! - **Body**: `model`, `max_tokens` and `messages` are required (400 `Field required`, as
//!   Anthropic words it); roles must be `user` or `assistant`; `max_tokens` must be 1..=128000.
//! - **Usage**: `input_tokens` = P, counted as on the OpenAI side with the top-level `system`
//!   as one more message (text blocks and `tool_result` text count as words; images and
//!   `tool_use` blocks do not). So a hub that hoists an OpenAI system message into `system`
//!   reports the same P through either protocol.
//! - **Reply length**: Anthropic requires `max_tokens`, and real models stop on their own well
//!   before it; here the natural reply is the configured default length (12 words), and
//!   `max_tokens` only caps it: C = min(max_tokens, default), with `stop_reason`
//!   `"max_tokens"` when the cap cut it, else `"end_turn"`. `output_tokens` = C.
//! - **Tool use**: with `tools` and `tool_choice` `{"type":"any"}` or `{"type":"tool",…}`, or
//!   `[[sim:tool]]` in the last user turn (and a choice other than `none`), the reply is one
//!   `tool_use` block for the named (else first) tool with input `{"sim":true}`,
//!   `stop_reason` `"tool_use"`.
//! - **Streams** (`"stream":true`): `message_start`, `content_block_start`, `ping`, one
//!   `content_block_delta` per word (`text_delta`) or JSON fragment (`input_json_delta`),
//!   `content_block_stop`, `message_delta` (stop reason, cumulative usage), `message_stop`.
//! - **Faults** come from the shared queue and markers: status faults answer with Anthropic's
//!   error body for the status (`529` is `overloaded_error`), a cut drops the connection after
//!   that many content deltas, `no_usage` leaves usage out.

pub mod errors;
pub mod messages;
pub(crate) mod request;
pub(crate) mod stream;

use axum::body::Body;
use axum::response::Response;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};

use crate::state::AppState;

pub(crate) const JSON: HeaderValue = HeaderValue::from_static("application/json");
pub(crate) const EVENT_STREAM: HeaderValue =
    HeaderValue::from_static("text/event-stream; charset=utf-8");

/// Per-response values for Anthropic's headers.
#[derive(Debug, Clone)]
pub struct Meta {
    pub request_id: String,
}

impl Meta {
    pub(crate) fn new(state: &AppState) -> Self {
        Self {
            request_id: state.ids.alnum("req_011C", 20),
        }
    }
}

/// The headers Anthropic puts on every API response.
pub(crate) fn add_headers(headers: &mut HeaderMap, meta: &Meta) {
    const STATIC: [(&str, &str); 9] = [
        (
            "anthropic-organization-id",
            "5f0c6a3e-9a1b-4c2d-8e7f-0a1b2c3d4e5f",
        ),
        ("anthropic-ratelimit-requests-limit", "4000"),
        ("anthropic-ratelimit-requests-remaining", "3999"),
        ("anthropic-ratelimit-input-tokens-limit", "2000000"),
        ("anthropic-ratelimit-input-tokens-remaining", "1999990"),
        ("anthropic-ratelimit-output-tokens-limit", "400000"),
        ("anthropic-ratelimit-output-tokens-remaining", "400000"),
        ("anthropic-ratelimit-tokens-limit", "2400000"),
        ("anthropic-ratelimit-tokens-remaining", "2399990"),
    ];
    headers.reserve(STATIC.len() + 6);
    for (name, value) in STATIC {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    if let Ok(reset) = HeaderValue::from_str(&rfc3339(unix_now() + 1)) {
        for name in [
            "anthropic-ratelimit-requests-reset",
            "anthropic-ratelimit-input-tokens-reset",
            "anthropic-ratelimit-output-tokens-reset",
            "anthropic-ratelimit-tokens-reset",
        ] {
            headers.insert(HeaderName::from_static(name), reset.clone());
        }
    }
    if let Ok(id) = HeaderValue::from_str(&meta.request_id) {
        headers.insert(HeaderName::from_static("request-id"), id);
    }
}

pub(crate) fn json_response(status: StatusCode, body: Vec<u8>, meta: &Meta) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, JSON);
    add_headers(headers, meta);
    resp
}

/// Models `GET /v1/models` lists for Anthropic clients: `(id, display name, created)`.
const LISTED: [(&str, &str, &str); 3] = [
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
];

/// Anthropic's `GET /v1/models` (`?limit=N`), with its `x-api-key` check and 401 body. Counted
/// in `models_requests`, not as a call of the key.
pub(crate) fn list_models(state: &AppState, req: &axum::extract::Request) -> Response {
    crate::stats::bump(&state.counters.models_requests);
    let meta = Meta::new(state);
    if let Err(e) = messages::authorize(state, req.headers(), false) {
        return e.into_response(&meta);
    }
    let limit = req
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|p| p.strip_prefix("limit="))
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|n| (1..=1000).contains(n))
        .unwrap_or(20);
    let data: Vec<serde_json::Value> = LISTED
        .iter()
        .take(limit)
        .map(|(id, name, created)| serde_json::json!({"type": "model", "id": id, "display_name": name, "created_at": created}))
        .collect();
    let body = serde_json::json!({
        "data": data,
        "has_more": limit < LISTED.len(),
        "first_id": data.first().and_then(|m| m.get("id")).cloned(),
        "last_id": data.last().and_then(|m| m.get("id")).cloned(),
    });
    json_response(StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default(), &meta)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `2025-01-02T03:04:05Z` for a Unix time (the proleptic Gregorian calendar, UTC).
pub(crate) fn rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm, for days since 1970-01-01.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn timestamps() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_735_787_045), "2025-01-02T03:04:05Z");
    }
}
