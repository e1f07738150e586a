//! Hash maps read and written on every call: the key directory, the journal's open holds, the
//! credit books, the rate limiters, health and routing series, the usage writer's groups.
//!
//! The standard library hashes with SipHash-1-3, which keeps any key set from being made to
//! collide, at several times the cost of a fast hash on short keys; these maps see a dozen
//! lookups per call. Their keys are the hub's own ids, key digests and names an admin
//! configured, never free text from a request, and foldhash's random per-process seed still
//! keeps its collisions unpredictable from outside.

pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
