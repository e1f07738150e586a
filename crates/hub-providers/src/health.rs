//! Per-credential health: the circuit breaker, rate-limit cool-downs and set-aside credentials.
//!
//! - A credential refused with 401/403 is *set aside* with the reason; it gets no traffic until
//!   its back-off passes (1 min, doubling to 1 h), then one call probes it (half-open) and a
//!   success restores it.
//! - A 429 *cools it down* until the provider's `Retry-After` (1 s if absent).
//! - Consecutive server errors, timeouts or connection failures *open the circuit* for a
//!   back-off (1 s, doubling to 60 s); after it one probe call is let through.
//!
//! Time is passed in (Unix milliseconds) so the state machine is tested without sleeping.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::error::{FailureKind, ProviderError};

/// Failures in a row that open the circuit.
pub const OPEN_AFTER: u32 = 3;
const OPEN_BASE_MS: i64 = 1_000;
const OPEN_MAX_MS: i64 = 60_000;
const SET_ASIDE_BASE_MS: i64 = 60_000;
const SET_ASIDE_MAX_MS: i64 = 3_600_000;
const COOLDOWN_DEFAULT_MS: i64 = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum HealthState {
    Healthy,
    /// Rate-limited by the provider until `until_ms`.
    CoolingDown { until_ms: i64 },
    /// Too many failures in a row; traffic resumes with one probe after `until_ms`.
    CircuitOpen { until_ms: i64 },
    /// The provider refused the credential; re-tried after `until_ms`.
    SetAside { until_ms: i64, reason: String },
}

#[derive(Debug)]
struct Inner {
    consecutive_failures: u32,
    opened: u32,
    state: HealthState,
    /// A probe is in flight: others keep away until it reports.
    probing: bool,
    last_error: Option<String>,
}

#[derive(Debug)]
pub struct CredentialHealth {
    inner: Mutex<Inner>,
}

impl Default for CredentialHealth {
    fn default() -> Self {
        CredentialHealth {
            inner: Mutex::new(Inner { consecutive_failures: 0, opened: 0, state: HealthState::Healthy, probing: false, last_error: None }),
        }
    }
}

/// Why a credential is kept out of rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitReason {
    /// The provider rate-limited it.
    CoolingDown,
    /// It failed repeatedly.
    CircuitOpen,
    /// The provider refused it.
    SetAside,
}

/// What a caller may do with a credential right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Use,
    /// Let this one call through as the probe of an expired back-off.
    Probe,
    /// Keep away until this time.
    Wait { until_ms: i64, reason: WaitReason },
}

impl CredentialHealth {
    pub fn admission(&self, now_ms: i64) -> Admission {
        let mut g = self.inner.lock();
        let until = match &g.state {
            HealthState::Healthy => return Admission::Use,
            HealthState::CoolingDown { until_ms } => {
                if now_ms >= *until_ms {
                    g.state = HealthState::Healthy;
                    return Admission::Use;
                }
                return Admission::Wait { until_ms: *until_ms, reason: WaitReason::CoolingDown };
            }
            HealthState::CircuitOpen { until_ms } => (*until_ms, WaitReason::CircuitOpen),
            HealthState::SetAside { until_ms, .. } => (*until_ms, WaitReason::SetAside),
        };
        let (until, reason) = until;
        if now_ms < until || g.probing {
            return Admission::Wait { until_ms: until.max(now_ms + 100), reason };
        }
        g.probing = true;
        Admission::Probe
    }

    pub fn state(&self) -> HealthState {
        self.inner.lock().state.clone()
    }

    pub fn last_error(&self) -> Option<String> {
        self.inner.lock().last_error.clone()
    }

    pub fn record_success(&self) {
        let mut g = self.inner.lock();
        g.consecutive_failures = 0;
        g.opened = 0;
        g.probing = false;
        g.state = HealthState::Healthy;
    }

    /// Records a failed attempt. Failures that say nothing about the credential (a bad request,
    /// an unknown model) leave its health alone.
    pub fn record_failure(&self, error: &ProviderError, now_ms: i64) {
        let mut g = self.inner.lock();
        g.probing = false;
        let auth = matches!(error, ProviderError::Upstream(f) if f.kind == FailureKind::Auth);
        let rate_limited = match error {
            ProviderError::Upstream(f) if f.kind == FailureKind::RateLimited => Some(f.retry_after),
            _ => None,
        };
        let breaks = matches!(error, ProviderError::Connect(_) | ProviderError::Timeout(_))
            || matches!(error, ProviderError::Upstream(f) if matches!(f.kind, FailureKind::Server | FailureKind::Overloaded));
        if auth {
            let previous = match &g.state {
                HealthState::SetAside { .. } => g.opened,
                _ => 0,
            };
            g.opened = previous + 1;
            let backoff = backoff_ms(SET_ASIDE_BASE_MS, SET_ASIDE_MAX_MS, g.opened);
            g.state = HealthState::SetAside { until_ms: now_ms + backoff, reason: error.to_string() };
            g.last_error = Some(error.to_string());
        } else if let Some(retry_after) = rate_limited {
            let wait = retry_after.map_or(COOLDOWN_DEFAULT_MS, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
            g.state = HealthState::CoolingDown { until_ms: now_ms.saturating_add(wait.max(1)) };
            g.last_error = Some(error.to_string());
        } else if breaks {
            g.consecutive_failures += 1;
            g.last_error = Some(error.to_string());
            let was_open = matches!(g.state, HealthState::CircuitOpen { .. });
            if was_open || g.consecutive_failures >= OPEN_AFTER {
                g.opened += 1;
                let backoff = backoff_ms(OPEN_BASE_MS, OPEN_MAX_MS, g.opened);
                g.state = HealthState::CircuitOpen { until_ms: now_ms + backoff };
            }
        }
    }

    /// Releases a probe slot taken by [`CredentialHealth::admission`] when the attempt was never
    /// made or ended without a verdict (the client went away).
    pub fn release_probe(&self) {
        self.inner.lock().probing = false;
    }
}

fn backoff_ms(base: i64, max: i64, n: u32) -> i64 {
    let shift = n.saturating_sub(1).min(20);
    base.saturating_mul(1i64 << shift).min(max)
}

/// Health of every credential, by credential id. Entries live as long as the process.
#[derive(Debug, Default)]
pub struct HealthBook {
    by_credential: RwLock<HashMap<String, Arc<CredentialHealth>>>,
}

impl HealthBook {
    pub fn get(&self, credential_id: &str) -> Arc<CredentialHealth> {
        if let Some(h) = self.by_credential.read().get(credential_id) {
            return Arc::clone(h);
        }
        Arc::clone(self.by_credential.write().entry(credential_id.to_owned()).or_default())
    }

    pub fn snapshot(&self) -> Vec<(String, HealthState, Option<String>)> {
        self.by_credential.read().iter().map(|(id, h)| (id.clone(), h.state(), h.last_error())).collect()
    }
}

/// Bounds the extra load retries put on upstreams: retries may be at most `ratio` of the calls
/// seen in the sliding window (plus a small floor so a quiet hub can still retry).
#[derive(Debug)]
pub struct RetryBudget {
    window_ms: i64,
    ratio_percent: u64,
    floor: u64,
    state: Mutex<BudgetWindow>,
}

#[derive(Debug, Default)]
struct BudgetWindow {
    started_ms: i64,
    calls: u64,
    retries: u64,
    previous_calls: u64,
    previous_retries: u64,
}

impl RetryBudget {
    pub fn new(window: Duration, ratio_percent: u64, floor: u64) -> RetryBudget {
        RetryBudget {
            window_ms: i64::try_from(window.as_millis()).unwrap_or(10_000),
            ratio_percent,
            floor,
            state: Mutex::new(BudgetWindow::default()),
        }
    }

    fn roll(&self, w: &mut BudgetWindow, now_ms: i64) {
        if now_ms - w.started_ms >= self.window_ms {
            let skipped = now_ms - w.started_ms >= 2 * self.window_ms;
            w.previous_calls = if skipped { 0 } else { w.calls };
            w.previous_retries = if skipped { 0 } else { w.retries };
            w.calls = 0;
            w.retries = 0;
            w.started_ms = now_ms;
        }
    }

    pub fn record_call(&self, now_ms: i64) {
        let mut w = self.state.lock();
        self.roll(&mut w, now_ms);
        w.calls += 1;
    }

    /// Takes a retry from the budget if one is left.
    pub fn try_retry(&self, now_ms: i64) -> bool {
        let mut w = self.state.lock();
        self.roll(&mut w, now_ms);
        let calls = w.calls + w.previous_calls;
        let retries = w.retries + w.previous_retries;
        let allowed = self.floor + calls * self.ratio_percent / 100;
        if retries < allowed {
            w.retries += 1;
            true
        } else {
            false
        }
    }
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget::new(Duration::from_secs(10), 25, 10)
    }
}

/// Full-jitter back-off before retry `attempt` (1-based): uniform in [0, min(cap, base·2^n)).
pub fn full_jitter(attempt: u32, base: Duration, cap: Duration, unit_random: f64) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    exp.min(cap).mul_f64(unit_random.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::UpstreamFailure;

    fn upstream(kind: FailureKind, retry_after: Option<Duration>) -> ProviderError {
        ProviderError::Upstream(UpstreamFailure { status: 0, kind, message: "x".into(), error_type: None, code: None, param: None, retry_after })
    }

    #[test]
    fn three_server_errors_open_the_circuit_and_one_probe_closes_it() {
        let h = CredentialHealth::default();
        for _ in 0..OPEN_AFTER {
            assert_eq!(h.admission(0), Admission::Use);
            h.record_failure(&upstream(FailureKind::Server, None), 0);
        }
        assert!(matches!(h.admission(10), Admission::Wait { .. }));
        assert_eq!(h.admission(OPEN_BASE_MS), Admission::Probe);
        assert!(matches!(h.admission(OPEN_BASE_MS), Admission::Wait { .. }), "one probe at a time");
        h.record_success();
        assert_eq!(h.admission(OPEN_BASE_MS + 1), Admission::Use);
    }

    #[test]
    fn a_failed_probe_doubles_the_back_off() {
        let h = CredentialHealth::default();
        for _ in 0..OPEN_AFTER {
            h.record_failure(&upstream(FailureKind::Server, None), 0);
        }
        assert_eq!(h.admission(OPEN_BASE_MS), Admission::Probe);
        h.record_failure(&ProviderError::Timeout(crate::error::TimeoutKind::FirstByte), OPEN_BASE_MS);
        assert!(matches!(h.state(), HealthState::CircuitOpen { until_ms } if until_ms == OPEN_BASE_MS + 2 * OPEN_BASE_MS));
    }

    #[test]
    fn rate_limits_cool_down_for_retry_after() {
        let h = CredentialHealth::default();
        h.record_failure(&upstream(FailureKind::RateLimited, Some(Duration::from_secs(2))), 1000);
        assert_eq!(h.admission(2999), Admission::Wait { until_ms: 3000, reason: WaitReason::CoolingDown });
        assert_eq!(h.admission(3000), Admission::Use);
    }

    #[test]
    fn auth_failures_set_the_credential_aside_with_the_reason() {
        let h = CredentialHealth::default();
        h.record_failure(&upstream(FailureKind::Auth, None), 0);
        assert!(matches!(h.state(), HealthState::SetAside { until_ms: 60_000, .. }));
        assert!(matches!(h.admission(59_999), Admission::Wait { .. }));
        assert_eq!(h.admission(60_000), Admission::Probe);
        h.record_failure(&upstream(FailureKind::Auth, None), 60_000);
        assert!(matches!(h.state(), HealthState::SetAside { until_ms: 180_000, .. }));
    }

    #[test]
    fn bad_requests_say_nothing_about_the_credential() {
        let h = CredentialHealth::default();
        for _ in 0..10 {
            h.record_failure(&upstream(FailureKind::BadRequest, None), 0);
        }
        assert_eq!(h.admission(0), Admission::Use);
    }

    #[test]
    fn the_retry_budget_caps_retries_at_a_share_of_calls() {
        let b = RetryBudget::new(Duration::from_secs(10), 25, 0);
        for _ in 0..100 {
            b.record_call(0);
        }
        let granted = (0..100).filter(|_| b.try_retry(1)).count();
        assert_eq!(granted, 25);
        // Two windows later the old traffic no longer counts.
        assert!(!b.try_retry(25_000));
    }

    #[test]
    fn full_jitter_stays_under_the_cap() {
        let cap = Duration::from_millis(500);
        for attempt in 1..10 {
            assert!(full_jitter(attempt, Duration::from_millis(50), cap, 0.999) < cap);
        }
        assert_eq!(full_jitter(1, Duration::from_millis(50), cap, 0.0), Duration::ZERO);
    }
}
