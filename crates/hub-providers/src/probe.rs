//! The shared half of a connection probe: one small authenticated request under its own short
//! deadline, whose answer only says whether the provider accepted the credential. Each protocol
//! names the request (`Adapter::probe`); this runs it.

use std::time::{Duration, Instant};

use crate::adapter::{Adapter, Target};
use crate::error::{ProviderError, TimeoutKind};
use crate::video::{call, Auth, ParseFailure};
use crate::client::HttpClient;

/// How long a probe may take in all.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(15);
/// Probe replies are read up to this size (a model list), then dropped.
const MAX_PROBE_BYTES: usize = 4 * 1024 * 1024;

/// Sends `builder` with the credential; `Ok` on a 2xx answer.
pub(crate) async fn send(client: &HttpClient, target: &Target, builder: reqwest::RequestBuilder, auth: Auth, parse_failure: ParseFailure) -> Result<(), ProviderError> {
    let work = call(client, target, builder, auth, parse_failure, MAX_PROBE_BYTES);
    tokio::time::timeout(PROBE_TIMEOUT, work).await.map_err(|_| ProviderError::Timeout(TimeoutKind::Total))?.map(drop)
}

/// A probe's verdict with the time it took.
#[derive(Debug, Clone)]
pub struct ProbeResult {
    pub outcome: Result<(), ProviderError>,
    pub latency: Duration,
}

/// Runs the adapter's probe against `target` and times it.
pub async fn run(adapter: &dyn Adapter, target: &Target) -> ProbeResult {
    let started = Instant::now();
    let outcome = adapter.probe(target).await;
    ProbeResult { outcome, latency: started.elapsed() }
}
