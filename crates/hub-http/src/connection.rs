//! Connection tests of provider credentials, and the background re-check of set-aside ones.
//!
//! Both send the adapter's probe (`Adapter::probe`: the protocol's cheapest authenticated
//! request) through `hub-providers`, never a user's call:
//!
//! - [`test_credential`] runs when an operator asks (admin API, providers page). A success
//!   restores the credential whatever kept it out; a refusal sets it aside with the same reason
//!   live traffic would give; other failures (unreachable, timeouts) leave its health alone.
//! - [`run_recheck`] is a task `serve` starts: every tick it takes the set-aside credentials
//!   whose back-off has passed and probes each. A success restores it, a failure doubles the
//!   back-off (`hub_providers::health`). Set-aside credentials get no user traffic at all, so a
//!   user's call is never the one that meets a known-bad credential.
//!
//! The report never holds the credential: only its id, the provider's name, and the scrubbed
//! error.

use std::sync::Arc;
use std::time::Duration;

use hub_providers::health::HealthState;
use hub_providers::{ProviderError, Target};
use hub_store::provider_directory::ProviderEntry;
use serde::Serialize;

use crate::state::AppState;

/// What a connection test found.
#[derive(Debug, Clone, Serialize)]
pub struct TestReport {
    pub provider: String,
    pub credential_id: String,
    pub ok: bool,
    /// The provider's HTTP status when it answered (`200`-class on success), else `null`.
    pub status: Option<u16>,
    pub latency_ms: u64,
    /// Why the test failed, safe to show (never the credential or the provider's auth text).
    pub error: Option<String>,
    /// The error's class (`upstream_auth`, `upstream_connect`, …).
    pub error_class: Option<&'static str>,
    /// The credential's health after the test.
    pub health: HealthView,
}

/// A credential's health as the admin API and the providers page show it.
#[derive(Debug, Clone, Serialize)]
pub struct HealthView {
    /// `healthy`, `cooling_down`, `circuit_open` or `set_aside`.
    pub state: &'static str,
    /// Why it is set aside (the provider's refusal, safe to show).
    pub reason: Option<String>,
    pub last_error: Option<String>,
    /// When the background re-check probes a set-aside credential next (Unix ms).
    pub next_check_ms: Option<i64>,
    /// When a cool-down or open circuit ends (Unix ms).
    pub until_ms: Option<i64>,
}

impl HealthView {
    pub fn of(state: &AppState, credential_id: &str) -> HealthView {
        match state.health.peek(credential_id) {
            Some(h) => HealthView::from_parts(h.state(), h.last_error()),
            None => HealthView::from_parts(HealthState::Healthy, None),
        }
    }

    pub fn from_parts(health: HealthState, last_error: Option<String>) -> HealthView {
        let (state, reason, next_check_ms, until_ms) = match health {
            HealthState::Healthy => ("healthy", None, None, None),
            HealthState::CoolingDown { until_ms } => ("cooling_down", None, None, Some(until_ms)),
            HealthState::CircuitOpen { until_ms } => ("circuit_open", None, None, Some(until_ms)),
            HealthState::SetAside { until_ms, reason } => ("set_aside", Some(reason), Some(until_ms), None),
        };
        HealthView { state, reason, last_error, next_check_ms, until_ms }
    }
}

/// Why a credential could not be tested at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestRefused {
    UnknownProvider,
    UnknownCredential,
    /// The provider's protocol has no adapter in this build.
    NoAdapter,
}

/// The target a probe of this credential goes to (the model is not used by probes).
fn target(entry: &ProviderEntry, credential_id: &str) -> Option<Target> {
    let credential = entry.credentials.iter().find(|c| c.id == credential_id)?;
    Some(Target {
        provider: entry.name.clone(),
        kind: entry.kind,
        base_url: entry.base_url.clone(),
        credential_id: Some(credential.id.clone()),
        api_key: Some(credential.secret.clone()),
        model: String::new(),
    })
}

/// The upstream status an error carries, if the provider answered.
pub fn upstream_status(e: &ProviderError) -> Option<u16> {
    match e {
        ProviderError::Upstream(f) => Some(f.status),
        _ => None,
    }
}

/// Finds a provider by its name (`openai`, `custom:lab`) or its configured id.
async fn entry(state: &AppState, provider: &str) -> Option<Arc<ProviderEntry>> {
    if let Some(e) = state.providers.get(&provider.to_ascii_lowercase()) {
        return Some(e);
    }
    let configured = state.store.list_providers().await.ok()?;
    let name = configured.into_iter().find(|p| p.id == provider)?.name;
    state.providers.get(&name)
}

/// Tests one credential now and applies the verdict to its health.
pub async fn test_credential(state: &AppState, provider: &str, credential_id: &str) -> Result<TestReport, TestRefused> {
    let entry = entry(state, provider).await.ok_or(TestRefused::UnknownProvider)?;
    let target = target(&entry, credential_id).ok_or(TestRefused::UnknownCredential)?;
    let adapter = state.adapters.for_protocol(entry.kind.protocol()).ok_or(TestRefused::NoAdapter)?;
    let result = hub_providers::probe::run(adapter, &target).await;
    let health = state.health.get(credential_id);
    health.record_test(result.outcome.as_ref().map(|_| ()), hub_core::ids::now_ms());
    let (ok, status, error, error_class) = match &result.outcome {
        Ok(()) => (true, Some(200), None, None),
        Err(e) => (false, upstream_status(e), Some(e.to_string()), Some(e.class())),
    };
    tracing::info!(provider = %entry.name, credential = credential_id, ok, latency_ms = result.latency.as_millis() as u64, "connection test");
    Ok(TestReport {
        provider: entry.name.clone(),
        credential_id: credential_id.to_owned(),
        ok,
        status,
        latency_ms: u64::try_from(result.latency.as_millis()).unwrap_or(u64::MAX),
        error,
        error_class,
        health: HealthView::of(state, credential_id),
    })
}

/// Probes every set-aside credential whose back-off has passed, once.
pub async fn recheck_due(state: &AppState) {
    let due = state.health.due_for_check(hub_core::ids::now_ms());
    if due.is_empty() {
        return;
    }
    let providers = state.providers.snapshot();
    for credential_id in due {
        let health = state.health.get(&credential_id);
        let found = providers.values().find_map(|e| target(e, &credential_id).map(|t| (Arc::clone(e), t)));
        let Some((entry, target)) = found else {
            // The credential is gone from the configuration: nothing to probe.
            health.release_probe();
            continue;
        };
        let Some(adapter) = state.adapters.for_protocol(entry.kind.protocol()) else {
            health.release_probe();
            continue;
        };
        let result = hub_providers::probe::run(adapter, &target).await;
        // A protocol without a probe fails here too: only an operator's test brings it back.
        health.record_check(result.outcome.as_ref().map(|_| ()), hub_core::ids::now_ms());
        match &result.outcome {
            Ok(()) => tracing::info!(provider = %entry.name, credential = %credential_id, "set-aside credential accepted again; restored"),
            Err(e) => tracing::info!(provider = %entry.name, credential = %credential_id, error = %e, "set-aside credential still failing; back-off doubled"),
        }
    }
}

/// The background re-check: [`recheck_due`] every `tick`, until the task is aborted.
pub async fn run_recheck(state: AppState, tick: Duration) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        recheck_due(&state).await;
    }
}
