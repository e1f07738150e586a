//! Request counters. Counting happens on every request, so it is lock-free
//! except for the two "last seen" values, which are swapped under a short
//! lock and only decoded when a snapshot is taken.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::HeaderValue;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// A snapshot of what the simulator has seen since start or the last reset.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Requests received on `POST /v1/chat/completions`, whatever their outcome
    /// (including 401s, 400s and faults).
    pub chat_requests: u64,
    /// The subset of `chat_requests` whose body parsed and asked for `"stream":true`.
    pub stream_requests: u64,
    /// Requests received on `POST /v1/embeddings`, whatever their outcome.
    pub embedding_requests: u64,
    /// Requests received on `GET /v1/models` and `GET /v1/models/{id}`.
    pub models_requests: u64,
    /// Requests answered with 401 because of a missing or wrong API key.
    pub unauthorized: u64,
    /// Requests that had at least one fault applied (queued, rate-based or marker).
    pub faults_served: u64,
    /// `/v1` requests being served right now; a stream counts until its body ends.
    /// Not cleared by a reset.
    pub in_flight: i64,
    /// The most requests in flight at once since the start or the last reset.
    pub max_in_flight: i64,
    /// Streaming requests whose client went away before the stream finished
    /// (including while waiting out latency or a stall).
    pub cancelled_streams: u64,
    /// Body of the latest chat request, if it was valid JSON.
    pub last_chat_body: Option<serde_json::Value>,
    /// `Authorization` header of the latest `/v1` request.
    pub last_authorization: Option<String>,
    /// Sum of `completion_tokens` over chat replies produced.
    pub total_completion_tokens: u64,
    /// Sum of `prompt_tokens` over chat replies produced.
    pub total_prompt_tokens: u64,
    /// Sum of `prompt_tokens` over embedding replies produced.
    pub total_embedding_tokens: u64,
    /// Requests received on Anthropic's `POST /v1/messages`, whatever their outcome. Their
    /// tokens count in `total_prompt_tokens` / `total_completion_tokens`.
    #[serde(default)]
    pub messages_requests: u64,
    /// Body of the latest `/v1/messages` request, if it was valid JSON.
    #[serde(default)]
    pub last_messages_body: Option<serde_json::Value>,
    /// `x-api-key` header of the latest `/v1/messages` request.
    #[serde(default)]
    pub last_x_api_key: Option<String>,
    /// Video jobs submitted (`POST /v1/videos`, `:predictLongRunning`), whatever their outcome.
    #[serde(default)]
    pub video_requests: u64,
    /// Status reads of video jobs (`GET /v1/videos/{id}`, `GET …/operations/{id}`).
    #[serde(default)]
    pub video_polls: u64,
    /// Video files downloaded (`GET /v1/videos/{id}/content`, `GET /v1beta/files/{id}:download`).
    #[serde(default)]
    pub video_downloads: u64,
    /// Body of the latest video submission: JSON as received, or multipart fields as an object.
    #[serde(default)]
    pub last_video_body: Option<serde_json::Value>,
    /// Model calls (not model listings) per presented key, refused ones included: shows which
    /// credential a gateway sent its users' calls with.
    #[serde(default)]
    pub calls_by_key: std::collections::BTreeMap<String, u64>,
    /// Ideogram generations (`POST /v1/ideogram-v3/generate`), whatever their outcome.
    #[serde(default)]
    pub ideogram_requests: u64,
    /// Image requests to Gemini (`:predict`, and `generateContent` asking for images).
    #[serde(default)]
    pub gemini_image_requests: u64,
    /// Generated image files downloaded (`GET /__sim/files/…`).
    #[serde(default)]
    pub file_downloads: u64,
    /// The latest Ideogram form (fields as an object) or Gemini image request body.
    #[serde(default)]
    pub last_image_request: Option<serde_json::Value>,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub chat_requests: AtomicU64,
    pub stream_requests: AtomicU64,
    pub embedding_requests: AtomicU64,
    pub models_requests: AtomicU64,
    pub unauthorized: AtomicU64,
    pub faults_served: AtomicU64,
    pub in_flight: AtomicI64,
    pub max_in_flight: AtomicI64,
    pub cancelled_streams: AtomicU64,
    pub total_completion_tokens: AtomicU64,
    pub total_prompt_tokens: AtomicU64,
    pub total_embedding_tokens: AtomicU64,
    pub messages_requests: AtomicU64,
    pub video_requests: AtomicU64,
    pub video_polls: AtomicU64,
    pub video_downloads: AtomicU64,
    last_video_body: Mutex<Option<serde_json::Value>>,
    calls_by_key: Mutex<std::collections::BTreeMap<String, u64>>,
    last_image_request: Mutex<Option<serde_json::Value>>,
    pub ideogram_requests: AtomicU64,
    pub gemini_image_requests: AtomicU64,
    pub file_downloads: AtomicU64,
    last_chat_body: Mutex<Option<Bytes>>,
    last_messages_body: Mutex<Option<Bytes>>,
    last_x_api_key: Mutex<Option<HeaderValue>>,
    last_authorization: Mutex<Option<HeaderValue>>,
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub(crate) fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub(crate) fn record_chat_body(&self, body: &Bytes) {
        // A `Bytes` clone is a reference count bump, not a copy.
        *self.last_chat_body.lock() = Some(body.clone());
    }

    pub(crate) fn record_authorization(&self, value: Option<&HeaderValue>) {
        *self.last_authorization.lock() = value.cloned();
    }

    pub(crate) fn record_messages_body(&self, body: &Bytes) {
        *self.last_messages_body.lock() = Some(body.clone());
    }

    pub(crate) fn record_x_api_key(&self, value: Option<&HeaderValue>) {
        *self.last_x_api_key.lock() = value.cloned();
    }

    pub(crate) fn record_image_request(&self, body: serde_json::Value) {
        *self.last_image_request.lock() = Some(body);
    }

    pub(crate) fn record_key_call(&self, key: &str) {
        *self.calls_by_key.lock().entry(key.to_owned()).or_default() += 1;
    }

    pub(crate) fn record_video_body(&self, body: serde_json::Value) {
        *self.last_video_body.lock() = Some(body);
    }

    pub(crate) fn snapshot(&self) -> Stats {
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let body = self.last_chat_body.lock().clone();
        let auth = self.last_authorization.lock().clone();
        Stats {
            chat_requests: load(&self.chat_requests),
            stream_requests: load(&self.stream_requests),
            embedding_requests: load(&self.embedding_requests),
            models_requests: load(&self.models_requests),
            unauthorized: load(&self.unauthorized),
            faults_served: load(&self.faults_served),
            in_flight: self.in_flight.load(Ordering::Relaxed),
            max_in_flight: self.max_in_flight.load(Ordering::Relaxed),
            cancelled_streams: load(&self.cancelled_streams),
            last_chat_body: body.and_then(|b| serde_json::from_slice(&b).ok()),
            last_authorization: auth.map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            total_completion_tokens: load(&self.total_completion_tokens),
            total_prompt_tokens: load(&self.total_prompt_tokens),
            total_embedding_tokens: load(&self.total_embedding_tokens),
            messages_requests: load(&self.messages_requests),
            last_messages_body: self
                .last_messages_body
                .lock()
                .clone()
                .and_then(|b| serde_json::from_slice(&b).ok()),
            last_x_api_key: self
                .last_x_api_key
                .lock()
                .clone()
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
            video_requests: load(&self.video_requests),
            video_polls: load(&self.video_polls),
            video_downloads: load(&self.video_downloads),
            last_video_body: self.last_video_body.lock().clone(),
            calls_by_key: self.calls_by_key.lock().clone(),
            ideogram_requests: load(&self.ideogram_requests),
            gemini_image_requests: load(&self.gemini_image_requests),
            file_downloads: load(&self.file_downloads),
            last_image_request: self.last_image_request.lock().clone(),
        }
    }

    /// Clears everything but the `in_flight` gauge, which tracks live
    /// requests and would go negative if zeroed under them.
    pub(crate) fn reset(&self) {
        for c in [
            &self.chat_requests,
            &self.stream_requests,
            &self.embedding_requests,
            &self.models_requests,
            &self.unauthorized,
            &self.faults_served,
            &self.cancelled_streams,
            &self.total_completion_tokens,
            &self.total_prompt_tokens,
            &self.total_embedding_tokens,
            &self.messages_requests,
            &self.video_requests,
            &self.video_polls,
            &self.video_downloads,
            &self.ideogram_requests,
            &self.gemini_image_requests,
            &self.file_downloads,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.max_in_flight.store(self.in_flight.load(Ordering::Relaxed), Ordering::Relaxed);
        *self.last_chat_body.lock() = None;
        *self.last_authorization.lock() = None;
        *self.last_messages_body.lock() = None;
        *self.last_x_api_key.lock() = None;
        *self.last_video_body.lock() = None;
        self.calls_by_key.lock().clear();
        *self.last_image_request.lock() = None;
    }
}

/// Counts a request as in flight for as long as it lives; it moves into a
/// stream body so that streams count until their last byte or disconnect.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Counters>);

impl InFlight {
    pub(crate) fn new(counters: &Arc<Counters>) -> Self {
        let now = counters.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        counters.max_in_flight.fetch_max(now, Ordering::AcqRel);
        Self(counters.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Detects a client that goes away mid-stream: hyper drops the response
/// body (or the pending handler) when the connection closes, and a guard
/// dropped before `finish` counts as a cancelled stream.
#[derive(Debug)]
pub(crate) struct StreamGuard {
    counters: Arc<Counters>,
    finished: bool,
}

impl StreamGuard {
    pub(crate) fn new(counters: &Arc<Counters>) -> Self {
        Self {
            counters: counters.clone(),
            finished: false,
        }
    }

    pub(crate) fn finish(&mut self) {
        self.finished = true;
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        if !self.finished {
            bump(&self.counters.cancelled_streams);
        }
    }
}
