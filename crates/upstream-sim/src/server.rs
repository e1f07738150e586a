//! The running server: routing, the accept loop, and the `Sim` handle.
//!
//! The accept loop is written out rather than using `axum::serve` because
//! shutdown must not wait for stalled requests (a stall never ends on its
//! own): on shutdown every connection is dropped at once.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::SimConfig;
use crate::control;
use crate::faults::Fault;
use crate::openai::{chat, embeddings, invalid_url, models};
use crate::state::{AppState, SharedState};
use crate::stats::Stats;

/// How long shutdown waits for connection tasks to notice the signal.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// A running simulator. Clones share the same server; it stops on
/// [`Sim::shutdown`] or when the last clone is dropped.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

struct Inner {
    addr: SocketAddr,
    state: SharedState,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("addr", &self.inner.addr)
            .finish()
    }
}

fn router(state: SharedState) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat::completions))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/images/generations", post(crate::openai::images::generate))
        .route("/__sim/files/{name}", get(crate::openai::images::file))
        .route("/v1/videos", post(crate::openai::videos::create))
        .route("/v1/videos/{id}", get(crate::openai::videos::retrieve))
        .route("/v1/videos/{id}/content", get(crate::openai::videos::content))
        .route("/v1beta/models/{model}/operations/{id}", get(crate::gemini::video::operation))
        .route("/v1beta/files/{target}", get(crate::gemini::video::download))
        .route("/v1/messages", post(crate::anthropic::messages::create))
        .route("/v1/models", get(models::list))
        .route("/v1/models/{id}", get(models::get))
        .route("/model/{model_id}/converse", post(crate::bedrock::converse))
        .route("/model/{model_id}/converse-stream", post(crate::bedrock::converse_stream))
        .route("/model/{model_id}/invoke", post(crate::bedrock::invoke))
        .route("/foundation-models", get(crate::bedrock::foundation_models))
        .route("/v1beta/models/{target}", post(crate::gemini::dispatch))
        .route("/v1beta/models", get(crate::gemini::list_models))
        .route("/v1/ideogram-v3/generate", post(crate::ideogram::generate))
        .route("/__sim/keys", post(control::keys))
        .route("/__sim/faults", post(control::push_faults))
        .route("/__sim/fault_rate", post(control::fault_rate))
        .route("/__sim/stats", get(control::stats))
        .route("/__sim/reset", post(control::reset))
        .route("/__sim/config", post(control::config))
        .route("/__sim/health", get(control::health))
        .fallback(invalid_url)
        .method_not_allowed_fallback(invalid_url)
        .with_state(state)
}

impl Sim {
    /// Starts a simulator on an ephemeral port of 127.0.0.1.
    pub async fn start(config: SimConfig) -> io::Result<Sim> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), config).await
    }

    /// Starts a simulator on `addr` (port 0 picks a free port).
    pub async fn start_on(addr: SocketAddr, config: SimConfig) -> io::Result<Sim> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let state = Arc::new(AppState::new(&config, nanos ^ u64::from(addr.port())));
        let (shutdown, signal) = watch::channel(false);
        let task = tokio::spawn(accept_loop(listener, router(state.clone()), signal));
        Ok(Sim {
            inner: Arc::new(Inner {
                addr,
                state,
                shutdown,
                task: Mutex::new(Some(task)),
            }),
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.inner.addr
    }

    /// What an OpenAI SDK's `base_url` should be: `http://IP:PORT/v1`
    /// (a wildcard bind address is replaced by loopback).
    pub fn base_url(&self) -> String {
        let mut addr = self.inner.addr;
        match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
            IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(Ipv6Addr::LOCALHOST.into()),
            _ => {}
        }
        format!("http://{addr}/v1")
    }

    /// What an Anthropic SDK's `base_url` should be: `http://IP:PORT` (the Messages API
    /// lives at `/v1/messages` under it).
    pub fn anthropic_base_url(&self) -> String {
        self.base_url().trim_end_matches("/v1").to_owned()
    }

    /// What a Google Gen AI SDK's `base_url` should be: `http://IP:PORT` (the Gemini API lives
    /// at `/v1beta/models/…` under it).
    pub fn gemini_base_url(&self) -> String {
        self.base_url().trim_end_matches("/v1").to_owned()
    }

    /// Accepts `key` from now on besides the configured one (as `POST /__sim/keys`).
    pub fn accept_key(&self, key: &str) {
        self.inner.state.extra_keys.write().insert(key.to_owned());
    }

    /// Stops accepting a key [`Sim::accept_key`] added.
    pub fn refuse_key(&self, key: &str) {
        self.inner.state.extra_keys.write().remove(key);
    }

    /// What an Ideogram client's base URL should be: `http://IP:PORT`.
    pub fn ideogram_base_url(&self) -> String {
        self.base_url().trim_end_matches("/v1").to_owned()
    }

    /// Queues `fault` for the next request it applies to (FIFO).
    pub fn push_fault(&self, fault: Fault) {
        self.inner.state.faults.push(fault);
    }

    /// Faults still waiting for a request.
    pub fn queued_faults(&self) -> usize {
        self.inner.state.faults.queued()
    }

    /// Applies `fault` to each matching request with `probability`, drawn
    /// from a generator seeded with `seed` (the same seed gives the same
    /// sequence of decisions). `probability <= 0` turns it off.
    pub fn set_fault_rate(&self, probability: f64, fault: Fault, seed: u64) {
        self.inner.state.faults.set_rate(probability, fault, seed);
    }

    /// Applies `fault` with `probability` to chat requests that present `api_key` only (the
    /// other keys stay healthy): for testing failover between credentials.
    pub fn set_key_fault_rate(&self, api_key: &str, probability: f64, fault: Fault, seed: u64) {
        self.inner.state.faults.set_key_rate(api_key, probability, fault, seed);
    }

    /// Drops every queued fault and the rate-based fault.
    pub fn clear_faults(&self) {
        self.inner.state.faults.clear();
    }

    pub fn stats(&self) -> Stats {
        self.inner.state.counters.snapshot()
    }

    /// Zeroes the counters (not `in_flight`) and forgets the last body and
    /// authorization. Queued faults are kept.
    pub fn reset_stats(&self) {
        self.inner.state.counters.reset();
    }

    pub fn set_latency(&self, d: Duration) {
        self.inner.state.tunables.set_latency(d);
    }

    pub fn set_chunk_interval(&self, d: Duration) {
        self.inner.state.tunables.set_chunk_interval(d);
    }

    /// How long video jobs submitted from now on render.
    pub fn set_video_render(&self, d: Duration) {
        self.inner.state.tunables.set_video_render(d);
    }

    pub fn set_default_completion_tokens(&self, n: u32) {
        self.inner.state.tunables.set_default_completion_tokens(n);
    }

    /// Stops accepting, drops every open connection (stalled ones too) and
    /// waits for the server task to end.
    pub async fn shutdown(self) {
        let _ = self.inner.shutdown.send(true);
        let task = self.inner.task.lock().take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }
}

async fn accept_loop(listener: TcpListener, app: Router, mut signal: watch::Receiver<bool>) {
    // Every connection holds a receiver; `closed()` resolves once all are gone.
    let (conns, _) = watch::channel(());
    let conn_signal = signal.clone();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, app.clone(), conn_signal.clone(), conns.subscribe()));
                }
                Err(e) => {
                    // Usually running out of file descriptors under load:
                    // back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            () = stopped(&mut signal) => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, conns.closed()).await;
}

async fn serve_connection(
    stream: TcpStream,
    app: Router,
    mut signal: watch::Receiver<bool>,
    _conn: watch::Receiver<()>,
) {
    // Small SSE chunks must leave at once, not wait for Nagle.
    let _ = stream.set_nodelay(true);
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
    tokio::select! {
        result = conn => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        () = stopped(&mut signal) => {}
    }
}

/// Resolves once shutdown is signalled (or the handle is gone).
async fn stopped(signal: &mut watch::Receiver<bool>) {
    // The borrowed value is not `Send`, so it must not outlive this call.
    let _ = signal.wait_for(|stop| *stop).await;
}
