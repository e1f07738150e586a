//! State shared by every connection of one simulator.

use std::sync::Arc;

use http::header::AUTHORIZATION;
use http::HeaderMap;

use crate::config::{SimConfig, Tunables};
use crate::faults::FaultPlan;
use crate::ids::IdSource;
use crate::openai::errors::{self, ApiError};
use crate::stats::{bump, Counters};

#[derive(Debug)]
pub(crate) struct AppState {
    pub api_key: Option<String>,
    pub tunables: Tunables,
    pub counters: Arc<Counters>,
    pub faults: FaultPlan,
    pub ids: IdSource,
    /// Constant per server, as OpenAI's is per model deployment.
    pub fingerprint: String,
    /// Credentials Bedrock requests must be signed with, when set.
    pub aws_credentials: Option<(String, String)>,
    /// Video jobs, OpenAI's and Gemini's.
    pub videos: crate::video::VideoJobs,
}

pub(crate) type SharedState = Arc<AppState>;

impl AppState {
    pub(crate) fn new(config: &SimConfig, seed: u64) -> Self {
        let ids = IdSource::new(seed);
        let fingerprint = ids.hex("fp_", 10);
        Self {
            api_key: config.api_key.clone(),
            tunables: Tunables::new(config),
            counters: Arc::new(Counters::default()),
            faults: FaultPlan::default(),
            ids,
            fingerprint,
            aws_credentials: config.aws_credentials.clone(),
            videos: crate::video::VideoJobs::default(),
        }
    }

    /// Records the `Authorization` header and checks it against the
    /// configured key, counting rejections.
    pub(crate) fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let header = headers.get(AUTHORIZATION);
        self.counters.record_authorization(header);
        let Some(expected) = &self.api_key else {
            return Ok(());
        };
        let presented = header
            .and_then(|v| v.to_str().ok())
            .map(|v| bearer_token(v).trim())
            .unwrap_or("");
        if presented == expected {
            return Ok(());
        }
        bump(&self.counters.unauthorized);
        if presented.is_empty() {
            Err(errors::missing_api_key())
        } else {
            Err(errors::invalid_api_key(presented))
        }
    }
}

/// The token after a case-insensitive `Bearer ` scheme, or the whole value
/// when there is no scheme (OpenAI echoes whatever was presented).
fn bearer_token(value: &str) -> &str {
    match value.get(..7) {
        Some(scheme) if scheme.eq_ignore_ascii_case("bearer ") => &value[7..],
        _ => value,
    }
}
