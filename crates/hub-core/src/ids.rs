//! Random identifiers for rows (`usr_…`, `key_…`) and requests (`req_…`).

/// Row and request ids: unique and unguessable, but not secrets, so they come from the
/// thread-local CSPRNG (seeded from the OS) instead of a system call per id. Keys and tokens
/// use the OS generator directly.
pub fn new_id(prefix: &str) -> String {
    let mut id = String::with_capacity(prefix.len() + 1 + 16);
    id.push_str(prefix);
    id.push('_');
    crate::base62::push_random(&mut rand::thread_rng(), 16, &mut id);
    id
}

/// Request ids: `req_`, then the start time in milliseconds (8 base62 digits), a sequence
/// number within that millisecond (4 digits) and 10 random base62 characters. Ids made by one
/// process strictly increase, so they sort in the order the calls started even within one
/// millisecond (the usage list and call history break ties of `ts` by request id). Usage records
/// are keyed by request id; time-ordered keys land at the end of the database index instead of
/// at random pages, so recording a call costs the same with ten records or ten million.
pub fn new_request_id() -> String {
    let (ms, seq) = next_request_stamp(u64::try_from(now_ms()).unwrap_or(0));
    let mut id = String::with_capacity(4 + 8 + 4 + 10);
    id.push_str("req_");
    crate::base62::push_fixed(ms, 8, &mut id);
    crate::base62::push_fixed(seq, 4, &mut id);
    crate::base62::push_random(&mut rand::thread_rng(), 10, &mut id);
    id
}

/// Bits of the sequence number in [`LAST_STAMP`]; 4 base62 digits hold more than 2^22.
const SEQ_BITS: u32 = 22;
/// The last (millisecond, sequence) handed out, packed as `ms << SEQ_BITS | seq`.
static LAST_STAMP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The next (millisecond, sequence) after the last one: `now_ms` with sequence 0 when the clock
/// moved on, else the same millisecond with the next sequence (a full millisecond, or a clock
/// that stepped back, borrows the next millisecond), so stamps never repeat or go backwards.
fn next_request_stamp(now_ms: u64) -> (u64, u64) {
    use std::sync::atomic::Ordering;
    let seq_mask = (1u64 << SEQ_BITS) - 1;
    let now = now_ms & (u64::MAX >> SEQ_BITS);
    let mut last = LAST_STAMP.load(Ordering::Relaxed);
    loop {
        let (last_ms, last_seq) = (last >> SEQ_BITS, last & seq_mask);
        let next = if now > last_ms {
            now << SEQ_BITS
        } else if last_seq < seq_mask {
            last + 1
        } else {
            (last_ms + 1) << SEQ_BITS
        };
        match LAST_STAMP.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return (next >> SEQ_BITS, next & seq_mask),
            Err(seen) => last = seen,
        }
    }
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
        let many: Vec<String> = (0..10_000).map(|_| new_request_id()).collect();
        assert!(many.windows(2).all(|w| w[0] < w[1]), "ids made in one process strictly increase, also within one millisecond");
        assert!(many.iter().all(|id| id.len() == 26));
    }
}
