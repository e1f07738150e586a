//! Bedrock's errors, classified. A failed call answers JSON `{"message":"…"}` with the error's
//! name in the `x-amzn-ErrorType` header (`ValidationException:http://internal.amazon.com/…`);
//! a failure inside a stream is an event stream message with `:message-type: exception` and the
//! error's member name in `:exception-type` (`throttlingException`).

use std::time::Duration;

use crate::error::{classify_status, FailureKind, UpstreamFailure};

use super::wire::ErrorBody;

/// The error's name from `x-amzn-ErrorType` (the part before `:`) or from the body's `__type`
/// (the part after `#`).
pub fn error_type(header: Option<&str>, body: &ErrorBody) -> Option<String> {
    let from_header = header.map(|h| h.split(':').next().unwrap_or_default().trim()).filter(|t| !t.is_empty());
    let from_body = body.kind.as_deref().map(|k| k.rsplit('#').next().unwrap_or_default().trim()).filter(|t| !t.is_empty());
    from_header.or(from_body).map(str::to_owned)
}

/// What a named error means for the caller; `None` for names this hub does not know.
fn kind_of(name: &str) -> Option<FailureKind> {
    let kind = match name {
        "ValidationException" | "SerializationException" => FailureKind::BadRequest,
        // Front-end authentication failures: a wrong key id, a wrong secret, an expired session
        // token, a clock too far off, a missing signature, or an IAM denial.
        "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "IncompleteSignatureException"
        | "MissingAuthenticationTokenException"
        | "ExpiredTokenException" => FailureKind::Auth,
        "ResourceNotFoundException" => FailureKind::NotFound,
        // A quota is a rate limit with a longer horizon; a model that is not ready yet is worth
        // retrying later, which is what a rate limit tells a client.
        "ThrottlingException" | "TooManyRequestsException" | "ModelNotReadyException" | "ServiceQuotaExceededException" => {
            FailureKind::RateLimited
        }
        "ServiceUnavailableException" => FailureKind::Overloaded,
        "InternalServerException" | "InternalFailure" | "ModelErrorException" | "ModelTimeoutException" | "ModelStreamErrorException" => {
            FailureKind::Server
        }
        _ => return None,
    };
    Some(kind)
}

/// Turns a non-2xx reply into a failure safe to show a client: auth failures drop the upstream
/// text; other messages are scrubbed of every part of the credential.
pub fn parse_failure(
    status: u16,
    error_type_header: Option<&str>,
    body: &[u8],
    retry_after: Option<Duration>,
    secrets: &[&str],
) -> UpstreamFailure {
    let parsed: ErrorBody = serde_json::from_slice(body).unwrap_or_default();
    let name = error_type(error_type_header, &parsed);
    let kind = name.as_deref().and_then(kind_of).unwrap_or_else(|| classify_status(status));
    failure(status, kind, name, parsed.message, retry_after, secrets)
}

/// An exception met inside a stream. `exception_type` is the member name
/// (`throttlingException`); its HTTP status is the one the API reference gives the exception.
pub fn stream_exception(exception_type: &str, payload: &[u8], secrets: &[&str]) -> UpstreamFailure {
    let parsed: ErrorBody = serde_json::from_slice(payload).unwrap_or_default();
    let name = upper_first(exception_type);
    let status = match name.as_str() {
        "ThrottlingException" | "ModelNotReadyException" => 429,
        "ValidationException" => 400,
        "ServiceUnavailableException" => 503,
        "ModelTimeoutException" => 408,
        "ModelStreamErrorException" | "ModelErrorException" => 424,
        _ => 500,
    };
    let kind = kind_of(&name).unwrap_or(FailureKind::Server);
    failure(status, kind, Some(name), parsed.message, None, secrets)
}

/// A protocol-level error message (`:message-type: error`), which carries its code and text in
/// headers rather than a payload.
pub fn stream_error(code: Option<&str>, message: Option<&str>, secrets: &[&str]) -> UpstreamFailure {
    let name = code.map(upper_first);
    let kind = name.as_deref().and_then(kind_of).unwrap_or(FailureKind::Server);
    failure(502, kind, name, message.map(str::to_owned), None, secrets)
}

fn failure(
    status: u16,
    kind: FailureKind,
    name: Option<String>,
    message: Option<String>,
    retry_after: Option<Duration>,
    secrets: &[&str],
) -> UpstreamFailure {
    let message = match kind {
        // AWS's own text for these quotes the access key id, the canonical request or the
        // string to sign; none of it goes to a client.
        FailureKind::Auth => "the provider refused the hub's credential".to_owned(),
        _ => message
            .filter(|m| !m.trim().is_empty())
            .map(|m| scrub_all(&m, secrets))
            .unwrap_or_else(|| match &name {
                Some(n) => format!("the provider answered {n} (status {status})"),
                None => format!("the provider answered with status {status}"),
            }),
    };
    UpstreamFailure { status, kind, message, error_type: name, code: None, param: None, retry_after }
}

/// Removes every part of the credential (key id, secret, session token) from provider text.
pub fn scrub_all(text: &str, secrets: &[&str]) -> String {
    secrets.iter().fold(text.to_owned(), |t, s| crate::error::scrub(&t, Some(s)))
}

fn upper_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

    #[test]
    fn the_error_type_header_decides() {
        let f = parse_failure(
            400,
            Some("ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/"),
            br#"{"message":"The provided model identifier is invalid."}"#,
            None,
            &[SECRET],
        );
        assert_eq!(f.kind, FailureKind::BadRequest);
        assert_eq!(f.error_type.as_deref(), Some("ValidationException"));
        assert_eq!(f.message, "The provided model identifier is invalid.");
    }

    #[test]
    fn each_documented_error_maps_to_its_class() {
        let cases = [
            ("AccessDeniedException", 403, FailureKind::Auth),
            ("UnrecognizedClientException", 403, FailureKind::Auth),
            ("InvalidSignatureException", 403, FailureKind::Auth),
            ("ResourceNotFoundException", 404, FailureKind::NotFound),
            ("ThrottlingException", 429, FailureKind::RateLimited),
            ("ModelNotReadyException", 429, FailureKind::RateLimited),
            ("ServiceUnavailableException", 503, FailureKind::Overloaded),
            ("ModelTimeoutException", 408, FailureKind::Server),
            ("InternalServerException", 500, FailureKind::Server),
            ("ModelErrorException", 424, FailureKind::Server),
        ];
        for (name, status, kind) in cases {
            let header = format!("{name}:http://internal.amazon.com/coral/com.amazon.bedrock/");
            let f = parse_failure(status, Some(&header), br#"{"message":"x"}"#, None, &[]);
            assert_eq!(f.kind, kind, "{name}");
            assert_eq!(f.status, status);
        }
    }

    #[test]
    fn auth_failures_never_carry_the_upstream_text() {
        let body = br#"{"message":"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method."}"#;
        let f = parse_failure(403, Some("InvalidSignatureException"), body, None, &["AKIDEXAMPLE", SECRET]);
        assert_eq!(f.kind, FailureKind::Auth);
        assert!(!f.message.contains("signature"));
    }

    #[test]
    fn other_messages_are_scrubbed_of_every_credential_part() {
        let body = format!(r#"{{"message":"bad thing near {SECRET} and AKIDEXAMPLE1234"}}"#);
        let f = parse_failure(400, Some("ValidationException"), body.as_bytes(), None, &["AKIDEXAMPLE1234", SECRET]);
        assert!(!f.message.contains(SECRET) && !f.message.contains("AKIDEXAMPLE1234"), "{}", f.message);
    }

    #[test]
    fn the_body_type_and_the_status_are_fallbacks() {
        let f = parse_failure(403, None, br#"{"__type":"com.amazon.coral.service#UnrecognizedClientException","Message":"The security token included in the request is invalid."}"#, None, &[]);
        assert_eq!(f.error_type.as_deref(), Some("UnrecognizedClientException"));
        assert_eq!(f.kind, FailureKind::Auth);
        let f = parse_failure(503, None, b"<html>busy</html>", None, &[]);
        assert_eq!(f.kind, FailureKind::Overloaded);
        assert_eq!(f.message, "the provider answered with status 503");
    }

    #[test]
    fn stream_exceptions_map_by_member_name() {
        let f = stream_exception("throttlingException", br#"{"message":"Too many tokens, please wait before trying again."}"#, &[]);
        assert_eq!((f.status, f.kind), (429, FailureKind::RateLimited));
        assert_eq!(f.message, "Too many tokens, please wait before trying again.");
        let f = stream_exception("serviceUnavailableException", b"{}", &[]);
        assert_eq!((f.status, f.kind), (503, FailureKind::Overloaded));
        let f = stream_exception("validationException", br#"{"message":"bad"}"#, &[]);
        assert_eq!((f.status, f.kind), (400, FailureKind::BadRequest));
        let f = stream_exception("modelStreamErrorException", br#"{"message":"x","originalStatusCode":500}"#, &[]);
        assert_eq!(f.kind, FailureKind::Server);
        let f = stream_exception("internalServerException", b"not json", &[]);
        assert_eq!((f.status, f.kind), (500, FailureKind::Server));
    }
}
