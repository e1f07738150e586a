//! Sealing provider credentials: AES-256-GCM under the master key, a random 96-bit nonce per
//! seal, and the row id as associated data.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use rand::RngCore;

use crate::error::StoreError;
use crate::secrets::ServerSecret;

/// Version of the master key that sealed a row; rotation of the master key adds versions.
pub const MASTER_KEY_VERSION: i64 = 1;

pub struct Sealed {
    pub ciphertext: Vec<u8>,
    pub nonce: Vec<u8>,
}

pub fn seal(key: &ServerSecret, plaintext: &[u8], aad: &str) -> Result<Sealed, StoreError> {
    let cipher = Aes256Gcm::new_from_slice(&key.0).map_err(|_| StoreError::Secret("master key length".into()))?;
    let mut nonce = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let ciphertext = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: aad.as_bytes() })
        .map_err(|_| StoreError::Secret("sealing failed".into()))?;
    Ok(Sealed { ciphertext, nonce: nonce.to_vec() })
}

pub fn open(key: &ServerSecret, sealed: &Sealed, aad: &str) -> Result<Vec<u8>, StoreError> {
    let cipher = Aes256Gcm::new_from_slice(&key.0).map_err(|_| StoreError::Secret("master key length".into()))?;
    if sealed.nonce.len() != 12 {
        return Err(StoreError::Secret("bad nonce".into()));
    }
    cipher
        .decrypt(Nonce::from_slice(&sealed.nonce), Payload { msg: &sealed.ciphertext, aad: aad.as_bytes() })
        .map_err(|_| StoreError::Secret("a credential could not be decrypted: wrong master key?".into()))
}
