//! API key format, parsing and hashing (the key specification lives in docs/api-keys.md).
//!
//! `aih_<kid>_<secret><check>`: a type prefix, a 12-character public id, 43 random base62
//! characters (≈256 bits) and 6 base62 characters of CRC32 over everything before them.
//! Only `HMAC-SHA256(pepper, key)` is ever stored; the pepper lives outside the database.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::{CryptoRng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::base62;

pub const KID_LEN: usize = 12;
pub const SECRET_LEN: usize = 43;
pub const CHECK_LEN: usize = 6;
/// The regex secret scanners can use to find leaked keys.
pub const KEY_REGEX: &str = r"\baih[ra]?_[0-9A-Za-z]{12}_[0-9A-Za-z]{49}\b";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// `aih_`: calls models.
    Inference,
    /// `aihr_`: reads its owner's usage, cannot call models.
    Analytics,
    /// `aiha_`: the admin API, cannot call models.
    Admin,
}

impl KeyType {
    pub fn prefix(self) -> &'static str {
        match self {
            KeyType::Inference => "aih_",
            KeyType::Analytics => "aihr_",
            KeyType::Admin => "aiha_",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyType::Inference => "inference",
            KeyType::Analytics => "analytics",
            KeyType::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<KeyType> {
        match s {
            "inference" => Some(KeyType::Inference),
            "analytics" => Some(KeyType::Analytics),
            "admin" => Some(KeyType::Admin),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyParseError {
    #[error("the API key is malformed: expected aih_<12-character id>_<49 characters>")]
    Malformed,
    #[error("the API key's checksum does not match: it was mistyped or truncated")]
    BadChecksum,
}

/// A syntactically valid key whose checksum matched. Holding one proves nothing about whether
/// the hub knows it. `Debug` never prints the secret.
#[derive(Clone)]
pub struct ApiKey {
    text: String,
    key_type: KeyType,
}

impl ApiKey {
    /// Generates a new key from the given CSPRNG.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R, key_type: KeyType) -> ApiKey {
        let kid = base62::random(rng, KID_LEN);
        ApiKey::generate_for_kid(rng, key_type, &kid)
    }

    fn generate_for_kid<R: RngCore + CryptoRng>(rng: &mut R, key_type: KeyType, kid: &str) -> ApiKey {
        let secret = base62::random(rng, SECRET_LEN);
        let body = format!("{}{}_{}", key_type.prefix(), kid, secret);
        let check = checksum(&body);
        ApiKey { text: body + &check, key_type }
    }

    /// Parses and checks a presented key without touching storage.
    pub fn parse(text: &str) -> Result<ApiKey, KeyParseError> {
        let (key_type, rest) = if let Some(r) = text.strip_prefix("aihr_") {
            (KeyType::Analytics, r)
        } else if let Some(r) = text.strip_prefix("aiha_") {
            (KeyType::Admin, r)
        } else if let Some(r) = text.strip_prefix("aih_") {
            (KeyType::Inference, r)
        } else {
            return Err(KeyParseError::Malformed);
        };
        let bytes = rest.as_bytes();
        if bytes.len() != KID_LEN + 1 + SECRET_LEN + CHECK_LEN || bytes.get(KID_LEN) != Some(&b'_') {
            return Err(KeyParseError::Malformed);
        }
        let (kid, tail) = rest.split_at(KID_LEN);
        let tail = &tail[1..];
        if !base62::is_base62(kid) || !base62::is_base62(tail) {
            return Err(KeyParseError::Malformed);
        }
        let split = text.len() - CHECK_LEN;
        let mut expected = [0u8; CHECK_LEN];
        base62::fill_fixed(u64::from(crc32fast::hash(&text.as_bytes()[..split])), &mut expected);
        if !bool::from(expected.ct_eq(&text.as_bytes()[split..])) {
            return Err(KeyParseError::BadChecksum);
        }
        Ok(ApiKey { text: text.to_owned(), key_type })
    }

    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The public id of this secret.
    pub fn kid(&self) -> &str {
        let start = self.key_type.prefix().len();
        &self.text[start..start + KID_LEN]
    }

    /// The non-secret display form, `aih_<kid>…<last4>`.
    pub fn hint(&self) -> String {
        format!("{}{}…{}", self.key_type.prefix(), self.kid(), self.last4())
    }

    pub fn last4(&self) -> &str {
        &self.text[self.text.len() - 4..]
    }

    /// The full key. Only key creation and rotation responses may show it.
    pub fn expose_secret(&self) -> &str {
        &self.text
    }

    pub fn hash(&self, pepper: &Pepper) -> KeyHash {
        pepper.hash(self.text.as_bytes())
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKey({})", self.hint())
    }
}

fn checksum(body: &str) -> String {
    base62::encode_fixed(u64::from(crc32fast::hash(body.as_bytes())), CHECK_LEN)
}

/// The server-wide HMAC key, kept as the HMAC state already keyed with it: every request hashes
/// its bearer key, and keying costs as much as hashing the key itself. `Debug` is redacted.
#[derive(Clone)]
pub struct Pepper(Option<Hmac<Sha256>>);

impl Pepper {
    pub fn from_bytes(bytes: [u8; 32]) -> Pepper {
        // HMAC accepts keys of any length, so keying cannot fail; were it to, every hash
        // would be all zeros (which matches nothing) rather than a panic.
        Pepper(Hmac::<Sha256>::new_from_slice(&bytes).ok())
    }

    pub fn hash(&self, data: &[u8]) -> KeyHash {
        let Some(keyed) = &self.0 else {
            return KeyHash([0; 32]);
        };
        let mut mac = keyed.clone();
        mac.update(data);
        KeyHash(mac.finalize().into_bytes().into())
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper([redacted])")
    }
}

/// `HMAC-SHA256(pepper, key)`: what storage keeps. Equality is constant-time.
#[derive(Clone, Copy)]
pub struct KeyHash(pub [u8; 32]);

impl std::hash::Hash for KeyHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // Consistent with the constant-time equality: equal bytes, equal hashes.
        self.0.hash(state);
    }
}

impl PartialEq for KeyHash {
    fn eq(&self, other: &KeyHash) -> bool {
        self.ct_eq(other)
    }
}

impl Eq for KeyHash {}

impl KeyHash {
    pub fn ct_eq(&self, other: &KeyHash) -> bool {
        bool::from(self.0.ct_eq(&other.0))
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHash(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn generated_keys_parse_and_match_the_published_regex_shape() {
        for kt in [KeyType::Inference, KeyType::Analytics, KeyType::Admin] {
            let k = ApiKey::generate(&mut rand::rngs::OsRng, kt);
            let text = k.expose_secret().to_owned();
            let parsed = ApiKey::parse(&text).map_err(|e| e.to_string());
            assert!(parsed.is_ok(), "{parsed:?}");
            assert_eq!(k.kid().len(), KID_LEN);
            let tail = text.rsplit('_').next().map(str::len);
            assert_eq!(tail, Some(SECRET_LEN + CHECK_LEN));
            assert!(k.hint().starts_with(kt.prefix()));
            assert!(!format!("{k:?}").contains(&text[20..]));
        }
    }

    #[test]
    fn a_single_typo_fails_the_checksum() {
        let k = ApiKey::generate(&mut rand::rngs::OsRng, KeyType::Inference);
        let mut bytes = k.expose_secret().as_bytes().to_vec();
        let i = 30;
        bytes[i] = if bytes[i] == b'a' { b'b' } else { b'a' };
        let typo = String::from_utf8(bytes).unwrap_or_default();
        assert_eq!(ApiKey::parse(&typo).err(), Some(KeyParseError::BadChecksum));
    }

    #[test]
    fn wrong_shapes_are_malformed() {
        for s in ["", "sk-abc", "aih_", "aih_short_x", "aih_!!!!!!!!!!!!_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] {
            assert_eq!(ApiKey::parse(s).err(), Some(KeyParseError::Malformed), "{s}");
        }
    }

    /// Stored key hashes are plain HMAC-SHA256 (checked against Python's `hmac`), and a pepper
    /// hashes the same however many times it is used.
    #[test]
    fn the_pepper_computes_standard_hmac_sha256() {
        let pepper = Pepper::from_bytes([7; 32]);
        let expected = "1a38cd1d4cea215460a90d7d62a35e6251add12fe2ac09a2c1a5070a80fa2733";
        for _ in 0..2 {
            let hex: String = pepper.hash(b"aiha_test_key").0.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(hex, expected);
        }
    }

    #[test]
    fn hashes_depend_on_the_pepper() {
        let k = ApiKey::generate(&mut rand::rngs::OsRng, KeyType::Inference);
        let a = k.hash(&Pepper::from_bytes([1; 32]));
        let b = k.hash(&Pepper::from_bytes([2; 32]));
        assert!(!a.ct_eq(&b));
        assert!(a.ct_eq(&k.hash(&Pepper::from_bytes([1; 32]))));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,80}") {
            let _ = ApiKey::parse(&s);
        }

        #[test]
        fn near_miss_keys_never_parse(pos in 0usize..65, c in "[0-9A-Za-z]") {
            let k = ApiKey::generate(&mut rand::rngs::OsRng, KeyType::Inference);
            let text = k.expose_secret();
            let pos = 4 + pos % (text.len() - 4);
            prop_assume!(pos != 4 + KID_LEN);
            let mut bytes = text.as_bytes().to_vec();
            let replacement = c.as_bytes()[0];
            prop_assume!(bytes[pos] != replacement);
            bytes[pos] = replacement;
            let near = String::from_utf8(bytes).unwrap_or_default();
            prop_assert!(ApiKey::parse(&near).is_err());
        }
    }
}
