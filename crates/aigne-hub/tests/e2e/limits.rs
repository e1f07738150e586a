//! Every time limit, count and size the end-to-end tests rely on, in one place.

use std::time::Duration;

/// New keys, revocations and providers reach a running server within this time.
pub const PROPAGATION: Duration = Duration::from_secs(1);
/// A settled call's usage record is visible to `aigne-hub usage list` within this time
/// (the journal is flushed every ~100 ms; the rest is CLI start-up on a loaded machine).
pub const USAGE_VISIBLE: Duration = Duration::from_secs(5);
/// After the expected number of records shows up, wait this long to be sure no more follow.
pub const SETTLE: Duration = Duration::from_millis(300);
/// Upper bound for one HTTP call to the hub.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// A client that goes away mid-stream cancels the upstream stream within this time.
pub const CANCEL_PROPAGATION: Duration = Duration::from_secs(1);
/// SIGTERM to process exit, including the drain of in-flight calls.
pub const GRACEFUL_EXIT: Duration = Duration::from_secs(10);
/// How long to wait for calls to reach the simulator before acting on them.
pub const REACH_UPSTREAM: Duration = Duration::from_secs(5);

/// Concurrent calls in flight when SIGTERM arrives.
pub const SHUTDOWN_CALLS: usize = 20;
/// Upstream latency that keeps those calls in flight.
pub const SLOW_UPSTREAM: Duration = Duration::from_millis(300);

/// Calls completed before a kill -9.
pub const KILL_COMPLETED_CALLS: usize = 3;
/// Calls in flight (seen by the simulator) when the kill -9 lands.
pub const KILL_INFLIGHT_CALLS: usize = 5;
/// Upstream latency that keeps those calls in flight until the kill.
pub const KILL_UPSTREAM_LATENCY: Duration = Duration::from_secs(3);

/// Interval between the simulator's stream chunks in the disconnect test.
pub const STREAM_CHUNK_INTERVAL: Duration = Duration::from_millis(50);
/// Content chunks the client reads before hanging up.
pub const CHUNKS_BEFORE_DISCONNECT: usize = 2;
/// Reply length (tokens = chunks) of the stream the client hangs up on.
pub const LONG_REPLY_TOKENS: u32 = 40;

/// The hub's default request body limit (10 MiB).
pub const DEFAULT_BODY_LIMIT: usize = 10 * 1024 * 1024;
/// A limit set with `serve --max-body-bytes`.
pub const SMALL_BODY_LIMIT: usize = 4096;
/// Array nesting depth of the "deeply nested JSON" request.
pub const NESTING_DEPTH: usize = 100_000;

/// The `Retry-After` the simulated provider sends with a 429; the hub cools the credential down
/// for that long.
pub const PROVIDER_RETRY_AFTER_SECS: u64 = 1;

/// Client calls in the failover test, and how many run at once.
pub const FAILOVER_CALLS: usize = 1000;
pub const FAILOVER_CONCURRENCY: usize = 20;
/// Share of calls the bad credential fails.
pub const FAILING_SHARE: f64 = 0.30;
/// Client calls that must succeed, and the upstream attempts a call may cost on average.
pub const FAILOVER_MIN_SUCCESS: f64 = 0.999;
pub const FAILOVER_MAX_ATTEMPTS: f64 = 1.4;
/// The bad credential must really have failed this often, or the test proves nothing.
pub const FAILOVER_MIN_FAULTS: u64 = 20;

/// Requests per minute of the key in the RPM test; the window every per-minute limit slides over.
pub const TEST_RPM: usize = 3;
pub const RATE_WINDOW: Duration = Duration::from_secs(60);
/// Tokens per minute of the key in the TPM test.
pub const TEST_TPM: u64 = 200;
/// Concurrency limit, parallel callers and upstream latency of the concurrency test.
pub const TEST_MAX_CONCURRENCY: i64 = 3;
pub const CONCURRENT_CALLERS: usize = 50;
pub const CONCURRENCY_UPSTREAM_LATENCY: Duration = Duration::from_millis(300);
/// Grace period of the rotation test, and how long a key lives in the expiry test.
pub const ROTATION_GRACE_SECS: u64 = 2;
pub const EXPIRY_AFTER: Duration = Duration::from_secs(2);
/// Calls to an alias while its first provider is down (more than the failures that open its
/// circuit, so some calls must skip it).
pub const ALIAS_FALLBACK_CALLS: usize = 8;

/// Calls that a budget or a balance covers exactly in the no-overspend tests.
pub const COVERED_CALLS: usize = 10;
/// Simultaneous calls against that budget or balance.
pub const SIMULTANEOUS_CALLS: usize = 200;
/// Rounds of the no-overspend tests (one fresh key, or one fresh grant, each).
pub const MONEY_ROUNDS: usize = 10;
/// `max_tokens` of a priced call; the simulator answers exactly that many tokens.
pub const PRICED_MAX_TOKENS: u64 = 20;
