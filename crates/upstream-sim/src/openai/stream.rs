//! Server-sent-event framing of a chat completion, chunk for chunk as
//! api.openai.com sends it:
//!
//! 1. per choice, a role chunk (`{"role":"assistant","content":"","refusal":null}`,
//!    or for a tool call the call's id, type, name and empty arguments);
//! 2. content chunks (`"Hello"`, `" from"`, … — concatenated they equal the
//!    non-streaming content), or tool-call argument fragments;
//! 3. per choice, an empty delta with `finish_reason`;
//! 4. with `stream_options.include_usage`, a chunk with `"choices":[]` and
//!    `usage` (every earlier chunk then carries `"usage":null`);
//! 5. `data: [DONE]`.
//!
//! All chunks are written into one buffer up front and handed out as
//! zero-copy slices, so pacing them costs no allocation per chunk.

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::Stream;
use http::header::CONTENT_TYPE;
use tokio::time::{Instant, Sleep};

use super::chat::{Plan, TOOL_ARGUMENT_FRAGMENTS};
use super::{add_openai_headers, unix_now, ResponseMeta, EVENT_STREAM};
use crate::state::AppState;
use crate::stats::{InFlight, StreamGuard};
use crate::tokens::reply_word;

/// A fully framed stream, ready to be paced out.
pub(crate) struct StreamReply {
    bytes: Bytes,
    /// End offset of each event in `bytes`.
    ends: Vec<usize>,
    /// When cut, the number of events sent before the connection drops.
    cut_after_events: Option<usize>,
}

/// Appends `value` as JSON. Writing JSON into memory cannot fail for the
/// plain values used here.
fn json<T: serde::Serialize + ?Sized>(buf: &mut BytesMut, value: &T) {
    let _ = serde_json::to_writer(buf.writer(), value);
}

impl StreamReply {
    pub(crate) fn new(plan: &Plan, state: &AppState) -> Self {
        let n = plan.n as usize;
        let steps = match plan.tool {
            Some(_) => TOOL_ARGUMENT_FRAGMENTS.len(),
            None => plan.tokens as usize,
        };

        // Everything before the choices is the same in every chunk.
        let mut prefix = BytesMut::with_capacity(256);
        prefix.extend_from_slice(b"data: {\"id\":\"");
        prefix.extend_from_slice(state.ids.alnum("chatcmpl-", 29).as_bytes());
        let _ = write!(
            prefix,
            "\",\"object\":\"chat.completion.chunk\",\"created\":{},\"model\":",
            unix_now()
        );
        json(&mut prefix, plan.model.as_str());
        prefix.extend_from_slice(b",\"service_tier\":\"");
        prefix.extend_from_slice(plan.service_tier.as_bytes());
        prefix.extend_from_slice(b"\",\"system_fingerprint\":\"");
        prefix.extend_from_slice(state.fingerprint.as_bytes());
        prefix.extend_from_slice(b"\",\"choices\":[");
        let suffix: &[u8] = if plan.include_usage {
            b"],\"usage\":null}\n\n"
        } else {
            b"]}\n\n"
        };

        let events = n * (steps + 2) + 2;
        let mut buf = BytesMut::with_capacity(events * (prefix.len() + suffix.len() + 96));
        let mut ends = Vec::with_capacity(events);
        let mut event = |buf: &mut BytesMut, choice: &dyn Fn(&mut BytesMut)| {
            buf.extend_from_slice(&prefix);
            choice(buf);
            buf.extend_from_slice(suffix);
            ends.push(buf.len());
        };

        for i in 0..n {
            event(&mut buf, &|b| {
                let _ = write!(b, "{{\"index\":{i},\"delta\":{{\"role\":\"assistant\",");
                match plan.tool.as_deref() {
                    None => b.extend_from_slice(b"\"content\":\"\",\"refusal\":null}"),
                    Some(name) => {
                        b.extend_from_slice(
                            b"\"content\":null,\"tool_calls\":[{\"index\":0,\"id\":\"",
                        );
                        b.extend_from_slice(state.ids.alnum("call_", 24).as_bytes());
                        b.extend_from_slice(b"\",\"type\":\"function\",\"function\":{\"name\":");
                        json(b, name);
                        b.extend_from_slice(b",\"arguments\":\"\"}}],\"refusal\":null}");
                    }
                }
                b.extend_from_slice(b",\"logprobs\":null,\"finish_reason\":null}");
            });
        }
        let mut piece = String::with_capacity(24);
        for step in 0..steps {
            piece.clear();
            match plan.tool {
                Some(_) => piece.push_str(
                    TOOL_ARGUMENT_FRAGMENTS
                        .get(step)
                        .copied()
                        .unwrap_or_default(),
                ),
                None => {
                    if step > 0 {
                        piece.push(' ');
                    }
                    piece.push_str(reply_word(step));
                }
            }
            for i in 0..n {
                event(&mut buf, &|b| {
                    let _ = write!(b, "{{\"index\":{i},\"delta\":{{");
                    if plan.tool.is_some() {
                        b.extend_from_slice(
                            b"\"tool_calls\":[{\"index\":0,\"function\":{\"arguments\":",
                        );
                        json(b, piece.as_str());
                        b.extend_from_slice(b"}}]");
                    } else {
                        b.extend_from_slice(b"\"content\":");
                        json(b, piece.as_str());
                    }
                    b.extend_from_slice(b"},\"logprobs\":null,\"finish_reason\":null}");
                });
            }
        }
        let finish = if plan.tool.is_some() {
            "tool_calls"
        } else {
            "stop"
        };
        for i in 0..n {
            event(&mut buf, &|b| {
                let _ = write!(
                    b,
                    "{{\"index\":{i},\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"{finish}\"}}"
                );
            });
        }
        if plan.include_usage && !plan.applied.no_usage {
            buf.extend_from_slice(&prefix);
            buf.extend_from_slice(b"],\"usage\":");
            json(&mut buf, &plan.usage());
            buf.extend_from_slice(b"}\n\n");
            ends.push(buf.len());
        }
        buf.extend_from_slice(b"data: [DONE]\n\n");
        ends.push(buf.len());

        let cut_after_events = plan
            .applied
            .cut_after
            .map(|content| n + content.min(n * steps));
        Self {
            bytes: buf.freeze(),
            ends,
            cut_after_events,
        }
    }

    /// The pieces to send, one per event, or one in all when there is no
    /// pacing to respect.
    fn into_chunks(self, paced: bool) -> (Vec<Bytes>, bool) {
        let events = self.cut_after_events.unwrap_or(self.ends.len());
        let end = match events {
            0 => 0,
            k => self.ends.get(k - 1).copied().unwrap_or(self.bytes.len()),
        };
        let cut = self.cut_after_events.is_some();
        if !paced {
            let all = self.bytes.slice(..end);
            return (if all.is_empty() { vec![] } else { vec![all] }, cut);
        }
        let mut start = 0;
        let chunks = self.ends[..events.min(self.ends.len())]
            .iter()
            .map(|&e| {
                let c = self.bytes.slice(start..e);
                start = e;
                c
            })
            .collect();
        (chunks, cut)
    }
}

/// Pause between the last chunk sent and a fault-injected cut.
const CUT_FLUSH_DELAY: Duration = Duration::from_millis(20);

/// The response body: yields the chunks with `interval` between them,
/// then ends (or, when cut, fails so that hyper drops the connection
/// without the closing chunk).
struct SseBody {
    chunks: std::vec::IntoIter<Bytes>,
    interval: Duration,
    sleep: Pin<Box<Sleep>>,
    waiting: bool,
    cut: bool,
    ended: bool,
    guard: StreamGuard,
    _in_flight: InFlight,
}

impl Stream for SseBody {
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
                    // hyper discards buffered bytes when a body fails, so
                    // give it time to flush what was sent before the cut.
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
                    Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "stream cut by fault injection",
                    ))))
                } else {
                    Poll::Ready(None)
                }
            }
        }
    }
}

pub(crate) fn response(
    reply: StreamReply,
    interval: Duration,
    guard: StreamGuard,
    in_flight: InFlight,
    meta: &ResponseMeta,
) -> Response {
    let (chunks, cut) = reply.into_chunks(!interval.is_zero());
    let body = SseBody {
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
    headers.insert(CONTENT_TYPE, EVENT_STREAM);
    add_openai_headers(headers, meta);
    resp
}
