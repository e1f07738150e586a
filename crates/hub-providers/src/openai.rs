//! The OpenAI Chat Completions protocol: OpenAI itself and every provider that speaks it
//! (DeepSeek, xAI, OpenRouter, Ollama's `/v1`, Doubao, Poe, custom base URLs).
//!
//! The canonical types already follow this protocol, so translation is mostly renaming the model
//! and always asking for usage in streams; unknown request fields pass through.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use hub_core::chat::{ChatRequest, Extra, Message, ResponseFormat, Stop, StreamOptions, Tool};
use hub_core::wire::{Chunk, Completion};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use hyper::body::Incoming;
use tokio::time::Instant as TokioInstant;

use crate::adapter::{Adapter, ChatReply, StreamReply, Target};
use crate::client::HttpClient;
use crate::direct;
use crate::reply::retry_after;
use crate::error::{classify_status, scrub, FailureKind, ProviderError, TimeoutKind, UpstreamFailure};
use crate::sse::{SseDecoder, SseEvent};

/// Upper bound on a non-streamed reply body; a larger one is a protocol error, not an OOM.
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;

pub struct OpenAiAdapter {
    client: HttpClient,
}

impl OpenAiAdapter {
    pub fn new(client: HttpClient) -> OpenAiAdapter {
        OpenAiAdapter { client }
    }

    /// Sends the request and waits for the response headers, at most until the first-byte
    /// deadline or `deadline` (the whole call's), whichever comes first.
    async fn send(
        &self,
        target: &Target,
        req: &ChatRequest,
        stream: bool,
        deadline: TokioInstant,
    ) -> Result<(http::Response<Incoming>, Duration), ProviderError> {
        // Room for a typical request up front: growing from serde_json's default reallocates.
        let mut body = Vec::with_capacity(1024);
        serde_json::to_writer(&mut body, &WireRequest::new(req, target, stream))
            .map_err(|e| ProviderError::Protocol(format!("encoding the request: {e}")))?;
        let accept = if stream { "text/event-stream" } else { "application/json" };
        let started = Instant::now();
        let first_byte = TokioInstant::from_std(started) + self.client.timeouts.first_byte;
        let (limit, kind) = if deadline < first_byte { (deadline, TimeoutKind::Total) } else { (first_byte, TimeoutKind::FirstByte) };
        let sent = self.client.direct.post_json(&target.base_url, "/chat/completions", body, accept, target.api_key.as_ref());
        let response = tokio::time::timeout_at(limit, sent).await.map_err(|_| ProviderError::Timeout(kind))??;
        let ttfb = started.elapsed();
        if !response.status().is_success() {
            return Err(failure(target, response, deadline).await);
        }
        Ok((response, ttfb))
    }
}

async fn failure(target: &Target, response: http::Response<Incoming>, deadline: TokioInstant) -> ProviderError {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let body = tokio::time::timeout_at(deadline, direct::read_limited(response.into_body(), 64 * 1024)).await;
    let body = body.ok().and_then(Result::ok).unwrap_or_default();
    ProviderError::Upstream(parse_failure(status, &body, retry_after, target.api_key.as_ref().map(|k| k.expose())))
}

impl Adapter for OpenAiAdapter {
    fn chat<'a>(&'a self, target: &'a Target, req: &'a ChatRequest) -> BoxFuture<'a, Result<ChatReply, ProviderError>> {
        Box::pin(async move {
            // One deadline for the whole call; the first-byte one is checked inside it.
            let deadline = TokioInstant::now() + self.client.timeouts.total;
            let (response, upstream_ttfb) = self.send(target, req, false, deadline).await?;
            let body = tokio::time::timeout_at(deadline, direct::read_limited(response.into_body(), MAX_REPLY_BYTES))
                .await
                .map_err(|_| ProviderError::Timeout(TimeoutKind::Total))??;
            // The client speaks this protocol too: forward the body as it came, reading only
            // usage and output size from it.
            let completion =
                Completion::from_openai_json(body).map_err(|e| ProviderError::Protocol(format!("chat completion: {e}")))?;
            Ok(ChatReply { completion, upstream_ttfb })
        })
    }

    fn chat_stream<'a>(&'a self, target: &'a Target, req: &'a ChatRequest) -> BoxFuture<'a, Result<StreamReply, ProviderError>> {
        Box::pin(async move {
            // A stream has no total deadline (only first-byte and idle); the far bound keeps
            // reading an error body from taking forever.
            let deadline = TokioInstant::now() + self.client.timeouts.total;
            let (response, upstream_ttfb) = self.send(target, req, true, deadline).await?;
            let credential = target.api_key.as_ref().map(|k| k.expose().to_owned());
            let chunks = decode_stream(direct::data_stream(response.into_body()), self.client.timeouts.idle, credential);
            Ok(StreamReply { chunks: Box::pin(chunks), upstream_ttfb })
        })
    }

    fn embeddings<'a>(
        &'a self,
        target: &'a Target,
        req: &'a hub_core::embeddings::EmbeddingsRequest,
    ) -> BoxFuture<'a, Result<hub_core::embeddings::EmbeddingsResponse, ProviderError>> {
        Box::pin(crate::openai_embeddings::embeddings(&self.client, target, req))
    }

    fn images<'a>(
        &'a self,
        target: &'a Target,
        req: &'a hub_core::images::ImageRequest,
    ) -> BoxFuture<'a, Result<hub_core::images::ImageResponse, ProviderError>> {
        Box::pin(crate::openai_images::images(&self.client, target, req))
    }

    fn video<'a>(
        &'a self,
        target: &'a Target,
        req: &'a hub_core::video::VideoRequest,
        polling: &'a crate::video::VideoPolling,
    ) -> BoxFuture<'a, Result<hub_core::video::VideoResult, ProviderError>> {
        Box::pin(crate::openai_video::video(&self.client, target, req, polling))
    }

    /// `GET {base}/models`: every OpenAI-compatible provider lists its models for a valid key.
    fn probe<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let url = format!("{}/models", target.base_url.trim_end_matches('/'));
            let builder = self.client.inner.get(url).header(reqwest::header::ACCEPT, "application/json");
            crate::probe::send(&self.client, target, builder, crate::video::Auth::Bearer, parse_failure).await
        })
    }
}

/// The request as OpenAI-protocol upstreams receive it: the canonical request with the upstream
/// model id, and `stream_options.include_usage` always on for streams so the hub can meter.
#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a Stop>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<&'a [Tool]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a ResponseFormat>,
    #[serde(flatten)]
    extra: &'a Extra,
}

impl<'a> WireRequest<'a> {
    fn new(req: &'a ChatRequest, target: &'a Target, stream: bool) -> WireRequest<'a> {
        let stream_options = stream.then(|| {
            let mut opts = req.stream_options.clone().unwrap_or_default();
            opts.include_usage = Some(true);
            opts
        });
        WireRequest {
            model: &target.model,
            messages: &req.messages,
            stream,
            stream_options,
            max_tokens: req.max_tokens,
            max_completion_tokens: req.max_completion_tokens,
            n: req.n,
            temperature: req.temperature,
            top_p: req.top_p,
            stop: req.stop.as_ref(),
            seed: req.seed,
            user: req.user.as_deref(),
            tools: req.tools.as_deref(),
            tool_choice: req.tool_choice.as_ref(),
            response_format: req.response_format.as_ref(),
            extra: &req.extra,
        }
    }
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    param: Option<String>,
}

/// Turns an OpenAI-style error body into an [`UpstreamFailure`] safe to show a client.
pub fn parse_failure(status: u16, body: &[u8], retry_after: Option<Duration>, credential: Option<&str>) -> UpstreamFailure {
    let kind = classify_status(status);
    let parsed: Option<ErrorBody> = serde_json::from_slice::<ErrorEnvelope>(body).ok().map(|e| e.error);
    let code = parsed.as_ref().and_then(|e| match &e.code {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    });
    let message = match kind {
        // The provider's own text for an auth failure often quotes part of the credential.
        FailureKind::Auth => "the provider refused the hub's credential".to_owned(),
        _ => parsed
            .as_ref()
            .and_then(|e| e.message.clone())
            .map(|m| scrub(&m, credential))
            .unwrap_or_else(|| format!("the provider answered with status {status}")),
    };
    UpstreamFailure {
        status,
        kind,
        message,
        error_type: parsed.as_ref().and_then(|e| e.kind.clone()),
        code,
        param: parsed.and_then(|e| e.param),
        retry_after,
    }
}

struct StreamState<S> {
    bytes: S,
    decoder: SseDecoder,
    pending: VecDeque<SseEvent>,
    /// The events of one read, reused from read to read.
    scratch: Vec<SseEvent>,
    idle: Duration,
    credential: Option<String>,
    finished: bool,
}

/// Decodes an OpenAI-style SSE body into canonical chunks. Ends at `[DONE]`; a body that ends
/// without it is [`ProviderError::StreamCut`]; silence longer than `idle` is a timeout.
pub fn decode_stream<S, E>(bytes: S, idle: Duration, credential: Option<String>) -> impl Stream<Item = Result<Chunk, ProviderError>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display + Send,
{
    let state = StreamState { bytes, decoder: SseDecoder::default(), pending: VecDeque::new(), scratch: Vec::new(), idle, credential, finished: false };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if st.finished {
                return None;
            }
            if let Some(event) = st.pending.pop_front() {
                match interpret(event, st.credential.as_deref()) {
                    Interpreted::Chunk(c) => return Some((Ok(*c), st)),
                    Interpreted::Done => return None,
                    Interpreted::Skip => continue,
                    Interpreted::Error(e) => {
                        st.finished = true;
                        return Some((Err(e), st));
                    }
                }
            }
            let next = match tokio::time::timeout(st.idle, st.bytes.next()).await {
                Err(_) => {
                    st.finished = true;
                    return Some((Err(ProviderError::Timeout(TimeoutKind::Idle)), st));
                }
                Ok(n) => n,
            };
            let mut events = std::mem::take(&mut st.scratch);
            match next {
                Some(Ok(b)) => {
                    if let Err(e) = st.decoder.feed(&b, &mut events) {
                        st.finished = true;
                        return Some((Err(ProviderError::Protocol(e.to_string())), st));
                    }
                }
                Some(Err(e)) => {
                    st.finished = true;
                    let _ = e.to_string();
                    return Some((Err(ProviderError::StreamCut), st));
                }
                None => {
                    st.decoder.finish(&mut events);
                    if events.is_empty() {
                        st.finished = true;
                        return Some((Err(ProviderError::StreamCut), st));
                    }
                    // Dispatch what was left; if it held no [DONE] the next turn reports the cut.
                    st.pending.extend(events.drain(..));
                    st.pending.push_back(SseEvent { event: Some("__eof".to_owned()), data: String::new() });
                    continue;
                }
            }
            st.pending.extend(events.drain(..));
            st.scratch = events;
        }
    })
}

enum Interpreted {
    Chunk(Box<Chunk>),
    Done,
    Skip,
    Error(ProviderError),
}

fn interpret(event: SseEvent, credential: Option<&str>) -> Interpreted {
    if event.event.as_deref() == Some("__eof") {
        return Interpreted::Error(ProviderError::StreamCut);
    }
    let data = event.data.trim();
    if data == "[DONE]" {
        return Interpreted::Done;
    }
    if data.is_empty() {
        return Interpreted::Skip;
    }
    // Mid-stream errors arrive as `data: {"error":{…}}`.
    if data.starts_with("{\"error\"") {
        if let Ok(env) = serde_json::from_str::<ErrorEnvelope>(data) {
            let message = env.error.message.map(|m| scrub(&m, credential)).unwrap_or_else(|| "stream error".to_owned());
            return Interpreted::Error(ProviderError::Upstream(UpstreamFailure {
                status: 502,
                kind: FailureKind::Server,
                message,
                error_type: env.error.kind,
                code: None,
                param: env.error.param,
                retry_after: None,
            }));
        }
    }
    let json = if data.len() == event.data.len() { Bytes::from(event.data) } else { Bytes::copy_from_slice(data.as_bytes()) };
    match Chunk::from_openai_json(json) {
        Ok(c) => Interpreted::Chunk(Box::new(c)),
        Err(e) => Interpreted::Error(ProviderError::Protocol(format!("stream chunk: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: Vec<&'static [u8]>) -> Vec<Result<Chunk, ProviderError>> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build();
        let Ok(rt) = rt else { return Vec::new() };
        rt.block_on(async move {
            let s = futures::stream::iter(chunks.into_iter().map(|c| Ok::<_, std::io::Error>(Bytes::from_static(c))));
            decode_stream(s, Duration::from_secs(5), None).collect::<Vec<_>>().await
        })
    }

    #[test]
    fn a_complete_stream_decodes_to_chunks_and_usage() {
        let out = run(vec![
            b"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}],\"usage\":null}\n\n",
            b"data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[],\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":1,\"total_tokens\":8}}\n\n",
            b"data: [DONE]\n\n",
        ]);
        assert_eq!(out.len(), 3);
        assert!(out.iter().all(Result::is_ok));
        let usage = out.last().and_then(|r| r.as_ref().ok()).and_then(|c| c.usage().cloned());
        assert_eq!(usage.map(|u| u.total_tokens), Some(8));
    }

    #[test]
    fn a_stream_without_done_is_cut() {
        let out = run(vec![b"data: {\"id\":\"c1\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"]);
        assert!(matches!(out.last(), Some(Err(ProviderError::StreamCut))));
    }

    #[test]
    fn auth_failures_never_carry_the_upstream_text() {
        let body = br#"{"error":{"message":"Incorrect API key provided: sk-abc***wxyz","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}"#;
        let f = parse_failure(401, body, None, Some("sk-abcdefghwxyz"));
        assert_eq!(f.kind, FailureKind::Auth);
        assert!(!f.message.contains("sk-"));
    }

    #[test]
    fn other_failures_keep_the_message_and_scrub_the_credential() {
        let body = br#"{"error":{"message":"bad value near sk-secret-credential","type":"invalid_request_error","param":"temperature","code":null}}"#;
        let f = parse_failure(400, body, None, Some("sk-secret-credential"));
        assert_eq!(f.param.as_deref(), Some("temperature"));
        assert!(!f.message.contains("sk-secret-credential"));
    }
}
