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
    /// Keys accepted besides `api_key`, changed at run time through `POST /__sim/keys` (a
    /// refused credential made valid again, as a provider would after a billing fix).
    pub extra_keys: parking_lot::RwLock<std::collections::HashSet<String>>,
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
            extra_keys: parking_lot::RwLock::default(),
        }
    }

    /// Whether `presented` is a key this simulator accepts right now (any key when none is set).
    pub(crate) fn accepts(&self, presented: &str) -> bool {
        match &self.api_key {
            None => true,
            Some(expected) => presented == expected || self.extra_keys.read().contains(presented),
        }
    }

    /// Counts one model call (not a model listing) made with `presented`.
    pub(crate) fn count_call(&self, presented: &str) {
        self.counters.record_key_call(presented);
    }

    /// Records the `Authorization` header and checks it against the
    /// configured key, counting rejections.
    pub(crate) fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        self.authorize_as(headers, true)
    }

    /// [`AppState::authorize`]; `call` says whether the request counts as a model call of its
    /// key (a model listing does not).
    pub(crate) fn authorize_as(&self, headers: &HeaderMap, call: bool) -> Result<(), ApiError> {
        let header = headers.get(AUTHORIZATION);
        self.counters.record_authorization(header);
        let presented = header
            .and_then(|v| v.to_str().ok())
            .map(|v| bearer_token(v).trim())
            .unwrap_or("");
        if call && !presented.is_empty() {
            self.count_call(presented);
        }
        if self.accepts(presented) {
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
