//! SQLite's write-ahead-log checkpoints, kept off the usage writer.
//!
//! A checkpoint copies the pages the write-ahead log holds back into the database file. SQLite
//! runs one in whichever connection commits past `wal_autocheckpoint` pages (8,192 here,
//! `db.rs`), which on a busy server is nearly always the usage writer: its batch then waits for
//! the whole copy (about 300 ms for a full log at 19,000 calls a second, against 30 ms for a
//! normal batch) while settled records pile up in memory behind it. Checkpointing every second
//! on another connection, in `PASSIVE` mode (it never waits for and never blocks a reader or
//! the writer), keeps each copy small and lets the writer go on meanwhile. The automatic
//! checkpoint stays as the bound on the log's size; when it comes, it finds almost every page
//! already copied.

use std::time::Duration;

use sqlx::Row;

use crate::db::{Backend, Store};
use crate::error::StoreError;

/// What one checkpoint did, in write-ahead-log frames (pages).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalCheckpoint {
    /// Frames in the log.
    pub log_frames: i64,
    /// Frames of the log now copied into the database file (this checkpoint and earlier ones).
    pub copied_frames: i64,
}

impl Store {
    /// Copies what the write-ahead log holds into the database file, as far as readers allow,
    /// without waiting for anyone. `None` on PostgreSQL, which checkpoints by itself.
    pub async fn checkpoint_wal(&self) -> Result<Option<WalCheckpoint>, StoreError> {
        if self.backend != Backend::Sqlite {
            return Ok(None);
        }
        let row = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&self.pool).await?;
        Ok(Some(WalCheckpoint { log_frames: row.try_get(1)?, copied_frames: row.try_get(2)? }))
    }

    /// Checkpoints every `every` until the task is dropped (SQLite only; returns at once on
    /// PostgreSQL). A failed checkpoint is logged and tried again at the next tick; SQLite's
    /// automatic checkpoint still bounds the log meanwhile.
    pub async fn run_wal_checkpoints(self, every: Duration) {
        if self.backend != Backend::Sqlite {
            return;
        }
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.checkpoint_wal().await {
                tracing::warn!(error = %e, "write-ahead log checkpoint failed; will retry");
            }
        }
    }
}
