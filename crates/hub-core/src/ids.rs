//! Random identifiers for rows (`usr_…`, `key_…`) and requests (`req_…`).

/// Row and request ids: unique and unguessable, but not secrets, so they come from the
/// thread-local CSPRNG (seeded from the OS) instead of a system call per id. Keys and tokens
/// use the OS generator directly.
pub fn new_id(prefix: &str) -> String {
    let random = crate::base62::random(&mut rand::thread_rng(), 16);
    let mut id = String::with_capacity(prefix.len() + 1 + random.len());
    id.push_str(prefix);
    id.push('_');
    id.push_str(&random);
    id
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
