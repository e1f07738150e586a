//! Canonical replies → the Anthropic message a client of `POST /v1/messages` reads, and canonical
//! stream chunks → Anthropic SSE events.
//!
//! - Content: the text (one `text` block, when there is any), then one `tool_use` block per tool
//!   call, its JSON-text arguments parsed into the `input` object;
//! - `stop_reason`: `length` → `max_tokens`, `tool_calls` → `tool_use`, `content_filter` →
//!   `refusal`, anything else → `end_turn` (canonical finish reasons do not tell a stop sequence
//!   from a natural end, so `stop_sequence` is never reported);
//! - usage: `input_tokens` excludes cache reads (reported apart as `cache_read_input_tokens`),
//!   as Anthropic counts them.

use serde_json::{Map, Value};

use super::wire::{BlockDelta, MessageDeltaBody, MessagesResponse, ReplyBlock, StreamEvent, WireRole, WireUsage};
use crate::aigne::chat::{arguments_object, BadArguments};
use crate::chat::{ChatChunk, ChatCompletion, Usage};

/// Anthropic's `stop_reason` for a canonical `finish_reason`.
pub fn stop_reason(finish_reason: Option<&str>) -> &'static str {
    match finish_reason {
        Some("length") => "max_tokens",
        Some("tool_calls" | "function_call") => "tool_use",
        Some("content_filter") => "refusal",
        _ => "end_turn",
    }
}

/// Anthropic's usage for canonical usage.
pub fn usage(u: &Usage) -> WireUsage {
    let cached = u.cached_tokens();
    WireUsage {
        input_tokens: Some(u.prompt_tokens.saturating_sub(cached)),
        output_tokens: Some(u.completion_tokens),
        cache_read_input_tokens: (cached > 0).then_some(cached),
        cache_creation_input_tokens: None,
    }
}

/// A message id for the client: the upstream's when it already is one, else `msg_` + it.
fn message_id(id: &str) -> String {
    if id.starts_with("msg_") {
        id.to_owned()
    } else {
        format!("msg_{}", id.trim_start_matches("chatcmpl-"))
    }
}

/// The tool-use block id: the upstream's call id (OpenAI `call_…`, Anthropic `toolu_…`).
fn tool_use_id(id: &str, index: usize) -> String {
    if id.is_empty() {
        format!("toolu_{index}")
    } else {
        id.to_owned()
    }
}

fn empty_message(id: &str, model: &str) -> MessagesResponse {
    MessagesResponse {
        id: message_id(id),
        kind: "message".to_owned(),
        role: WireRole::Assistant,
        model: model.to_owned(),
        content: Vec::new(),
        stop_reason: None,
        stop_sequence: None,
        usage: None,
    }
}

/// The first choice of a completion as an Anthropic message. `model` names the model when the
/// upstream's reply does not.
pub fn to_message(c: ChatCompletion, model: &str) -> Result<MessagesResponse, BadArguments> {
    let model = if c.model.is_empty() { model } else { c.model.as_str() };
    let mut out = empty_message(&c.id, model);
    out.usage = Some(c.usage.as_ref().map(usage).unwrap_or(WireUsage { input_tokens: Some(0), output_tokens: Some(0), ..WireUsage::default() }));
    let Some(choice) = c.choices.into_iter().next() else {
        out.stop_reason = Some(stop_reason(None).to_owned());
        return Ok(out);
    };
    if let Some(text) = choice.message.content.filter(|t| !t.is_empty()) {
        out.content.push(ReplyBlock::Text { text });
    }
    for (i, call) in choice.message.tool_calls.unwrap_or_default().into_iter().enumerate() {
        let input = arguments_object(&call.function.name, &call.function.arguments)?;
        out.content.push(ReplyBlock::ToolUse { id: tool_use_id(&call.id, i), name: call.function.name, input });
    }
    out.stop_reason = Some(stop_reason(choice.finish_reason.as_deref()).to_owned());
    Ok(out)
}

/// The block a stream has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    /// The upstream's tool-call index.
    Tool(u32),
}

/// Turns canonical chunks into Anthropic stream events: `message_start` and a `ping` first, then
/// one content block at a time (`content_block_start`, deltas, `content_block_stop`): text as
/// `text_delta`, each tool call as a `tool_use` block whose arguments arrive as
/// `input_json_delta`; at the end `message_delta` (stop reason, usage) and `message_stop`.
#[derive(Debug)]
pub struct StreamTranslator {
    model: String,
    started: bool,
    /// Blocks opened so far (the next block's index).
    blocks: u64,
    open: Option<Open>,
    finish_reason: Option<String>,
    usage: Option<Usage>,
}

impl StreamTranslator {
    pub fn new(model: &str) -> StreamTranslator {
        StreamTranslator { model: model.to_owned(), started: false, blocks: 0, open: None, finish_reason: None, usage: None }
    }

    fn start(&mut self, id: &str, model: &str, out: &mut Vec<StreamEvent>) {
        if self.started {
            return;
        }
        self.started = true;
        if !model.is_empty() {
            self.model = model.to_owned();
        }
        let mut message = empty_message(id, &self.model);
        // The input side is known only when the upstream reports usage (at the end for OpenAI).
        message.usage = Some(WireUsage { input_tokens: Some(0), output_tokens: Some(0), ..WireUsage::default() });
        out.push(StreamEvent::MessageStart { message });
        out.push(StreamEvent::Ping);
    }

    fn close(&mut self, out: &mut Vec<StreamEvent>) {
        if self.open.take().is_some() {
            out.push(StreamEvent::ContentBlockStop { index: self.blocks - 1 });
        }
    }

    fn open(&mut self, open: Open, block: ReplyBlock, out: &mut Vec<StreamEvent>) {
        self.close(out);
        out.push(StreamEvent::ContentBlockStart { index: self.blocks, content_block: block });
        self.blocks += 1;
        self.open = Some(open);
    }

    /// The events one chunk makes (none for a chunk with nothing to say).
    pub fn push(&mut self, chunk: &ChatChunk) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        self.start(&chunk.id, &chunk.model, &mut out);
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.clone());
        }
        let Some(choice) = chunk.choices.iter().find(|c| c.index == 0) else { return out };
        if let Some(text) = choice.delta.content.as_deref().filter(|t| !t.is_empty()) {
            if self.open != Some(Open::Text) {
                self.open(Open::Text, ReplyBlock::Text { text: String::new() }, &mut out);
            }
            out.push(StreamEvent::ContentBlockDelta { index: self.blocks - 1, delta: BlockDelta::TextDelta { text: text.to_owned() } });
        }
        for call in choice.delta.tool_calls.iter().flatten() {
            if self.open != Some(Open::Tool(call.index)) {
                let name = call.function.as_ref().and_then(|f| f.name.clone()).unwrap_or_default();
                let id = tool_use_id(call.id.as_deref().unwrap_or_default(), call.index as usize);
                self.open(Open::Tool(call.index), ReplyBlock::ToolUse { id, name, input: Value::Object(Map::new()) }, &mut out);
            }
            if let Some(args) = call.function.as_ref().and_then(|f| f.arguments.as_deref()).filter(|a| !a.is_empty()) {
                out.push(StreamEvent::ContentBlockDelta { index: self.blocks - 1, delta: BlockDelta::InputJsonDelta { partial_json: args.to_owned() } });
            }
        }
        if let Some(reason) = &choice.finish_reason {
            self.finish_reason = Some(reason.clone());
        }
        out
    }

    /// The events that end a stream that ended well.
    pub fn finish(&mut self) -> Vec<StreamEvent> {
        let mut out = Vec::new();
        self.start("", "", &mut out);
        self.close(&mut out);
        let usage = self.usage.as_ref().map(usage).unwrap_or(WireUsage { output_tokens: Some(0), ..WireUsage::default() });
        out.push(StreamEvent::MessageDelta {
            delta: MessageDeltaBody { stop_reason: Some(stop_reason(self.finish_reason.as_deref()).to_owned()), stop_sequence: None },
            usage: Some(usage),
        });
        out.push(StreamEvent::MessageStop);
        out
    }
}

/// `event: <type>` + `data: <json>`, one SSE event as Anthropic frames it.
pub fn sse_event(event: &StreamEvent) -> Vec<u8> {
    let json = serde_json::to_vec(event).unwrap_or_default();
    let name = event.name();
    let mut out = Vec::with_capacity(json.len() + name.len() + 16);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    out.extend_from_slice(&json);
    out.extend_from_slice(b"\n\n");
    out
}
