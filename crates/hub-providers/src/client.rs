//! The shared upstream HTTP client: connection pools with keep-alive (HTTP/1.1 and HTTP/2),
//! `TCP_NODELAY`, and separate connect, first-byte, idle-between-chunks and total timeouts so a
//! slow but steady stream is never cut by a blanket deadline.

use std::time::Duration;

use crate::direct::DirectClient;
use crate::error::ProviderError;

#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// From sending the request to the response headers.
    pub first_byte: Duration,
    /// Longest silence between two stream chunks.
    pub idle: Duration,
    /// Whole non-streamed call.
    pub total: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(10),
            first_byte: Duration::from_secs(300),
            idle: Duration::from_secs(120),
            total: Duration::from_secs(600),
        }
    }
}

#[derive(Clone)]
pub struct HttpClient {
    pub(crate) inner: reqwest::Client,
    /// The OpenAI-protocol hot path's transport (same pools, `TCP_NODELAY` and connect timeout).
    pub(crate) direct: DirectClient,
    pub(crate) timeouts: Timeouts,
}

impl HttpClient {
    pub fn new(timeouts: Timeouts) -> Result<HttpClient, ProviderError> {
        let inner = reqwest::Client::builder()
            .connect_timeout(timeouts.connect)
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(256)
            // Upstreams must not bounce the hub (and its credential) to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("aigne-hub/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Config(format!("HTTP client: {e}")))?;
        Ok(HttpClient { inner, direct: DirectClient::new(timeouts), timeouts })
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }
}

pub(crate) fn transport_error(e: reqwest::Error) -> ProviderError {
    if e.is_timeout() {
        ProviderError::Timeout(crate::error::TimeoutKind::Connect)
    } else if e.is_connect() {
        ProviderError::Connect("connection refused or unreachable".to_owned())
    } else {
        // reqwest's Display includes the URL but never headers, so the credential stays out.
        ProviderError::Connect(e.without_url().to_string())
    }
}
