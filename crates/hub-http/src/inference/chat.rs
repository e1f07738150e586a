//! `POST /v1/chat/completions` (also `/api/v1/chat/completions`): the steps of the request path
//! in order. Handlers stay thin; each step lives in its own module.
//!
//! `POST /api/v2/chat` (the AIGNE SDK) and `POST /v1/messages` (Anthropic clients) run the same
//! steps: only reading the key, parsing the body and shaping the reply and errors depend on the
//! route's [`Dialect`].

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use hub_core::aigne::chat::{wants_json, StreamTranslator};
use hub_core::chat::ChatRequest;
use hub_core::price_options::PriceAsk;
use hub_core::wire::Completion;
use hub_core::usage::estimate_tokens_from_bytes;
use hub_core::validate;
use hub_providers::ProviderError;

use hub_core::scopes::Endpoint;

use crate::context::RequestCtx;
use crate::error::ApiError;
use crate::inference::admit::{self, CallGuard, CallIntent};
use crate::inference::authorize::RouteFamily;
use crate::inference::settle;
use crate::inference::stream_back::{Framing, MeteredSse};
use crate::inference::{aigne, messages, relay};
use crate::inference::resolve::{self, Plan};
use crate::inference::{authenticate, body};
use crate::state::AppState;

/// Constant names: one given as text is copied into the header map on every insert.
const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");
const X_ACCEL_BUFFERING: HeaderName = HeaderName::from_static("x-accel-buffering");
const PROJECT_HEADER: &str = "x-aigne-hub-client-did";
const MAX_PROJECT_LEN: usize = 256;

/// How a chat route talks to its client; everything else about a call is shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI requests, `chat.completion` replies, `chat.completion.chunk` SSE and `[DONE]`.
    OpenAi,
    /// The AIGNE framework's `{"input":…}` envelope, its reply object and `delta` events.
    Aigne,
    /// Anthropic Messages requests (`x-api-key` or bearer), `message` replies, Anthropic SSE
    /// events and error bodies.
    Anthropic,
    /// The original hub's older `/api/v2/chat/completions` shape (`hub_core::aigne::legacy`);
    /// `event_stream` when the client accepts `text/event-stream`.
    AigneLegacy { event_stream: bool },
}

impl Dialect {
    /// The usage record's endpoint.
    fn endpoint(self) -> &'static str {
        match self {
            Dialect::OpenAi | Dialect::Aigne | Dialect::AigneLegacy { .. } => "chat.completions",
            Dialect::Anthropic => "messages",
        }
    }
}

pub async fn chat_completions(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, body: Body) -> Response {
    match run(&state, &ctx, &headers, body, Dialect::OpenAi).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

pub async fn run(state: &AppState, ctx: &RequestCtx, headers: &HeaderMap, body: Body, dialect: Dialect) -> Result<Response, ApiError> {
    let caller = match dialect {
        Dialect::Anthropic => authenticate::from_api_key_or_bearer(state, headers, RouteFamily::Inference).await?,
        Dialect::OpenAi | Dialect::Aigne | Dialect::AigneLegacy { .. } => authenticate::from_headers(state, headers, RouteFamily::Inference).await?,
    };
    let bytes = body::read_limited(body, state.config.max_body_bytes).await?;
    run_as(state, ctx, &caller, project(headers), &bytes, dialect).await
}

/// Every step after authentication, for a caller already known: the API routes above, and the
/// Playground page, which calls as its user's hub-managed key (`ui/playground.rs`).
pub async fn run_as(state: &AppState, ctx: &RequestCtx, caller: &authenticate::Caller, project: Option<String>, bytes: &[u8], dialect: Dialect) -> Result<Response, ApiError> {
    let mut req: ChatRequest = match dialect {
        Dialect::OpenAi => body::parse_json(bytes)?,
        Dialect::Aigne => aigne::parse_chat(bytes)?,
        Dialect::Anthropic => messages::parse(bytes)?,
        Dialect::AigneLegacy { event_stream } => aigne::parse_legacy_chat(bytes, event_stream)?,
    };
    validate::chat_request(&req).map_err(|e| ApiError::bad_request(Some(e.param), e.message))?;
    let (text_bytes, messages) = validate::text_size(&req);
    let est_input = estimate_tokens_from_bytes(text_bytes, messages);
    let intent = CallIntent { project, endpoint: dialect.endpoint(), scope: Endpoint::Chat, model: &req.model, stream: req.is_stream(), est_input_tokens: est_input, max_output_tokens: req.output_limit().map(u64::from), choices: u64::from(req.n.unwrap_or(1).max(1)), images: 0, price: PriceAsk::of_chat(&req) };
    let mut guard = admit::admit(state, caller, ctx, intent).await?;
    let mut plan = guard.check(resolve::plan(state, &req.model))?;
    let scoped = guard.enforce(caller, ctx, &req.model, &mut plan).await;
    guard.check(scoped)?;
    if let Some(first) = plan.preferred() {
        guard.name_target(first);
        if dialect == Dialect::Anthropic {
            hub_core::anthropic::request::drop_unmapped(&mut req, first.kind.protocol());
        }
    }
    let held = guard.journal_hold();
    guard.check(held)?;
    if req.is_stream() {
        stream(state, guard, &plan, &req, dialect).await
    } else {
        complete(state, guard, &plan, &req, dialect).await
    }
}

pub(crate) fn project(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(PROJECT_HEADER)?.to_str().ok()?.trim();
    (!v.is_empty()).then(|| v.chars().filter(|c| !c.is_control()).take(MAX_PROJECT_LEN).collect())
}

async fn complete(state: &AppState, mut guard: CallGuard, plan: &Plan<'_>, req: &ChatRequest, dialect: Dialect) -> Result<Response, ApiError> {
    let upstream_started = Instant::now();
    let relayed = match relay::chat(state, plan, req).await {
        Ok(r) => r,
        Err(failed) => return Err(guard.fail_relay(failed)),
    };
    guard.name_target(&relayed.target);
    let reply = relayed.value;
    guard.report_service_tier(reply.completion.service_tier());
    let upstream_ms = upstream_started.elapsed().as_secs_f64() * 1000.0;
    let usage = reply.completion.usage().cloned();
    // Only an estimate needs the output's size; counting it walks the whole reply.
    let output_chars = if usage.as_ref().is_some_and(hub_core::chat::Usage::is_believable) { 0 } else { reply.completion.output_chars() };
    let upstream_ttfb_ms = u64::try_from(reply.upstream_ttfb.as_millis()).unwrap_or(u64::MAX);
    let body = match render(reply.completion, req, dialect) {
        Ok(b) => b,
        Err(err) => {
            guard.fail(&err);
            return Err(err);
        }
    };
    Ok(settle::json_reply(guard, usage, output_chars, Some(upstream_ttfb_ms), upstream_ms, body))
}

/// A whole reply in the route's dialect (no work for OpenAI JSON that passes through).
fn render(completion: Completion, req: &ChatRequest, dialect: Dialect) -> Result<bytes::Bytes, ApiError> {
    let protocol = |e: String| ApiError::Upstream(ProviderError::Protocol(e));
    match dialect {
        Dialect::OpenAi => completion.to_openai_json().map_err(|e| protocol(e.to_string())),
        Dialect::Aigne => {
            let typed = completion.into_typed().map_err(|e| protocol(e.to_string()))?;
            let reply = hub_core::aigne::chat::to_reply(typed, wants_json(req), &req.model).map_err(|e| protocol(e.to_string()))?;
            serde_json::to_vec(&reply).map(bytes::Bytes::from).map_err(|e| protocol(e.to_string()))
        }
        Dialect::Anthropic => {
            let typed = completion.into_typed().map_err(|e| protocol(e.to_string()))?;
            let message = hub_core::anthropic::reply::to_message(typed, &req.model).map_err(|e| protocol(e.to_string()))?;
            serde_json::to_vec(&message).map(bytes::Bytes::from).map_err(|e| protocol(e.to_string()))
        }
        Dialect::AigneLegacy { .. } => {
            let typed = completion.into_typed().map_err(|e| protocol(e.to_string()))?;
            serde_json::to_vec(&hub_core::aigne::legacy::to_reply(typed)).map(bytes::Bytes::from).map_err(|e| protocol(e.to_string()))
        }
    }
}

async fn stream(state: &AppState, mut guard: CallGuard, plan: &Plan<'_>, req: &ChatRequest, dialect: Dialect) -> Result<Response, ApiError> {
    // The relay peeks the first chunk before the hub commits to 200: an upstream that fails at
    // once still gets a proper HTTP error, and a retry elsewhere stays possible.
    let relayed = match relay::stream(state, plan, req).await {
        Ok(r) => r,
        Err(failed) => return Err(guard.fail_relay(failed)),
    };
    guard.name_target(&relayed.target);
    let open = relayed.value;
    guard.report_service_tier(open.first.service_tier());
    let upstream_ttfb_ms = open.upstream_ttfb.as_secs_f64() * 1000.0;
    let hub_ms = guard.started.elapsed().as_secs_f64() * 1000.0 - upstream_ttfb_ms;
    let framing = match dialect {
        Dialect::OpenAi => Framing::OpenAi { include_usage: req.wants_usage_in_stream() },
        Dialect::Aigne => Framing::Aigne(Box::new(StreamTranslator::new(wants_json(req), &req.model))),
        Dialect::Anthropic => Framing::Anthropic(Box::new(hub_core::anthropic::reply::StreamTranslator::new(&req.model))),
        Dialect::AigneLegacy { event_stream: true } => Framing::LegacyEvents,
        Dialect::AigneLegacy { event_stream: false } => Framing::LegacyText,
    };
    let content_type = framing.content_type();
    let rates = guard.rate_snapshot();
    let metered = MeteredSse::new(open.rest, open.first, guard, framing, upstream_ttfb_ms as u64);
    let mut res = Response::new(Body::from_stream(metered));
    let h = res.headers_mut();
    if let Some(r) = rates {
        r.write(h);
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(X_ACCEL_BUFFERING, HeaderValue::from_static("no"));
    set_server_timing(&mut res, hub_ms, Some(upstream_ttfb_ms));
    Ok(res)
}


/// `Server-Timing: hub;dur=…, upstream;dur=…` so users can see the hub's own overhead.
pub fn set_server_timing(res: &mut Response, hub_ms: f64, upstream_ms: Option<f64>) {
    // Written by hand: `format!` with float precision is a noticeable share of a request.
    let mut value = Vec::with_capacity(48);
    value.extend_from_slice(b"hub;dur=");
    push_ms(&mut value, hub_ms);
    if let Some(u) = upstream_ms {
        value.extend_from_slice(b", upstream;dur=");
        push_ms(&mut value, u);
    }
    if let Ok(v) = HeaderValue::from_maybe_shared(bytes::Bytes::from(value)) {
        res.headers_mut().insert(SERVER_TIMING, v);
    }
}

/// Milliseconds with three decimals (`12.345`); negative and non-finite values count as 0.
fn push_ms(out: &mut Vec<u8>, ms: f64) {
    let micros = if ms.is_finite() && ms > 0.0 { (ms * 1000.0).round() as u64 } else { 0 };
    let whole = micros / 1000;
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    let mut n = whole;
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    let frac = micros % 1000;
    out.extend_from_slice(&[b'.', b'0' + (frac / 100) as u8, b'0' + (frac / 10 % 10) as u8, b'0' + (frac % 10) as u8]);
}

#[cfg(test)]
mod server_timing_tests {
    use super::push_ms;

    fn text(ms: f64) -> String {
        let mut v = Vec::new();
        push_ms(&mut v, ms);
        String::from_utf8(v).unwrap_or_default()
    }

    #[test]
    fn milliseconds_have_three_decimals_like_the_formatter() {
        for ms in [0.0, 0.0004, 0.0005, 0.001, 0.123, 1.5, 12.3456, 999.9999, 123_456.789] {
            assert_eq!(text(ms), format!("{ms:.3}"), "{ms}");
        }
        assert_eq!(text(-3.0), "0.000");
        assert_eq!(text(f64::NAN), "0.000");
    }
}
