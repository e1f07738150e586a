//! Latency histograms with fixed, log-spaced buckets: what the hourly usage rollups store per
//! group, so p50 / p95 of any range can be read by summing bucket counts instead of reading
//! every call. Each bucket's upper bound is twice the previous one (5 ms … 82 s, then
//! everything slower), so an estimate is never off by more than a factor of two, and usually
//! by far less because it is interpolated inside its bucket.

/// Upper bounds (exclusive) of the buckets, in milliseconds; the last bucket has none.
pub const BUCKET_UPPER_MS: [u64; 15] = [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 10_240, 20_480, 40_960, 81_920];
/// Number of buckets: one per bound plus the overflow bucket.
pub const BUCKETS: usize = BUCKET_UPPER_MS.len() + 1;

/// The bucket a duration falls in.
pub fn bucket_of(ms: u64) -> usize {
    BUCKET_UPPER_MS.iter().position(|&upper| ms < upper).unwrap_or(BUCKETS - 1)
}

/// The half-open range `[lower, upper)` of bucket `i`; the overflow bucket has no upper bound.
pub fn bucket_range(i: usize) -> (u64, Option<u64>) {
    let lower = if i == 0 { 0 } else { BUCKET_UPPER_MS.get(i - 1).copied().unwrap_or(u64::MAX) };
    (lower, BUCKET_UPPER_MS.get(i).copied())
}

/// Counts per bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Histogram(pub [u64; BUCKETS]);

impl Histogram {
    pub fn record(&mut self, ms: u64) {
        self.0[bucket_of(ms)] += 1;
    }

    pub fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a += b;
        }
    }

    /// The `q` quantile (0.0–1.0) in milliseconds, interpolated linearly inside its bucket;
    /// `None` without samples. In the overflow bucket the answer is its lower bound.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        // The rank of the sample sought, 1-based: the smallest sample has rank 1.
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).max(1);
        let mut below = 0u64;
        for (i, &n) in self.0.iter().enumerate() {
            if n > 0 && below + n >= rank {
                let (lower, upper) = bucket_range(i);
                let Some(upper) = upper else { return Some(lower) };
                // Samples spread evenly across the bucket: the k-th of n sits at k/n of it.
                let within = (rank - below) as f64 / n as f64;
                return Some(lower + ((upper - lower) as f64 * within).round() as u64);
            }
            below += n;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_duration_once() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(4), 0);
        assert_eq!(bucket_of(5), 1);
        assert_eq!(bucket_of(81_919), BUCKETS - 2);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        for ms in [0, 1, 7, 100, 1000, 5000, 90_000] {
            let (lo, hi) = bucket_range(bucket_of(ms));
            assert!(lo <= ms && hi.is_none_or(|h| ms < h), "{ms} in [{lo}, {hi:?})");
        }
    }

    #[test]
    fn quantiles_are_within_the_bucket_of_the_true_value() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile(0.5), None);
        for ms in 1..=1000u64 {
            h.record(ms);
        }
        let p50 = h.quantile(0.5).unwrap();
        let p95 = h.quantile(0.95).unwrap();
        assert_eq!(bucket_of(p50), bucket_of(500), "{p50}");
        assert_eq!(bucket_of(p95), bucket_of(950), "{p95}");
        assert!(p50 < p95);
        let mut one = Histogram::default();
        one.record(100_000);
        assert_eq!(one.quantile(0.95), Some(81_920), "overflow answers its lower bound");
    }

    #[test]
    fn merging_adds_counts() {
        let mut a = Histogram::default();
        a.record(3);
        let mut b = Histogram::default();
        b.record(3);
        b.record(300);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.0[0], 2);
    }
}
