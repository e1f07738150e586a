//! Base62 alphabet helpers shared by key generation, checksums and ids.

use rand::{CryptoRng, RngCore};

pub const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `len` base62 characters sampled without modulo bias: bytes >= 248 (= 4 × 62) are rejected
/// so every character has probability exactly 1/62.
pub fn random<R: RngCore + CryptoRng>(rng: &mut R, len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        rng.fill_bytes(&mut buf);
        for &b in &buf {
            if b < 248 {
                out.push(char::from(ALPHABET[usize::from(b % 62)]));
                if out.len() == len {
                    break;
                }
            }
        }
    }
    out
}

/// Fixed-width base62 encoding of a number, most significant digit first, left-padded with '0'.
pub fn encode_fixed(mut value: u64, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    digits.into_iter().map(char::from).collect()
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
    }

    #[test]
    fn random_is_base62_of_requested_length() {
        let s = random(&mut rand::rngs::OsRng, 43);
        assert_eq!(s.len(), 43);
        assert!(is_base62(&s));
    }
}
