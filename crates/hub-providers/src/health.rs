//! Per-credential health: the circuit breaker, rate-limit cool-downs and set-aside credentials.
//!
//! - A credential refused with 401/403 is *set aside* with the reason; it gets no user traffic
//!   at all. When its back-off passes (1 min, doubling to 1 h; the base is a setting) the
//!   background re-check probes it with the adapter's cheapest authenticated request
//!   ([`CredentialHealth::due_for_check`], [`CredentialHealth::record_check`]): a success restores
//!   it, a failure doubles the back-off. A user's call is never the probe of a known-bad
//!   credential.
//! - A 429 *cools it down* until the provider's `Retry-After` (1 s if absent).
//! - Consecutive server errors, timeouts or connection failures *open the circuit* for a
//!   back-off (1 s, doubling to 60 s); after it one probe call is let through.
//!
//! Time is passed in (Unix milliseconds) so the state machine is tested without sleeping.

use std::sync::Arc;
use std::time::Duration;

use hub_core::fast_map::FastMap;
use parking_lot::{Mutex, RwLock};

use crate::error::{FailureKind, ProviderError};

/// Failures in a row that open the circuit.
pub const OPEN_AFTER: u32 = 3;
const OPEN_BASE_MS: i64 = 1_000;
const OPEN_MAX_MS: i64 = 60_000;
/// The first back-off of a set-aside credential, unless the book says otherwise.
pub const SET_ASIDE_BASE_MS: i64 = 60_000;
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
    /// The provider refused the credential; the background re-check probes it after `until_ms`.
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
    /// First back-off of a set-aside credential, in milliseconds.
    set_aside_base_ms: i64,
}

impl Default for CredentialHealth {
    fn default() -> Self {
        CredentialHealth::with_set_aside_base(SET_ASIDE_BASE_MS)
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
    /// A healthy credential whose set-aside back-off starts at `base_ms` (at least 1 ms).
    pub fn with_set_aside_base(base_ms: i64) -> CredentialHealth {
        CredentialHealth {
            inner: Mutex::new(Inner { consecutive_failures: 0, opened: 0, state: HealthState::Healthy, probing: false, last_error: None }),
            set_aside_base_ms: base_ms.max(1),
        }
    }

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
            // Only the background re-check may try a refused credential again.
            HealthState::SetAside { until_ms, .. } => {
                return Admission::Wait { until_ms: (*until_ms).max(now_ms + 1000), reason: WaitReason::SetAside };
            }
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
            self.set_aside(&mut g, error, now_ms);
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

    fn set_aside(&self, g: &mut Inner, error: &ProviderError, now_ms: i64) {
        let previous = match &g.state {
            HealthState::SetAside { .. } => g.opened,
            _ => 0,
        };
        g.opened = previous + 1;
        let backoff = backoff_ms(self.set_aside_base_ms, SET_ASIDE_MAX_MS.max(self.set_aside_base_ms), g.opened);
        g.state = HealthState::SetAside { until_ms: now_ms.saturating_add(backoff), reason: error.to_string() };
        g.last_error = Some(error.to_string());
    }

    /// Whether the background re-check should probe this credential now: it is set aside and
    /// its back-off has passed. Takes the probe slot; report with [`CredentialHealth::record_check`].
    pub fn due_for_check(&self, now_ms: i64) -> bool {
        let mut g = self.inner.lock();
        match &g.state {
            HealthState::SetAside { until_ms, .. } if now_ms >= *until_ms && !g.probing => {
                g.probing = true;
                true
            }
            _ => false,
        }
    }

    /// The verdict of a background re-check: a success restores the credential; any failure
    /// keeps it set aside and doubles the back-off (a refusal with the provider's reason, other
    /// failures keep the earlier reason and note the new error).
    pub fn record_check(&self, outcome: Result<(), &ProviderError>, now_ms: i64) {
        match outcome {
            Ok(()) => self.record_success(),
            Err(error) => {
                let mut g = self.inner.lock();
                g.probing = false;
                let auth = matches!(error, ProviderError::Upstream(f) if f.kind == FailureKind::Auth);
                if auth || !matches!(g.state, HealthState::SetAside { .. }) {
                    self.set_aside(&mut g, error, now_ms);
                    return;
                }
                let reason = match &g.state {
                    HealthState::SetAside { reason, .. } => reason.clone(),
                    _ => error.to_string(),
                };
                g.opened += 1;
                let backoff = backoff_ms(self.set_aside_base_ms, SET_ASIDE_MAX_MS.max(self.set_aside_base_ms), g.opened);
                g.state = HealthState::SetAside { until_ms: now_ms.saturating_add(backoff), reason };
                g.last_error = Some(error.to_string());
            }
        }
    }

    /// The verdict of a connection test an operator asked for: a success restores the
    /// credential whatever kept it out; a refusal sets it aside as live traffic would; other
    /// failures say nothing certain about the credential and leave its health alone.
    pub fn record_test(&self, outcome: Result<(), &ProviderError>, now_ms: i64) {
        match outcome {
            Ok(()) => self.record_success(),
            Err(error) if matches!(error, ProviderError::Upstream(f) if f.kind == FailureKind::Auth) => {
                let mut g = self.inner.lock();
                self.set_aside(&mut g, error, now_ms);
            }
            Err(_) => {}
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
#[derive(Debug)]
pub struct HealthBook {
    by_credential: RwLock<FastMap<String, Arc<CredentialHealth>>>,
    set_aside_base_ms: i64,
}

impl Default for HealthBook {
    fn default() -> Self {
        HealthBook::with_set_aside_base(SET_ASIDE_BASE_MS)
    }
}

impl HealthBook {
    /// A book whose set-aside credentials wait `base_ms` before their first re-check.
    pub fn with_set_aside_base(base_ms: i64) -> HealthBook {
        HealthBook { by_credential: RwLock::default(), set_aside_base_ms: base_ms.max(1) }
    }

    pub fn get(&self, credential_id: &str) -> Arc<CredentialHealth> {
        if let Some(h) = self.by_credential.read().get(credential_id) {
            return Arc::clone(h);
        }
        let base = self.set_aside_base_ms;
        Arc::clone(self.by_credential.write().entry(credential_id.to_owned()).or_insert_with(|| Arc::new(CredentialHealth::with_set_aside_base(base))))
    }

    /// The health of a credential that has one already (carried traffic or was tested).
    pub fn peek(&self, credential_id: &str) -> Option<Arc<CredentialHealth>> {
        self.by_credential.read().get(credential_id).cloned()
    }

    /// Credentials set aside whose back-off has passed, each with its probe slot taken.
    pub fn due_for_check(&self, now_ms: i64) -> Vec<String> {
        self.by_credential.read().iter().filter(|(_, h)| h.due_for_check(now_ms)).map(|(id, _)| id.clone()).collect()
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
    fn auth_failures_set_the_credential_aside_and_only_the_re_check_probes_it() {
        let h = CredentialHealth::default();
        h.record_failure(&upstream(FailureKind::Auth, None), 0);
        assert!(matches!(h.state(), HealthState::SetAside { until_ms: 60_000, .. }));
        assert!(matches!(h.admission(59_999), Admission::Wait { .. }));
        assert!(!h.due_for_check(59_999));
        assert!(matches!(h.admission(60_000), Admission::Wait { reason: WaitReason::SetAside, .. }), "a user call is never the probe");
        assert!(h.due_for_check(60_000));
        assert!(!h.due_for_check(60_000), "one probe at a time");
        h.record_check(Err(&upstream(FailureKind::Auth, None)), 60_000);
        assert!(matches!(h.state(), HealthState::SetAside { until_ms: 180_000, .. }), "a failed check doubles the back-off");
        assert!(h.due_for_check(180_000));
        h.record_check(Err(&ProviderError::Connect("down".into())), 180_000);
        assert!(matches!(h.state(), HealthState::SetAside { until_ms: 420_000, ref reason } if reason.contains("x")), "other failures keep the reason");
        assert!(h.due_for_check(420_000));
        h.record_check(Ok(()), 420_000);
        assert_eq!(h.admission(420_001), Admission::Use);
    }

    #[test]
    fn the_set_aside_back_off_base_is_a_setting() {
        let book = HealthBook::with_set_aside_base(500);
        let h = book.get("c1");
        h.record_failure(&upstream(FailureKind::Auth, None), 1000);
        assert!(book.due_for_check(1499).is_empty());
        assert_eq!(book.due_for_check(1500), vec!["c1".to_owned()]);
    }

    #[test]
    fn a_test_restores_or_sets_aside_and_ignores_the_rest() {
        let h = CredentialHealth::default();
        h.record_test(Err(&upstream(FailureKind::Auth, None)), 0);
        assert!(matches!(h.state(), HealthState::SetAside { .. }));
        h.record_test(Err(&ProviderError::Connect("down".into())), 0);
        assert!(matches!(h.state(), HealthState::SetAside { .. }));
        h.record_test(Ok(()), 0);
        assert_eq!(h.state(), HealthState::Healthy);
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
