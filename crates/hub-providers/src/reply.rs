//! Reading upstream replies, shared by every adapter: bounded bodies and `Retry-After`.

use std::time::Duration;

use crate::client::transport_error;
use crate::error::ProviderError;

/// Longest `Retry-After` the hub honours; a provider asking for more is asked again sooner.
const MAX_RETRY_AFTER_SECS: f64 = 3600.0;

/// Reads a whole body, refusing one larger than `limit` instead of buffering without bound.
pub(crate) async fn read_limited(mut response: reqwest::Response, limit: usize) -> Result<Vec<u8>, ProviderError> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport_error)? {
        if out.len() + chunk.len() > limit {
            return Err(ProviderError::Protocol(format!("reply larger than {limit} bytes")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// `Retry-After` in seconds (fractions allowed), capped; HTTP dates are ignored.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(MAX_RETRY_AFTER_SECS)))
}
