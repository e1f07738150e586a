//! Google's error bodies (`{"error":{"code","message","status","details"}}`) to
//! [`UpstreamFailure`]s.
//!
//! Google answers a wrong API key with `400 INVALID_ARGUMENT` and an `ErrorInfo` detail whose
//! reason is `API_KEY_INVALID`; that is an auth failure, not the caller's bad request. Rate
//! limits (`429 RESOURCE_EXHAUSTED`) carry the wait in a `RetryInfo` detail (`"retryDelay":
//! "41s"`) rather than a `Retry-After` header.

use std::time::Duration;

use serde_json::Value;

use super::wire::{ErrorBody, ErrorEnvelope};
use crate::error::{classify_status, scrub, FailureKind, UpstreamFailure};

/// What a client sees instead of Google's text for an auth failure (that text may quote the key).
pub const AUTH_MESSAGE: &str = "the provider refused the hub's credential";

/// Longest wait honoured from a `RetryInfo` (a daily quota can ask for hours).
const MAX_RETRY_DELAY: Duration = Duration::from_secs(3600);

/// Reads Google's error envelope, alone or as the only element of a JSON array.
pub fn parse_body(body: &[u8]) -> Option<ErrorBody> {
    // Checked first: serde would also read `[{"error":…}]` as the struct's fields in order.
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return serde_json::from_slice::<Vec<ErrorEnvelope>>(body).ok()?.into_iter().next().map(|e| e.error);
    }
    serde_json::from_slice::<ErrorEnvelope>(body).ok().map(|env| env.error)
}

/// A failure safe to show a client. `retry_after` is the `Retry-After` header when one came.
pub fn parse_failure(status: u16, body: &[u8], retry_after: Option<Duration>, credential: Option<&str>) -> UpstreamFailure {
    failure_from(status, parse_body(body), retry_after, credential)
}

/// The same for an error that arrived inside a stream (`data: {"error":…}`): the status is the
/// one the body names.
pub fn stream_failure(body: ErrorBody, credential: Option<&str>) -> UpstreamFailure {
    let status = body.code.filter(|c| (400..600).contains(c)).unwrap_or(502);
    failure_from(status, Some(body), None, credential)
}

fn failure_from(status: u16, parsed: Option<ErrorBody>, retry_after: Option<Duration>, credential: Option<&str>) -> UpstreamFailure {
    let reason = parsed.as_ref().and_then(|e| detail_str(&e.details, "ErrorInfo", "reason"));
    let google_status = parsed.as_ref().and_then(|e| e.status.clone());
    let key_refused = reason.as_deref().is_some_and(|r| r.starts_with("API_KEY_"))
        || matches!(google_status.as_deref(), Some("UNAUTHENTICATED" | "PERMISSION_DENIED"));
    let kind = if key_refused { FailureKind::Auth } else { classify_status(status) };
    let retry_after = retry_after.or_else(|| parsed.as_ref().and_then(|e| retry_delay(&e.details)));
    let message = match kind {
        FailureKind::Auth => AUTH_MESSAGE.to_owned(),
        _ => parsed
            .as_ref()
            .and_then(|e| e.message.as_deref())
            .map(|m| scrub(m.trim_end(), credential))
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("the provider answered with status {status}")),
    };
    let param = parsed.as_ref().and_then(|e| field_violation(&e.details));
    UpstreamFailure { status, kind, message, error_type: google_status, code: reason, param, retry_after }
}

/// `details[i][field]` of the first detail whose `@type` ends with `.{type_suffix}`.
fn detail_str(details: &[Value], type_suffix: &str, field: &str) -> Option<String> {
    details
        .iter()
        .filter(|d| d.get("@type").and_then(Value::as_str).is_some_and(|t| t.rsplit('.').next() == Some(type_suffix)))
        .find_map(|d| d.get(field).and_then(Value::as_str).map(str::to_owned))
}

/// The wait a `RetryInfo` asks for: a protobuf `Duration` in JSON, `"41s"` or `"4.39s"`.
fn retry_delay(details: &[Value]) -> Option<Duration> {
    let text = detail_str(details, "RetryInfo", "retryDelay")?;
    let secs: f64 = text.trim().strip_suffix('s')?.parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    Some(Duration::from_secs_f64(secs).min(MAX_RETRY_DELAY))
}

/// The field a `BadRequest` detail blames, when it names one.
fn field_violation(details: &[Value]) -> Option<String> {
    details
        .iter()
        .filter_map(|d| d.get("fieldViolations").and_then(Value::as_array))
        .flatten()
        .find_map(|v| v.get("field").and_then(Value::as_str).filter(|f| !f.is_empty()).map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/gemini/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn an_invalid_key_is_auth_and_says_nothing_of_google_text() {
        let f = parse_failure(400, &fixture("error_api_key_invalid.json"), None, Some("AIzaSyTheKey0123456789"));
        assert_eq!(f.kind, FailureKind::Auth);
        assert_eq!(f.message, AUTH_MESSAGE);
        assert_eq!(f.code.as_deref(), Some("API_KEY_INVALID"));
        assert_eq!(f.error_type.as_deref(), Some("INVALID_ARGUMENT"));
    }

    #[test]
    fn a_missing_key_is_auth() {
        let f = parse_failure(403, &fixture("error_permission_denied.json"), None, None);
        assert_eq!(f.kind, FailureKind::Auth);
        assert_eq!(f.message, AUTH_MESSAGE);
    }

    #[test]
    fn quota_errors_carry_the_retry_delay() {
        let f = parse_failure(429, &fixture("error_resource_exhausted.json"), None, None);
        assert_eq!(f.kind, FailureKind::RateLimited);
        assert_eq!(f.retry_after, Some(Duration::from_secs(41)));
        assert!(f.message.starts_with("You exceeded your current quota"), "{}", f.message);
        // A header wins over the body.
        let f = parse_failure(429, &fixture("error_resource_exhausted.json"), Some(Duration::from_secs(2)), None);
        assert_eq!(f.retry_after, Some(Duration::from_secs(2)));
    }

    #[test]
    fn overloaded_and_bad_requests() {
        let f = parse_failure(503, &fixture("error_unavailable.json"), None, None);
        assert_eq!(f.kind, FailureKind::Overloaded);
        assert_eq!(f.message, "The model is overloaded. Please try again later.");
        let f = parse_failure(400, &fixture("error_invalid_argument.json"), None, Some("AIzaSyTheKey0123456789"));
        assert_eq!(f.kind, FailureKind::BadRequest);
        assert!(f.message.contains("Unknown name"), "{}", f.message);
        assert_eq!(f.param.as_deref(), Some("generation_config"));
        let f = parse_failure(404, &fixture("error_not_found.json"), None, None);
        assert_eq!(f.kind, FailureKind::NotFound);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(status in 0u16..1000, body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let f = parse_failure(status, &body, None, Some("AIzaSyTheKey0123456789"));
            proptest::prop_assert!(!f.message.contains("AIzaSyTheKey0123456789"));
        }
    }

    #[test]
    fn credentials_are_scrubbed_and_garbage_is_tolerated() {
        let body = br#"{"error":{"code":400,"message":"bad key AIzaSyTheKey0123456789 here","status":"FAILED_PRECONDITION"}}"#;
        let f = parse_failure(400, body, None, Some("AIzaSyTheKey0123456789"));
        assert!(!f.message.contains("AIzaSyTheKey0123456789"));
        let f = parse_failure(502, b"<html>Bad Gateway</html>", None, None);
        assert_eq!(f.kind, FailureKind::Server);
        assert!(f.message.contains("502"));
        let f = parse_failure(429, br#"[{"error":{"code":429,"message":"slow","status":"RESOURCE_EXHAUSTED"}}]"#, None, None);
        assert_eq!(f.message, "slow");
    }
}
