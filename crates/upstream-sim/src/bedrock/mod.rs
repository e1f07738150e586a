//! Amazon Bedrock Runtime, as `bedrock-runtime.<region>.amazonaws.com` answers:
//!
//! - `POST /model/{modelId}/converse`: JSON Converse reply;
//! - `POST /model/{modelId}/converse-stream`: `application/vnd.amazon.eventstream` events with
//!   correct prelude and message CRCs;
//! - `POST /model/{modelId}/invoke`: Titan and Cohere embeddings.
//!
//! The model id is the percent-encoded path segment (`…-v1%3A0`). Every reply carries
//! `x-amzn-RequestId`; errors carry `x-amzn-ErrorType` and `{"message":…}`. When the simulator
//! is configured with [`crate::SimConfig::aws_credentials`], every request must be signed with
//! SigV4 for service `bedrock` ([`sigv4`]), else it gets AWS's 403.
//!
//! Counting and faults are shared with the OpenAI side: Converse requests count as
//! `chat_requests` (and `stream_requests`), InvokeModel as `embedding_requests`; the fault queue
//! and `[[sim:…]]` markers (read from the last user turn's text) apply alike; status faults
//! become Bedrock's error for that status (429 ThrottlingException, 503
//! ServiceUnavailableException, 401 UnrecognizedClientException and 403 AccessDeniedException,
//! both sent as 403, …). Prompt tokens follow the simulator's rule with the `system` blocks
//! counted as one message: Σ(3 + words of each turn's text and tool-result text) + 3.

pub(crate) mod converse;
pub mod errors;
pub mod eventstream;
mod invoke;
pub(crate) mod request;
pub mod sigv4;

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::Stream;
use http::request::Parts;
use tokio::time::{Instant, Sleep};

pub(crate) use converse::{converse, converse_stream};
pub(crate) use invoke::invoke;

use self::errors::BedrockError;
use crate::state::AppState;
use crate::stats::{bump, InFlight, StreamGuard};

/// Records the credentials presented and checks the signature when the simulator has
/// credentials configured.
fn authorize(state: &AppState, parts: &Parts, body: &[u8]) -> Result<(), BedrockError> {
    state.counters.record_authorization(parts.headers.get(http::header::AUTHORIZATION));
    let Some(credentials) = &state.aws_credentials else {
        return Ok(());
    };
    let received = sigv4::Received {
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        raw_query: parts.uri.query(),
        headers: &parts.headers,
        authority: parts.uri.authority().map(|a| a.as_str()),
        body,
    };
    sigv4::verify(&received, credentials, SystemTime::now()).map_err(|e| {
        bump(&state.counters.unauthorized);
        BedrockError::from(e)
    })
}

/// `GET /foundation-models` (ListFoundationModels on the control-plane endpoint, which the
/// simulator serves on the same port): a short signed list, as connection probes use it.
/// Counted in `models_requests`.
pub(crate) async fn foundation_models(axum::extract::State(state): axum::extract::State<crate::state::SharedState>, req: axum::extract::Request) -> axum::response::Response {
    bump(&state.counters.models_requests);
    let rid = request_id(&state);
    let (parts, _) = req.into_parts();
    if let Err(e) = authorize(&state, &parts, b"") {
        return e.into_response(&rid);
    }
    let body = serde_json::json!({"modelSummaries": [
        {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/anthropic.claude-3-5-sonnet-20240620-v1:0", "modelId": "anthropic.claude-3-5-sonnet-20240620-v1:0", "modelName": "Claude 3.5 Sonnet", "providerName": "Anthropic", "inputModalities": ["TEXT", "IMAGE"], "outputModalities": ["TEXT"], "responseStreamingSupported": true, "inferenceTypesSupported": ["ON_DEMAND"], "modelLifecycle": {"status": "ACTIVE"}},
        {"modelArn": "arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-embed-text-v2:0", "modelId": "amazon.titan-embed-text-v2:0", "modelName": "Titan Text Embeddings V2", "providerName": "Amazon", "inputModalities": ["TEXT"], "outputModalities": ["EMBEDDING"], "inferenceTypesSupported": ["ON_DEMAND"], "modelLifecycle": {"status": "ACTIVE"}}
    ]});
    let mut resp = axum::response::Response::new(axum::body::Body::from(serde_json::to_vec(&body).unwrap_or_default()));
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    if let Ok(v) = http::HeaderValue::from_str(&rid) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}

/// The model id of `/model/{modelId}/…`, percent-decoded.
fn model_id(path: &str) -> String {
    let raw = path.strip_prefix("/model/").and_then(|r| r.split('/').next()).unwrap_or_default();
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A request id in AWS's UUID form.
fn request_id(state: &AppState) -> String {
    let h = state.ids.hex("", 32);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// A response body that hands out pre-framed messages with `interval` between them, then ends,
/// or fails (so the connection drops without a clean end) when `cut`.
pub(crate) struct PacedBody {
    frames: std::vec::IntoIter<Vec<u8>>,
    interval: Duration,
    sleep: Pin<Box<Sleep>>,
    waiting: bool,
    cut: bool,
    ended: bool,
    guard: StreamGuard,
    _in_flight: InFlight,
}

impl PacedBody {
    pub(crate) fn new(frames: Vec<Vec<u8>>, interval: Duration, cut: bool, guard: StreamGuard, in_flight: InFlight) -> PacedBody {
        // Unpaced streams go out as one write, like a fast upstream's.
        let frames = if interval.is_zero() && !frames.is_empty() { vec![frames.concat()] } else { frames };
        PacedBody {
            frames: frames.into_iter(),
            interval,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            waiting: false,
            cut,
            ended: false,
            guard,
            _in_flight: in_flight,
        }
    }
}

impl Stream for PacedBody {
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
        match this.frames.next() {
            Some(frame) => {
                let pause = if this.frames.len() > 0 {
                    this.interval
                } else if this.cut {
                    // hyper discards buffered bytes when a body fails: let them flush first.
                    this.interval.max(converse::CUT_FLUSH_DELAY)
                } else {
                    Duration::ZERO
                };
                if !pause.is_zero() {
                    this.sleep.as_mut().reset(Instant::now() + pause);
                    this.waiting = true;
                }
                Poll::Ready(Some(Ok(Bytes::from(frame))))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_are_decoded_from_the_path() {
        assert_eq!(model_id("/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse"), "anthropic.claude-3-5-sonnet-20240620-v1:0");
        assert_eq!(model_id("/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.x/converse-stream"), "arn:aws:bedrock:us-east-1:1:inference-profile/us.x");
        assert_eq!(model_id("/model/bad%zz/invoke"), "bad%zz");
    }
}
