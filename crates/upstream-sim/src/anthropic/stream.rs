//! Server-sent-event framing of a Messages API reply, event for event as api.anthropic.com
//! sends it:
//!
//! ```text
//! event: message_start        {"type":"message_start","message":{… "content":[], "usage":{…}}}
//! event: content_block_start  {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}
//! event: ping                 {"type": "ping"}
//! event: content_block_delta  {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}  (one per word)
//! event: content_block_stop   {"type":"content_block_stop","index":0}
//! event: message_delta        {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{…}}
//! event: message_stop         {"type":"message_stop"}
//! ```
//!
//! A tool call starts a `tool_use` block instead and sends `input_json_delta` fragments (an
//! empty one first, as Anthropic does). Events are written up front and paced out.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use http::header::{CACHE_CONTROL, CONTENT_TYPE};
use http::HeaderValue;
use serde::Serialize;
use serde_json::json;

use super::messages::{message_id, tool_use_id, Plan};
use super::{add_headers, Meta, EVENT_STREAM};
use crate::openai::chat::TOOL_ARGUMENT_FRAGMENTS;
use crate::state::AppState;
use crate::stats::{InFlight, StreamGuard};
use crate::tokens::reply_word;

/// Pause between the last event sent and a fault-injected cut, so it is flushed first.
const CUT_FLUSH_DELAY: Duration = Duration::from_millis(20);

/// Events before the first content delta: `message_start`, `content_block_start`, `ping`.
const PREAMBLE_EVENTS: usize = 3;

fn event<T: Serialize>(buf: &mut BytesMut, ends: &mut Vec<usize>, name: &str, data: &T) {
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    // Writing JSON into memory cannot fail for these values.
    let _ = serde_json::to_writer(buf.writer(), data);
    buf.extend_from_slice(b"\n\n");
    ends.push(buf.len());
}

/// The whole stream and where each event ends.
fn frame(plan: &Plan, state: &AppState) -> (Bytes, Vec<usize>) {
    let mut buf = BytesMut::with_capacity(1024 + plan.tokens as usize * 96);
    let mut ends = Vec::with_capacity(plan.tokens as usize + 8);
    let usage = plan.usage();
    let start_usage = json!({
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
        "output_tokens": 1,
        "service_tier": "standard",
    });
    let mut message = json!({
        "model": plan.model,
        "id": message_id(state),
        "type": "message",
        "role": "assistant",
        "content": [],
        "stop_reason": null,
        "stop_sequence": null,
    });
    if !plan.applied.no_usage {
        message["usage"] = start_usage;
    }
    event(
        &mut buf,
        &mut ends,
        "message_start",
        &json!({"type": "message_start", "message": message}),
    );
    let block = match plan.tool.as_deref() {
        Some(name) => {
            json!({"type": "tool_use", "id": tool_use_id(state), "name": name, "input": {}})
        }
        None => json!({"type": "text", "text": ""}),
    };
    event(
        &mut buf,
        &mut ends,
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0, "content_block": block}),
    );
    // Anthropic writes its ping with spaces.
    buf.extend_from_slice(b"event: ping\ndata: {\"type\": \"ping\"}\n\n");
    ends.push(buf.len());

    if plan.tool.is_some() {
        for fragment in std::iter::once("").chain(TOOL_ARGUMENT_FRAGMENTS) {
            let delta = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": fragment}});
            event(&mut buf, &mut ends, "content_block_delta", &delta);
        }
    } else {
        let mut piece = String::with_capacity(24);
        for i in 0..plan.tokens as usize {
            piece.clear();
            if i > 0 {
                piece.push(' ');
            }
            piece.push_str(reply_word(i));
            let delta = json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}});
            event(&mut buf, &mut ends, "content_block_delta", &delta);
        }
    }
    event(
        &mut buf,
        &mut ends,
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    );
    let mut delta = json!({"type": "message_delta", "delta": {"stop_reason": plan.stop_reason(), "stop_sequence": null}});
    if !plan.applied.no_usage {
        delta["usage"] = json!({
            "input_tokens": usage.input_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": usage.output_tokens,
        });
    }
    event(&mut buf, &mut ends, "message_delta", &delta);
    event(
        &mut buf,
        &mut ends,
        "message_stop",
        &json!({"type": "message_stop"}),
    );
    (buf.freeze(), ends)
}

/// The pieces to send: one per event when paced, else one in all; and whether to cut after.
fn pieces(plan: &Plan, state: &AppState, paced: bool) -> (Vec<Bytes>, bool) {
    let (bytes, ends) = frame(plan, state);
    let content_events = if plan.tool.is_some() {
        TOOL_ARGUMENT_FRAGMENTS.len() + 1
    } else {
        plan.tokens as usize
    };
    let cut_after = plan
        .applied
        .cut_after
        .map(|n| PREAMBLE_EVENTS + n.min(content_events));
    let events = cut_after.unwrap_or(ends.len()).min(ends.len());
    let end = match events {
        0 => 0,
        k => ends.get(k - 1).copied().unwrap_or(bytes.len()),
    };
    if !paced {
        let all = bytes.slice(..end);
        return (
            if all.is_empty() {
                Vec::new()
            } else {
                vec![all]
            },
            cut_after.is_some(),
        );
    }
    let mut start = 0;
    let chunks = ends[..events]
        .iter()
        .map(|&e| {
            let c = bytes.slice(start..e);
            start = e;
            c
        })
        .collect();
    (chunks, cut_after.is_some())
}

pub(crate) fn response(
    plan: &Plan,
    state: &AppState,
    interval: Duration,
    guard: StreamGuard,
    in_flight: InFlight,
    meta: &Meta,
) -> Response {
    let (chunks, cut) = pieces(plan, state, !interval.is_zero());
    let items = chunks.into_iter().enumerate();
    // The guard and the in-flight count live as long as the body: dropping the body early (the
    // client went away) drops an unfinished guard, which counts a cancelled stream.
    let body = futures::stream::unfold(
        (items, Some(guard), in_flight, false),
        move |(mut items, mut guard, in_flight, ended)| async move {
            if ended {
                return None;
            }
            match items.next() {
                Some((i, chunk)) => {
                    if i > 0 && !interval.is_zero() {
                        tokio::time::sleep(interval).await;
                    }
                    Some((Ok(chunk), (items, guard, in_flight, false)))
                }
                None => {
                    if let Some(g) = guard.as_mut() {
                        g.finish();
                    }
                    if cut {
                        // hyper discards buffered bytes when a body fails: let them leave first.
                        tokio::time::sleep(interval.max(CUT_FLUSH_DELAY)).await;
                        let err = std::io::Error::new(
                            std::io::ErrorKind::ConnectionAborted,
                            "stream cut by fault injection",
                        );
                        Some((Err(err), (items, guard, in_flight, true)))
                    } else {
                        None
                    }
                }
            }
        },
    );
    let mut resp = Response::new(Body::from_stream(body.boxed()));
    let headers = resp.headers_mut();
    headers.insert(CONTENT_TYPE, EVENT_STREAM);
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    add_headers(headers, meta);
    resp
}
