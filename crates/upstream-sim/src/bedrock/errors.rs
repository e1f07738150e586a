//! Bedrock's error replies: status, `x-amzn-ErrorType: <Name>:<namespace>`, `x-amzn-RequestId`,
//! and the body `{"message":"…"}`, worded as Bedrock Runtime words them.

use axum::body::Body;
use axum::response::Response;
use http::header::{HeaderName, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use serde::Serialize;

use super::sigv4::AuthError;

/// Errors raised by Bedrock itself carry this namespace; authentication errors come from the
/// AWS front end and carry the Coral service one.
const BEDROCK_NS: &str = "http://internal.amazon.com/coral/com.amazon.bedrock/";
const CORAL_NS: &str = "http://internal.amazon.com/coral/com.amazon.coral.service/";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BedrockError {
    pub status: u16,
    pub name: &'static str,
    pub message: String,
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ErrorJson<'a> {
    message: &'a str,
}

impl BedrockError {
    pub fn new(status: u16, name: &'static str, message: impl Into<String>) -> BedrockError {
        BedrockError { status, name, message: message.into(), retry_after: None }
    }

    pub fn validation(message: impl Into<String>) -> BedrockError {
        BedrockError::new(400, "ValidationException", message)
    }

    pub fn into_response(self, request_id: &str) -> Response {
        let body = serde_json::to_vec(&ErrorJson { message: &self.message }).unwrap_or_default();
        let mut resp = Response::new(Body::from(body));
        *resp.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = resp.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(v) = HeaderValue::from_str(request_id) {
            h.insert(HeaderName::from_static("x-amzn-requestid"), v);
        }
        let ns = if self.status == 403 && self.name != "AccessDeniedException" { CORAL_NS } else { BEDROCK_NS };
        if let Ok(v) = HeaderValue::from_str(&format!("{}:{ns}", self.name)) {
            h.insert(HeaderName::from_static("x-amzn-errortype"), v);
        }
        if let Some(secs) = self.retry_after {
            h.insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
        }
        resp
    }
}

impl From<AuthError> for BedrockError {
    fn from(e: AuthError) -> BedrockError {
        let (name, message) = e.name_and_message();
        BedrockError::new(403, name, message)
    }
}

/// The error Bedrock sends for a scripted status fault.
pub fn for_status(status: u16, retry_after: Option<u64>, model: &str) -> BedrockError {
    let mut e = match status {
        400 => BedrockError::validation("Malformed input request, please reformat your input and try again. (simulated)"),
        401 => BedrockError::new(403, "UnrecognizedClientException", "The security token included in the request is invalid."),
        403 => BedrockError::new(403, "AccessDeniedException", "You don't have access to the model with the specified model ID."),
        404 => BedrockError::new(404, "ResourceNotFoundException", format!("Could not resolve the foundation model from the provided model identifier {model}.")),
        408 => BedrockError::new(408, "ModelTimeoutException", "Model has timed out in processing the request. Try your request again."),
        424 => BedrockError::new(424, "ModelErrorException", "The model encountered an error processing the request. (simulated)"),
        429 => BedrockError::new(429, "ThrottlingException", "Too many requests, please wait before trying again."),
        500 => BedrockError::new(500, "InternalServerException", "The server encountered an internal error while processing the request."),
        503 => BedrockError::new(503, "ServiceUnavailableException", "Bedrock is unable to process your request."),
        n if n >= 500 => BedrockError::new(n, "InternalServerException", format!("The server answered status {n} (simulated).")),
        n => BedrockError::new(n, "ValidationException", format!("The request failed with status {n} (simulated).")),
    };
    e.retry_after = retry_after;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_faults_become_bedrock_errors() {
        assert_eq!(for_status(429, Some(2), "m").name, "ThrottlingException");
        assert_eq!(for_status(503, None, "m").name, "ServiceUnavailableException");
        let e = for_status(401, None, "m");
        assert_eq!((e.status, e.name), (403, "UnrecognizedClientException"));
        let resp = for_status(400, None, "m").into_response("req-1");
        assert_eq!(resp.status(), 400);
        assert_eq!(resp.headers()["x-amzn-errortype"], "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/");
        assert_eq!(resp.headers()["x-amzn-requestid"], "req-1");
    }
}
