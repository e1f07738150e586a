//! Alerts on unusual activity, as pure rules: what an alert is, the thresholds, and the small
//! state machines that decide when one is raised. Time is passed in (Unix milliseconds), so every
//! rule is tested without sleeping; the detector that feeds them lives in `hub-http`.

use std::collections::{HashMap, VecDeque};

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

const MINUTE_MS: i64 = 60_000;
const DAY_MS: i64 = 24 * 3600 * 1000;

/// A key unused for this long raises an alert on its next call.
pub const DEFAULT_SILENCE_MS: i64 = 30 * DAY_MS;
/// The spike rule compares the calls of this last window…
pub const SPIKE_WINDOW_MS: i64 = 5 * MINUTE_MS;
/// …with the key's average over the hour before it, scaled to the window.
pub const SPIKE_BASELINE_MS: i64 = 60 * MINUTE_MS;
/// Fewer calls than this in the window are never a spike (a quiet key's 3 calls are not).
pub const DEFAULT_SPIKE_MIN_CALLS: u64 = 50;
/// A spike is this many times the key's own baseline rate.
pub const DEFAULT_SPIKE_FACTOR: u64 = 5;
/// Failed attempts against one kid within [`FAILED_ATTEMPTS_WINDOW_MS`] that raise an alert.
pub const DEFAULT_FAILED_ATTEMPTS: u32 = 10;
pub const FAILED_ATTEMPTS_WINDOW_MS: i64 = 10 * MINUTE_MS;
/// At most one alert per kind and subject within this time.
pub const DEFAULT_COOLDOWN_MS: i64 = 3600 * 1000;
/// Client addresses remembered per key (the oldest is forgotten first).
pub const MAX_KNOWN_ADDRESSES: usize = 64;
/// Budget shares (percent) that raise an alert when crossed.
pub const BUDGET_THRESHOLDS: [u8; 3] = [50, 80, 100];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// A key called after a long silence.
    SilentKeyUsed,
    /// A key's calls jumped against its own baseline.
    UsageSpike,
    /// A key called from an address it never used before.
    NewAddress,
    /// Repeated failed attempts with a kid that exists (wrong secret, revoked, expired).
    FailedAttempts,
    /// The provider refused a credential (401/403) and the hub set it aside.
    CredentialSetAside,
    /// A key's or user's spending crossed a share of its budget.
    BudgetThreshold,
}

impl AlertKind {
    pub const ALL: [AlertKind; 6] = [
        AlertKind::SilentKeyUsed,
        AlertKind::UsageSpike,
        AlertKind::NewAddress,
        AlertKind::FailedAttempts,
        AlertKind::CredentialSetAside,
        AlertKind::BudgetThreshold,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::SilentKeyUsed => "silent_key_used",
            AlertKind::UsageSpike => "usage_spike",
            AlertKind::NewAddress => "new_address",
            AlertKind::FailedAttempts => "failed_attempts",
            AlertKind::CredentialSetAside => "credential_set_aside",
            AlertKind::BudgetThreshold => "budget_threshold",
        }
    }

    pub fn parse(s: &str) -> Option<AlertKind> {
        AlertKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// What an alert is about. Never a secret: a key's id, a kid, a credential's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectType {
    Key,
    Kid,
    Credential,
    /// A user account (a user's budget).
    User,
}

impl SubjectType {
    pub fn as_str(self) -> &'static str {
        match self {
            SubjectType::Key => "key",
            SubjectType::Kid => "kid",
            SubjectType::Credential => "credential",
            SubjectType::User => "user",
        }
    }
}

/// An alert before it is stored.
#[derive(Debug, Clone)]
pub struct AlertDraft {
    pub kind: AlertKind,
    pub severity: Severity,
    pub subject_type: SubjectType,
    pub subject_id: String,
    pub message: String,
    pub detail: serde_json::Value,
}

/// The budget share (one of [`BUDGET_THRESHOLDS`]) a spend from `before` to `after` of `budget`
/// crossed, the highest if several; `None` when none was crossed or there is no budget.
pub fn budget_threshold_crossed(before: i64, after: i64, budget: i64) -> Option<u8> {
    if budget <= 0 || after <= before {
        return None;
    }
    let reached = |spent: i64, pct: u8| i128::from(spent) * 100 >= i128::from(budget) * i128::from(pct);
    BUDGET_THRESHOLDS.into_iter().rev().find(|&pct| reached(after, pct) && !reached(before, pct))
}

/// The alert for a budget share crossed (see [`budget_threshold_crossed`]); amounts in
/// nano-credits.
pub fn budget_alert(subject_type: SubjectType, subject_id: &str, threshold: u8, spent: i64, budget: i64) -> AlertDraft {
    AlertDraft {
        kind: AlertKind::BudgetThreshold,
        severity: if threshold >= 100 { Severity::Critical } else { Severity::Warning },
        subject_type,
        subject_id: subject_id.to_owned(),
        message: format!("{threshold}% of the budget is spent"),
        detail: serde_json::json!({"threshold_percent": threshold, "spent_nano": spent, "budget_nano": budget}),
    }
}

/// Thresholds of the per-key rules.
#[derive(Debug, Clone, Copy)]
pub struct Thresholds {
    pub silence_ms: i64,
    pub spike_min_calls: u64,
    pub spike_factor: u64,
    pub failed_attempts: u32,
    pub cooldown_ms: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            silence_ms: DEFAULT_SILENCE_MS,
            spike_min_calls: DEFAULT_SPIKE_MIN_CALLS,
            spike_factor: DEFAULT_SPIKE_FACTOR,
            failed_attempts: DEFAULT_FAILED_ATTEMPTS,
            cooldown_ms: DEFAULT_COOLDOWN_MS,
        }
    }
}

/// A key's calls per minute over the last [`SPIKE_WINDOW_MS`] + [`SPIKE_BASELINE_MS`].
#[derive(Debug)]
pub struct CallRate {
    /// (minute number, calls in it), oldest first.
    minutes: VecDeque<(i64, u64)>,
    /// The minute counting began.
    since_minute: i64,
    /// The key had no calls before counting began, so an empty baseline is the truth; otherwise
    /// (the detector restarted) the baseline needs [`MIN_BASELINE_MINUTES`] of counting first.
    brand_new: bool,
}

/// Minutes of counting a key with earlier, uncounted use needs before its baseline is believed.
pub const MIN_BASELINE_MINUTES: i64 = 15;

/// What the spike rule saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spike {
    pub recent: u64,
    /// Calls in the baseline (at most the hour before the window).
    pub baseline: u64,
}

impl CallRate {
    pub fn new(since_ms: i64, brand_new: bool) -> CallRate {
        CallRate { minutes: VecDeque::new(), since_minute: since_ms.div_euclid(MINUTE_MS), brand_new }
    }

    /// Counts a call at `now_ms` and tells whether the key's recent calls are a spike: at least
    /// the minimum, and more than `factor` times its average rate over the hour before the window
    /// (over the part of that hour that was counted, for a key counted for less than an hour).
    pub fn record(&mut self, now_ms: i64, t: &Thresholds) -> Option<Spike> {
        let minute = now_ms.div_euclid(MINUTE_MS);
        let window = SPIKE_WINDOW_MS / MINUTE_MS;
        let hour = SPIKE_BASELINE_MS / MINUTE_MS;
        while self.minutes.front().is_some_and(|(m, _)| *m <= minute - window - hour) {
            self.minutes.pop_front();
        }
        match self.minutes.back_mut() {
            Some((m, n)) if *m == minute => *n += 1,
            _ => self.minutes.push_back((minute, 1)),
        }
        let window_start = minute - window + 1;
        let (mut recent, mut baseline) = (0, 0);
        for (m, n) in &self.minutes {
            if *m >= window_start {
                recent += n;
            } else {
                baseline += n;
            }
        }
        let counted = (window_start - self.since_minute).clamp(0, hour);
        if counted < MIN_BASELINE_MINUTES && !self.brand_new {
            return None;
        }
        // The baseline's rate scaled to the window; a brand-new key with no counted past has none.
        let expected = if counted == 0 { 0 } else { baseline * u64::try_from(window).unwrap_or(1) / u64::try_from(counted).unwrap_or(1) };
        (recent >= t.spike_min_calls && recent > expected.saturating_mul(t.spike_factor)).then_some(Spike { recent, baseline })
    }
}

/// Failed attempts per kid within [`FAILED_ATTEMPTS_WINDOW_MS`], for a bounded number of kids.
#[derive(Debug)]
pub struct FailedAttempts {
    by_kid: HashMap<String, VecDeque<i64>>,
    max_kids: usize,
}

impl FailedAttempts {
    pub fn new(max_kids: usize) -> FailedAttempts {
        FailedAttempts { by_kid: HashMap::new(), max_kids }
    }

    /// Counts a failure; answers the number in the window once it reaches the threshold.
    pub fn record(&mut self, kid: &str, now_ms: i64, t: &Thresholds) -> Option<u32> {
        if !self.by_kid.contains_key(kid) && self.by_kid.len() >= self.max_kids {
            // Forget the kids whose window has passed; if none, this kid is not tracked.
            self.by_kid.retain(|_, times| times.back().is_some_and(|last| now_ms - last < FAILED_ATTEMPTS_WINDOW_MS));
            if self.by_kid.len() >= self.max_kids {
                return None;
            }
        }
        let times = self.by_kid.entry(kid.to_owned()).or_default();
        while times.front().is_some_and(|t0| now_ms - t0 >= FAILED_ATTEMPTS_WINDOW_MS) {
            times.pop_front();
        }
        times.push_back(now_ms);
        let cap = usize::try_from(t.failed_attempts).unwrap_or(usize::MAX).max(1);
        while times.len() > cap {
            times.pop_front();
        }
        let n = u32::try_from(times.len()).unwrap_or(u32::MAX);
        (n >= t.failed_attempts).then_some(n)
    }
}

/// The client addresses a key has been used from, bounded; the oldest is forgotten first.
#[derive(Debug, Default, Clone)]
pub struct KnownAddresses {
    addresses: VecDeque<String>,
}

impl KnownAddresses {
    pub fn knows(&self, address: &str) -> bool {
        self.addresses.iter().any(|a| a == address)
    }

    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }

    /// Remembers an address; answers whether it was new.
    pub fn learn(&mut self, address: &str) -> bool {
        if self.knows(address) {
            return false;
        }
        if self.addresses.len() >= MAX_KNOWN_ADDRESSES {
            self.addresses.pop_front();
        }
        self.addresses.push_back(address.to_owned());
        true
    }
}

/// Whether a call at `now_ms` after the last use at `last_used_ms` ends a long silence.
pub fn ends_silence(last_used_ms: Option<i64>, now_ms: i64, t: &Thresholds) -> Option<i64> {
    let last = last_used_ms?;
    let silent = now_ms - last;
    (silent >= t.silence_ms).then_some(silent)
}

/// The `X-AIGNE-Hub-Signature` header of a webhook body sent at `unix_secs`:
/// `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn webhook_signature(secret: &[u8], unix_secs: i64, body: &[u8]) -> String {
    let mut out = format!("t={unix_secs},v1=");
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return out;
    };
    mac.update(unix_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    for b in mac.finalize().into_bytes() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The first wait after a failed webhook delivery; each further failure doubles it.
pub const DELIVERY_FIRST_BACKOFF_MS: i64 = 1_000;
/// The longest wait between two delivery attempts.
pub const DELIVERY_MAX_BACKOFF_MS: i64 = 10 * 60 * 1_000;
/// A delivery not accepted this long after its alert was raised is given up (marked failed).
pub const DELIVERY_GIVE_UP_MS: i64 = 24 * 60 * 60 * 1_000;

/// The wait after attempt number `attempt` (1-based) failed: 1 s, 2 s, 4 s… capped at 10 min.
pub fn delivery_backoff_ms(attempt: i64) -> i64 {
    let doublings = u32::try_from(attempt.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
    DELIVERY_FIRST_BACKOFF_MS.saturating_mul(1_i64 << doublings).min(DELIVERY_MAX_BACKOFF_MS)
}

/// When a delivery raised at `created_ms` tries again after attempt `attempt` failed at
/// `now_ms`; `None` once that would be past the give-up time.
pub fn delivery_retry_at(created_ms: i64, attempt: i64, now_ms: i64) -> Option<i64> {
    let at = now_ms.saturating_add(delivery_backoff_ms(attempt));
    (at <= created_ms.saturating_add(DELIVERY_GIVE_UP_MS)).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(min_calls: u64) -> Thresholds {
        Thresholds { spike_min_calls: min_calls, ..Thresholds::default() }
    }

    #[test]
    fn a_quiet_key_is_not_a_spike() {
        let mut r = CallRate::new(0, true);
        for i in 0..3 {
            assert_eq!(r.record(i * 1000, &t(20)), None);
        }
    }

    #[test]
    fn a_burst_without_baseline_is_a_spike_once_past_the_minimum() {
        let mut r = CallRate::new(0, true);
        let hits: Vec<_> = (0..25).map(|i| r.record(i * 100, &t(20))).collect();
        assert!(hits[..19].iter().all(Option::is_none));
        assert_eq!(hits[19], Some(Spike { recent: 20, baseline: 0 }));
    }

    #[test]
    fn a_busy_key_at_its_usual_rate_is_not_a_spike() {
        let mut r = CallRate::new(0, true);
        // 60 calls a minute: a spike while the key has no history, then its usual rate once
        // the hour before the window holds it (300 calls in any five minutes).
        for minute in 0..70 {
            for s in 0..60 {
                let hit = r.record(minute * MINUTE_MS + s * 1000, &t(20));
                assert!(minute < 5 || hit.is_none(), "minute {minute}: {hit:?}");
            }
        }
        // Then a burst: over five times the usual five minutes.
        let mut raised = None;
        for s in 0..1500 {
            raised = raised.or(r.record(70 * MINUTE_MS + s * 40, &t(20)));
        }
        let spike = raised.expect("a spike");
        assert_eq!(spike.baseline, 3600);
        assert!(spike.recent > 5 * 300);
    }

    #[test]
    fn after_a_restart_a_busy_key_needs_a_counted_baseline_first() {
        let mut r = CallRate::new(0, false);
        for minute in 0..30 {
            for s in 0..60 {
                let hit = r.record(minute * MINUTE_MS + s * 1000, &t(20));
                assert_eq!(hit, None, "minute {minute}");
            }
        }
        // Twenty minutes counted before the window: 1200 calls, 300 per five minutes.
        let mut raised = None;
        for s in 0..1600 {
            raised = raised.or(r.record(30 * MINUTE_MS + s * 30, &t(20)));
        }
        assert!(raised.is_some_and(|s| s.recent > 1500));
    }

    #[test]
    fn failed_attempts_count_within_the_window() {
        let th = Thresholds { failed_attempts: 3, ..Thresholds::default() };
        let mut f = FailedAttempts::new(100);
        assert_eq!(f.record("kid", 0, &th), None);
        assert_eq!(f.record("kid", 1, &th), None);
        assert_eq!(f.record("kid", FAILED_ATTEMPTS_WINDOW_MS + 2, &th), None, "the first two are out of the window");
        assert_eq!(f.record("other", FAILED_ATTEMPTS_WINDOW_MS + 3, &th), None);
        assert_eq!(f.record("kid", FAILED_ATTEMPTS_WINDOW_MS + 4, &th), None);
        assert_eq!(f.record("kid", FAILED_ATTEMPTS_WINDOW_MS + 5, &th), Some(3));
    }

    #[test]
    fn failed_attempts_track_a_bounded_number_of_kids() {
        let th = Thresholds { failed_attempts: 2, ..Thresholds::default() };
        let mut f = FailedAttempts::new(2);
        f.record("a", 0, &th);
        f.record("b", 0, &th);
        assert_eq!(f.record("c", 1, &th), None);
        assert_eq!(f.record("c", 2, &th), None, "not tracked while the table is full");
        assert_eq!(f.record("c", FAILED_ATTEMPTS_WINDOW_MS + 1, &th), None, "tracked once old kids expire");
        assert_eq!(f.record("c", FAILED_ATTEMPTS_WINDOW_MS + 2, &th), Some(2));
    }

    #[test]
    fn addresses_are_learned_once_and_bounded() {
        let mut k = KnownAddresses::default();
        assert!(k.learn("10.0.0.1"));
        assert!(!k.learn("10.0.0.1"));
        for i in 0..MAX_KNOWN_ADDRESSES {
            k.learn(&format!("10.1.0.{i}"));
        }
        assert!(!k.knows("10.0.0.1"), "the oldest is forgotten");
    }

    #[test]
    fn silence_is_measured_from_the_last_use() {
        let th = Thresholds::default();
        assert_eq!(ends_silence(None, DEFAULT_SILENCE_MS * 2, &th), None);
        assert_eq!(ends_silence(Some(0), DEFAULT_SILENCE_MS - 1, &th), None);
        assert_eq!(ends_silence(Some(0), DEFAULT_SILENCE_MS, &th), Some(DEFAULT_SILENCE_MS));
    }

    #[test]
    fn budget_thresholds_are_crossed_once_each() {
        assert_eq!(budget_threshold_crossed(0, 49, 100), None);
        assert_eq!(budget_threshold_crossed(49, 50, 100), Some(50));
        assert_eq!(budget_threshold_crossed(50, 79, 100), None);
        assert_eq!(budget_threshold_crossed(10, 85, 100), Some(80), "the highest share crossed");
        assert_eq!(budget_threshold_crossed(99, 130, 100), Some(100));
        assert_eq!(budget_threshold_crossed(100, 130, 100), None);
        assert_eq!(budget_threshold_crossed(0, 10, 0), None);
        let a = budget_alert(SubjectType::Key, "key_1", 100, 130, 100);
        assert_eq!((a.kind, a.severity), (AlertKind::BudgetThreshold, Severity::Critical));
    }

    #[test]
    fn deliveries_back_off_doubling_to_ten_minutes_and_give_up_after_a_day() {
        assert_eq!(delivery_backoff_ms(1), 1_000);
        assert_eq!(delivery_backoff_ms(2), 2_000);
        assert_eq!(delivery_backoff_ms(4), 8_000);
        assert_eq!(delivery_backoff_ms(10), 512_000);
        assert_eq!(delivery_backoff_ms(11), DELIVERY_MAX_BACKOFF_MS);
        assert_eq!(delivery_backoff_ms(i64::MAX), DELIVERY_MAX_BACKOFF_MS);
        assert_eq!(delivery_backoff_ms(0), 1_000);
        assert_eq!(delivery_retry_at(0, 1, 5_000), Some(6_000));
        assert_eq!(delivery_retry_at(0, 200, DELIVERY_GIVE_UP_MS - DELIVERY_MAX_BACKOFF_MS), Some(DELIVERY_GIVE_UP_MS));
        assert_eq!(delivery_retry_at(0, 200, DELIVERY_GIVE_UP_MS - 1), None);
    }

    #[test]
    fn webhook_signatures_follow_the_published_recipe() {
        // HMAC-SHA256("secret", "1700000000.{}"), computed independently with openssl.
        let sig = webhook_signature(b"secret", 1_700_000_000, b"{}");
        assert_eq!(sig, "t=1700000000,v1=b8569b78799ff9e3cbff0fc2d63a33a2b57f3282abd07c37ae5e8e7d79a5f163");
        assert_ne!(sig, webhook_signature(b"secret", 1_700_000_001, b"{}"));
    }
}
