//! Pure translation between the canonical (OpenAI-shaped) chat types and the Messages API.
//! No I/O here: the adapter in `mod.rs` sends what these functions build.
//!
//! Request decisions:
//! - system and developer messages, wherever they appear, are hoisted in order into the
//!   top-level `system` (a string when there is one, text blocks when there are several);
//! - user and assistant turns become content blocks; assistant `tool_calls` become `tool_use`
//!   blocks whose `input` is the parsed arguments object; `tool` messages become `tool_result`
//!   blocks in a user turn. Consecutive turns of the same role are merged, because Anthropic
//!   requires alternation, and within a user turn the tool results come first, as it requires;
//! - image parts: `data:` URLs become base64 sources, http(s) URLs become URL sources; PDF
//!   `file` parts become documents; audio and other files are refused (400) rather than dropped;
//! - `max_tokens` defaults per model and is lowered to a known model's output limit (see
//!   `limits.rs`); `temperature` is clamped to Anthropic's 0–1 range; `stop` becomes
//!   `stop_sequences`; `user` becomes `metadata.user_id`; `parallel_tool_calls: false` becomes
//!   `disable_parallel_tool_use`; `top_k` passes through; `seed`, penalties, logprobs and other
//!   OpenAI-only fields are dropped; `n > 1` is refused;
//! - JSON output (`response_format` json_object / json_schema) uses a forced tool named
//!   [`JSON_TOOL`] whose input schema is the requested schema (wrapped in an object under
//!   `value` when its root is not an object, since tool inputs must be objects). The reply's
//!   call to that tool becomes the assistant's text content, as JSON text.

use hub_core::chat::{
    ChatCompletion, ChatRequest, Choice, Content, ContentPart, FunctionCall, Message, PromptTokensDetails, ResponseFormat, ResponseMessage,
    Role, Stop, Tool, ToolCall, Usage,
};
use serde_json::{json, Map, Value};

use super::limits;
use super::wire::{
    Block, MessageContent, MessagesRequest, MessagesResponse, Metadata, ReplyBlock, Source, System, ToolResultContent, WireMessage,
    WireRole, WireTool, WireToolChoice, WireUsage,
};
use crate::error::ProviderError;

/// Name of the synthetic tool that carries JSON output.
pub const JSON_TOOL: &str = "json_output";

/// The property that holds a JSON value whose schema root is not an object.
const WRAP_KEY: &str = "value";

/// What the reply translation must know about how the request was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReplyPlan {
    pub json: Option<JsonMode>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonMode {
    /// The schema was wrapped under `value`; the reply must be unwrapped.
    pub wrapped: bool,
}

impl ReplyPlan {
    /// Whether a tool call with this name carries the JSON output rather than a real call.
    pub fn is_json_tool(&self, name: &str) -> bool {
        self.json.is_some() && name == JSON_TOOL
    }

    /// The JSON text a call to the JSON tool stands for.
    pub fn json_text(&self, input: &Value) -> String {
        match (self.json, input) {
            (Some(JsonMode { wrapped: true }), Value::Object(map)) => map.get(WRAP_KEY).unwrap_or(&Value::Null).to_string(),
            _ => input.to_string(),
        }
    }
}

/// Builds the Messages API request for `req`, addressed to the upstream `model`.
pub fn to_messages_request(req: &ChatRequest, model: &str, stream: bool) -> Result<(MessagesRequest, ReplyPlan), ProviderError> {
    if req.n.is_some_and(|n| n > 1) {
        return Err(ProviderError::Unsupported("more than one choice per request (n > 1)"));
    }
    let (system, messages) = convert_messages(&req.messages)?;
    let parallel = req.extra.get("parallel_tool_calls").and_then(Value::as_bool);
    let disable_parallel = (parallel == Some(false)).then_some(true);
    let mut tools = convert_tools(req.tools.as_deref().unwrap_or_default())?;
    let mut tool_choice = if tools.is_empty() {
        None
    } else {
        req.tool_choice
            .as_ref()
            .map(|c| convert_tool_choice(c, disable_parallel))
            .transpose()?
            .or_else(|| disable_parallel.map(|d| WireToolChoice::Auto { disable_parallel_tool_use: Some(d) }))
    };

    let mut plan = ReplyPlan::default();
    if let Some((tool, mode)) = json_tool(req.response_format.as_ref()) {
        plan.json = Some(mode);
        tool_choice = Some(match tool_choice {
            // The client named a tool: that call wins this turn.
            Some(named @ WireToolChoice::Tool { .. }) => named,
            // Real tools stay callable; the model must call one of them or answer in JSON.
            Some(WireToolChoice::Auto { disable_parallel_tool_use } | WireToolChoice::Any { disable_parallel_tool_use }) => {
                WireToolChoice::Any { disable_parallel_tool_use }
            }
            None if !tools.is_empty() => WireToolChoice::Any { disable_parallel_tool_use: None },
            _ => WireToolChoice::Tool { name: JSON_TOOL.to_owned(), disable_parallel_tool_use: None },
        });
        tools.push(tool);
    }

    let body = MessagesRequest {
        model: model.to_owned(),
        max_tokens: limits::max_tokens(model, req.output_limit()),
        system,
        messages,
        tools,
        tool_choice,
        temperature: req.temperature.map(|t| if t.is_finite() { t.clamp(0.0, 1.0) } else { 1.0 }),
        top_p: req.top_p,
        top_k: req.extra.get("top_k").and_then(Value::as_u64),
        stop_sequences: match &req.stop {
            Some(Stop::One(s)) => vec![s.clone()],
            Some(Stop::Many(v)) => v.clone(),
            None => Vec::new(),
        },
        metadata: req.user.as_ref().filter(|u| !u.is_empty()).map(|u| Metadata { user_id: u.clone() }),
        stream,
    };
    Ok((body, plan))
}

fn convert_messages(messages: &[Message]) -> Result<(Option<System>, Vec<WireMessage>), ProviderError> {
    let mut system: Vec<String> = Vec::new();
    let mut turns: Vec<(WireRole, Vec<Block>)> = Vec::new();
    for m in messages {
        let (role, blocks) = match m.role {
            Role::System | Role::Developer => {
                system.extend(text_of(m.content.as_ref()).into_iter().filter(|t| !t.is_empty()));
                continue;
            }
            Role::User => (WireRole::User, user_blocks(m.content.as_ref())?),
            Role::Assistant => (WireRole::Assistant, assistant_blocks(m)?),
            Role::Tool => (WireRole::User, vec![tool_result(m)?]),
            Role::Function => return Err(ProviderError::Unsupported("function-role messages (send tool messages instead)")),
        };
        if blocks.is_empty() {
            continue;
        }
        match turns.last_mut() {
            Some((last, existing)) if *last == role => existing.extend(blocks),
            _ => turns.push((role, blocks)),
        }
    }
    let messages = turns
        .into_iter()
        .map(|(role, mut blocks)| {
            if role == WireRole::User {
                // Anthropic wants a user turn's tool results before anything else in it.
                blocks.sort_by_key(|b| !matches!(b, Block::ToolResult { .. }));
            }
            WireMessage { role, content: collapse(blocks) }
        })
        .collect();
    let system = match system.len() {
        0 => None,
        1 => system.pop().map(System::Text),
        _ => Some(System::Blocks(system.into_iter().map(|text| Block::Text { text }).collect())),
    };
    Ok((system, messages))
}

/// One text block is written as a plain string, as Anthropic's examples do.
fn collapse(mut blocks: Vec<Block>) -> MessageContent {
    if let [Block::Text { .. }] = blocks.as_slice() {
        if let Some(Block::Text { text }) = blocks.pop() {
            return MessageContent::Text(text);
        }
    }
    MessageContent::Blocks(blocks)
}

/// The text pieces of a content value (non-text parts are ignored).
fn text_of(content: Option<&Content>) -> Vec<String> {
    match content {
        None => Vec::new(),
        Some(Content::Text(t)) => vec![t.clone()],
        Some(Content::Parts(parts)) => parts
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text { text } => Some(text.clone()),
                ContentPart::Refusal { refusal } => Some(refusal.clone()),
                _ => None,
            })
            .collect(),
    }
}

fn text_block(text: &str) -> Option<Block> {
    // Anthropic refuses empty text blocks.
    (!text.is_empty()).then(|| Block::Text { text: text.to_owned() })
}

fn user_blocks(content: Option<&Content>) -> Result<Vec<Block>, ProviderError> {
    match content {
        None => Ok(Vec::new()),
        Some(Content::Text(t)) => Ok(text_block(t).into_iter().collect()),
        Some(Content::Parts(parts)) => {
            let mut out = Vec::with_capacity(parts.len());
            for part in parts {
                if let Some(block) = part_block(part)? {
                    out.push(block);
                }
            }
            Ok(out)
        }
    }
}

fn part_block(part: &ContentPart) -> Result<Option<Block>, ProviderError> {
    match part {
        ContentPart::Text { text } => Ok(text_block(text)),
        ContentPart::Refusal { refusal } => Ok(text_block(refusal)),
        ContentPart::ImageUrl { image_url } => Ok(Some(Block::Image { source: image_source(&image_url.url)? })),
        ContentPart::File { file } => file_block(file).map(Some),
        ContentPart::InputAudio { .. } => Err(ProviderError::Unsupported("audio input")),
    }
}

/// `data:<media type>;base64,<data>` → a base64 source; `http(s)://…` → a URL source.
fn image_source(url: &str) -> Result<Source, ProviderError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (media_type, data) = parse_data_url(rest).ok_or(ProviderError::Unsupported("images in data: URLs that are not base64"))?;
        return Ok(Source::Base64 { media_type, data });
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return Ok(Source::Url { url: url.to_owned() });
    }
    Err(ProviderError::Unsupported("image URLs other than data: and http(s) URLs"))
}

/// Splits the part of a data URL after `data:` into its media type and base64 payload.
fn parse_data_url(rest: &str) -> Option<(String, String)> {
    let (meta, data) = rest.split_once(',')?;
    let mut params = meta.split(';');
    let media_type = params.next()?.trim().to_ascii_lowercase();
    if media_type.is_empty() || !params.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
        return None;
    }
    Some((media_type, data.to_owned()))
}

/// OpenAI `file` parts with inline PDF data become document blocks.
fn file_block(file: &Value) -> Result<Block, ProviderError> {
    let refused = ProviderError::Unsupported("file parts other than inline base64 PDF data");
    let data_url = file.get("file_data").and_then(Value::as_str).ok_or_else(|| refused.clone())?;
    let (media_type, data) = data_url.strip_prefix("data:").and_then(parse_data_url).ok_or_else(|| refused.clone())?;
    if media_type != "application/pdf" {
        return Err(refused);
    }
    Ok(Block::Document { source: Source::Base64 { media_type, data } })
}

fn assistant_blocks(m: &Message) -> Result<Vec<Block>, ProviderError> {
    let mut out: Vec<Block> = text_of(m.content.as_ref()).iter().filter_map(|t| text_block(t)).collect();
    for call in m.tool_calls.as_deref().unwrap_or_default() {
        out.push(Block::ToolUse { id: call.id.clone(), name: call.function.name.clone(), input: tool_input(&call.function.arguments)? });
    }
    Ok(out)
}

/// Tool inputs must be JSON objects; OpenAI carries them as JSON text.
fn tool_input(arguments: &str) -> Result<Value, ProviderError> {
    if arguments.trim().is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    match serde_json::from_str::<Value>(arguments) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(ProviderError::Unsupported("tool call arguments that are not a JSON object")),
    }
}

fn tool_result(m: &Message) -> Result<Block, ProviderError> {
    let content = match m.content.as_ref() {
        None => None,
        Some(Content::Text(t)) if t.is_empty() => None,
        Some(Content::Text(t)) => Some(ToolResultContent::Text(t.clone())),
        Some(Content::Parts(parts)) => {
            let mut blocks = Vec::with_capacity(parts.len());
            for part in parts {
                if let Some(b) = part_block(part)? {
                    blocks.push(b);
                }
            }
            (!blocks.is_empty()).then_some(ToolResultContent::Blocks(blocks))
        }
    };
    Ok(Block::ToolResult { tool_use_id: m.tool_call_id.clone().unwrap_or_default(), content })
}

fn convert_tools(tools: &[Tool]) -> Result<Vec<WireTool>, ProviderError> {
    tools
        .iter()
        .map(|t| {
            if t.kind != "function" {
                return Err(ProviderError::Unsupported("tools other than functions"));
            }
            Ok(WireTool {
                name: t.function.name.clone(),
                description: t.function.description.clone().filter(|d| !d.is_empty()),
                input_schema: object_schema(t.function.parameters.clone()),
            })
        })
        .collect()
}

/// Anthropic requires `input_schema.type == "object"`; OpenAI lets parameters be absent or `{}`.
fn object_schema(parameters: Option<Value>) -> Value {
    match parameters {
        Some(Value::Object(mut map)) => {
            map.entry("type").or_insert_with(|| json!("object"));
            Value::Object(map)
        }
        _ => json!({"type": "object", "properties": {}}),
    }
}

fn convert_tool_choice(choice: &Value, disable_parallel: Option<bool>) -> Result<WireToolChoice, ProviderError> {
    let d = disable_parallel;
    match choice {
        Value::String(s) => match s.as_str() {
            "auto" => Ok(WireToolChoice::Auto { disable_parallel_tool_use: d }),
            "required" => Ok(WireToolChoice::Any { disable_parallel_tool_use: d }),
            "none" => Ok(WireToolChoice::None),
            _ => Err(ProviderError::Unsupported("this tool_choice value")),
        },
        Value::Object(obj) => {
            let name = obj.get("function").and_then(|f| f.get("name")).and_then(Value::as_str);
            match name {
                Some(name) => Ok(WireToolChoice::Tool { name: name.to_owned(), disable_parallel_tool_use: d }),
                None => Err(ProviderError::Unsupported("this tool_choice value")),
            }
        }
        _ => Err(ProviderError::Unsupported("this tool_choice value")),
    }
}

/// The synthetic tool for JSON output, when the request asks for JSON.
fn json_tool(format: Option<&ResponseFormat>) -> Option<(WireTool, JsonMode)> {
    let (schema, description) = match format? {
        ResponseFormat::Text => return None,
        ResponseFormat::JsonObject => (json!({"type": "object"}), None),
        ResponseFormat::JsonSchema { json_schema } => (
            json_schema.get("schema").cloned().unwrap_or_else(|| json!({"type": "object"})),
            json_schema.get("description").and_then(Value::as_str).map(str::to_owned),
        ),
    };
    let root_is_object = match schema.get("type") {
        Some(t) => t == "object",
        None => schema.get("properties").is_some(),
    };
    let (input_schema, wrapped) = if root_is_object {
        (object_schema(Some(schema)), false)
    } else {
        (json!({"type": "object", "properties": {WRAP_KEY: schema}, "required": [WRAP_KEY]}), true)
    };
    let description = description.unwrap_or_else(|| "Respond with the answer as JSON matching this tool's input schema.".to_owned());
    Some((WireTool { name: JSON_TOOL.to_owned(), description: Some(description), input_schema }, JsonMode { wrapped }))
}

// ---------------------------------------------------------------------------------------------
// Replies

/// OpenAI's `finish_reason` for Anthropic's `stop_reason`. `tool_use` is `tool_calls` only when
/// a real tool call came back (a JSON-output call is the answer itself).
pub fn finish_reason(stop_reason: Option<&str>, made_tool_calls: bool) -> &'static str {
    match stop_reason {
        Some("max_tokens" | "model_context_window_exceeded") => "length",
        Some("tool_use") if made_tool_calls => "tool_calls",
        Some("refusal") => "content_filter",
        // end_turn, stop_sequence, pause_turn, a JSON-output call, or anything newer.
        _ if made_tool_calls => "tool_calls",
        _ => "stop",
    }
}

/// Canonical usage: prompt tokens include cache reads and writes (Anthropic reports them apart
/// from `input_tokens`); cache reads are also the cached tokens.
pub fn usage(u: &WireUsage) -> Usage {
    let cache_read = u.cache_read_input_tokens.unwrap_or(0);
    let prompt = u.input_tokens.unwrap_or(0).saturating_add(cache_read).saturating_add(u.cache_creation_input_tokens.unwrap_or(0));
    let completion = u.output_tokens.unwrap_or(0);
    Usage {
        prompt_tokens: prompt,
        completion_tokens: completion,
        total_tokens: prompt.saturating_add(completion),
        prompt_tokens_details: Some(PromptTokensDetails { cached_tokens: Some(cache_read), extra: Map::new() }),
        extra: Map::new(),
    }
}

/// The canonical completion for a Messages API reply. `created` is the Unix time to report
/// (Anthropic replies carry none).
pub fn to_chat_completion(resp: MessagesResponse, plan: &ReplyPlan, created: i64) -> ChatCompletion {
    let mut text = String::new();
    let mut has_text = false;
    let mut calls = Vec::new();
    for block in &resp.content {
        match block {
            ReplyBlock::Text { text: t } => {
                text.push_str(t);
                has_text = true;
            }
            ReplyBlock::ToolUse { name, input, .. } if plan.is_json_tool(name) => {
                text.push_str(&plan.json_text(input));
                has_text = true;
            }
            ReplyBlock::ToolUse { id, name, input } => calls.push(ToolCall {
                id: id.clone(),
                kind: "function".to_owned(),
                function: FunctionCall { name: name.clone(), arguments: input.to_string() },
            }),
            ReplyBlock::Other => {}
        }
    }
    let made_calls = !calls.is_empty();
    let content = if has_text || !made_calls { Some(text) } else { None };
    ChatCompletion {
        id: resp.id,
        object: "chat.completion".to_owned(),
        created,
        model: resp.model,
        choices: vec![Choice {
            index: 0,
            message: ResponseMessage { role: Role::Assistant, content, tool_calls: made_calls.then_some(calls), extra: Map::new() },
            finish_reason: Some(finish_reason(resp.stop_reason.as_deref(), made_calls).to_owned()),
            extra: Map::new(),
        }],
        usage: resp.usage.as_ref().map(usage),
        extra: Map::new(),
    }
}
