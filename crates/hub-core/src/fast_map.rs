//! Hash maps read and written on every call: the key directory, the credit books, the rate
//! limiters, health and routing series, the alert detector's per-key state, the usage writer's
//! groups.
//!
//! The standard library hashes with SipHash-1-3, which keeps any key set from being made to
//! collide, at several times the cost of a fast hash on short keys; these maps see about a
//! hundred lookups per call. Their keys are the hub's own ids, key digests and configured names
//! (the routing series also take requested model names, in a table bounded in size), and
//! foldhash's random per-process seed keeps its collisions unpredictable from outside. A map
//! keyed by free text from requests stays on the standard hasher.

pub type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
