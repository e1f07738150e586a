//! An Anthropic Messages request from a client → the canonical [`ChatRequest`].
//!
//! - `system` (a string or text blocks) becomes one leading system message;
//! - a user turn's `tool_result` blocks become `tool` messages (first, as OpenAI-protocol
//!   upstreams want them right after the assistant's calls), its other blocks one user message:
//!   text → text parts, images (base64 → `data:` URLs, `url` sources → URLs) → `image_url`
//!   parts, base64 PDF documents → `file` parts; a turn of one text block stays a string;
//! - an assistant turn's text blocks become its content, `tool_use` blocks its `tool_calls`
//!   (the input object as JSON text); `thinking` and other blocks only Anthropic reads are
//!   dropped;
//! - `tools[].input_schema` → `parameters`; `tool_choice` `auto|any|tool|none` →
//!   `auto|required|{function}|none`, `disable_parallel_tool_use` → `parallel_tool_calls: false`;
//! - `max_tokens` → `max_tokens`, `stop_sequences` → `stop`, `metadata.user_id` → `user`,
//!   `temperature`/`top_p` as they are, `top_k` kept in `extra` (the OpenAI protocol has no
//!   such field: [`drop_unmapped`] removes it there); a stream asks the upstream for usage.

use serde_json::{json, Map, Value};

use super::wire::{Block, MessageContent, MessagesRequest, Source, System, ToolResultContent, WireMessage, WireRole, WireTool, WireToolChoice};
use crate::chat::{ChatRequest, Content, ContentPart, FunctionCall, FunctionDef, ImageUrl, Message, Role, Stop, StreamOptions, Tool, ToolCall};
use crate::provider::Protocol;
use crate::validate::InvalidRequest;

fn invalid(param: &'static str, message: impl Into<String>) -> InvalidRequest {
    InvalidRequest { param, message: message.into() }
}

/// The canonical request for a client's Messages request.
pub fn to_chat_request(req: MessagesRequest) -> Result<ChatRequest, InvalidRequest> {
    if req.model.trim().is_empty() {
        return Err(invalid("model", "'model' is required: name the model, e.g. anthropic/claude-sonnet-4-5 or openai/gpt-4o-mini"));
    }
    if req.max_tokens == 0 {
        return Err(invalid("max_tokens", "'max_tokens' must be at least 1"));
    }
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = req.system {
        let text = match system {
            System::Text(t) => t,
            System::Blocks(blocks) => blocks.iter().filter_map(block_text).collect::<Vec<_>>().join("\n\n"),
        };
        if !text.is_empty() {
            messages.push(plain(Role::System, Content::Text(text)));
        }
    }
    for m in req.messages {
        turn(m, &mut messages)?;
    }
    let tools: Option<Vec<Tool>> = (!req.tools.is_empty()).then(|| req.tools.into_iter().map(tool).collect());
    let mut extra = Map::new();
    let tool_choice = match (req.tool_choice, &tools) {
        (Some(choice), Some(_)) => {
            let (value, disable_parallel) = tool_choice(choice);
            if disable_parallel == Some(true) {
                extra.insert("parallel_tool_calls".to_owned(), Value::Bool(false));
            }
            Some(value)
        }
        // `none` without tools says nothing; other choices without tools name nothing to call.
        _ => None,
    };
    if let Some(k) = req.top_k {
        extra.insert("top_k".to_owned(), Value::from(k));
    }
    let stream = req.stream;
    Ok(ChatRequest {
        model: req.model,
        messages,
        stream: stream.then_some(true),
        stream_options: stream.then(|| StreamOptions { include_usage: Some(true), extra: Map::new() }),
        max_tokens: Some(req.max_tokens),
        max_completion_tokens: None,
        n: None,
        temperature: req.temperature,
        top_p: req.top_p,
        stop: (!req.stop_sequences.is_empty()).then_some(Stop::Many(req.stop_sequences)),
        seed: None,
        user: req.metadata.map(|m| m.user_id).filter(|u| !u.is_empty()),
        tools,
        tool_choice,
        response_format: None,
        extra,
    })
}

/// Removes what this client format added that the target protocol has no field for: `top_k`
/// for the OpenAI protocol (which passes unknown fields on and would be refused for it).
pub fn drop_unmapped(req: &mut ChatRequest, protocol: Protocol) {
    if protocol == Protocol::OpenAiChat {
        req.extra.remove("top_k");
    }
}

fn plain(role: Role, content: Content) -> Message {
    Message { role, content: Some(content), name: None, tool_calls: None, tool_call_id: None, extra: Map::new() }
}

fn block_text(b: &Block) -> Option<&str> {
    match b {
        Block::Text { text } => Some(text.as_str()),
        _ => None,
    }
}

fn turn(m: WireMessage, out: &mut Vec<Message>) -> Result<(), InvalidRequest> {
    let blocks = match m.content {
        MessageContent::Text(text) => {
            let role = if m.role == WireRole::User { Role::User } else { Role::Assistant };
            out.push(plain(role, Content::Text(text)));
            return Ok(());
        }
        MessageContent::Blocks(blocks) => blocks,
    };
    match m.role {
        WireRole::User => user_turn(blocks, out),
        WireRole::Assistant => {
            out.push(assistant_turn(blocks));
            Ok(())
        }
    }
}

fn user_turn(blocks: Vec<Block>, out: &mut Vec<Message>) -> Result<(), InvalidRequest> {
    let mut parts = Vec::new();
    for b in blocks {
        match b {
            Block::ToolResult { tool_use_id, content } => {
                if tool_use_id.is_empty() {
                    return Err(invalid("messages", "a 'tool_result' block needs 'tool_use_id', the id of the call it answers"));
                }
                let content = match content {
                    None => Content::Text(String::new()),
                    Some(ToolResultContent::Text(t)) => Content::Text(t),
                    Some(ToolResultContent::Blocks(blocks)) => simplify(blocks.into_iter().map(part).collect::<Result<Vec<_>, _>>()?.into_iter().flatten().collect()),
                };
                out.push(Message { role: Role::Tool, content: Some(content), name: None, tool_calls: None, tool_call_id: Some(tool_use_id), extra: Map::new() });
            }
            other => parts.extend(part(other)?),
        }
    }
    if !parts.is_empty() {
        out.push(plain(Role::User, simplify(parts)));
    }
    Ok(())
}

/// One text part is written as a string, as most clients do.
fn simplify(mut parts: Vec<ContentPart>) -> Content {
    if let [ContentPart::Text { .. }] = parts.as_slice() {
        if let Some(ContentPart::Text { text }) = parts.pop() {
            return Content::Text(text);
        }
    }
    Content::Parts(parts)
}

/// A user-side block as a content part; `None` for blocks no other provider reads.
fn part(b: Block) -> Result<Option<ContentPart>, InvalidRequest> {
    Ok(match b {
        Block::Text { text } => Some(ContentPart::Text { text }),
        Block::Image { source } => Some(ContentPart::ImageUrl { image_url: ImageUrl { url: source_url(source), detail: None } }),
        Block::Document { source: Source::Base64 { media_type, data } } => {
            let mut file = Map::new();
            file.insert("file_data".to_owned(), Value::String(format!("data:{media_type};base64,{data}")));
            Some(ContentPart::File { file: Value::Object(file) })
        }
        Block::Document { source: Source::Url { .. } } => {
            return Err(invalid("messages", "documents by URL are not supported through this hub; send the PDF as base64"))
        }
        Block::ToolUse { .. } => return Err(invalid("messages", "'tool_use' blocks belong in assistant turns")),
        Block::ToolResult { .. } | Block::Other => None,
    })
}

fn source_url(source: Source) -> String {
    match source {
        Source::Base64 { media_type, data } => format!("data:{media_type};base64,{data}"),
        Source::Url { url } => url,
    }
}

fn assistant_turn(blocks: Vec<Block>) -> Message {
    let mut text = String::new();
    let mut calls = Vec::new();
    for b in blocks {
        match b {
            Block::Text { text: t } => text.push_str(&t),
            Block::ToolUse { id, name, input } => {
                let arguments = if input.is_null() { "{}".to_owned() } else { input.to_string() };
                calls.push(ToolCall { id, kind: "function".to_owned(), function: FunctionCall { name, arguments } });
            }
            _ => {}
        }
    }
    let content = (!text.is_empty() || calls.is_empty()).then_some(Content::Text(text));
    Message { role: Role::Assistant, content, name: None, tool_calls: (!calls.is_empty()).then_some(calls), tool_call_id: None, extra: Map::new() }
}

fn tool(t: WireTool) -> Tool {
    let parameters = if t.input_schema.is_null() { None } else { Some(t.input_schema) };
    Tool { kind: "function".to_owned(), function: FunctionDef { name: t.name, description: t.description, parameters, strict: None } }
}

/// The canonical `tool_choice`, and whether parallel calls were switched off.
fn tool_choice(choice: WireToolChoice) -> (Value, Option<bool>) {
    match choice {
        WireToolChoice::Auto { disable_parallel_tool_use: d } => (json!("auto"), d),
        WireToolChoice::Any { disable_parallel_tool_use: d } => (json!("required"), d),
        WireToolChoice::Tool { name, disable_parallel_tool_use: d } => (json!({"type": "function", "function": {"name": name}}), d),
        WireToolChoice::None => (json!("none"), None),
    }
}
