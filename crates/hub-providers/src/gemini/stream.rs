//! `streamGenerateContent?alt=sse` to canonical chunks.
//!
//! Gemini streams whole `GenerateContentResponse`s as `data:` events: each holds the new text of
//! each candidate, function calls arrive whole, `usageMetadata` is cumulative (the last one
//! counts) and `finishReason` comes on a candidate's last event. There is no `[DONE]`: the
//! stream is complete when it ends after every candidate finished; ending sooner is a cut.
//!
//! [`Translator`] keeps per-candidate state (role sent, tool-call count, finished) and emits
//! OpenAI's order: a role chunk, content deltas, one tool-call delta per call (id, type, name
//! and the whole arguments, with its `index`), a finish chunk, and at the end a `choices: []`
//! chunk with usage.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use hub_core::chat::{ChatChunk, ChunkChoice, Delta, FunctionCallDelta, Role, ToolCallDelta, Usage};
use serde_json::Map;

use super::errors::stream_failure;
use super::translate::{candidate_output, finish_reason, tool_call, usage};
use super::wire::{ErrorEnvelope, GenerateContentResponse};
use crate::error::{ProviderError, TimeoutKind};
use crate::sse::SseDecoder;

#[derive(Debug, Default)]
struct CandidateState {
    role_sent: bool,
    tool_calls: u32,
    finished: bool,
}

/// Turns the stream's events into canonical chunks, one event at a time.
pub struct Translator {
    id: Option<String>,
    model: String,
    created: i64,
    candidates: BTreeMap<u32, CandidateState>,
    usage: Option<Usage>,
    blocked: bool,
}

impl Translator {
    pub fn new(model: &str, created: i64) -> Translator {
        Translator { id: None, model: model.to_owned(), created, candidates: BTreeMap::new(), usage: None, blocked: false }
    }

    fn chunk(&self, choices: Vec<ChunkChoice>) -> ChatChunk {
        ChatChunk {
            id: self.id.clone().unwrap_or_default(),
            object: "chat.completion.chunk".to_owned(),
            created: self.created,
            model: self.model.clone(),
            choices,
            usage: None,
            extra: Map::new(),
        }
    }

    fn choice(index: u32, delta: Delta, finish: Option<&str>) -> ChunkChoice {
        ChunkChoice { index, delta, finish_reason: finish.map(str::to_owned), extra: Map::new() }
    }

    /// Translates one event; `new_id` makes identifiers Gemini does not give.
    pub fn push(&mut self, resp: &GenerateContentResponse, new_id: &mut dyn FnMut() -> String, out: &mut Vec<ChatChunk>) {
        if self.id.is_none() {
            self.id = Some(resp.response_id.clone().unwrap_or_else(|| format!("chatcmpl-{}", new_id())));
        }
        if let Some(v) = &resp.model_version {
            self.model.clone_from(v);
        }
        if let Some(u) = &resp.usage_metadata {
            self.usage = Some(usage(u));
        }
        if resp.candidates.is_empty() && resp.prompt_feedback.as_ref().and_then(|f| f.block_reason.as_ref()).is_some() {
            // The prompt was refused: one empty answer, filtered.
            self.blocked = true;
            let state = self.candidates.entry(0).or_default();
            let send_role = !std::mem::replace(&mut state.role_sent, true);
            state.finished = true;
            if send_role {
                out.push(self.chunk(vec![Self::choice(0, role_delta(), None)]));
            }
            out.push(self.chunk(vec![Self::choice(0, Delta::default(), Some("content_filter"))]));
            return;
        }
        for (pos, cand) in resp.candidates.iter().enumerate() {
            let index = cand.index.unwrap_or(u32::try_from(pos).unwrap_or(u32::MAX));
            let (text, calls) = candidate_output(cand);
            let state = self.candidates.entry(index).or_default();
            let send_role = !std::mem::replace(&mut state.role_sent, true);
            let first_call = state.tool_calls;
            state.tool_calls += u32::try_from(calls.len()).unwrap_or(0);
            let any_calls = state.tool_calls > 0;
            if cand.finish_reason.is_some() {
                state.finished = true;
            }
            if send_role {
                out.push(self.chunk(vec![Self::choice(index, role_delta(), None)]));
            }
            if !text.is_empty() {
                let delta = Delta { content: Some(text), ..Delta::default() };
                out.push(self.chunk(vec![Self::choice(index, delta, None)]));
            }
            for (k, call) in calls.into_iter().enumerate() {
                let call = tool_call(call, new_id);
                let delta = Delta {
                    tool_calls: Some(vec![ToolCallDelta {
                        index: first_call + u32::try_from(k).unwrap_or(0),
                        id: Some(call.id),
                        kind: Some(call.kind),
                        function: Some(FunctionCallDelta { name: Some(call.function.name), arguments: Some(call.function.arguments) }),
                    }]),
                    ..Delta::default()
                };
                out.push(self.chunk(vec![Self::choice(index, delta, None)]));
            }
            if let Some(reason) = &cand.finish_reason {
                out.push(self.chunk(vec![Self::choice(index, Delta::default(), Some(finish_reason(reason, any_calls)))]));
            }
        }
    }

    /// Whether every candidate seen so far has finished (and at least one was seen).
    pub fn complete(&self) -> bool {
        self.blocked || (!self.candidates.is_empty() && self.candidates.values().all(|c| c.finished))
    }

    /// At the end of the body: the usage chunk (when Gemini reported usage), or
    /// [`ProviderError::StreamCut`] when the stream stopped before its candidates finished.
    pub fn finish(&self) -> Result<Option<ChatChunk>, ProviderError> {
        if !self.complete() {
            return Err(ProviderError::StreamCut);
        }
        Ok(self.usage.clone().map(|u| {
            let mut c = self.chunk(Vec::new());
            c.usage = Some(u);
            c
        }))
    }
}

fn role_delta() -> Delta {
    Delta { role: Some(Role::Assistant), content: Some(String::new()), ..Delta::default() }
}

/// What one event's `data` is: a reply chunk or an error Google sent mid-stream.
pub fn parse_event(data: &str, credential: Option<&str>) -> Result<Option<GenerateContentResponse>, ProviderError> {
    let data = data.trim();
    if data.is_empty() {
        return Ok(None);
    }
    if data.starts_with("{\"error\"") {
        if let Ok(env) = serde_json::from_str::<ErrorEnvelope>(data) {
            return Err(ProviderError::Upstream(stream_failure(env.error, credential)));
        }
    }
    serde_json::from_str::<GenerateContentResponse>(data)
        .map(Some)
        .map_err(|e| ProviderError::Protocol(format!("stream event: {e}")))
}

struct State<S> {
    bytes: S,
    decoder: SseDecoder,
    translator: Translator,
    pending: VecDeque<Result<ChatChunk, ProviderError>>,
    idle: Duration,
    credential: Option<String>,
    new_id: Box<dyn FnMut() -> String + Send>,
    done: bool,
}

/// Decodes a Gemini SSE body into canonical chunks. Silence longer than `idle` is a timeout.
pub fn decode_stream<S, E>(
    bytes: S,
    model: &str,
    created: i64,
    idle: Duration,
    credential: Option<String>,
    new_id: Box<dyn FnMut() -> String + Send>,
) -> impl Stream<Item = Result<ChatChunk, ProviderError>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display + Send,
{
    let state = State {
        bytes,
        decoder: SseDecoder::default(),
        translator: Translator::new(model, created),
        pending: VecDeque::new(),
        idle,
        credential,
        new_id,
        done: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.pending.pop_front() {
                if item.is_err() {
                    st.pending.clear();
                    st.done = true;
                }
                return Some((item, st));
            }
            if st.done {
                return None;
            }
            let next = match tokio::time::timeout(st.idle, st.bytes.next()).await {
                Ok(n) => n,
                Err(_) => {
                    st.done = true;
                    return Some((Err(ProviderError::Timeout(TimeoutKind::Idle)), st));
                }
            };
            let mut events = Vec::new();
            match next {
                Some(Ok(b)) => {
                    if let Err(e) = st.decoder.feed(&b, &mut events) {
                        st.done = true;
                        return Some((Err(ProviderError::Protocol(e.to_string())), st));
                    }
                }
                // With no end marker, a connection that drops after every candidate finished
                // has delivered the whole reply; before that it is a cut.
                Some(Err(_)) if !st.translator.complete() => {
                    st.done = true;
                    return Some((Err(ProviderError::StreamCut), st));
                }
                Some(Err(_)) => st.done = true,
                None => {
                    st.decoder.finish(&mut events);
                    st.done = true;
                }
            }
            let mut chunks = Vec::new();
            for event in events {
                match parse_event(&event.data, st.credential.as_deref()) {
                    Ok(Some(resp)) => st.translator.push(&resp, &mut *st.new_id, &mut chunks),
                    Ok(None) => {}
                    Err(e) => {
                        st.pending.extend(chunks.drain(..).map(Ok));
                        st.pending.push_back(Err(e));
                        break;
                    }
                }
            }
            st.pending.extend(chunks.into_iter().map(Ok));
            if st.done && !st.pending.back().is_some_and(Result::is_err) {
                match st.translator.finish() {
                    Ok(Some(usage)) => st.pending.push_back(Ok(usage)),
                    Ok(None) => {}
                    Err(e) => st.pending.push_back(Err(e)),
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    fn fixture(name: &str) -> String {
        let path = format!("{}/fixtures/gemini/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn ids() -> Box<dyn FnMut() -> String + Send> {
        let mut n = 0;
        Box::new(move || {
            n += 1;
            format!("id{n}")
        })
    }

    fn run(pieces: Vec<Vec<u8>>) -> Vec<Result<ChatChunk, ProviderError>> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        rt.block_on(async move {
            let s = futures::stream::iter(pieces.into_iter().map(|c| Ok::<_, std::io::Error>(Bytes::from(c))));
            decode_stream(s, "gemini-x", 1, Duration::from_secs(5), Some("AIzaSecretKey0123".to_owned()), ids()).collect::<Vec<_>>().await
        })
    }

    fn content(chunks: &[Result<ChatChunk, ProviderError>]) -> String {
        chunks.iter().filter_map(|c| c.as_ref().ok()).flat_map(|c| c.choices.iter()).filter_map(|c| c.delta.content.clone()).collect()
    }

    #[test]
    fn text_stream_in_openai_order_with_usage_last() {
        for framing in ["\n", "\r\n"] {
            let body = fixture("stream_text.sse").replace('\n', framing);
            // Split into small pieces so events straddle reads.
            let pieces: Vec<Vec<u8>> = body.as_bytes().chunks(37).map(<[u8]>::to_vec).collect();
            let out = run(pieces);
            assert!(out.iter().all(Result::is_ok), "{out:?}");
            let chunks: Vec<ChatChunk> = out.into_iter().map(Result::unwrap).collect();
            assert_eq!(chunks[0].choices[0].delta.role, Some(Role::Assistant));
            assert_eq!(chunks[0].id, "g6eJafflLZKRkdUPoZCXmA0");
            assert_eq!(chunks[0].model, "gemini-2.5-flash");
            let text: String = chunks.iter().flat_map(|c| c.choices.iter()).filter_map(|c| c.delta.content.clone()).collect();
            assert_eq!(text, "Warsaw (Polish: Warszawa) is the capital of Poland.");
            let n = chunks.len();
            assert_eq!(chunks[n - 2].choices[0].finish_reason.as_deref(), Some("stop"));
            assert!(chunks[n - 1].choices.is_empty());
            let u = chunks[n - 1].usage.clone().unwrap();
            assert_eq!((u.prompt_tokens, u.completion_tokens, u.total_tokens), (15, 43, 58));
        }
    }

    #[test]
    fn function_calls_become_indexed_tool_call_deltas() {
        let out = run(vec![fixture("stream_function_call.sse").into_bytes()]);
        let chunks: Vec<ChatChunk> = out.into_iter().map(Result::unwrap).collect();
        let calls: Vec<&ToolCallDelta> = chunks.iter().flat_map(|c| c.choices.iter()).filter_map(|c| c.delta.tool_calls.as_ref()).flatten().collect();
        assert_eq!(calls.len(), 2);
        assert_eq!((calls[0].index, calls[1].index), (0, 1));
        assert_eq!(calls[0].id.as_deref(), Some("call_id1"));
        assert_eq!(calls[0].kind.as_deref(), Some("function"));
        let f = calls[1].function.as_ref().unwrap();
        assert_eq!(f.name.as_deref(), Some("get_time"));
        assert_eq!(f.arguments.as_deref(), Some(r#"{"tz":"Europe/Paris"}"#));
        let finish: Vec<_> = chunks.iter().flat_map(|c| c.choices.iter()).filter_map(|c| c.finish_reason.clone()).collect();
        assert_eq!(finish, vec!["tool_calls".to_owned()]);
        assert_eq!(chunks.last().unwrap().usage.as_ref().unwrap().total_tokens, 58);
    }

    #[test]
    fn a_stream_that_stops_before_finishing_is_cut() {
        let body = fixture("stream_text.sse");
        let first_two: String = body.split_inclusive("\n\n").take(2).collect();
        let out = run(vec![first_two.into_bytes()]);
        assert!(matches!(out.last(), Some(Err(ProviderError::StreamCut))));
        assert_eq!(content(&out), "Warsaw (Polish: Warszawa) is");
        assert!(matches!(run(vec![]).last(), Some(Err(ProviderError::StreamCut))));
    }

    #[test]
    fn a_connection_dropped_after_the_last_event_is_a_complete_stream() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let out = rt.block_on(async {
            let body = fixture("stream_text.sse");
            let items = vec![Ok(Bytes::from(body)), Err(std::io::Error::other("reset"))];
            decode_stream(futures::stream::iter(items), "m", 1, Duration::from_secs(5), None, ids()).collect::<Vec<_>>().await
        });
        assert!(out.iter().all(Result::is_ok), "{out:?}");
        assert!(out.last().and_then(|c| c.as_ref().ok()).and_then(|c| c.usage.as_ref()).is_some());
    }

    #[test]
    fn an_error_event_ends_the_stream_with_its_kind() {
        let body = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"Hi\"}],\"role\": \"model\"},\"index\": 0}]}\r\n\r\n\
                    data: {\"error\": {\"code\": 503,\"message\": \"The model is overloaded. Please try again later.\",\"status\": \"UNAVAILABLE\"}}\r\n\r\n";
        let out = run(vec![body.as_bytes().to_vec()]);
        match out.last() {
            Some(Err(ProviderError::Upstream(f))) => {
                assert_eq!(f.status, 503);
                assert_eq!(f.kind, crate::error::FailureKind::Overloaded);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(content(&out), "Hi");
    }

    #[test]
    fn a_blocked_prompt_finishes_with_content_filter() {
        let body = "data: {\"promptFeedback\": {\"blockReason\": \"SAFETY\"},\"usageMetadata\": {\"promptTokenCount\": 5,\"totalTokenCount\": 5}}\r\n\r\n";
        let chunks: Vec<ChatChunk> = run(vec![body.as_bytes().to_vec()]).into_iter().map(Result::unwrap).collect();
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks[1].choices[0].finish_reason.as_deref(), Some("content_filter"));
        assert_eq!(chunks[2].usage.as_ref().unwrap().prompt_tokens, 5);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(pieces in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..80), 0..12)) {
            let _ = run(pieces);
        }

        #[test]
        fn arbitrary_json_events_never_panic(text in "[\\[\\]{}\":,a-z0-9 ]{0,120}") {
            let body = format!("data: {{\"candidates\": [{text}]}}\n\ndata: {text}\n\n");
            let _ = run(vec![body.into_bytes()]);
        }
    }
}
