//! Google's error bodies: `{"error":{"code","message","status","details"}}`, pretty-printed
//! with a trailing newline, fields in Google's order, worded as the Gemini API words them.

use axum::response::Response;
use http::StatusCode;
use serde::Serialize;

use super::{json_response, pretty};

/// One Google error, ready to be sent.
#[derive(Debug, Clone)]
pub struct GoogleError {
    pub status: StatusCode,
    pub message: String,
    /// The canonical code name: `INVALID_ARGUMENT`, `RESOURCE_EXHAUSTED`, …
    pub code_name: &'static str,
    pub details: Vec<Detail>,
}

/// The `details[]` entries the simulator sends, each with its `@type` first as Google does.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum Detail {
    ErrorInfo {
        #[serde(rename = "@type")]
        kind: &'static str,
        reason: &'static str,
        domain: &'static str,
        metadata: ServiceMetadata,
    },
    LocalizedMessage {
        #[serde(rename = "@type")]
        kind: &'static str,
        locale: &'static str,
        message: String,
    },
    BadRequest {
        #[serde(rename = "@type")]
        kind: &'static str,
        #[serde(rename = "fieldViolations")]
        field_violations: Vec<FieldViolation>,
    },
    Help {
        #[serde(rename = "@type")]
        kind: &'static str,
        links: Vec<Link>,
    },
    QuotaFailure {
        #[serde(rename = "@type")]
        kind: &'static str,
        violations: Vec<QuotaViolation>,
    },
    RetryInfo {
        #[serde(rename = "@type")]
        kind: &'static str,
        #[serde(rename = "retryDelay")]
        retry_delay: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct ServiceMetadata {
    pub service: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct FieldViolation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub description: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub description: &'static str,
    pub url: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaViolation {
    pub quota_metric: &'static str,
    pub quota_id: &'static str,
    pub quota_dimensions: QuotaDimensions,
    pub quota_value: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuotaDimensions {
    pub location: &'static str,
    pub model: String,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: u16,
    message: &'a str,
    status: &'a str,
    #[serde(skip_serializing_if = "<[Detail]>::is_empty")]
    details: &'a [Detail],
}

const SERVICE: &str = "generativelanguage.googleapis.com";

impl GoogleError {
    pub fn new(status: StatusCode, code_name: &'static str, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), code_name, details: Vec::new() }
    }

    fn detail(mut self, d: Detail) -> Self {
        self.details.push(d);
        self
    }

    /// The exact bytes Google sends.
    pub fn body(&self) -> Vec<u8> {
        pretty(&Envelope { error: Body { code: self.status.as_u16(), message: &self.message, status: self.code_name, details: &self.details } })
    }

    pub fn into_response(self) -> Response {
        json_response(self.status, self.body())
    }
}

/// A key was sent but is not valid: Google's 400 (not 401) with reason `API_KEY_INVALID`.
pub fn api_key_invalid() -> GoogleError {
    const MESSAGE: &str = "API key not valid. Please pass a valid API key.";
    GoogleError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", MESSAGE)
        .detail(Detail::ErrorInfo {
            kind: "type.googleapis.com/google.rpc.ErrorInfo",
            reason: "API_KEY_INVALID",
            domain: "googleapis.com",
            metadata: ServiceMetadata { service: SERVICE },
        })
        .detail(Detail::LocalizedMessage { kind: "type.googleapis.com/google.rpc.LocalizedMessage", locale: "en-US", message: MESSAGE.to_owned() })
}

/// No key at all.
pub fn unregistered_caller() -> GoogleError {
    GoogleError::new(
        StatusCode::FORBIDDEN,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
    )
}

/// A body that is not JSON (Google names the offending token; the simulator does not).
pub fn invalid_json() -> GoogleError {
    GoogleError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token.")
}

/// A field the API does not know, at `at` (a snake_case path such as `generation_config`, or
/// empty for the top level).
pub fn unknown_field(name: &str, at: &str) -> GoogleError {
    let description = if at.is_empty() {
        format!("Invalid JSON payload received. Unknown name \"{name}\": Cannot find field.")
    } else {
        format!("Invalid JSON payload received. Unknown name \"{name}\" at '{at}': Cannot find field.")
    };
    GoogleError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", description.clone()).detail(Detail::BadRequest {
        kind: "type.googleapis.com/google.rpc.BadRequest",
        field_violations: vec![FieldViolation { field: (!at.is_empty()).then(|| at.to_owned()), description }],
    })
}

/// A value the API cannot take at `at` (an unknown enum name, a wrong type).
pub fn invalid_value(at: &str, value: &str) -> GoogleError {
    let description = format!("Invalid value at '{at}', {value}");
    GoogleError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", description.clone()).detail(Detail::BadRequest {
        kind: "type.googleapis.com/google.rpc.BadRequest",
        field_violations: vec![FieldViolation { field: Some(at.to_owned()), description }],
    })
}

/// A request-level rule broken (`* GenerateContentRequest.contents: contents is not specified`).
pub fn invalid_argument(message: impl Into<String>) -> GoogleError {
    GoogleError::new(StatusCode::BAD_REQUEST, "INVALID_ARGUMENT", message)
}

pub fn model_not_found(model: &str, method: &str) -> GoogleError {
    GoogleError::new(
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
        format!("models/{model} is not found for API version v1beta, or is not supported for {method}. Call ListModels to see the list of available models and their supported methods."),
    )
}

pub fn method_not_found(path: &str) -> GoogleError {
    GoogleError::new(StatusCode::NOT_FOUND, "NOT_FOUND", format!("The requested URL {path} was not found on this server."))
}

/// The body Google sends for `status`, used by status faults. A 429's wait goes in a
/// `RetryInfo` detail (`"retryDelay": "7s"`), as Google sends it, not in a header.
pub fn for_status(status: u16, retry_after: Option<u64>, model: &str, method: &str) -> GoogleError {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    match code.as_u16() {
        400 => GoogleError::new(code, "INVALID_ARGUMENT", "Request contains an invalid argument."),
        401 => GoogleError::new(
            code,
            "UNAUTHENTICATED",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.",
        )
        .detail(Detail::ErrorInfo {
            kind: "type.googleapis.com/google.rpc.ErrorInfo",
            reason: "ACCESS_TOKEN_TYPE_UNSUPPORTED",
            domain: "googleapis.com",
            metadata: ServiceMetadata { service: SERVICE },
        }),
        403 => GoogleError::new(code, "PERMISSION_DENIED", "The caller does not have permission"),
        404 => model_not_found(model, method),
        429 => {
            let mut e = GoogleError::new(
                code,
                "RESOURCE_EXHAUSTED",
                "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
            )
            .detail(Detail::QuotaFailure {
                kind: "type.googleapis.com/google.rpc.QuotaFailure",
                violations: vec![QuotaViolation {
                    quota_metric: "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                    quota_id: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                    quota_dimensions: QuotaDimensions { location: "global", model: model.to_owned() },
                    quota_value: "15",
                }],
            })
            .detail(Detail::Help {
                kind: "type.googleapis.com/google.rpc.Help",
                links: vec![Link { description: "Learn more about Gemini API quotas", url: "https://ai.google.dev/gemini-api/docs/rate-limits" }],
            });
            if let Some(secs) = retry_after {
                e = e.detail(Detail::RetryInfo { kind: "type.googleapis.com/google.rpc.RetryInfo", retry_delay: format!("{secs}s") });
            }
            e
        }
        500 => GoogleError::new(code, "INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"),
        503 => GoogleError::new(code, "UNAVAILABLE", "The model is overloaded. Please try again later."),
        504 => GoogleError::new(code, "DEADLINE_EXCEEDED", "Deadline expired before operation could complete."),
        n => GoogleError::new(code, code_name(n), format!("The request failed with status {n} (simulated).")),
    }
}

/// The canonical code name Google uses for a status not handled above.
fn code_name(status: u16) -> &'static str {
    match status {
        409 => "ABORTED",
        499 => "CANCELLED",
        501 => "UNIMPLEMENTED",
        n if n < 500 => "FAILED_PRECONDITION",
        _ => "INTERNAL",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn api_key_invalid_is_byte_for_byte_googles() {
        let expected = "{\n  \"error\": {\n    \"code\": 400,\n    \"message\": \"API key not valid. Please pass a valid API key.\",\n    \"status\": \"INVALID_ARGUMENT\",\n    \"details\": [\n      {\n        \"@type\": \"type.googleapis.com/google.rpc.ErrorInfo\",\n        \"reason\": \"API_KEY_INVALID\",\n        \"domain\": \"googleapis.com\",\n        \"metadata\": {\n          \"service\": \"generativelanguage.googleapis.com\"\n        }\n      },\n      {\n        \"@type\": \"type.googleapis.com/google.rpc.LocalizedMessage\",\n        \"locale\": \"en-US\",\n        \"message\": \"API key not valid. Please pass a valid API key.\"\n      }\n    ]\n  }\n}\n";
        assert_eq!(String::from_utf8(api_key_invalid().body()).unwrap(), expected);
    }

    #[test]
    fn overloaded_has_no_details() {
        let body = String::from_utf8(for_status(503, None, "m", "generateContent").body()).unwrap();
        assert_eq!(body, "{\n  \"error\": {\n    \"code\": 503,\n    \"message\": \"The model is overloaded. Please try again later.\",\n    \"status\": \"UNAVAILABLE\"\n  }\n}\n");
    }
}
