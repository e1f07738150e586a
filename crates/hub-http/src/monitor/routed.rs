//! Per provider and model, from the calls the hub actually routed: tokens and credits by
//! provider, upstream time to first byte, and each model's recent availability and latency.
//!
//! Label values come only from routed calls (the resolved provider and the upstream model), and
//! the tables are bounded: past [`MAX_PROVIDERS`] providers or [`MAX_MODELS`] models, further
//! ones are folded into `other`, so a client inventing model names cannot grow the series.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use hub_core::fast_map::FastMap;
use parking_lot::{Mutex, RwLock};

use super::histogram::Histogram;

pub const MAX_PROVIDERS: usize = 32;
pub const MAX_MODELS: usize = 128;
pub const OTHER: &str = "other";
/// Model status looks at the last calls within this time…
const WINDOW_MS: i64 = 15 * 60 * 1000;
/// …and at most this many of them.
const WINDOW_CALLS: usize = 200;
/// A model is shown unavailable when at least this many recent calls…
const MIN_CALLS_FOR_VERDICT: usize = 5;
/// …succeeded less than this share (percent) of the time.
const AVAILABLE_PERCENT: usize = 50;

#[derive(Debug, Default)]
pub struct ProviderSeries {
    pub tokens_in: AtomicU64,
    pub tokens_out: AtomicU64,
    /// Nano-credits charged.
    pub credits: AtomicU64,
    pub upstream_ttfb: Histogram,
    models: RwLock<FastMap<String, Arc<ModelSeries>>>,
}

#[derive(Debug, Clone, Copy)]
struct Sample {
    at_ms: i64,
    ok: bool,
    latency_ms: u64,
}

#[derive(Debug, Default)]
pub struct ModelSeries {
    pub succeeded: AtomicU64,
    pub failed: AtomicU64,
    recent: Mutex<VecDeque<Sample>>,
}

/// A model's recent record, for the catalog and the providers page.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelHealth {
    pub calls: usize,
    /// Share of recent calls that succeeded, 0–1.
    pub success_ratio: f64,
    /// Median latency of recent successful calls.
    pub p50_ms: Option<u64>,
    pub available: bool,
}

impl ModelSeries {
    fn record(&self, at_ms: i64, ok: bool, latency_ms: u64) {
        let counter = if ok { &self.succeeded } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        let mut q = self.recent.lock();
        if q.len() >= WINDOW_CALLS {
            q.pop_front();
        }
        q.push_back(Sample { at_ms, ok, latency_ms });
    }

    pub fn health(&self, now_ms: i64) -> Option<ModelHealth> {
        let samples: Vec<Sample> = self.recent.lock().iter().filter(|s| now_ms - s.at_ms <= WINDOW_MS).copied().collect();
        if samples.is_empty() {
            return None;
        }
        let ok = samples.iter().filter(|s| s.ok).count();
        let mut latencies: Vec<u64> = samples.iter().filter(|s| s.ok).map(|s| s.latency_ms).collect();
        latencies.sort_unstable();
        let p50_ms = (!latencies.is_empty()).then(|| latencies[(latencies.len() - 1) / 2]);
        let calls = samples.len();
        let available = calls < MIN_CALLS_FOR_VERDICT || ok * 100 >= calls * AVAILABLE_PERCENT;
        Some(ModelHealth { calls, success_ratio: ok as f64 / calls as f64, p50_ms, available })
    }
}

/// How a routed call ended, as far as its model's availability goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Succeeded,
    /// The provider failed it (5xx, rate limit, timeout).
    Failed,
    /// Says nothing about the model (a bad request, the client leaving).
    Neutral,
}

impl Verdict {
    pub fn of_status(status: u16) -> Verdict {
        match status {
            200..=299 => Verdict::Succeeded,
            429 | 500..=599 => Verdict::Failed,
            _ => Verdict::Neutral,
        }
    }
}

#[derive(Debug, Default)]
pub struct RoutedBook {
    providers: RwLock<FastMap<String, Arc<ProviderSeries>>>,
    models: AtomicUsize,
}

/// Finds `name` in a bounded table, adding it while there is room, else the `other` entry.
fn slot<T: Default>(table: &RwLock<FastMap<String, Arc<T>>>, name: &str, room: impl FnOnce(usize) -> bool) -> Arc<T> {
    if let Some(s) = table.read().get(name) {
        return Arc::clone(s);
    }
    let mut w = table.write();
    if let Some(s) = w.get(name) {
        return Arc::clone(s);
    }
    let key = if room(w.len()) { name } else { OTHER };
    Arc::clone(w.entry(key.to_owned()).or_default())
}

impl RoutedBook {
    pub fn provider(&self, name: &str) -> Arc<ProviderSeries> {
        slot(&self.providers, name, |len| len < MAX_PROVIDERS)
    }

    fn model(&self, provider: &ProviderSeries, model: &str) -> Arc<ModelSeries> {
        slot(&provider.models, model, |_| self.models.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| (n < MAX_MODELS).then_some(n + 1)).is_ok())
    }

    /// Counts one routed call.
    #[expect(clippy::too_many_arguments, reason = "the fields of one usage record, passed without building a struct per call")]
    pub fn record(&self, provider: &str, model: &str, at_ms: i64, verdict: Verdict, latency_ms: u64, upstream_ttfb_ms: Option<u64>, tokens: (u64, u64), credits: u64) {
        let p = self.provider(provider);
        p.tokens_in.fetch_add(tokens.0, Ordering::Relaxed);
        p.tokens_out.fetch_add(tokens.1, Ordering::Relaxed);
        p.credits.fetch_add(credits, Ordering::Relaxed);
        if let Some(t) = upstream_ttfb_ms {
            p.upstream_ttfb.observe_ms(t);
        }
        if verdict != Verdict::Neutral {
            self.model(&p, model).record(at_ms, verdict == Verdict::Succeeded, latency_ms);
        }
    }

    /// A model's recent record, if it was called lately.
    pub fn health(&self, provider: &str, model: &str, now_ms: i64) -> Option<ModelHealth> {
        let p = self.providers.read().get(provider).cloned()?;
        let m = p.models.read().get(model).cloned()?;
        m.health(now_ms)
    }

    /// Every (provider, model) called within the window, with its record, sorted.
    pub fn recent(&self, now_ms: i64) -> Vec<(String, String, ModelHealth)> {
        let mut out = Vec::new();
        for (provider, p) in self.providers() {
            for (model, m) in p.models() {
                if let Some(h) = m.health(now_ms) {
                    out.push((provider.clone(), model, h));
                }
            }
        }
        out
    }

    /// Every provider and its series, sorted by name.
    pub fn providers(&self) -> Vec<(String, Arc<ProviderSeries>)> {
        let mut v: Vec<_> = self.providers.read().iter().map(|(k, s)| (k.clone(), Arc::clone(s))).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

impl ProviderSeries {
    /// Every model and its series, sorted by name.
    pub fn models(&self) -> Vec<(String, Arc<ModelSeries>)> {
        let mut v: Vec<_> = self.models.read().iter().map(|(k, s)| (k.clone(), Arc::clone(s))).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_past_the_cap_fold_into_other() {
        let book = RoutedBook::default();
        for i in 0..MAX_MODELS + 10 {
            book.record("custom:lab", &format!("m{i}"), 0, Verdict::Succeeded, 10, None, (1, 1), 0);
        }
        let p = book.provider("custom:lab");
        let models = p.models();
        assert_eq!(models.len(), MAX_MODELS + 1);
        let other = models.iter().find(|(n, _)| n == OTHER).map(|(_, s)| s.succeeded.load(Ordering::Relaxed));
        assert_eq!(other, Some(10));
        assert_eq!(p.tokens_in.load(Ordering::Relaxed), (MAX_MODELS + 10) as u64);
    }

    #[test]
    fn providers_past_the_cap_fold_into_other() {
        let book = RoutedBook::default();
        for i in 0..MAX_PROVIDERS + 3 {
            book.record(&format!("custom:p{i}"), "m", 0, Verdict::Neutral, 0, Some(5), (0, 0), 0);
        }
        assert_eq!(book.providers().len(), MAX_PROVIDERS + 1);
    }

    #[test]
    fn health_is_the_success_ratio_and_median_of_the_window() {
        let book = RoutedBook::default();
        for (i, (status, ms)) in [(200, 30), (200, 10), (200, 20), (502, 5), (400, 1), (499, 1)].into_iter().enumerate() {
            book.record("openai", "gpt-4o", i as i64, Verdict::of_status(status), ms, None, (0, 0), 0);
        }
        let h = book.health("openai", "gpt-4o", 10).unwrap();
        assert_eq!(h.calls, 4, "bad requests and cut calls say nothing about the model");
        assert!((h.success_ratio - 0.75).abs() < 1e-9);
        assert_eq!(h.p50_ms, Some(20));
        assert!(h.available);
        assert_eq!(book.health("openai", "gpt-4o", 10 + WINDOW_MS + 10), None, "old calls leave the window");
        for i in 0..10 {
            book.record("openai", "down", i, Verdict::Failed, 1, None, (0, 0), 0);
        }
        assert!(!book.health("openai", "down", 10).unwrap().available);
    }
}
