//! Base62 alphabet helpers shared by key generation, checksums and ids.

use rand::{CryptoRng, RngCore};

pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` base62 characters sampled without modulo bias: bytes >= 248 (= 4 × 62) are rejected
/// so every character has probability exactly 1/62.
pub fn random<R: RngCore + CryptoRng>(rng: &mut R, len: usize) -> String {
    let mut out = String::with_capacity(len);
    push_random(rng, len, &mut out);
    out
}

/// Appends `len` random base62 characters to `out` (see [`random`]).
pub fn push_random<R: RngCore + CryptoRng>(rng: &mut R, len: usize, out: &mut String) {
    let target = out.len() + len;
    let mut buf = [0u8; 64];
    while out.len() < target {
        // A few spare bytes cover the rare rejections; a short id does not pay for 64.
        let n = (target - out.len() + 8).min(buf.len());
        rng.fill_bytes(&mut buf[..n]);
        for &b in &buf[..n] {
            if b < 248 {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
                if out.len() == target {
                    break;
                }
            }
        }
    }
}

/// Fixed-width base62 encoding of a number, most significant digit first, left-padded with '0'.
pub fn encode_fixed(value: u64, width: usize) -> String {
    let mut out = String::with_capacity(width);
    push_fixed(value, width, &mut out);
    out
}

/// Appends the fixed-width encoding of [`encode_fixed`] to `out`, without an allocation of its
/// own (ids and key checksums are made on every call).
pub fn push_fixed(value: u64, width: usize, out: &mut String) {
    // u64::MAX needs 11 digits; wider encodings are zero-padded on the left.
    let mut digits = [b'0'; 11];
    fill_fixed(value, &mut digits);
    for _ in digits.len()..width {
        out.push('0');
    }
    for &d in &digits[digits.len().saturating_sub(width)..] {
        out.push(char::from(d));
    }
}

/// Writes the fixed-width encoding of `value` into all of `out` (its length is the width).
pub fn fill_fixed(mut value: u64, out: &mut [u8]) {
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
}

pub fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_width_encoding_round_numbers() {
        assert_eq!(encode_fixed(0, 6), "000000");
        assert_eq!(encode_fixed(61, 2), "0z");
        assert_eq!(encode_fixed(62, 2), "10");
        assert_eq!(encode_fixed(u64::from(u32::MAX), 6).len(), 6);
        assert_eq!(encode_fixed(u64::MAX, 11), "LygHa16AHYF");
        assert_eq!(encode_fixed(5, 14), "00000000000005");
    }

    #[test]
    fn pushing_appends_the_same_text() {
        let mut s = String::from("req_");
        push_fixed(123_456_789, 8, &mut s);
        assert_eq!(s, format!("req_{}", encode_fixed(123_456_789, 8)));
        push_random(&mut rand::rngs::OsRng, 10, &mut s);
        assert_eq!(s.len(), 22);
        assert!(is_base62(&s[4..]));
    }

    #[test]
    fn random_is_base62_of_requested_length() {
        let s = random(&mut rand::rngs::OsRng, 43);
        assert_eq!(s.len(), 43);
        assert!(is_base62(&s));
    }
}
