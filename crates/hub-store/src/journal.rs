//! The crash-safe usage journal.
//!
//! Each call appends a *hold* line before the upstream is contacted and a *settle* line after
//! the reply ends: one `write(2)` each, no `fsync`, so the lines survive a killed process (they
//! are in the kernel's page cache) without the request waiting on a disk flush. The settled
//! record itself goes to the [`LedgerWriter`] in memory (the file is never read back while the
//! process runs); the writer moves records to the database in batches and reclaims segments.
//! On start, [`UsageJournal::open`] replays whatever an earlier process left: settled records
//! are inserted (idempotently, by request id) and holds that never settled become `interrupted`
//! records billed at their reservation.
//!
//! A settle line after a journaled hold carries only the settlement (the hold is on disk
//! already). So a segment is deleted only when every hold it holds has settled *and* every
//! record that a line in it describes is in the database: each segment counts its lines whose
//! record has not reached the database yet.
//!
//! No request waits for the database; if the writer falls behind, [`UsageJournal::backlog`]
//! grows and admission slows callers down rather than dropping records.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hub_core::usage::{CallHold, CallSettlement, Outcome, UsageRecord};
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::db::Store;
use crate::worker_priority::WorkerPriority;
use crate::error::StoreError;

/// A segment is rotated once it grows past this size.
const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;
/// Writer rounds between looks for new database threads to lower (about 1 s at the server's
/// 100 ms flush interval).
const PRIORITY_CHECK_ROUNDS: u32 = 10;
/// Records written per database transaction.
const BATCH: usize = 512;

/// A settlement whose hold is journaled: the record is the hold plus this.
#[derive(Deserialize)]
struct Done {
    request_id: String,
    settlement: CallSettlement,
    outcome: Outcome,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Line {
    Hold(CallHold),
    /// A whole record: a call that failed before its hold was journaled.
    Settle(UsageRecord),
    Done(Done),
}

/// [`Line`] borrowed, for writing without cloning (same JSON).
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum LineRef<'a> {
    Hold(&'a CallHold),
    Settle(&'a UsageRecord),
    Done { request_id: &'a str, settlement: &'a CallSettlement, outcome: Outcome },
}

/// Where a call's hold was journaled. The settle needs it: the hold's segment is kept until
/// the call's record is in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HoldTicket {
    segment: u64,
}

/// A settled record on its way to the database, with the segments whose lines describe it.
struct Queued {
    record: UsageRecord,
    hold_segment: Option<u64>,
    settle_segment: u64,
}

struct Active {
    file: File,
    seq: u64,
    len: u64,
    /// Per live segment: lines whose record is not in the database yet.
    unwritten: BTreeMap<u64, u64>,
    /// Settled records for the writer, in settle order.
    queue: Vec<Queued>,
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
    options.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    Ok(options.open(path)?)
}

/// What replaying segments found.
#[derive(Default)]
struct Replay {
    holds: HashMap<String, CallHold>,
    settled: Vec<UsageRecord>,
    /// Lines cut by a crash mid-write, or otherwise unreadable.
    torn: usize,
    /// Settlements whose hold was not found (a segment removed by hand).
    orphans: usize,
}

impl Replay {
    /// Reads complete lines, in order; a torn line is counted and skipped.
    fn read(&mut self, reader: impl BufRead) {
        for line in reader.split(b'\n') {
            let Ok(line) = line else { break };
            if line.is_empty() {
                continue;
            }
            match serde_json::from_slice::<Line>(&line) {
                Ok(Line::Hold(h)) => {
                    self.holds.insert(h.request_id.clone(), h);
                }
                Ok(Line::Settle(r)) => {
                    self.holds.remove(&r.hold.request_id);
                    self.settled.push(r);
                }
                Ok(Line::Done(d)) => match self.holds.remove(&d.request_id) {
                    Some(hold) => self.settled.push(UsageRecord { hold, settlement: d.settlement, outcome: d.outcome }),
                    None => self.orphans += 1,
                },
                Err(_) => self.torn += 1,
            }
        }
    }
}

impl UsageJournal {
    /// Opens the journal in `dir`, first replaying into `store` whatever an earlier process
    /// left. Returns the journal and how many records the replay wrote.
    pub async fn open(dir: &Path, store: &Store) -> Result<(Arc<UsageJournal>, usize), StoreError> {
        fs::create_dir_all(dir)?;
        let segments = list_segments(dir)?;
        let mut replay = Replay::default();
        for (_, path) in &segments {
            let torn_before = replay.torn;
            replay.read(BufReader::new(File::open(path)?));
            if replay.torn > torn_before {
                tracing::warn!(segment = %path.display(), torn = replay.torn - torn_before, "skipped torn journal lines");
            }
        }
        if replay.orphans > 0 {
            tracing::warn!(orphans = replay.orphans, "journal settlements without their hold were skipped");
        }
        let mut settled = replay.settled;
        // A record settled in a later segment may have its hold carried in a later one too.
        for r in &settled {
            replay.holds.remove(&r.hold.request_id);
        }
        let interrupted = replay.holds.len();
        settled.extend(replay.holds.into_values().map(UsageRecord::interrupted));
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
        let file = open_append(&segment_path(dir, seq))?;
        let journal = UsageJournal {
            dir: dir.to_owned(),
            active: Mutex::new(Active { file, seq, len: 0, unwritten: BTreeMap::from([(seq, 0)]), queue: Vec::new() }),
            backlog: AtomicI64::new(0),
            wake: Notify::new(),
            drained: Notify::new(),
        };
        Ok((Arc::new(journal), written))
    }

    /// Journals a call's hold. Must succeed before the upstream is contacted. One `write(2)`
    /// of a whole line on an `O_APPEND` file: lines never interleave.
    pub fn hold(&self, hold: &CallHold) -> Result<HoldTicket, StoreError> {
        let mut bytes = serde_json::to_vec(&LineRef::Hold(hold)).map_err(|e| StoreError::Invalid(e.to_string()))?;
        bytes.push(b'\n');
        let mut active = self.active.lock();
        active.file.write_all(&bytes)?;
        let segment = active.seq;
        active.len += bytes.len() as u64;
        *active.unwritten.entry(segment).or_default() += 1;
        Ok(HoldTicket { segment })
    }

    /// Journals a call's final record and hands it to the writer. `ticket` is the hold's, if
    /// it was journaled. The record reaches the database even if the journal write fails.
    pub fn settle(&self, record: UsageRecord, ticket: Option<HoldTicket>) -> Result<(), StoreError> {
        let line = match ticket {
            Some(_) => LineRef::Done { request_id: &record.hold.request_id, settlement: &record.settlement, outcome: record.outcome },
            None => LineRef::Settle(&record),
        };
        let mut bytes = serde_json::to_vec(&line).map_err(|e| StoreError::Invalid(e.to_string()))?;
        bytes.push(b'\n');
        let request_id_if_failed = |e: &std::io::Error, id: &str| {
            tracing::error!(request_id = %id, error = %e, "usage journal write failed; the record still goes to the database");
        };
        let written = {
            let mut active = self.active.lock();
            let written = active.file.write_all(&bytes);
            if let Err(e) = &written {
                request_id_if_failed(e, &record.hold.request_id);
            }
            let seq = active.seq;
            // Counted even when the write failed: the hold's segment must stay until the
            // record is in the database, and this one is released with it.
            active.len += bytes.len() as u64;
            *active.unwritten.entry(seq).or_default() += 1;
            active.queue.push(Queued { record, hold_segment: ticket.map(|t| t.segment), settle_segment: seq });
            written
        };
        let backlog = self.backlog.fetch_add(1, Ordering::Relaxed) + 1;
        if backlog % 1024 == 0 {
            self.wake.notify_one();
        }
        Ok(written?)
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
    /// Taken from the journal, not yet in the database (kept across a failed insert), and the
    /// segments each one's lines are in (hold, settle).
    pending: Vec<UsageRecord>,
    pending_segments: Vec<(Option<u64>, u64)>,
}

impl LedgerWriter {
    pub fn new(journal: Arc<UsageJournal>, store: Store) -> LedgerWriter {
        LedgerWriter { journal, store, pending: Vec::new(), pending_segments: Vec::new() }
    }

    /// Runs until `stop` resolves, then does a final flush.
    pub async fn run(mut self, interval: Duration, stop: impl std::future::Future<Output = ()>) {
        tokio::pin!(stop);
        // SQLite's connection threads (started and restarted by the pool as it needs them) run
        // below the threads serving calls; looked for every second or so.
        let mut priority = (self.store.backend == crate::db::Backend::Sqlite).then(WorkerPriority::default);
        let mut rounds = 0u32;
        loop {
            if rounds.is_multiple_of(PRIORITY_CHECK_ROUNDS) {
                if let Some(p) = priority.as_mut() {
                    p.lower_new_threads();
                }
            }
            rounds = rounds.wrapping_add(1);
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
                Ok(()) => {
                    self.empty_written_segment();
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "usage writer: final flush failed; the journal keeps the records for the next start");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// After the final flush: when every line of the active segment describes a record that
    /// is in the database (no call still holds), its lines are cleared, so the next start has
    /// nothing to replay instead of re-reading up to a whole segment of stored records. A call
    /// still in flight (the drain timed out) keeps the segment as it is.
    fn empty_written_segment(&self) {
        let mut active = self.journal.active.lock();
        let seq = active.seq;
        if !active.queue.is_empty() || active.unwritten.get(&seq).copied().unwrap_or(0) != 0 {
            return;
        }
        match active.file.set_len(0) {
            Ok(()) => active.len = 0,
            Err(e) => tracing::warn!(error = %e, "could not clear the written journal segment; the next start replays it"),
        }
    }

    /// Writes the settled records to the database, removes segments nothing needs any more,
    /// and rotates a full segment.
    pub async fn flush_once(&mut self) -> Result<(), StoreError> {
        let queued = std::mem::take(&mut self.journal.active.lock().queue);
        self.pending.reserve(queued.len());
        for q in queued {
            self.pending.push(q.record);
            self.pending_segments.push((q.hold_segment, q.settle_segment));
        }
        while !self.pending.is_empty() {
            let n = self.pending.len().min(BATCH);
            self.store.insert_new_usage(&self.pending[..n]).await?;
            self.pending.drain(..n);
            release(&self.journal, self.pending_segments.drain(..n));
            self.journal.backlog.fetch_sub(n as i64, Ordering::Relaxed);
        }
        self.journal.drained.notify_waiters();
        self.remove_finished_segments();
        self.maybe_rotate()
    }

    /// Deletes rotated-out segments none of whose lines is still needed.
    fn remove_finished_segments(&self) {
        let finished: Vec<u64> = {
            let mut active = self.journal.active.lock();
            let current = active.seq;
            let finished: Vec<u64> = active.unwritten.iter().filter(|(seq, n)| **seq < current && **n == 0).map(|(seq, _)| *seq).collect();
            for seq in &finished {
                active.unwritten.remove(seq);
            }
            finished
        };
        for seq in finished {
            let path = segment_path(&self.journal.dir, seq);
            if let Err(e) = fs::remove_file(&path) {
                tracing::warn!(segment = %path.display(), error = %e, "could not remove a written journal segment");
            }
        }
    }

    /// Starts a new segment once the active one is large. The old one stays until its open
    /// holds have settled and their records are in the database.
    fn maybe_rotate(&mut self) -> Result<(), StoreError> {
        let mut active = self.journal.active.lock();
        if active.len < SEGMENT_BYTES {
            return Ok(());
        }
        let next_seq = active.seq + 1;
        active.file = open_append(&segment_path(&self.journal.dir, next_seq))?;
        active.seq = next_seq;
        active.len = 0;
        active.unwritten.insert(next_seq, 0);
        Ok(())
    }
}

/// Records are in the database: the lines that describe them are no longer needed.
fn release(journal: &UsageJournal, done: impl Iterator<Item = (Option<u64>, u64)>) {
    let mut active = journal.active.lock();
    for (hold, settle) in done {
        for seg in hold.into_iter().chain(Some(settle)) {
            if let Some(n) = active.unwritten.get_mut(&seg) {
                *n = n.saturating_sub(1);
            }
        }
    }
}
