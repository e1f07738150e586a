//! `POST /v1/messages`: validation, fault handling and the non-streamed reply. Streams are
//! framed in `stream.rs`.

use axum::extract::{Request, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Serialize;

use super::errors::{self, ApiError};
use super::request::MessagesRequest;
use super::stream;
use super::{json_response, Meta};
use crate::faults::{parse_markers, Applied, RequestKind};
use crate::openai::chat::MAX_OUTPUT_TOKENS;
use crate::state::{AppState, SharedState};
use crate::stats::{add, bump, InFlight, StreamGuard};
use crate::tokens::{prompt_tokens, reply_text};

/// Largest request body accepted (Anthropic's limit for the Messages API is 32 MB).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// Everything decided about a request before any waiting starts.
pub(crate) struct Plan {
    pub model: String,
    pub stream: bool,
    /// Output tokens: the natural reply length capped by `max_tokens`.
    pub tokens: u32,
    /// Whether `max_tokens` cut the reply short.
    pub capped: bool,
    pub input_tokens: u64,
    /// Tool name when the reply is a tool call.
    pub tool: Option<String>,
    pub applied: Applied,
}

impl Plan {
    pub(crate) fn stop_reason(&self) -> &'static str {
        if self.tool.is_some() {
            "tool_use"
        } else if self.capped {
            "max_tokens"
        } else {
            "end_turn"
        }
    }

    pub(crate) fn usage(&self) -> Usage {
        Usage::new(self.input_tokens, u64::from(self.tokens))
    }
}

/// The `usage` object, with the fields Anthropic includes today.
#[derive(Debug, Clone, Copy, Serialize)]
pub(crate) struct Usage {
    pub input_tokens: u64,
    pub cache_creation_input_tokens: u64,
    pub cache_read_input_tokens: u64,
    pub cache_creation: CacheCreation,
    pub output_tokens: u64,
    pub service_tier: &'static str,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub(crate) struct CacheCreation {
    pub ephemeral_5m_input_tokens: u64,
    pub ephemeral_1h_input_tokens: u64,
}

impl Usage {
    fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            cache_creation_input_tokens: 0,
            cache_read_input_tokens: 0,
            cache_creation: CacheCreation::default(),
            output_tokens,
            service_tier: "standard",
        }
    }
}

/// Checks `x-api-key` against the configured key, recording what was presented.
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap, call: bool) -> Result<(), ApiError> {
    let header = headers.get("x-api-key");
    state.counters.record_x_api_key(header);
    let presented = header
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or("");
    if call && !presented.is_empty() {
        state.count_call(presented);
    }
    if state.accepts(presented) {
        return Ok(());
    }
    bump(&state.counters.unauthorized);
    Err(if presented.is_empty() {
        errors::missing_api_key()
    } else {
        errors::invalid_api_key()
    })
}

pub(crate) async fn create(State(state): State<SharedState>, req: Request) -> Response {
    let in_flight = InFlight::new(&state.counters);
    bump(&state.counters.messages_requests);
    let meta = Meta::new(&state);

    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return errors::request_too_large().into_response(&meta),
    };
    state.counters.record_messages_body(&body);
    if let Err(e) = authorize(&state, &parts.headers, true) {
        return e.into_response(&meta);
    }
    if !parts.headers.contains_key("anthropic-version") {
        return errors::missing_version().into_response(&meta);
    }
    let request: MessagesRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return errors::invalid_request(format!("invalid request body: {e}"))
                .into_response(&meta)
        }
    };
    let plan = match plan(&request, &state) {
        Ok(p) => p,
        Err(e) => return e.into_response(&meta),
    };
    drop(request);

    if plan.applied.any_fault() {
        bump(&state.counters.faults_served);
    }
    // Created before any waiting, so a client giving up during latency counts as cancelled.
    let mut guard = plan.stream.then(|| StreamGuard::new(&state.counters));
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
        return errors::for_status(status, retry_after, &plan.model).into_response(&meta);
    }

    add(&state.counters.total_prompt_tokens, plan.input_tokens);
    add(
        &state.counters.total_completion_tokens,
        u64::from(plan.tokens),
    );
    match guard {
        Some(guard) => stream::response(
            &plan,
            &state,
            state.tunables.chunk_interval(),
            guard,
            in_flight,
            &meta,
        ),
        None => json_response(StatusCode::OK, message_body(&plan, &state), &meta),
    }
}

fn plan(req: &MessagesRequest<'_>, state: &AppState) -> Result<Plan, ApiError> {
    let model = match &req.model {
        Some(m) if !m.0.is_empty() => m.0.as_ref(),
        _ => return Err(errors::field_required("model")),
    };
    let max_tokens = req
        .max_tokens
        .ok_or_else(|| errors::field_required("max_tokens"))?;
    let messages = req
        .messages
        .as_ref()
        .ok_or_else(|| errors::field_required("messages"))?;
    if max_tokens < 1 {
        return Err(errors::invalid_request(
            "max_tokens: Input should be greater than or equal to 1",
        ));
    }
    if max_tokens > i64::from(MAX_OUTPUT_TOKENS) {
        return Err(errors::invalid_request(format!(
            "max_tokens: {max_tokens} > {MAX_OUTPUT_TOKENS}, which is the maximum allowed number of output tokens for {model}"
        )));
    }
    if messages.is_empty() {
        return Err(errors::invalid_request(
            "messages: at least one message is required",
        ));
    }
    for (i, m) in messages.iter().enumerate() {
        match m.role.as_ref() {
            "user" | "assistant" => {}
            "system" => {
                return Err(errors::invalid_request(
                    "messages: Unexpected role \"system\". The Messages API accepts a top-level `system` parameter, not \"system\" as an input message role.",
                ))
            }
            _ => return Err(errors::invalid_request(format!("messages.{i}.role: Input should be 'user' or 'assistant'"))),
        }
    }
    if model.starts_with("missing-") {
        return Err(errors::model_not_found(model));
    }

    let stream = req.stream == Some(true);
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

    let natural = state.tunables.default_completion_tokens();
    let cap = u32::try_from(max_tokens).unwrap_or(MAX_OUTPUT_TOKENS);
    let system = req.system.as_ref().map(|s| s.words);
    let input_tokens = prompt_tokens(
        system
            .into_iter()
            .chain(messages.iter().map(|m| m.content.words)),
    );
    Ok(Plan {
        model: model.to_owned(),
        stream,
        tokens: natural.min(cap),
        capped: cap < natural,
        input_tokens,
        tool: tool_name(req, applied.force_tool),
        applied,
    })
}

/// A tool call is made when tools are offered and `tool_choice` demands one (`any` or a named
/// tool) or the last user turn carries `[[sim:tool]]`; `none` always wins.
fn tool_name(req: &MessagesRequest<'_>, forced: bool) -> Option<String> {
    let tools = req.tools.as_ref().filter(|t| !t.is_empty())?;
    let first = || {
        tools
            .first()
            .map(|t| t.name.to_string())
            .unwrap_or_default()
    };
    match req
        .tool_choice
        .as_ref()
        .map(|c| (c.kind.as_str(), c.name.as_deref()))
    {
        Some(("none", _)) => None,
        Some(("any", _)) => Some(first()),
        Some(("tool", Some(name))) => Some(name.to_owned()),
        _ if forced => Some(first()),
        _ => None,
    }
}

#[derive(Serialize)]
struct Message<'a> {
    model: &'a str,
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    content: [ContentBlock<'a>; 1],
    stop_reason: &'static str,
    stop_sequence: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentBlock<'a> {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: &'a str,
        input: SimInput,
    },
}

/// The input of every simulated tool call: `{"sim":true}`.
#[derive(Serialize)]
struct SimInput {
    sim: bool,
}

pub(crate) fn message_id(state: &AppState) -> String {
    state.ids.alnum("msg_01", 22)
}

pub(crate) fn tool_use_id(state: &AppState) -> String {
    state.ids.alnum("toolu_01", 22)
}

fn message_body(plan: &Plan, state: &AppState) -> Vec<u8> {
    let id = message_id(state);
    let block = match plan.tool.as_deref() {
        Some(name) => ContentBlock::ToolUse {
            id: tool_use_id(state),
            name,
            input: SimInput { sim: true },
        },
        None => ContentBlock::Text {
            text: reply_text(plan.tokens),
        },
    };
    let body = Message {
        model: &plan.model,
        id: &id,
        kind: "message",
        role: "assistant",
        content: [block],
        stop_reason: plan.stop_reason(),
        stop_sequence: None,
        usage: (!plan.applied.no_usage).then(|| plan.usage()),
    };
    // Serializing plain structs into a Vec cannot fail.
    serde_json::to_vec(&body).unwrap_or_default()
}
