//! ConverseStream → canonical chunks.
//!
//! [`StreamTranslator`] is pure and stateful: it takes decoded event stream messages one at a
//! time and remembers which content block is text, which is a tool call (and its OpenAI
//! `index`), and which carries structured output. [`decode_stream`] drives it from the raw body.
//!
//! Events and what they become:
//! - `messageStart` → the first chunk, `delta.role = "assistant"`;
//! - `contentBlockStart` with `toolUse` → a tool-call delta with `index`, `id`, `type` and
//!   `function.name` (for the structured-output tool: nothing; its input becomes content);
//! - `contentBlockDelta` `text` → content; `toolUse.input` → `function.arguments`;
//!   `reasoningContent.text` → `delta.reasoning_content`;
//! - `messageStop` → an empty delta with `finish_reason`;
//! - `metadata` → `choices: []` with `usage`;
//! - `:message-type: exception` → an error, classified like the HTTP errors.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use hub_core::chat::{ChatChunk, ChunkChoice, Delta, Extra, FunctionCallDelta, Role, ToolCallDelta};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{ProviderError, TimeoutKind};

use super::errors;
use super::eventstream::{EventStreamDecoder, Message};
use super::translate::{finish_reason, usage};
use super::wire::{ContentBlockDeltaEvent, ContentBlockStartEvent, MessageStopEvent, MetadataEvent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    /// A client-visible tool call and its OpenAI `index`.
    Tool(u32),
    /// The structured-output tool: its input streams as content.
    JsonText,
}

pub struct StreamTranslator {
    id: String,
    created: i64,
    model: String,
    json_tool: Option<String>,
    secrets: Vec<String>,
    started: bool,
    blocks: HashMap<u32, Block>,
    next_tool_index: u32,
    stopped: bool,
}

impl std::fmt::Debug for StreamTranslator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamTranslator").field("id", &self.id).field("stopped", &self.stopped).finish()
    }
}

impl StreamTranslator {
    /// `secrets` are scrubbed from any provider text an exception carries.
    pub fn new(id: String, created: i64, model: String, json_tool: Option<String>, secrets: Vec<String>) -> StreamTranslator {
        StreamTranslator { id, created, model, json_tool, secrets, started: false, blocks: HashMap::new(), next_tool_index: 0, stopped: false }
    }

    /// Whether `messageStop` has arrived: a body that ends after it ended normally.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Translates one message, appending the chunks it yields.
    pub fn message(&mut self, msg: &Message, out: &mut Vec<ChatChunk>) -> Result<(), ProviderError> {
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        match msg.header_str(":message-type") {
            Some("event") => {}
            Some("exception") => {
                let name = msg.header_str(":exception-type").unwrap_or("internalServerException");
                return Err(ProviderError::Upstream(errors::stream_exception(name, &msg.payload, &secrets)));
            }
            Some("error") => {
                let f = errors::stream_error(msg.header_str(":error-code"), msg.header_str(":error-message"), &secrets);
                return Err(ProviderError::Upstream(f));
            }
            _ => return Err(ProviderError::Protocol("an event stream message without a known :message-type".to_owned())),
        }
        match msg.header_str(":event-type").unwrap_or_default() {
            "messageStart" => self.ensure_started(out),
            "contentBlockStart" => {
                let ev: ContentBlockStartEvent = payload(msg)?;
                self.ensure_started(out);
                if let Some(tool) = ev.start.and_then(|s| s.tool_use) {
                    if self.json_tool.as_deref() == Some(tool.name.as_str()) {
                        self.blocks.insert(ev.content_block_index, Block::JsonText);
                    } else {
                        let index = self.next_tool_index;
                        self.next_tool_index += 1;
                        self.blocks.insert(ev.content_block_index, Block::Tool(index));
                        out.push(self.chunk(Delta {
                            tool_calls: Some(vec![ToolCallDelta {
                                index,
                                id: Some(tool.tool_use_id),
                                kind: Some("function".to_owned()),
                                function: Some(FunctionCallDelta { name: Some(tool.name), arguments: Some(String::new()) }),
                            }]),
                            ..Delta::default()
                        }));
                    }
                }
            }
            "contentBlockDelta" => {
                let ev: ContentBlockDeltaEvent = payload(msg)?;
                self.ensure_started(out);
                if let Some(text) = ev.delta.text.filter(|t| !t.is_empty()) {
                    out.push(self.chunk(Delta { content: Some(text), ..Delta::default() }));
                }
                if let Some(input) = ev.delta.tool_use.map(|t| t.input).filter(|i| !i.is_empty()) {
                    match self.blocks.get(&ev.content_block_index) {
                        Some(Block::Tool(index)) => {
                            let delta = ToolCallDelta {
                                index: *index,
                                id: None,
                                kind: None,
                                function: Some(FunctionCallDelta { name: None, arguments: Some(input) }),
                            };
                            out.push(self.chunk(Delta { tool_calls: Some(vec![delta]), ..Delta::default() }));
                        }
                        Some(Block::JsonText) => out.push(self.chunk(Delta { content: Some(input), ..Delta::default() })),
                        None => return Err(ProviderError::Protocol("tool input for a content block that never started".to_owned())),
                    }
                }
                if let Some(text) = ev.delta.reasoning_content.and_then(|r| r.text).filter(|t| !t.is_empty()) {
                    let mut extra = Extra::new();
                    extra.insert("reasoning_content".to_owned(), Value::String(text));
                    out.push(self.chunk(Delta { extra, ..Delta::default() }));
                }
            }
            "messageStop" => {
                let ev: MessageStopEvent = payload(msg)?;
                self.ensure_started(out);
                self.stopped = true;
                let finish = finish_reason(ev.stop_reason.as_deref(), self.next_tool_index > 0);
                let mut c = self.chunk(Delta::default());
                if let Some(choice) = c.choices.first_mut() {
                    choice.finish_reason = Some(finish.to_owned());
                }
                out.push(c);
            }
            "metadata" => {
                let ev: MetadataEvent = payload(msg)?;
                if let Some(u) = ev.usage {
                    let mut c = self.chunk(Delta::default());
                    c.choices.clear();
                    c.usage = Some(usage(&u));
                    out.push(c);
                }
            }
            // `contentBlockStop` carries nothing a chunk needs; unknown events are newer API
            // members this hub can skip.
            _ => {}
        }
        Ok(())
    }

    fn ensure_started(&mut self, out: &mut Vec<ChatChunk>) {
        if !self.started {
            self.started = true;
            out.push(self.chunk(Delta { role: Some(Role::Assistant), content: Some(String::new()), ..Delta::default() }));
        }
    }

    fn chunk(&self, delta: Delta) -> ChatChunk {
        ChatChunk {
            id: self.id.clone(),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            choices: vec![ChunkChoice { index: 0, delta, finish_reason: None, extra: Extra::new() }],
            usage: None,
            extra: Extra::new(),
        }
    }
}

fn payload<T: DeserializeOwned>(msg: &Message) -> Result<T, ProviderError> {
    let event = msg.header_str(":event-type").unwrap_or("event");
    serde_json::from_slice(&msg.payload).map_err(|e| ProviderError::Protocol(format!("{event}: {e}")))
}

struct State<S> {
    bytes: S,
    decoder: EventStreamDecoder,
    translator: StreamTranslator,
    pending: VecDeque<ChatChunk>,
    /// Reported once the chunks translated before it have been handed out.
    error: Option<ProviderError>,
    idle: Duration,
    finished: bool,
}

/// Decodes a ConverseStream body into canonical chunks. Ends when the body ends after
/// `messageStop`; a body that ends before it is [`ProviderError::StreamCut`]; silence longer
/// than `idle` is a timeout; an exception message is its error. Chunks translated before a
/// failure are still handed out first, as the upstream sent them.
pub fn decode_stream<S, E>(bytes: S, idle: Duration, translator: StreamTranslator) -> impl Stream<Item = Result<ChatChunk, ProviderError>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: Send,
{
    let state =
        State { bytes, decoder: EventStreamDecoder::default(), translator, pending: VecDeque::new(), error: None, idle, finished: false };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(chunk) = st.pending.pop_front() {
                return Some((Ok(chunk), st));
            }
            if let Some(e) = st.error.take() {
                st.finished = true;
                return Some((Err(e), st));
            }
            if st.finished {
                return None;
            }
            let next = match tokio::time::timeout(st.idle, st.bytes.next()).await {
                Err(_) => {
                    st.error = Some(ProviderError::Timeout(TimeoutKind::Idle));
                    continue;
                }
                Ok(n) => n,
            };
            match next {
                Some(Ok(b)) => {
                    let mut messages = Vec::new();
                    let fed = st.decoder.feed(&b, &mut messages);
                    let mut chunks = Vec::new();
                    for m in &messages {
                        if let Err(e) = st.translator.message(m, &mut chunks) {
                            st.error = Some(e);
                            break;
                        }
                    }
                    st.pending.extend(chunks);
                    if let (None, Err(e)) = (&st.error, fed) {
                        st.error = Some(ProviderError::Protocol(e.to_string()));
                    }
                }
                Some(Err(_)) => st.error = Some(ProviderError::StreamCut),
                None => {
                    if st.translator.is_stopped() && st.decoder.is_empty() {
                        st.finished = true;
                    } else {
                        st.error = Some(ProviderError::StreamCut);
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;
    use crate::bedrock::eventstream::{encode, encode_event};
    use crate::error::FailureKind;
    use proptest::prelude::*;

    fn fixture_frames(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/bedrock/{name}", env!("CARGO_MANIFEST_DIR"));
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut out = Vec::new();
        for ev in v["events"].as_array().unwrap() {
            let payload = serde_json::to_vec(&ev["payload"]).unwrap();
            out.extend(encode_event(ev["type"].as_str().unwrap(), &payload));
        }
        out
    }

    fn translator(json_tool: Option<&str>) -> StreamTranslator {
        StreamTranslator::new("chatcmpl-1".into(), 1, "m".into(), json_tool.map(str::to_owned), vec!["wJalrXUtnFEMI/K7MDENG".into()])
    }

    fn run_with(body: Vec<u8>, piece: usize, json_tool: Option<&str>) -> Vec<Result<ChatChunk, ProviderError>> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async move {
            let pieces: Vec<Result<Bytes, std::io::Error>> = body.chunks(piece.max(1)).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            decode_stream(futures::stream::iter(pieces), Duration::from_secs(5), translator(json_tool)).collect::<Vec<_>>().await
        })
    }

    fn run(body: Vec<u8>) -> Vec<Result<ChatChunk, ProviderError>> {
        run_with(body, 7, None)
    }

    fn content(chunks: &[Result<ChatChunk, ProviderError>]) -> String {
        chunks.iter().filter_map(|c| c.as_ref().ok()).filter_map(|c| c.choices.first()).filter_map(|c| c.delta.content.clone()).collect()
    }

    #[test]
    fn a_text_stream_becomes_openai_chunks_in_order() {
        let out = run(fixture_frames("converse_stream_text.json"));
        assert!(out.iter().all(Result::is_ok), "{out:?}");
        let chunks: Vec<ChatChunk> = out.into_iter().map(Result::unwrap).collect();
        assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
        assert_eq!(content(&chunks.iter().cloned().map(Ok).collect::<Vec<_>>()), "Hello! How can I help?");
        let finish = &chunks[chunks.len() - 2];
        assert_eq!(finish.choices[0].finish_reason.as_deref(), Some("stop"));
        let last = chunks.last().unwrap();
        assert!(last.choices.is_empty());
        let u = last.usage.clone().unwrap();
        assert_eq!((u.prompt_tokens, u.completion_tokens, u.total_tokens), (10, 9, 19));
    }

    #[test]
    fn a_tool_stream_becomes_tool_call_deltas() {
        let chunks: Vec<ChatChunk> = run(fixture_frames("converse_stream_tool_use.json")).into_iter().map(Result::unwrap).collect();
        let calls: Vec<&ToolCallDelta> = chunks.iter().filter_map(|c| c.choices.first()).filter_map(|c| c.delta.tool_calls.as_ref()).flatten().collect();
        assert_eq!(calls[0].index, 0);
        assert_eq!(calls[0].id.as_deref(), Some("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"));
        assert_eq!(calls[0].kind.as_deref(), Some("function"));
        assert_eq!(calls[0].function.as_ref().and_then(|f| f.name.as_deref()), Some("top_song"));
        let args: String = calls.iter().filter_map(|c| c.function.as_ref()?.arguments.clone()).collect();
        assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), serde_json::json!({"sign":"WZPZ"}));
        assert!(calls[1..].iter().all(|c| c.id.is_none() && c.index == 0));
        let finish = chunks.iter().find_map(|c| c.choices.first()?.finish_reason.clone());
        assert_eq!(finish.as_deref(), Some("tool_calls"));
        let u = chunks.last().unwrap().usage.clone().unwrap();
        assert_eq!((u.prompt_tokens, u.cached_tokens()), (385, 10));
    }

    #[test]
    fn the_structured_output_tool_streams_as_content() {
        let out = run_with(fixture_frames("converse_stream_tool_use.json"), 64, Some("top_song"));
        let chunks: Vec<ChatChunk> = out.iter().cloned().map(Result::unwrap).collect();
        assert!(chunks.iter().all(|c| c.choices.first().is_none_or(|ch| ch.delta.tool_calls.is_none())));
        assert_eq!(content(&out), "Let me check.{\"sign\": \"WZPZ\"}");
        let finish = chunks.iter().find_map(|c| c.choices.first()?.finish_reason.clone());
        assert_eq!(finish.as_deref(), Some("stop"));
    }

    #[test]
    fn the_chunking_of_the_body_does_not_matter() {
        let whole = run_with(fixture_frames("converse_stream_tool_use.json"), usize::MAX, None);
        for piece in [1, 3, 12, 100] {
            let split = run_with(fixture_frames("converse_stream_tool_use.json"), piece, None);
            assert_eq!(format!("{whole:?}"), format!("{split:?}"));
        }
    }

    #[test]
    fn a_body_that_ends_before_message_stop_is_cut() {
        let mut body = encode_event("messageStart", br#"{"role":"assistant"}"#);
        body.extend(encode_event("contentBlockDelta", br#"{"contentBlockIndex":0,"delta":{"text":"Hel"}}"#));
        let out = run(body);
        assert_eq!(content(&out), "Hel");
        assert!(matches!(out.last(), Some(Err(ProviderError::StreamCut))));
    }

    #[test]
    fn a_body_that_ends_inside_a_frame_is_cut() {
        let mut body = fixture_frames("converse_stream_text.json");
        body.truncate(body.len() - 3);
        assert!(matches!(run(body).last(), Some(Err(ProviderError::StreamCut))));
    }

    #[test]
    fn exceptions_end_the_stream_with_their_class() {
        let mut body = encode_event("messageStart", br#"{"role":"assistant"}"#);
        body.extend(encode(
            &[(":exception-type", "throttlingException"), (":content-type", "application/json"), (":message-type", "exception")],
            br#"{"message":"Too many requests, please wait before trying again. wJalrXUtnFEMI/K7MDENG"}"#,
        ));
        let out = run(body);
        assert!(out[0].is_ok());
        match out.last() {
            Some(Err(ProviderError::Upstream(f))) => {
                assert_eq!(f.kind, FailureKind::RateLimited);
                assert!(!f.message.contains("wJalrXUtnFEMI"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_is_a_protocol_error() {
        let out = run(b"this is not an event stream at all".to_vec());
        assert!(matches!(out.last(), Some(Err(ProviderError::Protocol(_)))));
    }

    proptest! {
        /// Arbitrary event types and payloads never panic the translator.
        #[test]
        fn arbitrary_events_never_panic(
            events in proptest::collection::vec((0usize..8, proptest::collection::vec(any::<u8>(), 0..64), 0u32..3), 0..24)
        ) {
            const TYPES: [&str; 8] = ["messageStart", "contentBlockStart", "contentBlockDelta", "contentBlockStop", "messageStop", "metadata", "other", ""];
            let mut t = translator(Some("j"));
            let mut out = Vec::new();
            for (kind, bytes, shape) in events {
                let payload = match shape {
                    0 => bytes,
                    1 => format!(r#"{{"contentBlockIndex":{},"delta":{{"toolUse":{{"input":"x"}}}},"start":{{"toolUse":{{"toolUseId":"a","name":"j"}}}}}}"#, bytes.len() % 3).into_bytes(),
                    _ => format!(r#"{{"contentBlockIndex":{},"delta":{{"text":"y"}},"stopReason":"tool_use","usage":{{"inputTokens":1}}}}"#, bytes.len() % 3).into_bytes(),
                };
                let msg = Message {
                    headers: vec![
                        (":event-type".into(), crate::bedrock::eventstream::HeaderValue::String(TYPES[kind].into())),
                        (":message-type".into(), crate::bedrock::eventstream::HeaderValue::String("event".into())),
                    ],
                    payload,
                };
                let _ = t.message(&msg, &mut out);
            }
        }
    }
}
