//! Step 6 (streaming): relays canonical chunks to the client as OpenAI SSE, metering as it goes.
//!
//! The usage chunk the hub always asks upstreams for is passed on only if the client asked for
//! it (`stream_options.include_usage`). The stream ends with `data: [DONE]`; an upstream failure
//! after the first byte becomes one `data: {"error":…}` line, then the end. If the client goes
//! away, dropping this stream drops the upstream call (cancelling it) and settles the record as
//! cut short, billed for what the upstream produced.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use hub_core::chat::Usage;
use hub_core::wire::Chunk;
use hub_providers::{ChunkStream, ProviderError};

use crate::error::ApiError;
use crate::inference::admit::CallGuard;
use crate::inference::settle::{self, Outcome};

pub struct MeteredSse {
    chunks: ChunkStream,
    first: Option<Chunk>,
    guard: Option<CallGuard>,
    include_usage: bool,
    usage: Option<Usage>,
    output_chars: usize,
    started: Instant,
    first_sent_ms: Option<u64>,
    upstream_ttfb_ms: u64,
}

impl MeteredSse {
    pub fn new(chunks: ChunkStream, first: Chunk, guard: CallGuard, include_usage: bool, upstream_ttfb_ms: u64) -> MeteredSse {
        let started = guard.started;
        MeteredSse {
            chunks,
            first: Some(first),
            guard: Some(guard),
            include_usage,
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
        if !self.include_usage && chunk.is_usage_only() {
            return None;
        }
        let json = chunk.to_openai_json(self.include_usage).ok()?;
        Some(frame(&json))
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
                    let body = ApiError::Upstream(e.clone()).envelope_json();
                    this.finish(false, Some(&e));
                    return Poll::Ready(Some(Ok(frame(&body))));
                }
                Poll::Ready(None) => {
                    this.finish(false, None);
                    return Poll::Ready(Some(Ok(Bytes::from_static(b"data: [DONE]\n\n"))));
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
