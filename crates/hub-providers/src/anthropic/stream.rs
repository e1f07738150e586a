//! The stateful translation of a Messages API event stream into canonical chunks, one SSE event
//! at a time. Pure: the adapter feeds it decoded events and forwards what comes out.
//!
//! Anthropic numbers content blocks (text and tool calls share one index space); OpenAI numbers
//! tool calls only. The translator keeps the map between the two, so the n-th `tool_use` block
//! becomes tool call n whatever text blocks precede it. Output follows OpenAI's order: a role
//! chunk at `message_start`, content and tool-call deltas, a `finish_reason` chunk at
//! `message_delta`, and a usage chunk (`choices: []`) at `message_stop`.

use std::collections::HashMap;

use hub_core::chat::{ChatChunk, ChunkChoice, Delta, FunctionCallDelta, Role, ToolCallDelta};
use serde_json::{Map, Value};

use super::errors::stream_failure;
use super::translate::{finish_reason, usage, ReplyPlan};
use super::wire::{BlockDelta, ReplyBlock, StreamEvent, WireUsage};
use crate::error::ProviderError;
use crate::sse::SseEvent;

/// Largest JSON-output tool input buffered to unwrap it; beyond it the reply is refused.
const MAX_BUFFERED_JSON: usize = 8 * 1024 * 1024;

#[derive(Debug)]
enum BlockState {
    Text,
    /// A real tool call, as OpenAI tool call `index`.
    Tool {
        index: u32,
    },
    /// The JSON-output tool: its input streams out as content, or is buffered when it must be
    /// unwrapped first.
    Json {
        buffer: Option<String>,
    },
    /// Thinking, server tools, anything the canonical stream cannot carry.
    Ignored,
}

/// What one delta adds to the canonical stream.
enum Piece {
    Content(String),
    Arguments(u32, String),
}

#[derive(Debug)]
pub struct StreamTranslator {
    plan: ReplyPlan,
    credential: Option<String>,
    created: i64,
    id: String,
    model: String,
    started: bool,
    blocks: HashMap<u64, BlockState>,
    tool_calls: u32,
    usage: WireUsage,
    usage_seen: bool,
    stop_reason: Option<String>,
    finish_sent: bool,
    done: bool,
}

impl StreamTranslator {
    /// `credential` is scrubbed from any error text the stream carries.
    pub fn new(plan: ReplyPlan, created: i64, credential: Option<String>) -> StreamTranslator {
        StreamTranslator {
            plan,
            credential,
            created,
            id: String::new(),
            model: String::new(),
            started: false,
            blocks: HashMap::new(),
            tool_calls: 0,
            usage: WireUsage::default(),
            usage_seen: false,
            stop_reason: None,
            finish_sent: false,
            done: false,
        }
    }

    /// Whether `message_stop` arrived: the stream is complete.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Translates one SSE event into zero or more chunks, or the error it carries.
    pub fn feed(&mut self, event: &SseEvent) -> Result<Vec<ChatChunk>, ProviderError> {
        let data = event.data.trim();
        if data.is_empty() || self.done {
            return Ok(Vec::new());
        }
        let parsed: StreamEvent = serde_json::from_str(data).map_err(|e| ProviderError::Protocol(format!("stream event: {e}")))?;
        let mut out = Vec::new();
        match parsed {
            StreamEvent::MessageStart { message } => {
                self.id = message.id;
                self.model = message.model;
                if let Some(u) = message.usage {
                    self.usage.update(&u);
                    self.usage_seen = true;
                }
                self.start(&mut out);
            }
            StreamEvent::ContentBlockStart { index, content_block } => {
                self.start(&mut out);
                self.block_start(index, content_block, &mut out);
            }
            StreamEvent::ContentBlockDelta { index, delta } => {
                self.start(&mut out);
                self.block_delta(index, delta, &mut out)?;
            }
            StreamEvent::ContentBlockStop { index } => self.block_stop(index, &mut out),
            StreamEvent::MessageDelta { delta, usage } => {
                if let Some(u) = usage {
                    self.usage.update(&u);
                    self.usage_seen = true;
                }
                if delta.stop_reason.is_some() {
                    self.stop_reason = delta.stop_reason;
                    self.start(&mut out);
                    self.finish(&mut out);
                }
            }
            StreamEvent::MessageStop => {
                self.start(&mut out);
                self.finish(&mut out);
                if self.usage_seen {
                    let mut chunk = self.chunk(Vec::new());
                    chunk.usage = Some(usage(&self.usage));
                    out.push(chunk);
                }
                self.done = true;
            }
            StreamEvent::Error { error } => return Err(stream_failure(&error, self.credential.as_deref())),
            StreamEvent::Ping | StreamEvent::Other => {}
        }
        Ok(out)
    }

    /// The first chunk of every OpenAI stream names the role.
    fn start(&mut self, out: &mut Vec<ChatChunk>) {
        if !self.started {
            self.started = true;
            out.push(self.delta(Delta { role: Some(Role::Assistant), content: Some(String::new()), ..Delta::default() }));
        }
    }

    fn finish(&mut self, out: &mut Vec<ChatChunk>) {
        if self.finish_sent {
            return;
        }
        self.finish_sent = true;
        let reason = finish_reason(self.stop_reason.as_deref(), self.tool_calls > 0);
        let mut chunk = self.delta(Delta::default());
        if let Some(c) = chunk.choices.first_mut() {
            c.finish_reason = Some(reason.to_owned());
        }
        out.push(chunk);
    }

    fn block_start(&mut self, index: u64, block: ReplyBlock, out: &mut Vec<ChatChunk>) {
        let state = match block {
            ReplyBlock::Text { text } => {
                if !text.is_empty() {
                    out.push(self.content(text));
                }
                BlockState::Text
            }
            ReplyBlock::ToolUse { name, .. } if self.plan.is_json_tool(&name) => {
                let wrapped = self.plan.json.is_some_and(|j| j.wrapped);
                BlockState::Json { buffer: wrapped.then(String::new) }
            }
            ReplyBlock::ToolUse { id, name, .. } => {
                let call = self.tool_calls;
                self.tool_calls += 1;
                out.push(self.delta(Delta {
                    tool_calls: Some(vec![ToolCallDelta {
                        index: call,
                        id: Some(id),
                        kind: Some("function".to_owned()),
                        function: Some(FunctionCallDelta { name: Some(name), arguments: Some(String::new()) }),
                    }]),
                    ..Delta::default()
                }));
                BlockState::Tool { index: call }
            }
            ReplyBlock::Other => BlockState::Ignored,
        };
        self.blocks.insert(index, state);
    }

    fn block_delta(&mut self, index: u64, delta: BlockDelta, out: &mut Vec<ChatChunk>) -> Result<(), ProviderError> {
        let Some(state) = self.blocks.get_mut(&index) else {
            return Err(ProviderError::Protocol(format!("stream delta for content block {index}, which never started")));
        };
        let piece = match (state, delta) {
            (BlockState::Text, BlockDelta::TextDelta { text }) => Piece::Content(text),
            (BlockState::Tool { index }, BlockDelta::InputJsonDelta { partial_json }) => Piece::Arguments(*index, partial_json),
            (BlockState::Json { buffer: Some(buffer) }, BlockDelta::InputJsonDelta { partial_json }) => {
                if buffer.len() + partial_json.len() > MAX_BUFFERED_JSON {
                    return Err(ProviderError::Protocol("JSON output larger than the hub buffers".to_owned()));
                }
                buffer.push_str(&partial_json);
                return Ok(());
            }
            (BlockState::Json { buffer: None }, BlockDelta::InputJsonDelta { partial_json }) => Piece::Content(partial_json),
            _ => return Ok(()),
        };
        match piece {
            Piece::Content(text) if !text.is_empty() => out.push(self.content(text)),
            Piece::Arguments(call, json) if !json.is_empty() => out.push(self.delta(Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index: call,
                    id: None,
                    kind: None,
                    function: Some(FunctionCallDelta { name: None, arguments: Some(json) }),
                }]),
                ..Delta::default()
            })),
            _ => {}
        }
        Ok(())
    }

    fn block_stop(&mut self, index: u64, out: &mut Vec<ChatChunk>) {
        if let Some(BlockState::Json { buffer: Some(buffer) }) = self.blocks.get_mut(&index) {
            let raw = std::mem::take(buffer);
            let input: Value = serde_json::from_str(&raw).unwrap_or(Value::Object(Map::new()));
            let text = self.plan.json_text(&input);
            out.push(self.content(text));
        }
    }

    fn content(&self, text: String) -> ChatChunk {
        self.delta(Delta { content: Some(text), ..Delta::default() })
    }

    fn delta(&self, delta: Delta) -> ChatChunk {
        self.chunk(vec![ChunkChoice { index: 0, delta, finish_reason: None, extra: Map::new() }])
    }

    fn chunk(&self, choices: Vec<ChunkChoice>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage: None,
            extra: Map::new(),
        }
    }
}
