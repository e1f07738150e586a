//! `GET /files/{id}?exp=<unix>&sig=<base64url>`: files the hub stored (images an upstream
//! returned as base64 when the client asked for a URL), behind signed, expiring URLs.
//!
//! The signature is `HMAC-SHA256(K, id "." exp)` with `K = HMAC-SHA256(pepper,
//! "file-url-signing")`, so it needs no database and survives restarts; a URL reveals nothing
//! about the pepper. Checks run in this order: signature (403), expiry (410), presence (404).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use hub_store::files::FileStore;
use serde::Serialize;
use sha2::Sha256;

use crate::state::AppState;

type HmacSha256 = Hmac<Sha256>;

/// The stored files and the key their URLs are signed with.
pub struct SignedFiles {
    pub store: FileStore,
    key: [u8; 32],
}

impl SignedFiles {
    /// Derives the URL-signing key from the server pepper.
    pub fn new(store: FileStore, pepper: &[u8; 32]) -> SignedFiles {
        let mut mac = keyed(pepper);
        mac.update(b"file-url-signing");
        let mut key = [0u8; 32];
        key.copy_from_slice(&mac.finalize().into_bytes());
        SignedFiles { store, key }
    }

    fn mac(&self, id: &str, exp: i64) -> HmacSha256 {
        let mut mac = keyed(&self.key);
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(exp.to_string().as_bytes());
        mac
    }

    /// The signature for `id` valid until `exp` (Unix seconds), base64url without padding.
    pub fn sign(&self, id: &str, exp: i64) -> String {
        URL_SAFE_NO_PAD.encode(self.mac(id, exp).finalize().into_bytes())
    }

    /// The absolute URL of `id` on `public_url`, valid until `exp`.
    pub fn url(&self, public_url: &str, id: &str, exp: i64) -> String {
        format!("{}/files/{id}?exp={exp}&sig={}", public_url.trim_end_matches('/'), self.sign(id, exp))
    }

    /// Constant-time check of `sig` for `id` and `exp`.
    pub fn verify(&self, id: &str, exp: i64, sig: &str) -> bool {
        match URL_SAFE_NO_PAD.decode(sig.trim_end_matches('=')) {
            Ok(bytes) => self.mac(id, exp).verify_slice(&bytes).is_ok(),
            Err(_) => false,
        }
    }
}

/// HMAC-SHA256 keyed with a 32-byte key (zero-padded to the block size, as HMAC itself does),
/// through the infallible constructor.
fn keyed(key: &[u8; 32]) -> HmacSha256 {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <HmacSha256 as hmac::digest::KeyInit>::new(&block.into())
}

pub fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: ErrorBody<'a>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    message: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    param: Option<&'a str>,
    code: &'a str,
}

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body = serde_json::to_vec(&Envelope { error: ErrorBody { message, kind: "invalid_request_error", param: None, code } })
        .unwrap_or_default();
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
}

pub async fn serve(State(state): State<AppState>, Path(id): Path<String>, Query(q): Query<HashMap<String, String>>) -> Response {
    let exp = q.get("exp").and_then(|e| e.parse::<i64>().ok());
    let sig = q.get("sig");
    let (Some(exp), Some(sig)) = (exp, sig) else {
        return refuse(StatusCode::FORBIDDEN, "invalid_signature", "This file URL is not signed by this hub.");
    };
    if !state.files.verify(&id, exp, sig) {
        return refuse(StatusCode::FORBIDDEN, "invalid_signature", "This file URL is not signed by this hub.");
    }
    let now = unix_now();
    if now >= exp {
        return refuse(StatusCode::GONE, "url_expired", "This file URL has expired; generate the image again.");
    }
    let file = match state.files.store.get(&id).await {
        Ok(Some(f)) => f,
        Ok(None) => return refuse(StatusCode::NOT_FOUND, "file_not_found", "This file no longer exists."),
        Err(e) => {
            tracing::warn!(error = %e, "reading a stored file failed");
            return refuse(StatusCode::INTERNAL_SERVER_ERROR, "storage_error", "Storage is unavailable.");
        }
    };
    let mut res = (StatusCode::OK, file.bytes).into_response();
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.content_type));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(v) = HeaderValue::from_str(&format!("private, max-age={}", exp - now)) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_bind_id_and_expiry() {
        let dir = std::env::temp_dir().join(format!("hub-files-{}", std::process::id()));
        let Ok(store) = FileStore::open(&dir) else { return };
        let _ = std::fs::remove_dir_all(&dir);
        let files = SignedFiles::new(store, &[7u8; 32]);
        let sig = files.sign("abc", 100);
        assert!(files.verify("abc", 100, &sig));
        assert!(!files.verify("abc", 101, &sig));
        assert!(!files.verify("abd", 100, &sig));
        assert!(!files.verify("abc", 100, "not base64!"));
        assert_eq!(files.url("http://h/", "abc", 100), format!("http://h/files/abc?exp=100&sig={sig}"));
    }
}
