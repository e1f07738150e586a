//! HTTP-facing settings, with defaults a fresh install can run on.

use std::net::SocketAddr;

#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub listen: SocketAddr,
    /// Largest accepted request body; larger ones get 413.
    pub max_body_bytes: usize,
    /// The URL users reach the hub at (for setup links); defaults to `http://<listen>`.
    pub public_url: String,
    /// Settled records the usage writer may lag behind before admission makes callers wait.
    pub max_usage_backlog: i64,
    /// Browser session lifetime.
    pub session_ttl_ms: i64,
    /// Mark session cookies `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// How long a URL to a stored file (a generated image) stays valid.
    pub file_url_ttl_secs: u64,
    /// How long stored files are kept before the sweep deletes them.
    pub file_retention_secs: u64,
    /// Proxies whose `X-Forwarded-For` is believed (the right-most hop not in this list is
    /// the client); empty: the peer address is the client.
    pub trusted_proxies: Vec<hub_core::scopes::IpNet>,
    /// Serve `GET /metrics` (off by default).
    pub metrics_enabled: bool,
    /// When set, `/metrics` wants `Authorization: Bearer <token>`.
    pub metrics_token: Option<hub_core::Secret>,
    /// Thresholds of the alert rules.
    pub alerts: hub_core::alerts::Thresholds,
    /// How video jobs are polled at the provider, and for how long in all.
    pub video_polling: hub_providers::VideoPolling,
}

impl HttpConfig {
    pub fn new(listen: SocketAddr) -> HttpConfig {
        HttpConfig {
            listen,
            max_body_bytes: 10 * 1024 * 1024,
            public_url: format!("http://{listen}"),
            max_usage_backlog: 50_000,
            session_ttl_ms: 12 * 3600 * 1000,
            secure_cookies: false,
            file_url_ttl_secs: 3600,
            file_retention_secs: 24 * 3600,
            trusted_proxies: Vec::new(),
            metrics_enabled: false,
            metrics_token: None,
            alerts: hub_core::alerts::Thresholds::default(),
            video_polling: hub_providers::VideoPolling::default(),
        }
    }
}
