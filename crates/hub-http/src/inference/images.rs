//! `POST /v1/images/generations` (also `/api/v1/images/generations`): the steps of the request
//! path in order, as for embeddings: authenticate → parse once → validate → admit → resolve →
//! journal the hold → relay (retries and failover) → settle. The record's endpoint is `images`;
//! its tokens are the upstream's `usage` when it reports one (gpt-image-1), else 0.
//!
//! The request reaches the upstream as the client wrote it (with the upstream model id). When
//! the client wants `url` (the default) and the upstream answered base64, the hub stores the
//! bytes and answers a signed, expiring URL on its own origin (`crate::files`). Upstream URLs
//! pass through unchanged, also when the client asked for `b64_json` from a provider that only
//! answers URLs: the hub does not fetch them.
//!
//! `POST /api/v2/image` (the AIGNE SDK) runs the same steps with its own parse and render.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hub_core::chat::Usage;
use hub_core::images::{ImageRequest, ImageResponse};
use hub_core::price_options::PriceAsk;
use hub_providers::ProviderError;

use hub_core::scopes::Endpoint;

use crate::context::RequestCtx;
use crate::error::ApiError;
use crate::files::unix_now;
use crate::inference::admit::{self, CallIntent};
use crate::inference::authorize::RouteFamily;
use crate::inference::chat::project;
use crate::inference::relay;
use crate::inference::resolve;
use crate::inference::settle;
use crate::inference::{authenticate, body};
use crate::state::AppState;

/// Longest prompt accepted, in characters (gpt-image-1's limit).
pub const MAX_PROMPT_CHARS: usize = 32_000;
/// Most images one request may ask for.
pub const MAX_IMAGES: u32 = 10;

pub async fn generations(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, body: Body) -> Response {
    match run(&state, &ctx, &headers, body, parse, |reply, _model| serde_json::to_vec(&reply)).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

/// The image call; `parse` reads the route's body, `render` writes its reply (given the
/// upstream model that answered).
pub async fn run(
    state: &AppState,
    ctx: &RequestCtx,
    headers: &HeaderMap,
    body: Body,
    parse: fn(&[u8]) -> Result<ImageRequest, ApiError>,
    render: fn(ImageResponse, &str) -> serde_json::Result<Vec<u8>>,
) -> Result<Response, ApiError> {
    let caller = authenticate::from_headers(state, headers, RouteFamily::Inference).await?;
    let bytes = body::read_limited(body, state.config.max_body_bytes).await?;
    let req = parse(&bytes)?;
    let wants_url = validate(&req)?;
    let est_input = (req.prompt.chars().count() as u64).div_ceil(4);
    let intent = CallIntent { project: project(headers), endpoint: "images", scope: Endpoint::Images, model: &req.model, stream: false, est_input_tokens: est_input, max_output_tokens: Some(0), choices: 1, images: u64::from(req.n.unwrap_or(1)), price: PriceAsk::of_images(&req) };
    let mut guard = admit::admit(state, &caller, ctx, intent).await?;
    let mut plan = guard.check(resolve::plan_for(state, &req.model, "image generation"))?;
    let scoped = guard.enforce(&caller, ctx, &req.model, &mut plan).await;
    guard.check(scoped)?;
    if let Some(first) = plan.preferred() {
        guard.name_target(first);
    }
    let held = guard.journal_hold();
    guard.check(held)?;
    let upstream_started = Instant::now();
    let relayed = match relay::images(state, &plan, &req).await {
        Ok(r) => r,
        Err(failed) => return Err(guard.fail_relay(failed)),
    };
    let upstream_ms = upstream_started.elapsed().as_secs_f64() * 1000.0;
    guard.name_target(&relayed.target);
    let mut reply = relayed.value;
    if wants_url {
        if let Err(e) = base64_to_urls(state, &mut reply).await {
            guard.fail(&e);
            return Err(e);
        }
    }
    // Image models that do not report tokens are recorded with 0 (not an estimate).
    let usage = reply.usage.as_ref().map_or_else(Usage::default, |u| Usage {
        prompt_tokens: u.input_tokens,
        completion_tokens: u.output_tokens,
        total_tokens: u.total_tokens,
        ..Usage::default()
    });
    guard.count_images(reply.data.len());
    let reported = |name: &str| reply.extra.get(name).and_then(serde_json::Value::as_str).map(str::to_owned);
    guard.report_image_options(reported("size"), reported("quality"));
    let body = match render(reply, &relayed.target.model) {
        Ok(b) => b,
        Err(e) => {
            let err = ApiError::Upstream(ProviderError::Protocol(e.to_string()));
            guard.fail(&err);
            return Err(err);
        }
    };
    Ok(settle::json_reply(guard, Some(usage), 0, None, upstream_ms, body))
}

/// Parses the body once, naming the parameter at fault as OpenAI's errors do.
pub(crate) fn parse(bytes: &[u8]) -> Result<ImageRequest, ApiError> {
    body::parse_json_naming(bytes, &["model", "prompt", "n", "size", "quality", "response_format", "style", "user"])
}

/// Checks the request; answers whether the client wants URLs back.
fn validate(req: &ImageRequest) -> Result<bool, ApiError> {
    if req.model.trim().is_empty() {
        return Err(ApiError::bad_request(Some("model"), "'model' must not be empty"));
    }
    if req.prompt.trim().is_empty() {
        return Err(ApiError::bad_request(Some("prompt"), "'prompt' must not be empty"));
    }
    let chars = req.prompt.chars().count();
    if chars > MAX_PROMPT_CHARS {
        return Err(ApiError::bad_request(Some("prompt"), format!("'prompt' is {chars} characters; the limit is {MAX_PROMPT_CHARS}")));
    }
    if let Some(n) = req.n {
        if !(1..=MAX_IMAGES).contains(&n) {
            return Err(ApiError::bad_request(Some("n"), format!("'n' must be between 1 and {MAX_IMAGES}, got {n}")));
        }
    }
    match req.response_format.as_deref() {
        None | Some("url") => Ok(true),
        Some("b64_json") => Ok(false),
        Some(other) => Err(ApiError::bad_request(Some("response_format"), format!("'response_format' must be 'url' or 'b64_json', got '{other}'"))),
    }
}

/// Stores every base64 image and replaces it with a signed URL on the hub's public origin.
async fn base64_to_urls(state: &AppState, reply: &mut ImageResponse) -> Result<(), ApiError> {
    let exp = unix_now().saturating_add(i64::try_from(state.config.file_url_ttl_secs).unwrap_or(i64::MAX));
    for image in &mut reply.data {
        let Some(b64) = image.b64_json.take() else { continue };
        let bytes = STANDARD
            .decode(b64.trim())
            .map_err(|e| ApiError::Upstream(ProviderError::Protocol(format!("an image in the reply is not valid base64: {e}"))))?;
        let id = state.files.store.put(bytes).await?;
        image.url = Some(state.files.url(&state.config.public_url, &id, exp));
    }
    Ok(())
}


#[cfg(test)]
mod tests {
    use super::*;

    fn check(body: &str) -> Result<bool, Option<&'static str>> {
        let req = parse(body.as_bytes()).map_err(|e| match e {
            ApiError::BadRequest { param, .. } => param,
            _ => None,
        })?;
        validate(&req).map_err(|e| match e {
            ApiError::BadRequest { param, .. } => param,
            _ => None,
        })
    }

    #[test]
    fn requests_are_checked_and_name_the_parameter() {
        assert_eq!(check(r#"{"model":"m","prompt":"a cat"}"#), Ok(true));
        assert_eq!(check(r#"{"model":"m","prompt":"a cat","response_format":"b64_json","n":10}"#), Ok(false));
        assert_eq!(check(r#"{"prompt":"a cat"}"#), Err(Some("model")));
        assert_eq!(check(r#"{"model":"m"}"#), Err(Some("prompt")));
        assert_eq!(check(r#"{"model":"m","prompt":"  "}"#), Err(Some("prompt")));
        assert_eq!(check(r#"{"model":"m","prompt":"x","n":0}"#), Err(Some("n")));
        assert_eq!(check(r#"{"model":"m","prompt":"x","n":11}"#), Err(Some("n")));
        assert_eq!(check(r#"{"model":"m","prompt":"x","response_format":"png"}"#), Err(Some("response_format")));
        let long = format!(r#"{{"model":"m","prompt":"{}"}}"#, "a".repeat(MAX_PROMPT_CHARS + 1));
        assert_eq!(check(&long), Err(Some("prompt")));
    }
}
