//! The lean transport for the hot path: hyper's pooled client without reqwest's per-request
//! layers (URL parsing with IDNA, header map merging, boxed bodies and timeouts). Same guarantees
//! as the shared client: keep-alive pools (HTTP/1.1, and HTTP/2 where TLS negotiates it),
//! `TCP_NODELAY`, a connect timeout, rustls with the webpki roots, no redirects followed. The
//! first-byte, idle and total timeouts stay with the callers, as for the shared client.

use std::error::Error as _;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use http::{Method, Request, Response, Uri};
use http_body_util::{BodyDataStream, BodyExt, Full};
use hub_core::Secret;
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::client::Timeouts;
use crate::error::{ProviderError, TimeoutKind};

const USER_AGENT_VALUE: HeaderValue = HeaderValue::from_static(concat!("aigne-hub/", env!("CARGO_PKG_VERSION")));
const APPLICATION_JSON: HeaderValue = HeaderValue::from_static("application/json");

#[derive(Clone)]
pub(crate) struct DirectClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl DirectClient {
    pub(crate) fn new(timeouts: Timeouts) -> DirectClient {
        let mut http = HttpConnector::new();
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeouts.connect));
        // The TLS layer below decides by scheme; plain `http://` stays allowed (local models).
        http.enforce_http(false);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            .build(https);
        DirectClient { client }
    }

    /// `POST {base_url}{path}` with a JSON body; the credential (if any) as a sensitive bearer
    /// header. Resolves at the response headers.
    pub(crate) async fn post_json(
        &self,
        base_url: &str,
        path: &str,
        body: Vec<u8>,
        accept: &'static str,
        api_key: Option<&Secret>,
    ) -> Result<Response<Incoming>, ProviderError> {
        let base = base_url.trim_end_matches('/');
        let mut url = String::with_capacity(base.len() + path.len());
        url.push_str(base);
        url.push_str(path);
        let uri = Uri::try_from(url).map_err(|_| ProviderError::Config("the provider's base URL is not a valid URL".to_owned()))?;
        let mut request = Request::new(Full::new(Bytes::from(body)));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = uri;
        let headers = request.headers_mut();
        headers.insert(CONTENT_TYPE, APPLICATION_JSON);
        headers.insert(ACCEPT, HeaderValue::from_static(accept));
        headers.insert(USER_AGENT, USER_AGENT_VALUE);
        if let Some(key) = api_key {
            headers.insert(AUTHORIZATION, bearer(key)?);
        }
        self.client.request(request).await.map_err(transport_error)
    }
}

fn bearer(key: &Secret) -> Result<HeaderValue, ProviderError> {
    let key = key.expose();
    let mut v = BytesMut::with_capacity(7 + key.len());
    v.extend_from_slice(b"Bearer ");
    v.extend_from_slice(key.as_bytes());
    let mut value = HeaderValue::from_maybe_shared(v.freeze())
        .map_err(|_| ProviderError::Config("the provider credential holds characters a header cannot carry".to_owned()))?;
    value.set_sensitive(true);
    Ok(value)
}

/// Reads a whole body, refusing one larger than `limit`. A body that arrives in one piece is
/// handed on without a copy.
pub(crate) async fn read_limited(mut body: Incoming, limit: usize) -> Result<Bytes, ProviderError> {
    let mut first: Option<Bytes> = None;
    let mut rest: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(body_error)?;
        let Ok(data) = frame.into_data() else { continue };
        let have = rest.as_ref().map_or_else(|| first.as_ref().map_or(0, Bytes::len), BytesMut::len);
        if have + data.len() > limit {
            return Err(ProviderError::Protocol(format!("reply larger than {limit} bytes")));
        }
        match (&mut first, &mut rest) {
            (_, Some(buf)) => buf.extend_from_slice(&data),
            (None, None) => first = Some(data),
            (Some(f), None) => {
                let mut buf = BytesMut::with_capacity(f.len() + data.len());
                buf.extend_from_slice(f);
                buf.extend_from_slice(&data);
                rest = Some(buf);
            }
        }
    }
    Ok(match rest {
        Some(buf) => buf.freeze(),
        None => first.unwrap_or_default(),
    })
}

/// The body's data frames as a stream of byte chunks.
pub(crate) fn data_stream(body: Incoming) -> BodyDataStream<Incoming> {
    BodyDataStream::new(body)
}

fn body_error(e: hyper::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::Timeout(TimeoutKind::Idle)
    } else {
        ProviderError::Connect(e.to_string())
    }
}

/// The client's errors never carry the URL or headers, so the credential stays out.
fn transport_error(e: hyper_util::client::legacy::Error) -> ProviderError {
    if e.is_connect() {
        let mut source = e.source();
        while let Some(s) = source {
            if s.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut) {
                return ProviderError::Timeout(TimeoutKind::Connect);
            }
            source = s.source();
        }
        return ProviderError::Connect("connection refused or unreachable".to_owned());
    }
    let mut message = e.to_string();
    if let Some(s) = e.source() {
        message.push_str(": ");
        message.push_str(&s.to_string());
    }
    ProviderError::Connect(message)
}
