//! `POST /v1/embeddings` (also `/api/v1/embeddings`): the steps of the request path in order,
//! as for chat: authenticate → parse once → validate → admit → resolve → journal the hold →
//! relay (retries and failover) → settle. The record's endpoint is `embeddings`; its input
//! tokens are the upstream's `usage.prompt_tokens`, its output tokens 0.
//!
//! `POST /api/v2/embeddings` (the AIGNE SDK) runs the same steps with its own parse and render.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use hub_core::chat::Usage;
use hub_core::embeddings::{EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse};
use hub_core::provider::Protocol;
use hub_core::validate;
use hub_providers::ProviderError;

use hub_core::scopes::Endpoint;

use crate::context::RequestCtx;
use crate::error::ApiError;
use crate::inference::admit::{self, CallIntent};
use crate::inference::authorize::RouteFamily;
use crate::inference::chat::project;
use crate::inference::relay;
use crate::inference::resolve;
use crate::inference::settle;
use crate::inference::{authenticate, body};
use crate::state::AppState;

pub async fn embeddings(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, body: Body) -> Response {
    match run(&state, &ctx, &headers, body, parse, |reply| serde_json::to_vec(&reply)).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// The embeddings call; `parse` reads the route's body, `render` writes its reply.
pub async fn run(
    state: &AppState,
    ctx: &RequestCtx,
    headers: &HeaderMap,
    body: Body,
    parse: fn(&[u8]) -> Result<EmbeddingsRequest, ApiError>,
    render: fn(EmbeddingsResponse) -> serde_json::Result<Vec<u8>>,
) -> Result<Response, ApiError> {
    let caller = authenticate::from_headers(state, headers, RouteFamily::Inference).await?;
    let bytes = body::read_limited(body, state.config.max_body_bytes).await?;
    let req = parse(&bytes)?;
    validate::embeddings_request(&req).map_err(|e| ApiError::bad_request(Some(e.param), e.message))?;
    let est_input = (req.input.text_len() as u64).div_ceil(4);
    let intent = CallIntent { project: project(headers), endpoint: "embeddings", scope: Endpoint::Embeddings, model: &req.model, stream: false, est_input_tokens: est_input, max_output_tokens: Some(0), choices: 1, images: 0, price: hub_core::price_options::PriceAsk::default() };
    let mut guard = admit::admit(state, &caller, ctx, intent).await?;
    let mut plan = guard.check(resolve::plan_for(state, &req.model, "embeddings"))?;
    let scoped = guard.enforce(&caller, ctx, &req.model, &mut plan).await;
    guard.check(scoped)?;
    if let Some(first) = plan.preferred() {
        guard.name_target(first);
        let supported = check_input_for(first.kind.protocol(), &req.input, &first.provider);
        guard.check(supported)?;
    }
    let held = guard.journal_hold();
    guard.check(held)?;
    let upstream_started = Instant::now();
    let relayed = match relay::embeddings(state, &plan, &req).await {
        Ok(r) => r,
        Err(failed) => return Err(guard.fail_relay(failed)),
    };
    let upstream_ms = upstream_started.elapsed().as_secs_f64() * 1000.0;
    guard.name_target(&relayed.target);
    let reply = relayed.value;
    // An upstream that reported no usage leaves the record to the hub's estimate (flagged).
    let prompt_tokens = reply.usage.prompt_tokens;
    let body = match render(reply) {
        Ok(b) => b,
        Err(e) => {
            let err = ApiError::Upstream(ProviderError::Protocol(e.to_string()));
            guard.fail(&err);
            return Err(err);
        }
    };
    let usage = (prompt_tokens > 0).then(|| Usage { prompt_tokens, completion_tokens: 0, total_tokens: prompt_tokens, ..Usage::default() });
    Ok(settle::json_reply(guard, usage, 0, None, upstream_ms, body))
}

/// Parses the body once, naming the parameter at fault as OpenAI's errors do; a malformed
/// `input` gets a message listing the shapes it may take.
fn parse(bytes: &[u8]) -> Result<EmbeddingsRequest, ApiError> {
    body::parse_json_naming(bytes, &["model", "input"]).map_err(|e| match e {
        ApiError::BadRequest { param: None, message } if message.contains("EmbeddingInput") => input_shape_error(),
        ApiError::BadRequest { param: Some("input"), message } if !message.contains("missing field") => input_shape_error(),
        other => other,
    })
}

fn input_shape_error() -> ApiError {
    ApiError::bad_request(
        Some("input"),
        "'input' must be a string, an array of strings, an array of token ids or an array of token-id arrays",
    )
}

/// Token-id inputs mean something only to OpenAI-protocol upstreams (their tokenizer); other
/// providers take text.
fn check_input_for(protocol: Protocol, input: &EmbeddingInput, provider: &str) -> Result<(), ApiError> {
    let tokens = matches!(input, EmbeddingInput::Tokens(_) | EmbeddingInput::ManyTokens(_));
    if tokens && protocol != Protocol::OpenAiChat {
        return Err(ApiError::bad_request(
            Some("input"),
            format!("Provider '{provider}' embeds text only; send 'input' as a string or an array of strings, not token ids"),
        ));
    }
    Ok(())
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
        assert_eq!(param(r#"{"input":"hi"}"#), Some("model"));
        assert_eq!(param(r#"{"model":"m"}"#), Some("input"));
        assert_eq!(param(r#"{"model":"m","input":{"a":1}}"#), Some("input"));
        assert_eq!(param(r#"{"model":"m","input":"x""#), None);
        assert!(parse(br#"{"model":"m","input":[[1,2],[3]]}"#).is_ok());
    }

    #[test]
    fn token_ids_go_only_to_openai_protocol_providers() {
        let tokens = EmbeddingInput::Tokens(vec![1, 2]);
        assert!(check_input_for(Protocol::OpenAiChat, &tokens, "openai").is_ok());
        assert!(check_input_for(Protocol::GeminiGenerateContent, &tokens, "google").is_err());
        assert!(check_input_for(Protocol::BedrockConverse, &EmbeddingInput::One("a".into()), "bedrock").is_ok());
    }
}
