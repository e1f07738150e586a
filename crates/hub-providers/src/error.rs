//! What can go wrong talking to an upstream, classified so the HTTP layer can choose a status
//! and the router can decide whether another credential is worth a try.

use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// 400/422: the request itself is wrong; retrying elsewhere will not help.
    BadRequest,
    /// 401/403: the hub's credential was refused.
    Auth,
    /// 404: the upstream does not know the model or route.
    NotFound,
    /// 429: slow down (`retry_after`).
    RateLimited,
    /// 503/529: overloaded.
    Overloaded,
    /// Other 5xx.
    Server,
    /// Anything else non-2xx.
    Other,
}

/// A non-2xx answer from a provider. `message` is safe to show a client: it never holds the
/// credential (auth failures drop the upstream's text entirely).
#[derive(Debug, Clone)]
pub struct UpstreamFailure {
    pub status: u16,
    pub kind: FailureKind,
    pub message: String,
    pub error_type: Option<String>,
    pub code: Option<String>,
    pub param: Option<String>,
    pub retry_after: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeoutKind {
    Connect,
    FirstByte,
    Idle,
    Total,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    #[error("could not reach the provider: {0}")]
    Connect(String),
    #[error("the provider timed out ({0:?})")]
    Timeout(TimeoutKind),
    #[error("the provider answered {}: {}", .0.status, .0.message)]
    Upstream(UpstreamFailure),
    #[error("the provider's reply could not be understood: {0}")]
    Protocol(String),
    #[error("the provider closed the stream early")]
    StreamCut,
    #[error("the provider is misconfigured: {0}")]
    Config(String),
    #[error("this provider does not offer {0}")]
    Unsupported(&'static str),
}

impl ProviderError {
    /// Whether another credential or provider might succeed where this attempt failed.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProviderError::Connect(_) | ProviderError::Timeout(_) => true,
            ProviderError::Upstream(f) => matches!(
                f.kind,
                FailureKind::Auth | FailureKind::RateLimited | FailureKind::Overloaded | FailureKind::Server
            ),
            ProviderError::Protocol(_) | ProviderError::StreamCut | ProviderError::Config(_) | ProviderError::Unsupported(_) => false,
        }
    }

    /// A short, low-cardinality class for usage records and metrics.
    pub fn class(&self) -> &'static str {
        match self {
            ProviderError::Connect(_) => "upstream_connect",
            ProviderError::Timeout(_) => "upstream_timeout",
            ProviderError::Upstream(f) => match f.kind {
                FailureKind::BadRequest => "upstream_bad_request",
                FailureKind::Auth => "upstream_auth",
                FailureKind::NotFound => "upstream_not_found",
                FailureKind::RateLimited => "upstream_rate_limited",
                FailureKind::Overloaded => "upstream_overloaded",
                FailureKind::Server => "upstream_server_error",
                FailureKind::Other => "upstream_other",
            },
            ProviderError::Protocol(_) => "upstream_protocol",
            ProviderError::StreamCut => "upstream_stream_cut",
            ProviderError::Config(_) => "provider_config",
            ProviderError::Unsupported(_) => "unsupported",
        }
    }
}

pub fn classify_status(status: u16) -> FailureKind {
    match status {
        400 | 413 | 422 => FailureKind::BadRequest,
        401 | 403 => FailureKind::Auth,
        404 => FailureKind::NotFound,
        429 => FailureKind::RateLimited,
        503 | 529 => FailureKind::Overloaded,
        500..=599 => FailureKind::Server,
        _ => FailureKind::Other,
    }
}

/// Removes every occurrence of the credential from text that may reach a client or a log.
pub fn scrub(text: &str, credential: Option<&str>) -> String {
    match credential {
        Some(c) if c.len() >= 8 && text.contains(c) => text.replace(c, "[redacted]"),
        _ => text.to_owned(),
    }
}
