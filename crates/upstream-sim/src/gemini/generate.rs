//! `:generateContent` and `:streamGenerateContent`: checks, faults, and the reply body.

use std::borrow::Cow;

use axum::extract::Request;
use axum::response::Response;
use http::StatusCode;
use serde::Serialize;
use serde_json::Value;

use super::errors::{self, GoogleError};
use super::request::{self, Parsed};
use super::stream::{self, Framing};
use super::{authorize, json_response, pretty, Method, Query};
use crate::faults::{parse_markers, Applied, RequestKind};
use crate::openai::chat::MAX_BODY;
use crate::state::{AppState, SharedState};
use crate::stats::{add, bump, InFlight, StreamGuard};
use crate::tokens::{prompt_tokens, reply_text, reply_word};

/// The largest `maxOutputTokens` a simulated Gemini model takes (Gemini 2.5's limit).
pub const MAX_OUTPUT_TOKENS: u64 = 65_536;
/// The most candidates Gemini generates for one request.
pub const MAX_CANDIDATES: u64 = 8;

/// Everything decided about a request before any waiting starts.
pub(crate) struct Plan {
    pub model: String,
    /// Tokens per candidate.
    pub tokens: u32,
    pub n: u32,
    pub prompt_tokens: u64,
    /// Function name when the reply is a function call.
    pub tool: Option<String>,
    pub applied: Applied,
}

impl Plan {
    pub(crate) fn completion_tokens(&self) -> u64 {
        u64::from(self.tokens) * u64::from(self.n)
    }
}

pub(crate) async fn handle(state: SharedState, model: String, method: Method, q: Query, req: Request) -> Response {
    let in_flight = InFlight::new(&state.counters);
    bump(&state.counters.chat_requests);
    if method == Method::Stream {
        bump(&state.counters.stream_requests);
    }
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return errors::invalid_json().into_response();
    };
    state.counters.record_chat_body(&body);
    if let Err(e) = authorize(&state, &parts.headers, &q) {
        return e.into_response();
    }
    if method == Method::Generate {
        if let Ok(value) = serde_json::from_slice::<Value>(&body) {
            if super::images::wants_image(&value) {
                if let Err(e) = request::parse(&value) {
                    return e.into_response();
                }
                return super::images::content_reply(&state, &model, &value).await;
            }
        }
    }
    let plan = match plan(&body, model, method, &state) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    drop(body);

    if plan.applied.any_fault() {
        bump(&state.counters.faults_served);
    }
    // Created before any waiting so that a client giving up during the latency or a stall
    // still counts as a cancelled stream.
    let mut guard = (method == Method::Stream).then(|| StreamGuard::new(&state.counters));
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
        return errors::for_status(status, retry_after, &plan.model, method.name()).into_response();
    }
    add(&state.counters.total_prompt_tokens, plan.prompt_tokens);
    add(&state.counters.total_completion_tokens, plan.completion_tokens());

    let response_id = state.ids.alnum("", 23);
    match guard {
        Some(guard) => {
            let framing = if q.sse { Framing::Sse } else { Framing::JsonArray };
            stream::response(&plan, &response_id, framing, state.tunables.chunk_interval(), guard, in_flight)
        }
        None => json_response(StatusCode::OK, pretty(&reply_body(&plan, &response_id))),
    }
}

fn plan(body: &[u8], model: String, method: Method, state: &AppState) -> Result<Plan, GoogleError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| errors::invalid_json())?;
    let parsed = request::parse(&value)?;
    if model.starts_with("missing-") {
        return Err(errors::model_not_found(&model, method.name()));
    }
    let tokens = match parsed.max_output_tokens.filter(|t| *t > 0) {
        Some(t) if t > MAX_OUTPUT_TOKENS => {
            return Err(errors::invalid_argument(format!(
                "Unable to submit request because it has a maxOutputTokens value of {t} but the supported range is from 1 (inclusive) to {} (exclusive). Update the value and try again.",
                MAX_OUTPUT_TOKENS + 1
            )))
        }
        Some(t) => u32::try_from(t).unwrap_or(u32::MAX),
        None => state.tunables.default_completion_tokens(),
    };
    let n = match parsed.candidate_count.filter(|n| *n > 0) {
        Some(n) if n > MAX_CANDIDATES => {
            return Err(errors::invalid_argument(format!("* GenerateContentRequest.generation_config.candidate_count: must be between 1 and {MAX_CANDIDATES}.\n")))
        }
        Some(n) => u32::try_from(n).unwrap_or(1),
        None => 1,
    };
    let kind = if method == Method::Stream { RequestKind::ChatStream } else { RequestKind::Chat };
    let mut applied = Applied::default();
    if let Some(text) = &parsed.marked {
        parse_markers(text, kind, &mut applied);
    }
    state.faults.take_for(kind, &mut applied);
    Ok(Plan {
        model,
        tokens,
        n,
        prompt_tokens: prompt_tokens(parsed.words.iter().copied()),
        tool: function_call_name(&parsed, applied.force_tool),
        applied,
    })
}

/// A function call is made when functions are offered and the mode is `ANY`, or the last user
/// turn carries `[[sim:tool]]`; mode `NONE` always wins.
fn function_call_name(p: &Parsed, forced: bool) -> Option<String> {
    let first = p.functions.first()?;
    match p.mode.as_deref() {
        Some("NONE") => None,
        Some("ANY") => Some(p.allowed.first().unwrap_or(first).clone()),
        _ if forced => Some(p.allowed.first().unwrap_or(first).clone()),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Bodies, in Google's field order.

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReplyBody<'a> {
    pub candidates: Vec<CandidateOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage_metadata: Option<UsageOut>,
    pub model_version: &'a str,
    pub response_id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CandidateOut<'a> {
    pub content: ContentOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<&'static str>,
    pub index: u32,
}

#[derive(Serialize)]
pub(crate) struct ContentOut<'a> {
    pub parts: [PartOut<'a>; 1],
    pub role: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
pub(crate) enum PartOut<'a> {
    Text { text: Cow<'a, str> },
    Call {
        #[serde(rename = "functionCall")]
        function_call: CallOut<'a>,
    },
}

#[derive(Serialize)]
pub(crate) struct CallOut<'a> {
    pub name: &'a str,
    pub args: SimArgs,
}

/// The arguments of every simulated function call: `{"sim": true}`.
#[derive(Serialize)]
pub(crate) struct SimArgs {
    pub sim: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageOut {
    pub prompt_token_count: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates_token_count: Option<u64>,
    pub total_token_count: u64,
    pub prompt_tokens_details: [ModalityCount; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates_tokens_details: Option<[ModalityCount; 1]>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ModalityCount {
    pub modality: &'static str,
    pub token_count: u64,
}

impl UsageOut {
    /// Usage after `candidates` output tokens; the details of the output only on a full reply.
    pub(crate) fn new(prompt: u64, candidates: u64, final_details: bool) -> UsageOut {
        UsageOut {
            prompt_token_count: prompt,
            candidates_token_count: (candidates > 0).then_some(candidates),
            total_token_count: prompt + candidates,
            prompt_tokens_details: [ModalityCount { modality: "TEXT", token_count: prompt }],
            candidates_tokens_details: (final_details && candidates > 0).then_some([ModalityCount { modality: "TEXT", token_count: candidates }]),
        }
    }
}

pub(crate) fn call_part(name: &str) -> PartOut<'_> {
    PartOut::Call { function_call: CallOut { name, args: SimArgs { sim: true } } }
}

/// The non-streamed reply.
fn reply_body<'a>(plan: &'a Plan, response_id: &'a str) -> ReplyBody<'a> {
    let text = reply_text(plan.tokens);
    let candidates = (0..plan.n)
        .map(|index| CandidateOut {
            content: ContentOut {
                parts: [match plan.tool.as_deref() {
                    Some(name) => call_part(name),
                    None => PartOut::Text { text: Cow::Owned(text.clone()) },
                }],
                role: "model",
            },
            finish_reason: Some("STOP"),
            index,
        })
        .collect();
    ReplyBody {
        candidates,
        usage_metadata: (!plan.applied.no_usage).then(|| UsageOut::new(plan.prompt_tokens, plan.completion_tokens(), true)),
        model_version: &plan.model,
        response_id,
    }
}

/// The `step`-th piece of a streamed reply: the word with its leading space.
pub(crate) fn stream_piece(step: usize) -> String {
    if step == 0 {
        reply_word(0).to_owned()
    } else {
        format!(" {}", reply_word(step))
    }
}
