//! Retries that are never billed twice.
//!
//! - `Idempotency-Key: <1–255 visible ASCII characters>` on any inference `POST`: the first
//!   request with a key runs; a retry with the same key and body from the same API key gets the
//!   first response (replayed byte for byte, marked `idempotent-replayed: true`), and a retry
//!   that arrives while the first is still running joins it and receives the same response as
//!   it is produced. The same key with a different body is `422`. Only successful responses are
//!   kept (for [`KEPT_FOR`]); a failed call can be retried with the same key and runs again.
//! - The AIGNE SDK retries without a key when response headers are slow (its own timeout): on
//!   its routes (`/api/v2/*`) an identical body from the same API key joins a call that is still
//!   running (or finished in the last [`IDENTICAL_KEPT_FOR`]) instead of starting another one.
//!
//! Calls run in their own task ([`Recording`]), so the first client hanging up does not cancel
//! work its retry is waiting for. The table is per process and in memory: a retry that lands on
//! another instance of a fleet runs again.
//!
//! Requests without a key on the OpenAI and Anthropic routes pass straight through: one header
//! lookup is all this step costs them.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::Route;
use futures::future::Either;
use sha2::{Digest, Sha256};
use tower::layer::layer_fn;
use tower::{Layer, Service};

use crate::context::RequestCtx;
use crate::error::ApiError;
use crate::inference::body;
use crate::inference::recording::{End, Recording};
use crate::state::AppState;

pub const HEADER: &str = "idempotency-key";
/// How long a successful response stays replayable for its `Idempotency-Key`.
pub const KEPT_FOR: Duration = Duration::from_secs(24 * 3600);
/// How long an identical keyless AIGNE call may still join a finished one.
pub const IDENTICAL_KEPT_FOR: Duration = Duration::from_secs(5);
const MAX_KEY_LEN: usize = 255;
/// Responses larger than this are not kept for replay once finished (a retry runs again).
const MAX_KEPT_RESPONSE: usize = 8 * 1024 * 1024;
/// Bounds of the table: entries and bytes of finished responses kept.
const MAX_ENTRIES: usize = 20_000;
const MAX_KEPT_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct EntryKey {
    /// SHA-256 of the credential headers: never the key itself.
    caller: [u8; 32],
    path: String,
    /// The client's `Idempotency-Key`, or `None` for identical-body de-duplication.
    key: Option<String>,
    /// Part of the key only for identical-body de-duplication.
    body_for_identity: Option<[u8; 32]>,
}

struct Entry {
    body_hash: [u8; 32],
    recording: Arc<Recording>,
    /// The status the call's usage record settled with (0: no call was recorded).
    call_status: Arc<AtomicU16>,
    /// Set when the response finished successfully and is kept for replay.
    kept_until: Option<Instant>,
    kept_bytes: usize,
}

enum Claim {
    Run(Arc<Recording>),
    Join(Arc<Recording>),
    BodyMismatch,
}

/// The process's table of idempotent calls.
#[derive(Default)]
pub struct IdempotencyTable {
    inner: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    entries: HashMap<EntryKey, Entry>,
    kept_bytes: usize,
}

impl IdempotencyTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Joins the live or kept call under `key`, or starts `run` as the new one.
    fn claim(&self, key: &EntryKey, body_hash: [u8; 32], run: impl FnOnce(Arc<AtomicU16>) -> Arc<Recording>) -> Claim {
        let now = Instant::now();
        let mut t = self.lock();
        if let Some(e) = t.entries.get(key) {
            if e.is_usable(now) {
                if e.body_hash != body_hash {
                    return Claim::BodyMismatch;
                }
                return Claim::Join(e.recording.clone());
            }
            t.remove(key);
        }
        if t.entries.len() >= MAX_ENTRIES {
            t.sweep(now);
        }
        let call_status = Arc::new(AtomicU16::new(0));
        let recording = run(call_status.clone());
        t.entries.insert(key.clone(), Entry { body_hash, recording: recording.clone(), call_status, kept_until: None, kept_bytes: 0 });
        Claim::Run(recording)
    }

    /// Once `recording` ends: keep a successful, not too large response for `keep`; forget
    /// anything else so a retry runs again.
    fn settle(&self, key: &EntryKey, recording: &Arc<Recording>, keep: Duration) {
        let size = recording.body_len();
        let mut t = self.lock();
        let Some(entry) = t.entries.get(key).filter(|e| Arc::ptr_eq(&e.recording, recording)) else {
            return;
        };
        if !entry.replayable() {
            t.remove(key);
            return;
        }
        if t.kept_bytes.saturating_add(size) > MAX_KEPT_BYTES {
            t.sweep(Instant::now());
            t.evict_for(size);
        }
        t.kept_bytes = t.kept_bytes.saturating_add(size);
        if let Some(e) = t.entries.get_mut(key) {
            e.kept_until = Some(Instant::now() + keep);
            e.kept_bytes = size;
        }
    }
}

impl Entry {
    /// Running, or finished and still kept (or about to be: its settling may not have run yet).
    /// A call whose status is already an error is not worth joining, even while its body is
    /// still being sent: the retry runs again.
    fn is_usable(&self, now: Instant) -> bool {
        match self.kept_until {
            Some(until) => now < until,
            None => {
                let (status, end) = self.recording.outcome();
                if status.is_some_and(|s| !s.is_success()) {
                    return false;
                }
                end.is_none() || self.replayable()
            }
        }
    }

    /// A finished response worth replaying: complete, successful on the wire and in the usage
    /// record (a stream that broke off mid-way is a `200` with an in-band error), not too large.
    fn replayable(&self) -> bool {
        let (status, end) = self.recording.outcome();
        let call = self.call_status.load(Ordering::Acquire);
        end == Some(End::Complete)
            && status.is_some_and(|s| s.is_success())
            && (call == 0 || (200..300).contains(&call))
            && self.recording.body_len() <= MAX_KEPT_RESPONSE
    }
}

impl Table {
    fn remove(&mut self, key: &EntryKey) {
        if let Some(e) = self.entries.remove(key) {
            self.kept_bytes = self.kept_bytes.saturating_sub(e.kept_bytes);
        }
    }

    /// Drops expired and broken entries.
    fn sweep(&mut self, now: Instant) {
        let dead: Vec<EntryKey> = self.entries.iter().filter(|(_, e)| !e.is_usable(now)).map(|(k, _)| k.clone()).collect();
        for k in dead {
            self.remove(&k);
        }
    }

    /// Evicts the kept responses closest to expiry until `size` more bytes fit.
    fn evict_for(&mut self, size: usize) {
        let mut kept: Vec<(Instant, EntryKey)> = self.entries.iter().filter_map(|(k, e)| e.kept_until.map(|u| (u, k.clone()))).collect();
        kept.sort_by_key(|(u, _)| *u);
        for (_, k) in kept {
            if self.kept_bytes.saturating_add(size) <= MAX_KEPT_BYTES {
                break;
            }
            self.remove(&k);
        }
    }
}

/// The layer on every inference `POST` route. A hand-written service rather than
/// `middleware::from_fn`: a request without an `Idempotency-Key` (outside the AIGNE routes)
/// goes straight to the handler, with no boxed clone of the route and no extra future.
pub fn layer(state: AppState) -> impl Layer<Route, Service = Idempotency<Route>> + Clone + Send + Sync + 'static {
    layer_fn(move |inner| Idempotency { inner, state: state.clone() })
}

#[derive(Clone)]
pub struct Idempotency<S> {
    inner: S,
    state: AppState,
}

type Replying = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request> for Idempotency<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Replying>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if !req.headers().contains_key(HEADER) && !req.uri().path().starts_with("/api/v2/") {
            return Either::Left(self.inner.call(req));
        }
        // The service that was made ready goes with the call; this one keeps a fresh clone.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let state = self.state.clone();
        Either::Right(Box::pin(async move { Ok(claim_and_run(state, req, inner).await) }))
    }
}

/// A call with an `Idempotency-Key`, or an AIGNE call: runs it, joins the one already running,
/// or replays the finished one.
async fn claim_and_run<S>(state: AppState, req: Request, mut inner: S) -> Response
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    let path = req.uri().path();
    let anthropic = path.ends_with("/messages");
    let client_key = match req.headers().get(HEADER) {
        None => None,
        Some(v) => match v.to_str().ok().filter(|s| valid_key(s)) {
            Some(s) => Some(s.to_owned()),
            None => {
                let e = ApiError::bad_request(None, format!("Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters"));
                return render(e, anthropic);
            }
        },
    };
    let (parts, body) = req.into_parts();
    let bytes = match body::read_limited(body, state.config.max_body_bytes).await {
        Ok(b) => b,
        Err(e) => return render(e, anthropic),
    };
    let body_hash: [u8; 32] = Sha256::digest(&bytes).into();
    let keep = if client_key.is_some() { KEPT_FOR } else { IDENTICAL_KEPT_FOR };
    let key = EntryKey {
        caller: caller_identity(&parts.headers),
        path: parts.uri.path().to_owned(),
        body_for_identity: client_key.is_none().then_some(body_hash),
        key: client_key,
    };
    let table = state.idempotency.clone();
    let claim = table.claim(&key, body_hash, |call_status| {
        let mut parts = parts;
        if let Some(ctx) = parts.extensions.get_mut::<RequestCtx>() {
            ctx.call_status = Some(call_status);
        }
        let req = Request::from_parts(parts, Body::from(bytes));
        let response = inner.call(req);
        Recording::start(async move {
            let Ok(res) = response.await;
            res
        })
    });
    match claim {
        Claim::BodyMismatch => render(ApiError::IdempotencyKeyReused, anthropic),
        Claim::Join(recording) => recording.response(true).await,
        Claim::Run(recording) => {
            let watched = recording.clone();
            tokio::spawn(async move {
                watched.ended().await;
                table.settle(&key, &watched, keep);
            });
            recording.response(false).await
        }
    }
}

fn valid_key(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_KEY_LEN && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

/// Who is calling, as far as idempotency goes: a hash of the credential headers, so two API
/// keys never share an entry and the table never holds a key.
fn caller_identity(headers: &HeaderMap) -> [u8; 32] {
    let mut h = Sha256::new();
    for name in ["authorization", "x-api-key"] {
        h.update(name.as_bytes());
        h.update([0]);
        if let Some(v) = headers.get(name) {
            h.update(v.as_bytes());
        }
        h.update([0]);
    }
    h.finalize().into()
}

fn render(e: ApiError, anthropic: bool) -> Response {
    if anthropic {
        e.into_anthropic_response()
    } else {
        e.into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_short_visible_ascii() {
        assert!(valid_key("retry-1"));
        assert!(valid_key("a b"));
        assert!(!valid_key(""));
        assert!(!valid_key(&"k".repeat(256)));
        assert!(!valid_key("tab\there"));
        assert!(!valid_key("é"));
    }

    #[test]
    fn callers_differ_by_credential() {
        let mut a = HeaderMap::new();
        a.insert("authorization", "Bearer one".parse().unwrap());
        let mut b = HeaderMap::new();
        b.insert("authorization", "Bearer two".parse().unwrap());
        let mut c = HeaderMap::new();
        c.insert("x-api-key", "Bearer one".parse().unwrap());
        assert_ne!(caller_identity(&a), caller_identity(&b));
        assert_ne!(caller_identity(&a), caller_identity(&c));
        assert_eq!(caller_identity(&a), caller_identity(&a.clone()));
    }
}
