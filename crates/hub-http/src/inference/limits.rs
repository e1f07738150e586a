//! Per-key rate and concurrency state, in this process's memory: requests per minute and
//! tokens per minute as exact sliding windows (`hub_core::rate`), concurrent calls as a counter
//! whose slot is held by a [`Permit`] inside the call's `CallGuard` and released when the guard
//! drops, on every path (success, error, client gone, stream end).
//!
//! Each hub process keeps its own state: with several instances a key's limits apply per
//! instance. A shared limiter (Redis or the database) is a later step; the per-call interface
//! ([`acquire`] → [`Permit`]) stays the same.
//!
//! No lock is held across an await: the map is read under a short read lock to find the key's
//! limiter, and the windows under a short mutex.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use hub_core::fast_map::FastMap;
use hub_core::rate::SlidingWindow;
use hub_core::scopes::KeyPolicy;
use parking_lot::{Mutex, RwLock};

use crate::error::ApiError;

/// Output tokens reserved for a chat call that names no `max_tokens`.
pub const DEFAULT_OUTPUT_RESERVATION: u64 = 4096;

#[derive(Default)]
pub struct KeyLimiters {
    by_key: RwLock<FastMap<String, Arc<KeyLimiter>>>,
}

#[derive(Default)]
struct KeyLimiter {
    windows: Mutex<Windows>,
    in_flight: AtomicU32,
}

#[derive(Default)]
struct Windows {
    requests: SlidingWindow,
    tokens: SlidingWindow,
}

/// The state the `x-ratelimit-*` headers report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RateSnapshot {
    pub requests: Option<WindowState>,
    pub tokens: Option<WindowState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowState {
    pub limit: u64,
    pub remaining: u64,
    pub reset_ms: u64,
}

/// Which limit refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Requests,
    Tokens,
    Concurrency,
}

/// A refusal, with what the 429's headers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitRefusal {
    pub kind: LimitKind,
    pub limit: u64,
    /// `None`: this request alone exceeds the limit and can never pass.
    pub retry_after: Option<Duration>,
    pub snapshot: RateSnapshot,
}

/// A call's hold on its key's limits. Dropping it frees the concurrency slot; [`Permit::settle`]
/// replaces the token reservation with the actual use.
pub struct Permit {
    limiter: Arc<KeyLimiter>,
    holds_slot: bool,
    /// The token window's grant and the amount it reserved.
    token_ticket: Option<(u64, u64)>,
    pub snapshot: RateSnapshot,
}

impl Permit {
    pub fn settle(&mut self, actual_tokens: u64) {
        if let Some((ticket, granted)) = self.token_ticket.take() {
            self.limiter.windows.lock().tokens.correct(ticket, granted, actual_tokens);
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.holds_slot {
            self.limiter.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl KeyLimiters {
    fn get(&self, key_id: &str) -> Arc<KeyLimiter> {
        if let Some(l) = self.by_key.read().get(key_id) {
            return Arc::clone(l);
        }
        Arc::clone(self.by_key.write().entry(key_id.to_owned()).or_default())
    }
}

/// Takes a concurrency slot, a request and the token reservation, all or nothing. Keys without
/// limits cost nothing here.
pub fn acquire(limiters: &KeyLimiters, key_id: &str, policy: &KeyPolicy, now_ms: i64, tokens: u64) -> Result<Option<Permit>, LimitRefusal> {
    if !policy.has_limits() {
        return Ok(None);
    }
    let limiter = limiters.get(key_id);
    let mut permit = Permit { limiter: Arc::clone(&limiter), holds_slot: false, token_ticket: None, snapshot: RateSnapshot::default() };
    if let Some(max) = policy.max_concurrency {
        let taken = limiter.in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).is_ok();
        if !taken {
            let snapshot = peek(&limiter, policy, now_ms);
            return Err(LimitRefusal { kind: LimitKind::Concurrency, limit: u64::from(max), retry_after: Some(Duration::from_secs(1)), snapshot });
        }
        permit.holds_slot = true;
    }
    let mut w = limiter.windows.lock();
    // Check both windows before taking from either, so a refusal takes nothing.
    let now_snapshot = |w: &mut Windows| RateSnapshot {
        requests: policy.rpm.map(|l| state(w.requests.peek(now_ms, u64::from(l)), u64::from(l))),
        tokens: policy.tpm.map(|l| state(w.tokens.peek(now_ms, l), l)),
    };
    if let Some(limit) = policy.rpm.map(u64::from) {
        let (remaining, _) = w.requests.peek(now_ms, limit);
        if remaining == 0 {
            let refused = w.requests.try_take(now_ms, limit, 1).err();
            let snapshot = now_snapshot(&mut w);
            let retry_after = refused.and_then(|r| r.retry_after_ms).map(Duration::from_millis);
            return Err(LimitRefusal { kind: LimitKind::Requests, limit, retry_after, snapshot });
        }
    }
    if let Some(limit) = policy.tpm {
        match w.tokens.try_take(now_ms, limit, tokens) {
            // The call's reservation, corrected when it settles.
            Ok(g) => permit.token_ticket = Some((g.ticket, tokens)),
            Err(r) => {
                let snapshot = now_snapshot(&mut w);
                return Err(LimitRefusal { kind: LimitKind::Tokens, limit, retry_after: r.retry_after_ms.map(Duration::from_millis), snapshot });
            }
        }
    }
    if let Some(limit) = policy.rpm.map(u64::from) {
        // Cannot fail: the window had room a moment ago under the same lock.
        let _ = w.requests.try_take(now_ms, limit, 1);
    }
    permit.snapshot = now_snapshot(&mut w);
    Ok(Some(permit))
}

fn state((remaining, reset_ms): (u64, u64), limit: u64) -> WindowState {
    WindowState { limit, remaining, reset_ms }
}

fn peek(limiter: &KeyLimiter, policy: &KeyPolicy, now_ms: i64) -> RateSnapshot {
    let mut w = limiter.windows.lock();
    RateSnapshot {
        requests: policy.rpm.map(|l| state(w.requests.peek(now_ms, u64::from(l)), u64::from(l))),
        tokens: policy.tpm.map(|l| state(w.tokens.peek(now_ms, l), l)),
    }
}

/// Tokens a call reserves: its estimated input plus its maximum output. A call that names no
/// maximum reserves [`DEFAULT_OUTPUT_RESERVATION`], capped so that it fits the key's limit.
pub fn reservation(policy: &KeyPolicy, est_input: u64, max_output: Option<u64>) -> u64 {
    match max_output {
        Some(m) => est_input.saturating_add(m),
        None => {
            let wanted = est_input.saturating_add(DEFAULT_OUTPUT_RESERVATION);
            policy.tpm.map_or(wanted, |l| wanted.min(l.max(est_input)))
        }
    }
}

/// Header names as constants: a name given as text is copied into the map on every insert.
const REQUEST_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-ratelimit-limit-requests"),
    HeaderName::from_static("x-ratelimit-remaining-requests"),
    HeaderName::from_static("x-ratelimit-reset-requests"),
];
const TOKEN_HEADERS: [HeaderName; 3] = [
    HeaderName::from_static("x-ratelimit-limit-tokens"),
    HeaderName::from_static("x-ratelimit-remaining-tokens"),
    HeaderName::from_static("x-ratelimit-reset-tokens"),
];

impl RateSnapshot {
    /// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` for the limits the key has.
    pub fn write(&self, h: &mut HeaderMap) {
        for (names, s) in [(REQUEST_HEADERS, self.requests), (TOKEN_HEADERS, self.tokens)] {
            let Some(s) = s else { continue };
            let [limit, remaining, reset] = names;
            h.insert(limit, HeaderValue::from(s.limit));
            h.insert(remaining, HeaderValue::from(s.remaining));
            if let Ok(v) = HeaderValue::from_str(&reset_text(s.reset_ms)) {
                h.insert(reset, v);
            }
        }
    }
}

/// A reset time as OpenAI writes it: `250ms`, `12s`, `1m5s`. Written on every response that
/// has limits, so without the formatting machinery.
fn reset_text(ms: u64) -> String {
    let mut out = String::with_capacity(12);
    let mut digits = itoa::Buffer::new();
    if ms < 1000 {
        out.push_str(digits.format(ms));
        out.push_str("ms");
        return out;
    }
    let secs = ms.div_ceil(1000);
    if secs >= 60 {
        out.push_str(digits.format(secs / 60));
        out.push('m');
    }
    out.push_str(digits.format(secs % 60));
    out.push('s');
    out
}

impl From<LimitRefusal> for ApiError {
    fn from(r: LimitRefusal) -> ApiError {
        ApiError::RateLimited(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_reads_like_openai() {
        assert_eq!(reset_text(250), "250ms");
        assert_eq!(reset_text(1001), "2s");
        assert_eq!(reset_text(60_000), "1m0s");
        assert_eq!(reset_text(65_000), "1m5s");
    }

    #[test]
    fn a_refusal_takes_nothing_and_slots_come_back() {
        let limiters = KeyLimiters::default();
        let policy = KeyPolicy { rpm: Some(2), tpm: Some(100), max_concurrency: Some(1), ..KeyPolicy::default() };
        let p = acquire(&limiters, "k", &policy, 0, 60).unwrap().unwrap();
        assert_eq!(p.snapshot.requests.unwrap().remaining, 1);
        assert_eq!(p.snapshot.tokens.unwrap().remaining, 40);
        assert_eq!(acquire(&limiters, "k", &policy, 1, 1).err().map(|r| r.kind), Some(LimitKind::Concurrency));
        drop(p);
        // Tokens refuse: the request window must not have counted it.
        assert_eq!(acquire(&limiters, "k", &policy, 2, 60).err().map(|r| r.kind), Some(LimitKind::Tokens));
        let mut p = acquire(&limiters, "k", &policy, 3, 10).unwrap().unwrap();
        p.settle(5);
        drop(p);
        assert_eq!(acquire(&limiters, "k", &policy, 4, 1).err().map(|r| r.kind), Some(LimitKind::Requests));
        assert!(acquire(&limiters, "k", &KeyPolicy::default(), 5, 1).unwrap().is_none());
    }

    #[test]
    fn reservations_fit_the_limit_when_no_maximum_is_named() {
        let p = KeyPolicy { tpm: Some(1000), ..KeyPolicy::default() };
        assert_eq!(reservation(&p, 10, Some(50)), 60);
        assert_eq!(reservation(&p, 10, None), 1000);
        assert_eq!(reservation(&KeyPolicy::default(), 10, None), 10 + DEFAULT_OUTPUT_RESERVATION);
    }
}
