//! The crash-safe usage journal.
//!
//! Each call appends a *hold* line before the upstream is contacted and a *settle* line (the
//! complete record) after the reply ends: one `write(2)` each, no `fsync`, so the lines survive
//! a killed process (they are in the kernel's page cache) without the request waiting on a disk
//! flush. A background [`LedgerWriter`] tails the journal, writes completed records to the
//! database in batches, and reclaims segments. On start, [`UsageJournal::open`] replays whatever
//! an earlier process left: settled records are inserted (idempotently, by request id) and holds
//! that never settled become `interrupted` records billed at their reservation.
//!
//! No request waits for the database; if the writer falls behind, [`UsageJournal::backlog`]
//! grows and admission slows callers down rather than dropping records.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hub_core::usage::{CallHold, UsageRecord};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::db::Store;
use crate::error::StoreError;

/// A segment is rotated once it grows past this size.
const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;
/// Records written per database transaction.
const BATCH: usize = 512;

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Hold(CallHold),
    Settle(UsageRecord),
}

/// [`Line`] borrowed, for writing without cloning (same JSON).
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum LineRef<'a> {
    Hold(&'a CallHold),
    Settle(&'a UsageRecord),
}

struct Active {
    file: File,
    path: PathBuf,
    seq: u64,
    len: u64,
}

pub struct UsageJournal {
    dir: PathBuf,
    active: Mutex<Active>,
    /// Settled records not yet in the database.
    backlog: AtomicI64,
    /// Wakes the writer early when the backlog grows.
    wake: Notify,
    /// Wakes callers waiting for the backlog to shrink.
    drained: Notify,
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("usage-{seq:012}.journal"))
}

fn list_segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let seq = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_prefix("usage-"))
            .and_then(|n| n.strip_suffix(".journal"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(seq) = seq {
            out.push((seq, path));
        }
    }
    out.sort();
    Ok(out)
}

fn open_append(path: &Path) -> Result<File, StoreError> {
    let mut options = OpenOptions::new();
    options.create(true).append(true).read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    Ok(options.open(path)?)
}

/// Parses complete lines; a torn last line (a write cut by a crash) is skipped.
fn parse_lines(reader: impl BufRead, holds: &mut HashMap<String, CallHold>, settled: &mut Vec<UsageRecord>) -> usize {
    let mut torn = 0;
    for line in reader.split(b'\n') {
        let Ok(line) = line else { break };
        if line.is_empty() {
            continue;
        }
        match serde_json::from_slice::<Line>(&line) {
            Ok(Line::Hold(h)) => {
                holds.insert(h.request_id.clone(), h);
            }
            Ok(Line::Settle(r)) => {
                holds.remove(&r.hold.request_id);
                settled.push(r);
            }
            Err(_) => torn += 1,
        }
    }
    torn
}

impl UsageJournal {
    /// Opens the journal in `dir`, first replaying into `store` whatever an earlier process
    /// left. Returns the journal and how many records the replay wrote.
    pub async fn open(dir: &Path, store: &Store) -> Result<(Arc<UsageJournal>, usize), StoreError> {
        fs::create_dir_all(dir)?;
        let segments = list_segments(dir)?;
        let mut holds = HashMap::new();
        let mut settled = Vec::new();
        for (_, path) in &segments {
            let torn = parse_lines(BufReader::new(File::open(path)?), &mut holds, &mut settled);
            if torn > 0 {
                tracing::warn!(segment = %path.display(), torn, "skipped torn journal lines");
            }
        }
        // A record settled in a later segment may have its hold carried in a later one too.
        for r in &settled {
            holds.remove(&r.hold.request_id);
        }
        let interrupted = holds.len();
        settled.extend(holds.into_values().map(UsageRecord::interrupted));
        let mut written = 0;
        for batch in settled.chunks(BATCH) {
            written += store.insert_usage(batch).await?;
        }
        if interrupted > 0 {
            tracing::warn!(interrupted, "calls in flight when the hub last stopped were settled at their reservation");
        }
        for (_, path) in &segments {
            fs::remove_file(path)?;
        }
        let seq = segments.last().map_or(1, |(s, _)| s + 1);
        let path = segment_path(dir, seq);
        let file = open_append(&path)?;
        let journal = UsageJournal {
            dir: dir.to_owned(),
            active: Mutex::new(Active { file, path, seq, len: 0 }),
            backlog: AtomicI64::new(0),
            wake: Notify::new(),
            drained: Notify::new(),
        };
        Ok((Arc::new(journal), written))
    }

    fn append(&self, line: &LineRef<'_>) -> Result<(), StoreError> {
        let mut bytes = serde_json::to_vec(line).map_err(|e| StoreError::Invalid(e.to_string()))?;
        bytes.push(b'\n');
        let mut active = self.active.lock();
        // One write of a whole line on an O_APPEND file: lines never interleave.
        active.file.write_all(&bytes)?;
        active.len += bytes.len() as u64;
        Ok(())
    }

    /// Journals a call's hold. Must succeed before the upstream is contacted.
    pub fn hold(&self, hold: &CallHold) -> Result<(), StoreError> {
        self.append(&LineRef::Hold(hold))
    }

    /// Journals a call's final record.
    pub fn settle(&self, record: &UsageRecord) -> Result<(), StoreError> {
        self.append(&LineRef::Settle(record))?;
        let backlog = self.backlog.fetch_add(1, Ordering::Relaxed) + 1;
        if backlog % 256 == 0 {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// Settled records not yet written to the database.
    pub fn backlog(&self) -> i64 {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Waits until the backlog is at most `limit` or `timeout` passes; true if it is.
    pub async fn wait_for_backlog_below(&self, limit: i64, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.backlog() > limit {
            self.wake.notify_one();
            if tokio::time::timeout_at(deadline, self.drained.notified()).await.is_err() {
                return self.backlog() <= limit;
            }
        }
        true
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Moves settled records from the journal to the database in batches.
pub struct LedgerWriter {
    journal: Arc<UsageJournal>,
    store: Store,
    /// Segment being tailed, and how far it has been read.
    reading: (u64, u64),
    holds: HashMap<String, CallHold>,
    pending: Vec<UsageRecord>,
    /// Earlier segments fully read whose records are all in the database: deletable.
    done_segments: Vec<PathBuf>,
}

impl LedgerWriter {
    pub fn new(journal: Arc<UsageJournal>, store: Store) -> LedgerWriter {
        let seq = journal.active.lock().seq;
        LedgerWriter { journal, store, reading: (seq, 0), holds: HashMap::new(), pending: Vec::new(), done_segments: Vec::new() }
    }

    /// Runs until `stop` resolves, then does a final flush.
    pub async fn run(mut self, interval: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tokio::time::sleep(interval) => {}
                _ = self.journal.wake.notified() => {}
            }
            if let Err(e) = self.flush_once().await {
                tracing::error!(error = %e, "usage writer: will retry");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        for _ in 0..10 {
            match self.flush_once().await {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!(error = %e, "usage writer: final flush failed; the journal keeps the records for the next start");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Reads new lines, writes completed records, rotates a full segment.
    pub async fn flush_once(&mut self) -> Result<(), StoreError> {
        self.read_new_lines()?;
        while !self.pending.is_empty() {
            let n = self.pending.len().min(BATCH);
            self.store.insert_usage(&self.pending[..n]).await?;
            self.pending.drain(..n);
            self.journal.backlog.fetch_sub(n as i64, Ordering::Relaxed);
        }
        self.journal.drained.notify_waiters();
        for path in self.done_segments.drain(..) {
            if let Err(e) = fs::remove_file(&path) {
                tracing::warn!(segment = %path.display(), error = %e, "could not remove a written journal segment");
            }
        }
        self.maybe_rotate()?;
        Ok(())
    }

    fn read_new_lines(&mut self) -> Result<(), StoreError> {
        let (seq, offset) = self.reading;
        let path = segment_path(&self.journal.dir, seq);
        let mut file = File::open(&path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        // Only whole lines: a line being written right now is read next time.
        let complete = buf.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        parse_lines(&buf[..complete], &mut self.holds, &mut self.pending);
        self.reading.1 = offset + complete as u64;
        Ok(())
    }

    /// Starts a new segment once the active one is large. Holds still open are copied into the
    /// new segment first, so deleting the old one never loses a call in flight.
    fn maybe_rotate(&mut self) -> Result<(), StoreError> {
        if self.journal.active.lock().len < SEGMENT_BYTES {
            return Ok(());
        }
        let mut active = self.journal.active.lock();
        // Appenders are blocked: whatever is in the old segment now is all it will ever hold.
        let (seq, offset) = self.reading;
        let mut file = File::open(&active.path)?;
        file.seek(SeekFrom::Start(offset))?;
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        parse_lines(&buf[..], &mut self.holds, &mut self.pending);
        let next_seq = active.seq + 1;
        let next_path = segment_path(&self.journal.dir, next_seq);
        let mut next = open_append(&next_path)?;
        let mut carried = Vec::new();
        for h in self.holds.values() {
            let mut line = serde_json::to_vec(&Line::Hold(h.clone())).map_err(|e| StoreError::Invalid(e.to_string()))?;
            line.push(b'\n');
            carried.extend_from_slice(&line);
        }
        next.write_all(&carried)?;
        let old_path = std::mem::replace(&mut active.path, next_path);
        active.file = next;
        active.seq = next_seq;
        active.len = carried.len() as u64;
        drop(active);
        debug_assert_eq!(seq + 1, next_seq);
        self.reading = (next_seq, carried.len() as u64);
        // Deleted only after the records read from it reach the database (next flush).
        self.done_segments.push(old_path);
        Ok(())
    }
}
