//! One response, produced once and watched by any number of clients: the first caller of an
//! idempotent request and every retry that joins it. The producer runs in its own task, so a
//! client that goes away does not cancel a call another client (or its own retry) is waiting
//! for; every frame is kept, so a viewer that joins late still gets the whole body from the
//! first byte.
//!
//! A streamed response nobody watches any more is cancelled after [`LINGER`], so a client that
//! hangs up mid-stream still stops the upstream call within a second (and is billed for what
//! the upstream produced); a retry that reconnects within the linger joins the running stream.
//! A response still waiting for its first byte keeps running: the upstream is already doing
//! (and billing) the work, and a retry will want the result.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use http_body_util::BodyExt;
use tokio::sync::Notify;

/// How long a stream with no viewer keeps running, waiting for a retry to reconnect.
pub const LINGER: Duration = Duration::from_millis(500);

/// The header a replayed (or joined) response carries.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

pub struct Recording {
    tape: Mutex<Tape>,
    changed: Notify,
}

#[derive(Default)]
struct Tape {
    head: Option<(StatusCode, HeaderMap)>,
    frames: Vec<Bytes>,
    bytes: usize,
    end: Option<End>,
    viewers: usize,
    producer: Option<tokio::task::AbortHandle>,
}

/// How a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// The whole body was produced.
    Complete,
    /// The body failed mid-way or the producer was cancelled: not replayable.
    Broken,
}

impl Recording {
    /// Starts producing `response` in its own task.
    pub fn start<F>(response: F) -> Arc<Recording>
    where
        F: Future<Output = Response> + Send + 'static,
    {
        let rec = Arc::new(Recording { tape: Mutex::new(Tape::default()), changed: Notify::new() });
        let producer = rec.clone();
        let handle = tokio::spawn(async move { producer.produce(response).await });
        rec.lock().producer = Some(handle.abort_handle());
        rec
    }

    fn lock(&self) -> MutexGuard<'_, Tape> {
        // A panic while holding this lock cannot leave the tape inconsistent (plain pushes).
        self.tape.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn produce<F: Future<Output = Response>>(self: Arc<Self>, response: F) {
        let (parts, mut body) = response.await.into_parts();
        let streaming = is_stream(&parts.headers);
        let unwatched = {
            let mut t = self.lock();
            t.head = Some((parts.status, parts.headers));
            t.viewers == 0
        };
        self.changed.notify_waiters();
        if streaming && unwatched {
            self.cancel_if_unwatched();
        }
        let end = loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let mut t = self.lock();
                        t.bytes = t.bytes.saturating_add(data.len());
                        t.frames.push(data);
                        drop(t);
                        self.changed.notify_waiters();
                    }
                }
                Some(Err(_)) => break End::Broken,
                None => break End::Complete,
            }
        };
        self.finish(end);
    }

    fn finish(&self, end: End) {
        let mut t = self.lock();
        if t.end.is_none() {
            t.end = Some(end);
        }
        t.producer = None;
        drop(t);
        self.changed.notify_waiters();
    }

    /// The status, once known, and how the recording ended, if it has.
    pub fn outcome(&self) -> (Option<StatusCode>, Option<End>) {
        let t = self.lock();
        (t.head.as_ref().map(|(s, _)| *s), t.end)
    }

    /// Bytes of body recorded so far.
    pub fn body_len(&self) -> usize {
        self.lock().bytes
    }

    /// Waits until the recording has ended.
    pub async fn ended(&self) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.lock().end.is_some() {
                return;
            }
            notified.await;
        }
    }

    /// A response that plays the recording from its first byte and follows it live.
    /// `replayed` marks responses to a retry rather than to the first caller.
    pub async fn response(self: Arc<Self>, replayed: bool) -> Response {
        let viewer = Viewer::new(self.clone());
        let (status, mut headers) = loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let head = self.lock().head.clone();
            if let Some(head) = head {
                break head;
            }
            notified.await;
        };
        if replayed {
            headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
        }
        // `usize::MAX` marks a stream that has reported its error: it ends there.
        let frames = futures::stream::unfold((viewer, 0usize), |(viewer, next)| async move {
            if next == usize::MAX {
                return None;
            }
            let rec = viewer.rec.clone();
            loop {
                let notified = rec.changed.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                {
                    let t = rec.lock();
                    if let Some(frame) = t.frames.get(next) {
                        return Some((Ok::<Bytes, std::io::Error>(frame.clone()), (viewer, next + 1)));
                    }
                    match t.end {
                        Some(End::Complete) => return None,
                        Some(End::Broken) => return Some((Err(std::io::Error::other("the response broke off")), (viewer, usize::MAX))),
                        None => {}
                    }
                }
                notified.await;
            }
        });
        let mut res = Response::new(Body::from_stream(frames));
        *res.status_mut() = status;
        *res.headers_mut() = headers;
        res
    }

    /// Cancels the producer of a streamed response if nobody is watching after [`LINGER`].
    fn cancel_if_unwatched(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let rec = self.clone();
        runtime.spawn(async move {
            tokio::time::sleep(LINGER).await;
            let producer = {
                let t = rec.lock();
                if t.viewers > 0 || t.end.is_some() {
                    return;
                }
                t.producer.clone()
            };
            if let Some(p) = producer {
                p.abort();
            }
            rec.finish(End::Broken);
        });
    }
}

fn is_stream(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/event-stream"))
}

/// One client watching a recording; counted so an unwatched stream can be cancelled.
struct Viewer {
    rec: Arc<Recording>,
}

impl Viewer {
    fn new(rec: Arc<Recording>) -> Viewer {
        rec.lock().viewers += 1;
        Viewer { rec }
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let mut t = self.rec.lock();
        t.viewers = t.viewers.saturating_sub(1);
        let streaming_unwatched = t.viewers == 0 && t.end.is_none() && t.head.as_ref().is_some_and(|(_, h)| is_stream(h));
        drop(t);
        if streaming_unwatched {
            self.rec.cancel_if_unwatched();
        }
    }
}
