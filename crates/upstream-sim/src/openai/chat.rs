//! `POST /v1/chat/completions`: validation, fault handling, and the
//! non-streaming reply. Streaming replies are framed in `stream.rs`.

use axum::extract::{Request, State};
use axum::response::Response;
use http::StatusCode;
use serde::Serialize;

use super::errors::{self, ApiError};
use super::request::{ChatRequest, ToolChoice};
use super::stream::{self, StreamReply};
use super::usage::Usage;
use super::{json_response, unix_now, ResponseMeta};
use crate::faults::{parse_markers, Applied, RequestKind};
use crate::state::{AppState, SharedState};
use crate::stats::{add, bump, InFlight, StreamGuard};
use crate::tokens::{prompt_tokens, reply_text};

/// The largest output any simulated model produces.
pub const MAX_OUTPUT_TOKENS: u32 = 128_000;

/// Request bodies above this are refused; large enough for any prompt a
/// benchmark would send.
pub(crate) const MAX_BODY: usize = 64 * 1024 * 1024;

/// The arguments of every simulated tool call, and how a stream splits
/// them (as OpenAI streams small argument fragments).
pub(crate) const TOOL_ARGUMENTS: &str = r#"{"sim":true}"#;
pub(crate) const TOOL_ARGUMENT_FRAGMENTS: [&str; 5] = [r#"{""#, "sim", r#"":"#, "true", "}"];

/// Everything decided about a request before any waiting starts.
pub(crate) struct Plan {
    pub model: String,
    pub stream: bool,
    pub include_usage: bool,
    /// Tokens per choice.
    pub tokens: u32,
    pub n: u32,
    pub prompt_tokens: u64,
    /// Function name when the reply is a tool call.
    pub tool: Option<String>,
    /// The `service_tier` the reply reports.
    pub service_tier: &'static str,
    pub applied: Applied,
}

impl Plan {
    pub(crate) fn usage(&self) -> Usage {
        Usage::new(
            self.prompt_tokens,
            u64::from(self.tokens) * u64::from(self.n),
        )
    }
}

pub(crate) async fn completions(State(state): State<SharedState>, req: Request) -> Response {
    let in_flight = InFlight::new(&state.counters);
    bump(&state.counters.chat_requests);
    let mut meta = ResponseMeta::new(&state);

    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return errors::invalid_json().into_response(&meta),
    };
    state.counters.record_chat_body(&body);
    if let Err(e) = state.authorize(&parts.headers) {
        return e.into_response(&meta);
    }
    let request: ChatRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return parse_error(&e).into_response(&meta),
    };
    if request.stream == Some(true) {
        bump(&state.counters.stream_requests);
    }
    let mut plan = match plan(&request, &state) {
        Ok(p) => p,
        Err(e) => return e.into_response(&meta),
    };
    drop(request);
    if let Some(key) = parts.headers.get(http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let kind = if plan.stream { RequestKind::ChatStream } else { RequestKind::Chat };
        state.faults.take_for_key(key.trim_start_matches("Bearer ").trim(), kind, &mut plan.applied);
    }

    if plan.applied.any_fault() {
        bump(&state.counters.faults_served);
    }
    // Created before any waiting so that a client giving up during the
    // latency or a stall still counts as a cancelled stream.
    let mut guard = plan.stream.then(|| StreamGuard::new(&state.counters));

    if plan.applied.stall {
        // Held until hyper drops this future: client gone or server shut down.
        std::future::pending::<()>().await;
    }
    let wait = state.tunables.latency() + plan.applied.delay;
    meta.processing_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }

    if let Some((status, retry_after)) = plan.applied.status {
        if let Some(g) = guard.as_mut() {
            g.finish();
        }
        return errors::for_status(status, retry_after, &plan.model).into_response(&meta);
    }

    let usage = plan.usage();
    add(&state.counters.total_prompt_tokens, usage.prompt_tokens);
    add(
        &state.counters.total_completion_tokens,
        usage.completion_tokens,
    );

    match guard {
        Some(guard) => {
            let reply = StreamReply::new(&plan, &state);
            stream::response(
                reply,
                state.tunables.chunk_interval(),
                guard,
                in_flight,
                &meta,
            )
        }
        None => json_response(StatusCode::OK, completion_body(&plan, &state), &meta),
    }
}

/// Maps a serde error to what OpenAI answers: unparseable JSON gets the
/// "could not parse" message, a wrong shape a 400 naming the problem.
pub(crate) fn parse_error(e: &serde_json::Error) -> ApiError {
    match e.classify() {
        serde_json::error::Category::Data => errors::invalid_body(&e.to_string()),
        _ => errors::invalid_json(),
    }
}

fn plan(req: &ChatRequest<'_>, state: &AppState) -> Result<Plan, ApiError> {
    let model = match &req.model {
        Some(m) if !m.0.is_empty() => m.0.as_ref(),
        _ => return Err(errors::missing_model()),
    };
    let messages = req
        .messages
        .as_ref()
        .ok_or_else(|| errors::missing_parameter("messages"))?;
    if messages.is_empty() {
        return Err(errors::empty_array("messages"));
    }
    let stream = req.stream == Some(true);
    if req.stream_options.is_some() && !stream {
        return Err(errors::stream_options_without_stream());
    }
    if req.max_completion_tokens == Some(0) {
        return Err(errors::below_minimum("max_completion_tokens", 1, 0));
    }
    if req.max_tokens == Some(0) {
        return Err(errors::below_minimum("max_tokens", 1, 0));
    }
    // Models cap their output; like OpenAI, a larger request is refused (and the simulator
    // never builds an unbounded reply).
    for (param, value) in [("max_completion_tokens", req.max_completion_tokens), ("max_tokens", req.max_tokens)] {
        if let Some(v) = value.filter(|v| *v > MAX_OUTPUT_TOKENS) {
            return Err(errors::above_maximum(param, u64::from(MAX_OUTPUT_TOKENS), u64::from(v)));
        }
    }
    let n = req.n.unwrap_or(1);
    if n == 0 {
        return Err(errors::below_minimum("n", 1, 0));
    }
    if n > 128 {
        return Err(errors::above_maximum("n", 128, u64::from(n)));
    }
    if model.starts_with("missing-") {
        return Err(errors::model_not_found(model));
    }

    let kind = if stream {
        RequestKind::ChatStream
    } else {
        RequestKind::Chat
    };
    let mut applied = Applied::default();
    if let Some(text) = req.last_user_marked_text() {
        parse_markers(text, kind, &mut applied);
    }
    state.faults.take_for(kind, &mut applied);

    Ok(Plan {
        model: model.to_owned(),
        stream,
        include_usage: req
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        tokens: req
            .max_completion_tokens
            .or(req.max_tokens)
            .unwrap_or_else(|| state.tunables.default_completion_tokens()),
        n,
        prompt_tokens: prompt_tokens(messages.iter().map(|m| m.content.words)),
        tool: tool_call_name(req, applied.force_tool),
        service_tier: match req.service_tier.as_deref() {
            Some("flex") => "flex",
            Some("priority") => "priority",
            _ => "default",
        },
        applied,
    })
}

/// A tool call is made when tools are offered and either `tool_choice`
/// demands one (`"required"` or a named function) or the prompt carries
/// `[[sim:tool]]`; `"none"` always wins.
fn tool_call_name(req: &ChatRequest<'_>, forced: bool) -> Option<String> {
    let tools = req.tools.as_ref().filter(|t| !t.is_empty())?;
    let first = || {
        tools
            .iter()
            .find_map(|t| t.function.as_ref())
            .map(|f| f.name.to_string())
            .unwrap_or_else(|| "function".to_owned())
    };
    match &req.tool_choice {
        Some(ToolChoice::Mode(m)) if m == "none" => None,
        Some(ToolChoice::Mode(m)) if m == "required" => Some(first()),
        Some(ToolChoice::Named { function }) => Some(function.name.clone()),
        _ if forced => Some(first()),
        _ => None,
    }
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: Vec<Choice<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
    service_tier: &'static str,
    system_fingerprint: &'a str,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: AssistantMessage<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct AssistantMessage<'a> {
    role: &'static str,
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCall<'a>; 1]>,
    refusal: Option<()>,
    annotations: &'static [()],
}

#[derive(Serialize)]
struct ToolCall<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: FunctionCall<'a>,
}

#[derive(Serialize)]
struct FunctionCall<'a> {
    name: &'a str,
    arguments: &'static str,
}

fn completion_body(plan: &Plan, state: &AppState) -> Vec<u8> {
    let id = state.ids.alnum("chatcmpl-", 29);
    let text = match plan.tool {
        Some(_) => String::new(),
        None => reply_text(plan.tokens),
    };
    let choices = (0..plan.n)
        .map(|index| Choice {
            index,
            message: AssistantMessage {
                role: "assistant",
                content: plan.tool.is_none().then_some(text.as_str()),
                tool_calls: plan.tool.as_deref().map(|name| {
                    [ToolCall {
                        id: state.ids.alnum("call_", 24),
                        kind: "function",
                        function: FunctionCall {
                            name,
                            arguments: TOOL_ARGUMENTS,
                        },
                    }]
                }),
                refusal: None,
                annotations: &[],
            },
            logprobs: None,
            finish_reason: if plan.tool.is_some() {
                "tool_calls"
            } else {
                "stop"
            },
        })
        .collect();
    let body = Completion {
        id: &id,
        object: "chat.completion",
        created: unix_now(),
        model: &plan.model,
        choices,
        usage: (!plan.applied.no_usage).then(|| plan.usage()),
        service_tier: plan.service_tier,
        system_fingerprint: &state.fingerprint,
    };
    let mut out = Vec::with_capacity(512 + text.len() * plan.n as usize);
    // Serializing plain structs into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, &body);
    out
}
