//! A throwaway PostgreSQL database per test: created on the server named by
//! `AIGNE_HUB_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`) and dropped
//! when the value goes away. `AIGNE_HUB_TEST_POSTGRES=off` skips the tests that need one.

use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::Connection;

use crate::{base62_string, Result};

pub const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A database of its own for one test, dropped (best effort) on drop.
pub struct ThrowawayDatabase {
    server: String,
    name: String,
    url: String,
}

impl ThrowawayDatabase {
    /// Creates `<prefix>_<random>` on the test server; `Ok(None)` when PostgreSQL tests are
    /// turned off (a notice naming `what` goes to stderr). An unreachable server is an error:
    /// a machine without PostgreSQL must say so with `AIGNE_HUB_TEST_POSTGRES=off`.
    pub async fn create(prefix: &str, what: &str) -> Result<Option<ThrowawayDatabase>> {
        let server = std::env::var("AIGNE_HUB_TEST_POSTGRES").unwrap_or_else(|_| DEFAULT_SERVER.to_owned());
        if server == "off" {
            eprintln!("AIGNE_HUB_TEST_POSTGRES=off: {what} skipped");
            return Ok(None);
        }
        let mut admin = sqlx::PgConnection::connect(&server)
            .await
            .map_err(|e| format!("PostgreSQL at {server} is unreachable ({e}); set AIGNE_HUB_TEST_POSTGRES=off to skip"))?;
        let name = format!("{prefix}_{}", base62_string(unique_seed(), 12).to_ascii_lowercase());
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut admin).await?;
        let base = server.rsplit_once('/').map_or(server.as_str(), |(base, _)| base);
        let url = format!("{base}/{name}");
        Ok(Some(ThrowawayDatabase { server, name, url }))
    }

    /// The database's connection URL.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for ThrowawayDatabase {
    fn drop(&mut self) {
        let (server, name) = (self.server.clone(), self.name.clone());
        // Its own thread and runtime: drop may run inside (or after) the test's runtime. A
        // leftover database only costs disk.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(mut c) = sqlx::PgConnection::connect(&server).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut c).await;
                }
            });
        })
        .join();
    }
}

/// Different for every call in and across test processes.
fn unique_seed() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    nanos ^ (u64::from(std::process::id()) << 32) ^ COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
