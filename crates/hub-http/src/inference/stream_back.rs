//! Step 6 (streaming): relays canonical chunks to the client as SSE in the route's [`Framing`],
//! metering as it goes.
//!
//! OpenAI framing: the usage chunk the hub always asks upstreams for is passed on only if the
//! client asked for it (`stream_options.include_usage`). The stream ends with `data: [DONE]`; an
//! upstream failure after the first byte becomes one `data: {"error":…}` line, then the end.
//!
//! AIGNE framing (`POST /api/v2/chat`): `data: {"delta":{"text":{"text":…}}}` events, then one
//! `data: {"delta":{"json":{…}}}` with usage, model and tool calls; a failure is
//! `event: error` + `data: {"message":…}`. Never `[DONE]` or any other non-JSON data line: the
//! SDK aborts on it.
//!
//! Anthropic framing (`POST /v1/messages`): `event: <type>` + `data: {…}` events from
//! `hub_core::anthropic::reply::StreamTranslator` (`message_start`, `ping`, content blocks,
//! `message_delta`, `message_stop`); a failure is `event: error` + Anthropic's error body.
//!
//! If the client goes away, dropping this stream drops the upstream call (cancelling it) and
//! settles the record as cut short, billed for what the upstream produced.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use hub_core::aigne::chat::StreamTranslator;
use hub_core::chat::Usage;
use hub_core::wire::Chunk;
use hub_providers::{ChunkStream, ProviderError};

use hub_core::aigne::legacy;

use crate::error::ApiError;
use crate::inference::admit::CallGuard;
use crate::inference::settle::{self, Outcome};

/// How chunks are shaped for the client.
pub enum Framing {
    OpenAi { include_usage: bool },
    Aigne(Box<StreamTranslator>),
    Anthropic(Box<hub_core::anthropic::reply::StreamTranslator>),
    /// The original hub's older events: `data: {"delta":…}`, `data: {"usage":…}`, no `[DONE]`.
    LegacyEvents,
    /// The original hub's bare-text stream (`"stream": true` without an event-stream `Accept`).
    LegacyText,
}

impl Framing {
    /// The response's content type.
    pub fn content_type(&self) -> &'static str {
        match self {
            Framing::LegacyText => "text/plain; charset=utf-8",
            _ => "text/event-stream; charset=utf-8",
        }
    }
}

pub struct MeteredSse {
    chunks: ChunkStream,
    first: Option<Chunk>,
    guard: Option<CallGuard>,
    framing: Framing,
    usage: Option<Usage>,
    output_chars: usize,
    started: Instant,
    first_sent_ms: Option<u64>,
    upstream_ttfb_ms: u64,
}

impl MeteredSse {
    pub fn new(chunks: ChunkStream, first: Chunk, guard: CallGuard, framing: Framing, upstream_ttfb_ms: u64) -> MeteredSse {
        let started = guard.started;
        MeteredSse {
            chunks,
            first: Some(first),
            guard: Some(guard),
            framing,
            usage: None,
            output_chars: 0,
            started,
            first_sent_ms: None,
            upstream_ttfb_ms,
        }
    }

    /// Meters a chunk and shapes it for the client; `None` when it is not to be sent.
    fn prepare(&mut self, chunk: Chunk) -> Option<Bytes> {
        if let Some(u) = chunk.usage() {
            self.usage = Some(u.clone());
        }
        self.output_chars += chunk.output_chars();
        match &mut self.framing {
            Framing::OpenAi { include_usage } => {
                if !*include_usage && chunk.is_usage_only() {
                    return None;
                }
                let json = chunk.to_openai_json(*include_usage).ok()?;
                Some(frame(&json))
            }
            // A chunk the hub cannot read as a chat chunk carries nothing the client can use.
            Framing::Aigne(t) => t.push(&chunk.into_typed().ok()?).map(|json| frame(&json)),
            Framing::Anthropic(t) => {
                let events = t.push(&chunk.into_typed().ok()?);
                (!events.is_empty()).then(|| anthropic_events(&events))
            }
            Framing::LegacyEvents => {
                let events = legacy::chunk_events(&chunk.into_typed().ok()?);
                (!events.is_empty()).then(|| {
                    let mut b = BytesMut::new();
                    for e in &events {
                        b.put_slice(&frame(e));
                    }
                    b.freeze()
                })
            }
            Framing::LegacyText => legacy::text_fragment(&chunk.into_typed().ok()?).map(|t| Bytes::copy_from_slice(t.as_bytes())),
        }
    }

    /// The last bytes of a stream that ended well.
    fn end(&mut self) -> Bytes {
        match &mut self.framing {
            Framing::OpenAi { .. } => Bytes::from_static(b"data: [DONE]\n\n"),
            Framing::Aigne(t) => match t.finish() {
                Ok(json) => frame(&json),
                Err(e) => aigne_error(&ApiError::Upstream(ProviderError::Protocol(e.to_string()))),
            },
            Framing::Anthropic(t) => anthropic_events(&t.finish()),
            Framing::LegacyEvents | Framing::LegacyText => Bytes::new(),
        }
    }

    /// The in-band error of a stream the upstream broke off.
    fn error(&self, e: &ApiError) -> Bytes {
        match self.framing {
            Framing::OpenAi { .. } => frame(&e.envelope_json()),
            Framing::Aigne(_) => aigne_error(e),
            Framing::Anthropic(_) => {
                let mut b = BytesMut::from(&b"event: error\ndata: "[..]);
                b.put_slice(&e.anthropic_json());
                b.put_slice(b"\n\n");
                b.freeze()
            }
            Framing::LegacyEvents => frame(&legacy::error_event(&e.client_message())),
            Framing::LegacyText => Bytes::from(format!("ERROR: {}", e.client_message())),
        }
    }

    fn finish(&mut self, cut_short: bool, error: Option<&ProviderError>) {
        let Some(guard) = self.guard.take() else { return };
        settle::finish(
            guard,
            Outcome {
                status: if error.is_some() { 502 } else { 200 },
                usage: self.usage.take(),
                output_chars: self.output_chars,
                ttfb_ms: self.first_sent_ms,
                upstream_ttfb_ms: Some(self.upstream_ttfb_ms),
                cut_short,
                error_class: if cut_short { Some("client_closed") } else { error.map(ProviderError::class) },
            },
        );
    }

    fn mark_sent(&mut self) {
        if self.first_sent_ms.is_none() {
            self.first_sent_ms = Some(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX));
        }
    }
}

/// `event: error` + `data: {"message":…}`, as the AIGNE SDK's event parser reads errors.
fn aigne_error(e: &ApiError) -> Bytes {
    let body = serde_json::to_vec(&serde_json::json!({ "message": e.client_message() })).unwrap_or_default();
    let mut b = BytesMut::with_capacity(body.len() + 24);
    b.put_slice(b"event: error\ndata: ");
    b.put_slice(&body);
    b.put_slice(b"\n\n");
    b.freeze()
}

fn anthropic_events(events: &[hub_core::anthropic::wire::StreamEvent]) -> Bytes {
    let mut b = BytesMut::new();
    for e in events {
        b.put_slice(&hub_core::anthropic::reply::sse_event(e));
    }
    b.freeze()
}

fn frame(json: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(json.len() + 8);
    b.put_slice(b"data: ");
    b.put_slice(json);
    b.put_slice(b"\n\n");
    b.freeze()
}

impl Stream for MeteredSse {
    type Item = Result<Bytes, Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.guard.is_none() {
            return Poll::Ready(None);
        }
        if let Some(first) = this.first.take() {
            if let Some(bytes) = this.prepare(first) {
                this.mark_sent();
                return Poll::Ready(Some(Ok(bytes)));
            }
        }
        loop {
            match this.chunks.poll_next_unpin(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(chunk))) => {
                    if let Some(bytes) = this.prepare(chunk) {
                        this.mark_sent();
                        return Poll::Ready(Some(Ok(bytes)));
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    let bytes = this.error(&ApiError::Upstream(e.clone()));
                    this.finish(false, Some(&e));
                    return Poll::Ready(Some(Ok(bytes)));
                }
                Poll::Ready(None) => {
                    this.finish(false, None);
                    return Poll::Ready(Some(Ok(this.end())));
                }
            }
        }
    }
}

impl Drop for MeteredSse {
    fn drop(&mut self) {
        // Still holding the guard means the client left before the end.
        self.finish(true, None);
    }
}
