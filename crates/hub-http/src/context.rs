//! Per-request context set by the outermost middleware: the request id, the start instant and
//! the client address. Also writes `x-request-id`, the security headers and the access log line (method, path without
//! query, status, duration: never headers or bodies, so no key or prompt can reach the log).

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::AtomicU16;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::response::Response;
use axum::routing::Route;
use tower::layer::layer_fn;
use tower::{Layer, Service};

use crate::state::AppState;

/// A constant name: one given as text is copied into the header map on every insert.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

#[derive(Debug, Clone)]
pub struct RequestCtx {
    pub request_id: String,
    pub started: Instant,
    pub client_ip: Option<IpAddr>,
    /// Where the call's `CallGuard` reports the status its usage record settles with, for a
    /// layer that must know how a call really ended (a stream that broke off mid-way is a
    /// `200` on the wire). `None` unless such a layer asked: the hot path allocates nothing.
    pub call_status: Option<Arc<AtomicU16>>,
}

/// The outermost layer. A hand-written service rather than `middleware::from_fn`: that one
/// boxes a clone of everything inside it for every request; this one calls its inner service
/// directly and allocates one future.
pub fn layer(state: AppState) -> impl Layer<Route, Service = RequestContext<Route>> + Clone + Send + Sync + 'static {
    layer_fn(move |inner| RequestContext { inner, state: state.clone() })
}

#[derive(Clone)]
pub struct RequestContext<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for RequestContext<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let ctx = RequestCtx {
            request_id: hub_core::ids::new_request_id(),
            started: Instant::now(),
            client_ip: peer.map(|p| client_address(p, req.headers(), &self.state.config.trusted_proxies)),
            call_status: None,
        };
        let method = req.method().clone();
        // A `Uri` clone shares its bytes: no copy of the path per request.
        let uri = req.uri().clone();
        let request_id_header = HeaderValue::from_str(&ctx.request_id).ok();
        let started = ctx.started;
        req.extensions_mut().insert(ctx);
        let response = self.inner.call(req);
        Box::pin(async move {
            let Ok(mut res) = response.await;
            finish(&mut res, &method, uri.path(), started, request_id_header);
            Ok(res)
        })
    }
}

/// After the inner layers answered: the access log line, `x-request-id` and the security headers.
fn finish(res: &mut Response, method: &Method, path: &str, started: Instant, request_id_header: Option<HeaderValue>) {
    let request_id = request_id_header.as_ref().and_then(|v| v.to_str().ok()).unwrap_or_default();
    // Every model call is recorded in full in the usage ledger; the access log is for what
    // went wrong. Successful requests log at debug (`AIGNE_HUB_LOG=access=debug` shows them).
    let status = res.status();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if status.is_client_error() || status.is_server_error() {
        tracing::info!(target: "access", request_id = %request_id, method = %method, path = %redact_path(path), status = status.as_u16(), ms);
    } else {
        tracing::debug!(target: "access", request_id = %request_id, method = %method, path = %redact_path(path), status = status.as_u16(), ms);
    }
    if let Some(v) = request_id_header {
        res.headers_mut().insert(X_REQUEST_ID, v);
    }
    add_security_headers(res);
}

/// The client's address: the peer's, or behind a trusted proxy the right-most
/// `X-Forwarded-For` hop that is not a trusted proxy. Without trusted proxies the header is
/// never read.
fn client_address(peer: IpAddr, headers: &axum::http::HeaderMap, trusted: &[hub_core::scopes::IpNet]) -> IpAddr {
    if trusted.is_empty() {
        return peer;
    }
    let hops: Vec<&str> = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).collect();
    hub_core::scopes::client_address(peer, &hops, trusted)
}

/// Setup links carry a one-time token in the path's query, which is never logged; paths are
/// logged as-is otherwise (they never carry secrets: keys travel only in headers).
fn redact_path(path: &str) -> &str {
    if path.len() > 200 {
        &path[..200]
    } else {
        path
    }
}

/// Headers every response carries: no framing, no sniffing, a strict CSP for the UI. Part of
/// the outer middleware rather than a layer of its own: one layer less on every request.
fn add_security_headers(res: &mut Response) {
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html")) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
        );
    }
}
