//! Anthropic's error bodies, `{"type":"error","error":{"type","message"},"request_id"}`, with
//! the statuses and wording api.anthropic.com uses.

use axum::response::Response;
use http::{HeaderName, HeaderValue, StatusCode};
use serde::Serialize;

use super::{json_response, Meta};

#[derive(Serialize)]
struct Envelope<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    error: Body<'a>,
    request_id: &'a str,
}

#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'a str,
    message: &'a str,
}

/// One Anthropic error, ready to be sent.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn into_response(self, meta: &Meta) -> Response {
        let body = serde_json::to_vec(&Envelope {
            kind: "error",
            error: Body {
                kind: self.kind,
                message: &self.message,
            },
            request_id: &meta.request_id,
        })
        .unwrap_or_default();
        let mut resp = json_response(self.status, body, meta);
        let headers = resp.headers_mut();
        if let Some(secs) = self.retry_after {
            headers.insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        // Anthropic tells its SDKs whether a retry can help.
        let retry = matches!(self.status.as_u16(), 408 | 409 | 429)
            || self.status.is_server_error()
            || self.status.as_u16() == 529;
        headers.insert(
            HeaderName::from_static("x-should-retry"),
            HeaderValue::from_static(if retry { "true" } else { "false" }),
        );
        resp
    }
}

pub fn invalid_request(message: impl Into<String>) -> ApiError {
    ApiError::new(400, "invalid_request_error", message)
}

pub fn missing_api_key() -> ApiError {
    ApiError::new(401, "authentication_error", "x-api-key header is required")
}

pub fn invalid_api_key() -> ApiError {
    ApiError::new(401, "authentication_error", "invalid x-api-key")
}

pub fn missing_version() -> ApiError {
    invalid_request("anthropic-version: header is required")
}

pub fn field_required(field: &str) -> ApiError {
    invalid_request(format!("{field}: Field required"))
}

pub fn model_not_found(model: &str) -> ApiError {
    ApiError::new(404, "not_found_error", format!("model: {model}"))
}

pub fn request_too_large() -> ApiError {
    ApiError::new(
        413,
        "request_too_large",
        "Request exceeds the maximum allowed number of bytes.",
    )
}

/// The body Anthropic sends for `status`, used by status faults.
pub fn for_status(status: u16, retry_after: Option<u64>, model: &str) -> ApiError {
    let mut err = match status {
        400 => invalid_request("The request was invalid (simulated)."),
        401 => invalid_api_key(),
        402 => ApiError::new(402, "billing_error", "Your credit balance is too low to access the Anthropic API."),
        403 => ApiError::new(403, "permission_error", "Your API key does not have permission to use the specified resource."),
        404 => model_not_found(model),
        413 => request_too_large(),
        429 => ApiError::new(
            429,
            "rate_limit_error",
            "This request would exceed the rate limit for your organization (simulator) of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
        ),
        504 => ApiError::new(504, "timeout_error", "Request timed out"),
        529 => ApiError::new(529, "overloaded_error", "Overloaded"),
        n if n >= 500 => ApiError::new(n, "api_error", "Internal server error"),
        n => ApiError::new(n, "invalid_request_error", format!("The request failed with status {n} (simulated).")),
    };
    err.retry_after = retry_after;
    err
}
