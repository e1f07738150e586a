//! Anthropic's error bodies, `{"type":"error","error":{"type","message"},"request_id"}`, as
//! typed failures. The error `type` decides the class when it is more specific than the status
//! (an `overloaded_error` is overload whatever the status; a stream's `error` event has no
//! status of its own).

use std::time::Duration;

use super::wire::{ErrorBody, ErrorEnvelope};
use crate::error::{classify_status, scrub, FailureKind, ProviderError, UpstreamFailure};

/// The HTTP status Anthropic uses for each error type.
pub fn status_for_type(kind: &str) -> u16 {
    match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        // api_error and anything unknown: an internal error on Anthropic's side.
        _ => 500,
    }
}

fn kind_for(status: u16, error_type: Option<&str>) -> FailureKind {
    match error_type {
        Some("overloaded_error") => FailureKind::Overloaded,
        Some("rate_limit_error") => FailureKind::RateLimited,
        Some("authentication_error" | "permission_error") => FailureKind::Auth,
        _ => classify_status(status),
    }
}

fn failure(status: u16, body: Option<&ErrorBody>, retry_after: Option<Duration>, credential: Option<&str>) -> UpstreamFailure {
    let error_type = body.and_then(|b| b.kind.clone());
    let kind = kind_for(status, error_type.as_deref());
    let message = match kind {
        // Anthropic's text for a refused key may quote part of it.
        FailureKind::Auth => "the provider refused the hub's credential".to_owned(),
        _ => body
            .and_then(|b| b.message.as_deref())
            .filter(|m| !m.trim().is_empty())
            .map(|m| scrub(m, credential))
            .unwrap_or_else(|| format!("the provider answered with status {status}")),
    };
    UpstreamFailure { status, kind, message, error_type, code: None, param: None, retry_after }
}

/// A non-2xx reply as a failure safe to show a client.
pub fn parse_failure(status: u16, body: &[u8], retry_after: Option<Duration>, credential: Option<&str>) -> UpstreamFailure {
    let parsed = serde_json::from_slice::<ErrorEnvelope>(body).ok();
    failure(status, parsed.as_ref().map(|e| &e.error), retry_after, credential)
}

/// An `error` event in the middle of a stream (the HTTP status was already 200).
pub fn stream_failure(body: &ErrorBody, credential: Option<&str>) -> ProviderError {
    let status = status_for_type(body.kind.as_deref().unwrap_or("api_error"));
    ProviderError::Upstream(failure(status, Some(body), None, credential))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overload_is_overload_whatever_the_status() {
        let body = br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}"#;
        let f = parse_failure(529, body, None, None);
        assert_eq!((f.kind, f.message.as_str()), (FailureKind::Overloaded, "Overloaded"));
        assert_eq!(parse_failure(500, body, None, None).kind, FailureKind::Overloaded);
    }

    #[test]
    fn auth_text_never_survives_and_other_text_is_scrubbed() {
        let body = br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key sk-ant-secret-value"}}"#;
        let f = parse_failure(401, body, None, Some("sk-ant-secret-value"));
        assert_eq!(f.kind, FailureKind::Auth);
        assert!(!f.message.contains("x-api-key"));
        let body = br#"{"type":"error","error":{"type":"invalid_request_error","message":"bad sk-ant-secret-value"}}"#;
        let f = parse_failure(400, body, None, Some("sk-ant-secret-value"));
        assert_eq!(f.kind, FailureKind::BadRequest);
        assert!(!f.message.contains("sk-ant-secret-value"));
    }

    #[test]
    fn bodies_that_are_not_json_still_classify() {
        let f = parse_failure(502, b"<html>bad gateway</html>", None, None);
        assert_eq!(f.kind, FailureKind::Server);
        assert_eq!(f.error_type, None);
    }
}
