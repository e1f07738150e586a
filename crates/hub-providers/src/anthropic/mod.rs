//! The Anthropic Messages API (`POST {base}/v1/messages`), for Claude models.
//!
//! This file is the HTTP side: headers (`x-api-key`, `anthropic-version`), status handling and
//! reading the SSE body. What the request and reply look like is decided by pure code in
//! `translate.rs` (request and reply), `stream.rs` (the event stream) and `errors.rs` (error
//! bodies); `wire.rs` holds the serde types and `limits.rs` the default `max_tokens`.

pub mod errors;
pub mod limits;
pub mod stream;
pub mod translate;
pub mod wire;

#[cfg(test)]
mod tests;

use hub_core::wire::Chunk;
use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use hub_core::chat::{ChatChunk, ChatRequest};
use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE};

use self::stream::StreamTranslator;
use self::translate::{to_chat_completion, to_messages_request, ReplyPlan};
use self::wire::MessagesResponse;
use crate::reply::{read_limited, retry_after};
use crate::adapter::{Adapter, ChatReply, StreamReply, Target};
use crate::client::{transport_error, HttpClient};
use crate::error::{ProviderError, TimeoutKind};
use crate::sse::{SseDecoder, SseEvent};

/// The API version the translation is written against.
pub const API_VERSION: &str = "2023-06-01";

/// Upper bound on a non-streamed reply body; a larger one is a protocol error, not an OOM.
const MAX_REPLY_BYTES: usize = 64 * 1024 * 1024;
/// How long a finished stream waits for the end of its body.
const DRAIN_WAIT: Duration = Duration::from_millis(50);
/// Upper bound on an error body worth reading.
const MAX_ERROR_BYTES: usize = 64 * 1024;

pub struct AnthropicAdapter {
    client: HttpClient,
}

/// `{base}/v1/messages`. The base is written as Anthropic's SDKs write it
/// (`https://api.anthropic.com`); a trailing `/v1` is tolerated.
pub fn messages_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let base = base.strip_suffix("/v1").unwrap_or(base).trim_end_matches('/');
    format!("{base}/v1/messages")
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

impl AnthropicAdapter {
    pub fn new(client: HttpClient) -> AnthropicAdapter {
        AnthropicAdapter { client }
    }

    async fn send(
        &self,
        target: &Target,
        req: &ChatRequest,
        stream: bool,
    ) -> Result<(reqwest::Response, ReplyPlan, Duration), ProviderError> {
        let (wire, plan) = to_messages_request(req, &target.model, stream)?;
        let body = serde_json::to_vec(&wire).map_err(|e| ProviderError::Protocol(format!("encoding the request: {e}")))?;
        let mut builder = self
            .client
            .inner
            .post(messages_url(&target.base_url))
            .header(CONTENT_TYPE, "application/json")
            .header(ACCEPT, if stream { "text/event-stream" } else { "application/json" })
            .header("anthropic-version", API_VERSION)
            .body(body);
        if let Some(key) = &target.api_key {
            let mut value = HeaderValue::from_str(key.expose())
                .map_err(|_| ProviderError::Config("the provider credential holds characters a header cannot carry".to_owned()))?;
            value.set_sensitive(true);
            builder = builder.header("x-api-key", value);
        }
        let started = Instant::now();
        let response = tokio::time::timeout(self.client.timeouts.first_byte, builder.send())
            .await
            .map_err(|_| ProviderError::Timeout(TimeoutKind::FirstByte))?
            .map_err(transport_error)?;
        let ttfb = started.elapsed();
        if !response.status().is_success() {
            return Err(failure(target, response).await);
        }
        Ok((response, plan, ttfb))
    }
}

async fn failure(target: &Target, response: reqwest::Response) -> ProviderError {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let body = read_limited(response, MAX_ERROR_BYTES).await.unwrap_or_default();
    ProviderError::Upstream(errors::parse_failure(status, &body, retry_after, target.api_key.as_ref().map(|k| k.expose())))
}


impl Adapter for AnthropicAdapter {
    fn chat<'a>(&'a self, target: &'a Target, req: &'a ChatRequest) -> BoxFuture<'a, Result<ChatReply, ProviderError>> {
        Box::pin(async move {
            let work = async {
                let (response, plan, upstream_ttfb) = self.send(target, req, false).await?;
                let body = read_limited(response, MAX_REPLY_BYTES).await?;
                let reply: MessagesResponse =
                    serde_json::from_slice(&body).map_err(|e| ProviderError::Protocol(format!("messages reply: {e}")))?;
                Ok(ChatReply { completion: to_chat_completion(reply, &plan, unix_now()).into(), upstream_ttfb })
            };
            tokio::time::timeout(self.client.timeouts.total, work).await.map_err(|_| ProviderError::Timeout(TimeoutKind::Total))?
        })
    }

    fn chat_stream<'a>(&'a self, target: &'a Target, req: &'a ChatRequest) -> BoxFuture<'a, Result<StreamReply, ProviderError>> {
        Box::pin(async move {
            let (response, plan, upstream_ttfb) = self.send(target, req, true).await?;
            let credential = target.api_key.as_ref().map(|k| k.expose().to_owned());
            let translator = StreamTranslator::new(plan, unix_now(), credential);
            let chunks = decode_stream(response.bytes_stream(), self.client.timeouts.idle, translator);
            Ok(StreamReply { chunks: Box::pin(futures::StreamExt::map(chunks, |c| c.map(Chunk::Typed))), upstream_ttfb })
        })
    }

    /// `GET {base}/v1/models?limit=1`: the Models API answers any valid key, costs nothing.
    fn probe<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let url = format!("{}?limit=1", models_url(&target.base_url));
            let builder = self.client.inner.get(url).header(ACCEPT, "application/json").header("anthropic-version", API_VERSION);
            crate::probe::send(&self.client, target, builder, crate::video::Auth::Header("x-api-key"), errors::parse_failure).await
        })
    }
}

/// `{base}/v1/models`, the base written as for [`messages_url`].
pub fn models_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let base = base.strip_suffix("/v1").unwrap_or(base).trim_end_matches('/');
    format!("{base}/v1/models")
}

struct StreamState<S> {
    bytes: S,
    decoder: SseDecoder,
    translator: StreamTranslator,
    out: VecDeque<Result<ChatChunk, ProviderError>>,
    idle: Duration,
    /// An error is queued or the body ended: nothing more is read.
    stopped: bool,
}

impl<S> StreamState<S> {
    fn dispatch(&mut self, events: Vec<SseEvent>) {
        for event in events {
            match self.translator.feed(&event) {
                Ok(chunks) => self.out.extend(chunks.into_iter().map(Ok)),
                Err(e) => {
                    self.fail(e);
                    return;
                }
            }
            if self.translator.is_done() {
                return;
            }
        }
    }

    fn fail(&mut self, e: ProviderError) {
        self.out.push_back(Err(e));
        self.stopped = true;
    }
}

/// Decodes a Messages API SSE body into canonical chunks. Ends after `message_stop`; a body
/// that ends before it is [`ProviderError::StreamCut`]; an `error` event is its failure;
/// silence longer than `idle` is a timeout.
pub fn decode_stream<S, E>(
    bytes: S,
    idle: Duration,
    translator: StreamTranslator,
) -> impl Stream<Item = Result<ChatChunk, ProviderError>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display + Send,
{
    let state = StreamState { bytes, decoder: SseDecoder::default(), translator, out: VecDeque::new(), idle, stopped: false };
    futures::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(item) = st.out.pop_front() {
                return Some((item, st));
            }
            if st.stopped {
                return None;
            }
            if st.translator.is_done() {
                // Read the end of the body when it is already there, so the connection can go
                // back to the pool; never wait long for it.
                let _ = tokio::time::timeout(DRAIN_WAIT, st.bytes.next()).await;
                return None;
            }
            let next = match tokio::time::timeout(st.idle, st.bytes.next()).await {
                Err(_) => {
                    st.fail(ProviderError::Timeout(TimeoutKind::Idle));
                    continue;
                }
                Ok(n) => n,
            };
            let mut events = Vec::new();
            match next {
                Some(Ok(b)) => {
                    if let Err(e) = st.decoder.feed(&b, &mut events) {
                        st.fail(ProviderError::Protocol(e.to_string()));
                        continue;
                    }
                    st.dispatch(events);
                }
                // The transport error text may name the URL; the class is what matters.
                Some(Err(_)) => st.fail(ProviderError::StreamCut),
                None => {
                    st.decoder.finish(&mut events);
                    st.dispatch(events);
                    if !st.stopped && !st.translator.is_done() {
                        st.fail(ProviderError::StreamCut);
                    }
                    st.stopped = true;
                }
            }
        }
    })
}
