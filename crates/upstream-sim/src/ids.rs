//! Random-looking identifiers (`chatcmpl-…`, `call_…`, `req_…`) and a small
//! seeded generator.
//!
//! Identifiers only need to look like OpenAI's and be unique, so a lock-free
//! splitmix64 over an atomic counter is enough and costs no syscalls.

use std::sync::atomic::{AtomicU64, Ordering};

const GOLDEN_GAMMA: u64 = 0x9E37_79B9_7F4A_7C15;
const ALNUM: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8; 16] = b"0123456789abcdef";

/// The splitmix64 output function.
pub fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Deterministic sequence from a seed; not shared between threads.
#[derive(Debug, Clone)]
pub struct SeededRng {
    state: u64,
}

impl SeededRng {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN_GAMMA);
        mix(self.state)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Shared identifier source, safe to use from every connection at once.
#[derive(Debug)]
pub struct IdSource {
    state: AtomicU64,
}

impl IdSource {
    pub fn new(seed: u64) -> Self {
        Self {
            state: AtomicU64::new(seed),
        }
    }

    pub fn next_u64(&self) -> u64 {
        mix(self
            .state
            .fetch_add(GOLDEN_GAMMA, Ordering::Relaxed)
            .wrapping_add(GOLDEN_GAMMA))
    }

    /// `prefix` followed by `len` characters of `[A-Za-z0-9]`.
    pub fn alnum(&self, prefix: &str, len: usize) -> String {
        let mut out = String::with_capacity(prefix.len() + len);
        out.push_str(prefix);
        let mut left = len;
        while left > 0 {
            // 62^10 < 2^64, so one draw yields ten characters.
            let mut x = self.next_u64();
            for _ in 0..left.min(10) {
                out.push(ALNUM[(x % 62) as usize] as char);
                x /= 62;
            }
            left = left.saturating_sub(10);
        }
        out
    }

    /// `prefix` followed by `len` lowercase hex digits.
    pub fn hex(&self, prefix: &str, len: usize) -> String {
        let mut out = String::with_capacity(prefix.len() + len);
        out.push_str(prefix);
        let mut left = len;
        while left > 0 {
            let mut x = self.next_u64();
            for _ in 0..left.min(16) {
                out.push(HEX[(x & 0xf) as usize] as char);
                x >>= 4;
            }
            left = left.saturating_sub(16);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let ids = IdSource::new(1);
        let id = ids.alnum("chatcmpl-", 29);
        assert_eq!(id.len(), 9 + 29);
        assert!(id[9..].bytes().all(|b| b.is_ascii_alphanumeric()));
        let hex = ids.hex("req_", 32);
        assert_eq!(hex.len(), 36);
        assert_ne!(ids.alnum("", 29), ids.alnum("", 29));
    }

    #[test]
    fn seeded_is_deterministic() {
        let mut a = SeededRng::new(7);
        let mut b = SeededRng::new(7);
        for _ in 0..10 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let x = a.next_f64();
        assert!((0.0..1.0).contains(&x));
    }
}
