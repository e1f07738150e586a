//! A Prometheus histogram over fixed bucket bounds, updated with atomics (no lock, no
//! allocation per observation).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds in milliseconds, and as the exposition's `le` label (seconds).
const BOUNDS_MS: [u64; 15] = [5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000];
const BOUNDS_LE: [&str; 15] = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "120", "300"];

#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last one is `+Inf`.
    buckets: [AtomicU64; BOUNDS_MS.len() + 1],
    sum_ms: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    pub fn observe_ms(&self, ms: u64) {
        let i = BOUNDS_MS.iter().position(|b| ms <= *b).unwrap_or(BOUNDS_MS.len());
        if let Some(b) = self.buckets.get(i) {
            b.fetch_add(1, Ordering::Relaxed);
        }
        self.sum_ms.fetch_add(ms, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// `name_bucket{labels,le=…}` lines, then `name_sum` (seconds) and `name_count`. `labels` is
    /// empty or `a="x",b="y"`.
    pub fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, le) in BOUNDS_LE.iter().chain(std::iter::once(&"+Inf")).enumerate() {
            cumulative += self.buckets.get(i).map_or(0, |b| b.load(Ordering::Relaxed));
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}");
        }
        let sum_ms = self.sum_ms.load(Ordering::Relaxed);
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}.{:03}", sum_ms / 1000, sum_ms % 1000);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count.load(Ordering::Relaxed));
    }
}

#[cfg(test)]
mod tests {
    use super::Histogram;

    #[test]
    fn buckets_are_cumulative_and_end_with_inf() {
        let h = Histogram::default();
        for ms in [1, 5, 6, 400, 1_000_000] {
            h.observe_ms(ms);
        }
        let mut out = String::new();
        h.render(&mut out, "x", "a=\"b\"");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.005\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.01\"} 3\n"));
        assert!(out.contains("x_bucket{a=\"b\",le=\"0.5\"} 4\n"));
        assert!(out.contains("x_bucket{a=\"b\",le=\"300\"} 4\n"));
        assert!(out.contains("x_bucket{a=\"b\",le=\"+Inf\"} 5\n"));
        assert!(out.contains("x_sum{a=\"b\"} 1000.412\n"));
        assert!(out.contains("x_count{a=\"b\"} 5\n"));
    }
}
