//! `POST /v1/messages` (also `/api/v1/messages`): the Anthropic Messages API for Claude-style
//! tools and the `anthropic` SDKs, to any provider.
//!
//! The same request path as `POST /v1/chat/completions` (authenticate → parse once → validate →
//! admit → resolve → relay → stream back / settle) with [`Dialect::Anthropic`]: the key may come
//! as `x-api-key` (what Anthropic SDKs send) or as a bearer token, with the same checks;
//! `anthropic-version` is accepted and not required. The body is read into the shared wire shape
//! and translated to the canonical request by pure code in `hub_core::anthropic`; replies, SSE
//! events and errors (before and during a stream) are Anthropic's. The usage record's endpoint is
//! `messages`; `x-aigne-hub-client-did` is its project, as on every route.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use hub_core::anthropic::request::to_chat_request;
use hub_core::anthropic::wire::MessagesRequest;
use hub_core::chat::ChatRequest;

use crate::context::RequestCtx;
use crate::error::ApiError;
use crate::inference::body;
use crate::inference::chat::{self, Dialect};
use crate::state::AppState;

/// Parameters serde's messages may name, most specific first.
const PARAMS: &[&str] = &["max_tokens", "model", "messages", "system", "tools", "tool_choice", "input_schema", "tool_use_id", "content", "role"];

pub async fn messages(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, body: Body) -> Response {
    match chat::run(&state, &ctx, &headers, body, Dialect::Anthropic).await {
        Ok(r) => r,
        Err(e) => e.into_anthropic_response(),
    }
}

/// The body → the canonical request; errors name the parameter at fault.
pub fn parse(bytes: &[u8]) -> Result<ChatRequest, ApiError> {
    let req: MessagesRequest = body::parse_json_naming(bytes, PARAMS)?;
    to_chat_request(req).map_err(|e| ApiError::bad_request(Some(e.param), e.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(body: &str) -> Option<&'static str> {
        match parse(body.as_bytes()) {
            Err(ApiError::BadRequest { param, .. }) => param,
            other => panic!("expected a 400, got {:?}", other.map(|r| r.model)),
        }
    }

    #[test]
    fn parse_errors_name_the_parameter() {
        assert_eq!(param(r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#), Some("max_tokens"));
        assert_eq!(param(r#"{"model":"m","max_tokens":0,"messages":[]}"#), Some("max_tokens"));
        assert_eq!(param(r#"{"max_tokens":5,"messages":[]}"#), Some("model"));
        assert!(matches!(parse(b"{\"model\":"), Err(ApiError::BadRequest { .. })));
        assert!(matches!(parse(b""), Err(ApiError::BadRequest { .. })));
        let ok = parse(br#"{"model":"openai/gpt-4o-mini","max_tokens":5,"messages":[{"role":"user","content":"hi"}],"stream":true}"#);
        assert!(ok.is_ok_and(|r| r.is_stream() && r.max_tokens == Some(5)));
    }

    #[test]
    fn errors_carry_anthropic_types() {
        let bad = ApiError::bad_request(Some("max_tokens"), "x");
        let v: serde_json::Value = serde_json::from_slice(&bad.anthropic_json()).unwrap_or_default();
        assert_eq!(v, serde_json::json!({"type": "error", "error": {"type": "invalid_request_error", "message": "x"}}));
        assert_eq!(ApiError::Auth(crate::error::AuthFailure::UnknownKey).anthropic_type(), "authentication_error");
        assert_eq!(ApiError::ModelNotFound("m".into()).anthropic_type(), "not_found_error");
        assert_eq!(ApiError::WrongKeyType("admin").anthropic_type(), "permission_error");
    }
}
