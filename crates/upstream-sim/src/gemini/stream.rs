//! Framing of `:streamGenerateContent`, event for event as Google sends it.
//!
//! With `alt=sse`: `data: {…}\r\n\r\n` per event. Each text event carries every candidate's
//! next word (`"Hello"`, `" from"`, … — concatenated they equal the non-streamed text), the
//! cumulative `usageMetadata` (`candidatesTokenCount` left out while it is 0), `modelVersion`
//! and `responseId`; the last adds `"finishReason": "STOP"` and the output's token details. A
//! function call comes whole in one event that also finishes. The body then ends; there is no
//! `[DONE]`.
//!
//! Without `alt=sse`: one JSON array, `[` + the same responses pretty-printed, separated by
//! `,\r\n`, + `]`.
//!
//! A cut (`CutStreamAfter(k)`) sends `k` events but never the last one, then drops the
//! connection, so a client can always tell a cut stream from a complete one.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use futures::Stream;
use http::header::{HeaderName, CONTENT_TYPE};
use http::HeaderValue;
use tokio::time::{Instant, Sleep};

use super::generate::{call_part, stream_piece, CandidateOut, ContentOut, PartOut, Plan, ReplyBody, UsageOut};
use super::{add_google_headers, pretty, stream_json, EVENT_STREAM, JSON_UTF8};
use crate::stats::{InFlight, StreamGuard};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    Sse,
    JsonArray,
}

/// The reply's events (each a `GenerateContentResponse`), framed.
fn events(plan: &Plan, response_id: &str, framing: Framing) -> Vec<Bytes> {
    let steps = if plan.tool.is_some() { 1 } else { plan.tokens as usize };
    let n = u64::from(plan.n);
    let mut out = Vec::with_capacity(steps + 1);
    for step in 0..steps {
        let last = step + 1 == steps;
        let piece = stream_piece(step);
        let candidates = (0..plan.n)
            .map(|index| CandidateOut {
                content: ContentOut {
                    parts: [match plan.tool.as_deref() {
                        Some(name) => call_part(name),
                        None => PartOut::Text { text: Cow::Borrowed(piece.as_str()) },
                    }],
                    role: "model",
                },
                finish_reason: last.then_some("STOP"),
                index,
            })
            .collect();
        let produced = if last { plan.completion_tokens() } else { (step as u64 + 1) * n };
        let body = ReplyBody {
            candidates,
            usage_metadata: (!plan.applied.no_usage).then(|| UsageOut::new(plan.prompt_tokens, produced, last)),
            model_version: &plan.model,
            response_id,
        };
        let mut buf = Vec::with_capacity(256);
        match framing {
            Framing::Sse => {
                buf.extend_from_slice(b"data: ");
                stream_json(&body, &mut buf);
                buf.extend_from_slice(b"\r\n\r\n");
            }
            Framing::JsonArray => {
                buf.extend_from_slice(if step == 0 { b"[" } else { b",\r\n" });
                buf.extend_from_slice(&pretty(&body));
                if last {
                    buf.push(b']');
                }
            }
        }
        out.push(Bytes::from(buf));
    }
    out
}

/// Pause between the last chunk sent and a fault-injected cut, so it is flushed first.
const CUT_FLUSH_DELAY: Duration = Duration::from_millis(20);

/// Yields the events with `interval` between them, then ends (or, when cut, fails so that
/// hyper drops the connection).
struct Paced {
    chunks: std::vec::IntoIter<Bytes>,
    interval: Duration,
    sleep: Pin<Box<Sleep>>,
    waiting: bool,
    cut: bool,
    ended: bool,
    guard: StreamGuard,
    _in_flight: InFlight,
}

impl Stream for Paced {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.ended {
            return Poll::Ready(None);
        }
        if this.waiting {
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.waiting = false;
        }
        match this.chunks.next() {
            Some(chunk) => {
                let pause = if this.chunks.len() > 0 {
                    this.interval
                } else if this.cut {
                    this.interval.max(CUT_FLUSH_DELAY)
                } else {
                    Duration::ZERO
                };
                if !pause.is_zero() {
                    this.sleep.as_mut().reset(Instant::now() + pause);
                    this.waiting = true;
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            None => {
                this.ended = true;
                this.guard.finish();
                if this.cut {
                    Poll::Ready(Some(Err(std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "stream cut by fault injection"))))
                } else {
                    Poll::Ready(None)
                }
            }
        }
    }
}

pub(crate) fn response(plan: &Plan, response_id: &str, framing: Framing, interval: Duration, guard: StreamGuard, in_flight: InFlight) -> Response {
    let mut chunks = events(plan, response_id, framing);
    let cut = match plan.applied.cut_after {
        Some(k) => {
            chunks.truncate(k.min(chunks.len().saturating_sub(1)));
            true
        }
        None => false,
    };
    if interval.is_zero() && !chunks.is_empty() {
        // Nothing to pace: one write.
        chunks = vec![Bytes::from(chunks.concat())];
    }
    let body = Paced {
        chunks: chunks.into_iter(),
        interval,
        sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
        waiting: false,
        cut,
        ended: false,
        guard,
        _in_flight: in_flight,
    };
    let mut resp = Response::new(Body::from_stream(body));
    let headers = resp.headers_mut();
    match framing {
        Framing::Sse => {
            headers.insert(CONTENT_TYPE, EVENT_STREAM);
            headers.insert(HeaderName::from_static("content-disposition"), HeaderValue::from_static("attachment"));
        }
        Framing::JsonArray => {
            headers.insert(CONTENT_TYPE, JSON_UTF8);
        }
    }
    add_google_headers(headers);
    resp
}
