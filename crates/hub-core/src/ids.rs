//! Random identifiers for rows (`usr_…`, `key_…`) and requests (`req_…`).

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", crate::base62::random(&mut rand::rngs::OsRng, 16))
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
