//! `POST /model/{modelId}/converse` and `/converse-stream`.
//!
//! A reply is the deterministic text (or a call of the chosen tool with input `{"sim":true}`),
//! with usage by the simulator's token rules. Streams are event stream messages, in the order
//! Bedrock sends them:
//!
//! 1. `messageStart` `{"p":…,"role":"assistant"}`;
//! 2. text: one `contentBlockDelta` per word (`"Hello"`, `" from"`, …) at block 0; or a tool
//!    call: `contentBlockStart` with `toolUse` (id, name), then `contentBlockDelta`s of
//!    `toolUse.input` fragments;
//! 3. `contentBlockStop`;
//! 4. `messageStop` with `stopReason` (`end_turn` or `tool_use`);
//! 5. `metadata` with `usage` and `metrics` (left out by the no-usage fault).
//!
//! Every payload carries `p`, the random-length padding Bedrock adds against length analysis.

use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use http::header::{HeaderName, CONTENT_TYPE};
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use super::errors::{self, BedrockError};
use super::eventstream::write_event;
use super::request::{self, Plan};
use super::{authorize, model_id, request_id, PacedBody};
use crate::openai::chat::{MAX_BODY, TOOL_ARGUMENT_FRAGMENTS};
use crate::state::{AppState, SharedState};
use crate::stats::{add, bump, InFlight, StreamGuard};
use crate::tokens::{reply_text, reply_word};

const PADDING: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

pub(crate) async fn converse(State(state): State<SharedState>, req: Request) -> Response {
    handle(state, req, false).await
}

pub(crate) async fn converse_stream(State(state): State<SharedState>, req: Request) -> Response {
    handle(state, req, true).await
}

async fn handle(state: SharedState, req: Request, stream: bool) -> Response {
    let in_flight = InFlight::new(&state.counters);
    bump(&state.counters.chat_requests);
    let rid = request_id(&state);
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return BedrockError::validation("Input is too long for requested model.").into_response(&rid),
    };
    state.counters.record_chat_body(&body);
    if let Err(e) = authorize(&state, &parts, &body) {
        return e.into_response(&rid);
    }
    if stream {
        bump(&state.counters.stream_requests);
    }
    let model = model_id(parts.uri.path());
    let plan = match request::plan(&model, &body, stream, &state) {
        Ok(p) => p,
        Err(e) => return e.into_response(&rid),
    };
    if plan.applied.any_fault() {
        bump(&state.counters.faults_served);
    }
    // Created before any waiting so that a client giving up during latency or a stall counts.
    let mut guard = stream.then(|| StreamGuard::new(&state.counters));
    if plan.applied.stall {
        std::future::pending::<()>().await;
    }
    let wait = state.tunables.latency() + plan.applied.delay;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    if let Some((status, retry_after)) = plan.applied.status {
        if let Some(g) = guard.as_mut() {
            g.finish();
        }
        return errors::for_status(status, retry_after, &plan.model).into_response(&rid);
    }
    add(&state.counters.total_prompt_tokens, plan.prompt_tokens);
    add(&state.counters.total_completion_tokens, u64::from(plan.tokens));
    let latency_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    match guard {
        Some(guard) => {
            let (frames, cut) = stream_frames(&plan, &state, latency_ms);
            let body = PacedBody::new(frames, state.tunables.chunk_interval(), cut, guard, in_flight);
            let mut resp = Response::new(Body::from_stream(body));
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/vnd.amazon.eventstream"));
            insert_request_id(h, &rid);
            resp
        }
        None => {
            let mut resp = Response::new(Body::from(reply_body(&plan, &state, latency_ms)));
            *resp.status_mut() = StatusCode::OK;
            let h = resp.headers_mut();
            h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            insert_request_id(h, &rid);
            resp
        }
    }
}

fn insert_request_id(h: &mut http::HeaderMap, rid: &str) {
    if let Ok(v) = HeaderValue::from_str(rid) {
        h.insert(HeaderName::from_static("x-amzn-requestid"), v);
    }
}

fn stop_reason(plan: &Plan) -> &'static str {
    if plan.tool.is_some() {
        "tool_use"
    } else {
        "end_turn"
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenUsage {
    input_tokens: u64,
    output_tokens: u64,
    total_tokens: u64,
}

fn usage(plan: &Plan) -> TokenUsage {
    let output = u64::from(plan.tokens);
    TokenUsage { input_tokens: plan.prompt_tokens, output_tokens: output, total_tokens: plan.prompt_tokens + output }
}

fn tool_use_id(state: &AppState) -> String {
    state.ids.alnum("tooluse_", 22)
}

/// The Converse reply, members in the API reference's order.
fn reply_body(plan: &Plan, state: &AppState, latency_ms: u64) -> Vec<u8> {
    let content = match &plan.tool {
        Some(name) => json!([{"toolUse": {"toolUseId": tool_use_id(state), "name": name, "input": {"sim": true}}}]),
        None => json!([{"text": reply_text(plan.tokens)}]),
    };
    #[derive(Serialize)]
    struct OutputMessage {
        role: &'static str,
        content: Value,
    }
    #[derive(Serialize)]
    struct Output {
        message: OutputMessage,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Reply {
        output: Output,
        stop_reason: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        usage: Option<TokenUsage>,
        metrics: Value,
    }
    let reply = Reply {
        output: Output { message: OutputMessage { role: "assistant", content } },
        stop_reason: stop_reason(plan),
        usage: (!plan.applied.no_usage).then(|| usage(plan)),
        metrics: json!({"latencyMs": latency_ms}),
    };
    serde_json::to_vec(&reply).unwrap_or_default()
}

/// Padding of a pseudo-random length, as Bedrock's `p` member.
fn padding(state: &AppState) -> &'static str {
    let n = 1 + (state.ids.next_u64() % PADDING.len() as u64) as usize;
    &PADDING[..n]
}

fn push_event(frames: &mut Vec<Vec<u8>>, kind: &str, payload: &Value) {
    let mut out = Vec::new();
    write_event(&mut out, kind, &serde_json::to_vec(payload).unwrap_or_default());
    frames.push(out);
}

/// The framed events, one buffer each, and whether the stream is cut after them.
fn stream_frames(plan: &Plan, state: &AppState, latency_ms: u64) -> (Vec<Vec<u8>>, bool) {
    let mut frames = Vec::new();
    push_event(&mut frames, "messageStart", &json!({"p": padding(state), "role": "assistant"}));
    let steps = match &plan.tool {
        Some(name) => {
            let start = json!({"contentBlockIndex": 0, "p": padding(state), "start": {"toolUse": {"name": name, "toolUseId": tool_use_id(state)}}});
            push_event(&mut frames, "contentBlockStart", &start);
            TOOL_ARGUMENT_FRAGMENTS.len()
        }
        None => plan.tokens as usize,
    };
    let before_content = frames.len();
    for step in 0..steps {
        let delta = match plan.tool {
            Some(_) => json!({"toolUse": {"input": TOOL_ARGUMENT_FRAGMENTS.get(step).copied().unwrap_or_default()}}),
            None => {
                let word = reply_word(step);
                json!({"text": if step == 0 { word.to_owned() } else { format!(" {word}") }})
            }
        };
        push_event(&mut frames, "contentBlockDelta", &json!({"contentBlockIndex": 0, "delta": delta, "p": padding(state)}));
    }
    if let Some(n) = plan.applied.cut_after {
        frames.truncate(before_content + n.min(steps));
        return (frames, true);
    }
    push_event(&mut frames, "contentBlockStop", &json!({"contentBlockIndex": 0, "p": padding(state)}));
    push_event(&mut frames, "messageStop", &json!({"p": padding(state), "stopReason": stop_reason(plan)}));
    if !plan.applied.no_usage {
        let metadata = json!({"metrics": {"latencyMs": latency_ms}, "p": padding(state), "usage": usage(plan)});
        push_event(&mut frames, "metadata", &metadata);
    }
    (frames, false)
}

/// Pause before a scripted cut, so the frames before it reach the client first.
pub(crate) const CUT_FLUSH_DELAY: Duration = Duration::from_millis(20);
