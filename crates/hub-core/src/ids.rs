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

/// Request ids: `req_`, then the start time in milliseconds (8 base62 digits, so ids sort by
/// time), then 14 random base62 characters. Usage records are keyed by request id; time-ordered keys
/// land at the end of the database index instead of at random pages, so recording a call costs
/// the same with ten records or ten million.
pub fn new_request_id() -> String {
    let ms = u64::try_from(now_ms()).unwrap_or(0);
    let mut id = String::with_capacity(4 + 8 + 14);
    id.push_str("req_");
    id.push_str(&crate::base62::encode_fixed(ms, 8));
    id.push_str(&crate::base62::random(&mut rand::thread_rng(), 14));
    id
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_sort_by_time_and_stay_unique() {
        let a = new_request_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_request_id();
        assert!(a < b, "{a} then {b}");
        assert_eq!(a.len(), 26);
        assert!(a.starts_with("req_") && crate::base62::is_base62(&a[4..]));
        let many: std::collections::HashSet<String> = (0..10_000).map(|_| new_request_id()).collect();
        assert_eq!(many.len(), 10_000);
    }
}
