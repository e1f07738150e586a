//! The AIGNE SDK's model calls: `POST /api/v2/chat`, `/api/v2/embeddings`, `/api/v2/image`,
//! `/api/v2/video` (its path is in `video.rs`); and the older shapes of the original hub,
//! `POST /api/v2/chat/completions` and `/api/v2/image/generations`, for older clients.
//!
//! Each runs the same request path as its OpenAI-shaped sibling (authenticate → parse once →
//! validate → admit → resolve → relay → stream back / settle); only reading the `{"input":…}`
//! envelope and shaping the reply differ. The translation itself is pure code in
//! `hub_core::aigne`. Errors before a reply keep the one error envelope
//! (`{"error":{"message","type",…}}`), which the SDK reads as `message` and `type`.
//! `x-aigne-hub-client-did` is the usage record's project, as on every route.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Extension;
use hub_core::aigne::chat::{self, ChatInput};
use hub_core::aigne::media::{self, EmbeddingsInput, ImageInput};
use hub_core::aigne::Envelope;
use hub_core::chat::ChatRequest;
use hub_core::embeddings::EmbeddingsRequest;
use hub_core::images::ImageRequest;
use hub_core::validate::InvalidRequest;

use crate::context::RequestCtx;
use crate::error::ApiError;
use crate::inference::body;
use crate::inference::chat::Dialect;
use crate::state::AppState;

/// Parameters serde's messages may name, most specific first.
const CHAT_PARAMS: &[&str] = &["input", "messages", "role", "content", "toolCalls", "toolCallId", "tools", "toolChoice", "responseFormat", "modelOptions"];

pub async fn chat(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, body: Body) -> Response {
    match crate::inference::chat::run(&state, &ctx, &headers, body, Dialect::Aigne).await {
        Ok(r) => r,
        Err(e) => e.into_aigne_response(),
    }
}

/// `POST /api/v2/chat/completions` (and `/api/v2/completions`): the original hub's older chat
/// shape, for older clients. Events when the client accepts `text/event-stream`, bare text when
/// it asks for `"stream": true` without them, one JSON object otherwise.
pub async fn legacy_chat(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, body: Body) -> Response {
    let event_stream = headers
        .get_all(axum::http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().starts_with("text/event-stream")));
    match crate::inference::chat::run(&state, &ctx, &headers, body, Dialect::AigneLegacy { event_stream }).await {
        Ok(r) => r,
        Err(e) => e.into_aigne_response(),
    }
}

pub fn parse_legacy_chat(bytes: &[u8], event_stream: bool) -> Result<ChatRequest, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(None, "the request body is empty; send a JSON object"));
    }
    hub_core::aigne::legacy::to_chat_request(bytes, event_stream).map_err(invalid)
}

/// `POST /api/v2/image/generations`: the original hub's older image shape.
pub async fn legacy_image(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, body: Body) -> Response {
    let render = |reply, model: &str| serde_json::to_vec(&hub_core::aigne::legacy::to_image_reply(reply, model));
    let parse = |bytes: &[u8]| hub_core::aigne::legacy::to_image_request(bytes).map_err(invalid);
    match crate::inference::images::run(&state, &ctx, &headers, body, parse, render).await {
        Ok(r) => r,
        Err(e) => e.into_aigne_response(),
    }
}

pub async fn embeddings(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, body: Body) -> Response {
    let render = |reply| serde_json::to_vec(&media::to_embeddings_reply(reply));
    match crate::inference::embeddings::run(&state, &ctx, &headers, body, parse_embeddings, render).await {
        Ok(r) => r,
        Err(e) => e.into_aigne_response(),
    }
}

pub async fn image(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, body: Body) -> Response {
    let render = |reply, model: &str| serde_json::to_vec(&media::to_image_reply(reply, model));
    match crate::inference::images::run(&state, &ctx, &headers, body, parse_image, render).await {
        Ok(r) => r,
        Err(e) => e.into_aigne_response(),
    }
}

pub async fn video(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, body: Body) -> Response {
    match crate::inference::video::run_aigne(&state, &ctx, &headers, body).await {
        Ok(r) => r,
        Err(e) => e.into_aigne_response(),
    }
}

fn invalid(e: InvalidRequest) -> ApiError {
    ApiError::bad_request(Some(e.param), e.message)
}

/// The chat envelope → the canonical request (streamed when `options.streaming`).
pub fn parse_chat(bytes: &[u8]) -> Result<ChatRequest, ApiError> {
    let envelope: Envelope<ChatInput> = body::parse_json_naming(bytes, CHAT_PARAMS)?;
    let stream = envelope.streaming();
    chat::to_chat_request(envelope.input, stream).map_err(invalid)
}

fn parse_embeddings(bytes: &[u8]) -> Result<EmbeddingsRequest, ApiError> {
    let envelope: Envelope<EmbeddingsInput> = body::parse_json_naming(bytes, &["input", "modelOptions"])?;
    media::to_embeddings_request(envelope.input).map_err(invalid)
}

fn parse_image(bytes: &[u8]) -> Result<ImageRequest, ApiError> {
    let envelope: Envelope<ImageInput> = body::parse_json_naming(bytes, &["input", "prompt", "n", "size", "modelOptions", "outputFileType"])?;
    media::to_image_request(envelope.input).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(body: &str) -> Option<&'static str> {
        match parse_chat(body.as_bytes()) {
            Err(ApiError::BadRequest { param, .. }) => param,
            other => panic!("expected a 400, got {:?}", other.map(|r| r.model)),
        }
    }

    #[test]
    fn chat_parse_errors_name_the_parameter() {
        assert_eq!(param(r#"{"agent":"$CHAT_MODEL"}"#), Some("input"));
        assert_eq!(param(r#"{"input":{}}"#), Some("messages"));
        assert_eq!(param(r#"{"input":{"messages":[{"role":"user","content":"hi"}]}}"#), Some("input.modelOptions.model"));
        assert_eq!(param(r#"{"input":{"messages":[],"modelOptions":{"model":"m"},"toolChoice":"x","tools":[{"function":{"name":"f"}}]}}"#), Some("input.toolChoice"));
        assert!(matches!(parse_chat(b"{\"input\":"), Err(ApiError::BadRequest { .. })));
        assert!(matches!(parse_chat(b""), Err(ApiError::BadRequest { .. })));
        let ok = parse_chat(br#"{"input":{"messages":[{"role":"user","content":"hi"}],"modelOptions":{"model":"openai/gpt-4o-mini"}},"options":{"streaming":true}}"#);
        assert!(ok.is_ok_and(|r| r.is_stream()));
    }
}
