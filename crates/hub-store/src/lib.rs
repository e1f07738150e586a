//! The only code with SQL, and the hub's durable state: migrations for SQLite and PostgreSQL,
//! repositories, the crash-safe usage journal and its batch writer, server secrets, and the
//! in-memory directories (keys, providers, rates, credit) kept fresh by the change log.

pub mod accounts;
pub mod aliases;
pub mod analytics;
pub mod billing;
pub mod alerts;
pub mod changes;
pub mod checkpoint;
pub mod credit_directory;
pub mod crypto;
pub mod db;
pub mod error;
pub mod files;
pub mod journal;
pub mod key_directory;
pub mod leases;
pub mod keys;
pub mod provider_directory;
pub mod providers;
pub mod rate_directory;
pub mod rollup;
pub mod secrets;
pub mod sessions;
pub mod usage;
pub mod users;
pub mod watcher;
pub mod worker_priority;

pub use db::{Backend, Store};
pub use error::StoreError;
