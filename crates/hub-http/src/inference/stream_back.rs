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
    /// Meters one chunk and appends what the client gets for it (maybe nothing) to `out`.
    fn prepare(&mut self, chunk: Chunk, out: &mut BytesMut) {
        if let Some(u) = chunk.usage() {
            self.usage = Some(u.clone());
        }
        self.output_chars += chunk.output_chars();
        match &mut self.framing {
            Framing::OpenAi { include_usage } => {
                if !*include_usage && chunk.is_usage_only() {
                    return;
                }
                if let Ok(json) = chunk.into_openai_json(*include_usage) {
                    frame_into(out, &json);
                }
            }
            Framing::Aigne(t) => {
                if let Some(json) = chunk.into_typed().ok().and_then(|c| t.push(&c)) {
                    frame_into(out, &json);
                }
            }
            Framing::Anthropic(t) => {
                if let Ok(c) = chunk.into_typed() {
                    for e in &t.push(&c) {
                        out.put_slice(&hub_core::anthropic::reply::sse_event(e));
                    }
                }
            }
            Framing::LegacyEvents => {
                if let Ok(c) = chunk.into_typed() {
                    for e in &legacy::chunk_events(&c) {
                        frame_into(out, e);
                    }
                }
            }
            Framing::LegacyText => {
                if let Some(t) = chunk.into_typed().ok().as_ref().and_then(legacy::text_fragment) {
                    out.put_slice(t.as_bytes());
                }
            }
        }
    }

    /// The stream's closing bytes after the last chunk.
    fn end(&mut self, out: &mut BytesMut) {
        match &mut self.framing {
            Framing::OpenAi { .. } => out.put_slice(b"data: [DONE]\n\n"),
            Framing::Aigne(t) => match t.finish() {
                Ok(json) => frame_into(out, &json),
                Err(e) => out.put_slice(&aigne_error(&ApiError::Upstream(ProviderError::Protocol(e.to_string())))),
            },
            Framing::Anthropic(t) => {
                for e in &t.finish() {
                    out.put_slice(&hub_core::anthropic::reply::sse_event(e));
                }
            }
            Framing::LegacyEvents | Framing::LegacyText => {}
        }
    }

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

fn frame(json: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(json.len() + 8);
    frame_into(&mut b, json);
    b.freeze()
}

fn frame_into(out: &mut BytesMut, json: &[u8]) {
    out.reserve(json.len() + 8);
    out.put_slice(b"data: ");
    out.put_slice(json);
    out.put_slice(b"\n\n");
}

/// Bytes gathered into one body frame before it is handed on.
const BATCH_BYTES: usize = 64 * 1024;

impl Stream for MeteredSse {
    type Item = Result<Bytes, Infallible>;

    /// Everything the upstream has already delivered goes out as one frame: a read that
    /// carried many events costs one buffer and one write, never a wait for more.
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.guard.is_none() {
            return Poll::Ready(None);
        }
        let mut out = BytesMut::new();
        if let Some(first) = this.first.take() {
            this.prepare(first, &mut out);
        }
        while out.len() < BATCH_BYTES {
            match this.chunks.poll_next_unpin(cx) {
                Poll::Pending => break,
                Poll::Ready(Some(Ok(chunk))) => this.prepare(chunk, &mut out),
                Poll::Ready(Some(Err(e))) => {
                    if !out.is_empty() {
                        this.mark_sent();
                    }
                    out.put_slice(&this.error(&ApiError::Upstream(e.clone())));
                    this.finish(false, Some(&e));
                    break;
                }
                Poll::Ready(None) => {
                    if !out.is_empty() {
                        this.mark_sent();
                    }
                    this.end(&mut out);
                    this.finish(false, None);
                    break;
                }
            }
        }
        if out.is_empty() {
            // Nothing to send: either waiting for the upstream (the waker is registered) or done.
            return if this.guard.is_none() { Poll::Ready(None) } else { Poll::Pending };
        }
        this.mark_sent();
        Poll::Ready(Some(Ok(out.freeze())))
    }
}

impl Drop for MeteredSse {
    fn drop(&mut self) {
        // Still holding the guard means the client left before the end.
        self.finish(true, None);
    }
}
