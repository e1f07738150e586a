//! The usage journal: nothing lost, nothing duplicated, whatever the process did.

use std::sync::Arc;
use std::time::Duration;

use hub_core::money::NanoCredits;
use hub_core::usage::{CallHold, CallSettlement, Outcome, UsageRecord};
use hub_store::journal::{LedgerWriter, UsageJournal};
use hub_store::usage::UsageFilter;

use crate::fresh_store;

fn hold(id: &str) -> CallHold {
    CallHold {
        request_id: id.to_owned(),
        started_at_ms: 1,
        key_id: "key_1".into(),
        kid: "kid1".into(),
        user_id: "usr_1".into(),
        project: None,
        provider: "openai".into(),
        credential_id: None,
        model: "gpt-4o".into(),
        endpoint: "chat.completions".into(),
        stream: false,
        client_ip: None,
        est_input_tokens: 42,
        reserved: NanoCredits(1000),
        billed: true,
        budget_window: None,
    }
}

fn settled(id: &str) -> UsageRecord {
    UsageRecord::settled(hold(id), CallSettlement { status: 200, tokens_in: 7, tokens_out: 12, ..CallSettlement::default() })
}

async fn records(store: &hub_store::Store) -> Vec<hub_store::usage::UsageRow> {
    store.list_usage(&UsageFilter { limit: 10_000, ..UsageFilter::default() }).await.unwrap()
}

#[tokio::test]
async fn a_killed_process_loses_nothing_and_duplicates_nothing() {
    let (dir, store) = fresh_store().await;
    let jdir = dir.path().join("journal");
    {
        let (journal, replayed) = UsageJournal::open(&jdir, &store).await.unwrap();
        assert_eq!(replayed, 0);
        for i in 0..5 {
            let ticket = journal.hold(&hold(&format!("done-{i}"))).unwrap();
            journal.settle(settled(&format!("done-{i}")), Some(ticket)).unwrap();
        }
        journal.hold(&hold("in-flight")).unwrap();
        // Part of the batch reaches the database before the "crash".
        let mut writer = LedgerWriter::new(Arc::clone(&journal), store.clone());
        writer.flush_once().await.unwrap();
        let ticket = journal.hold(&hold("late")).unwrap();
        journal.settle(settled("late"), Some(ticket)).unwrap();
        // The process dies here: no final flush, segments left behind.
    }
    let (_journal, replayed) = UsageJournal::open(&jdir, &store).await.unwrap();
    assert!(replayed >= 2, "the late record and the interrupted hold are replayed");
    let rows = records(&store).await;
    assert_eq!(rows.len(), 7, "5 done + late + in-flight, each exactly once");
    let interrupted: Vec<_> = rows.iter().filter(|r| r.outcome == Outcome::Interrupted.as_str()).collect();
    assert_eq!(interrupted.len(), 1);
    assert_eq!(interrupted[0].request_id, "in-flight");
    assert!(interrupted[0].estimated);
    assert_eq!(interrupted[0].credits, 1000, "billed at its reservation");
    assert_eq!(interrupted[0].tokens_in, 42);
}

#[tokio::test]
async fn a_replayed_video_record_keeps_its_seconds() {
    let (dir, store) = fresh_store().await;
    let jdir = dir.path().join("journal");
    {
        let (journal, _) = UsageJournal::open(&jdir, &store).await.unwrap();
        let ticket = journal.hold(&hold("video-1")).unwrap();
        let settlement = CallSettlement { status: 200, video_seconds: 8, ..CallSettlement::default() };
        journal.settle(UsageRecord::settled(hold("video-1"), settlement), Some(ticket)).unwrap();
        // The process dies before the writer runs.
    }
    UsageJournal::open(&jdir, &store).await.unwrap();
    let rows = records(&store).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].video_seconds, 8);
}

#[tokio::test]
async fn a_torn_last_line_is_skipped_not_fatal() {
    let (dir, store) = fresh_store().await;
    let jdir = dir.path().join("journal");
    {
        let (journal, _) = UsageJournal::open(&jdir, &store).await.unwrap();
        journal.settle(settled("whole"), None).unwrap();
    }
    let seg = std::fs::read_dir(&jdir).unwrap().next().unwrap().unwrap().path();
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes.extend_from_slice(b"{\"settle\":{\"hold\":{\"request_id\":\"torn");
    std::fs::write(&seg, bytes).unwrap();
    UsageJournal::open(&jdir, &store).await.unwrap();
    let rows = records(&store).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].request_id, "whole");
}

#[tokio::test]
async fn the_writer_drains_the_backlog_and_removes_written_segments() {
    let (dir, store) = fresh_store().await;
    let jdir = dir.path().join("journal");
    let (journal, _) = UsageJournal::open(&jdir, &store).await.unwrap();
    for i in 0..1000 {
        let ticket = journal.hold(&hold(&format!("r{i}"))).unwrap();
        journal.settle(settled(&format!("r{i}")), Some(ticket)).unwrap();
    }
    assert_eq!(journal.backlog(), 1000);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let writer = LedgerWriter::new(Arc::clone(&journal), store.clone());
    let task = tokio::spawn(writer.run(Duration::from_millis(20), async move {
        let _ = stop_rx.await;
    }));
    assert!(journal.wait_for_backlog_below(0, Duration::from_secs(10)).await);
    stop_tx.send(()).unwrap();
    task.await.unwrap();
    assert_eq!(records(&store).await.len(), 1000);
    assert_eq!(store.count_usage().await.unwrap(), 1000);
    let left: u64 = std::fs::read_dir(&jdir).unwrap().map(|e| e.unwrap().metadata().unwrap().len()).sum();
    assert_eq!(left, 0, "a clean stop leaves no line to replay");
}

#[tokio::test]
async fn a_clean_stop_with_a_call_still_holding_keeps_its_hold_for_the_next_start() {
    let (dir, store) = fresh_store().await;
    let jdir = dir.path().join("journal");
    let (journal, _) = UsageJournal::open(&jdir, &store).await.unwrap();
    let ticket = journal.hold(&hold("done")).unwrap();
    journal.settle(settled("done"), Some(ticket)).unwrap();
    journal.hold(&hold("still-running")).unwrap();
    let writer = LedgerWriter::new(Arc::clone(&journal), store.clone());
    writer.run(Duration::from_millis(20), async {}).await;
    drop(journal);
    UsageJournal::open(&jdir, &store).await.unwrap();
    let rows = records(&store).await;
    assert_eq!(rows.len(), 2, "the finished call once, the one still holding as interrupted");
    assert!(rows.iter().any(|r| r.request_id == "still-running" && r.outcome == Outcome::Interrupted.as_str()));
}

fn segments(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

/// Enough settled records (with large holds) to pass the segment size and rotate.
fn fill_a_segment(journal: &UsageJournal, prefix: &str) {
    let big = "x".repeat(4096);
    for i in 0..2100 {
        let mut h = hold(&format!("{prefix}{i}"));
        h.model = big.clone();
        let ticket = journal.hold(&h).unwrap();
        journal.settle(UsageRecord::settled(h, CallSettlement { status: 200, ..CallSettlement::default() }), Some(ticket)).unwrap();
    }
}

#[tokio::test]
async fn rotation_keeps_a_segment_while_a_hold_in_it_is_open() {
    let (dir, store) = fresh_store().await;
    let jdir = dir.path().join("journal");
    {
        let (journal, _) = UsageJournal::open(&jdir, &store).await.unwrap();
        journal.hold(&hold("long-stream")).unwrap();
        let mut writer = LedgerWriter::new(Arc::clone(&journal), store.clone());
        fill_a_segment(&journal, "r");
        writer.flush_once().await.unwrap();
        writer.flush_once().await.unwrap();
        assert_eq!(segments(&jdir), 2, "the first segment still holds the open call's hold");
        // Crash with the long stream still open.
    }
    UsageJournal::open(&jdir, &store).await.unwrap();
    let rows = records(&store).await;
    assert_eq!(rows.len(), 2101);
    assert!(rows.iter().any(|r| r.request_id == "long-stream" && r.outcome == "interrupted"));
}

#[tokio::test]
async fn a_call_settled_after_rotation_replays_whole_and_frees_its_segment() {
    let (dir, store) = fresh_store().await;
    let jdir = dir.path().join("journal");
    {
        let (journal, _) = UsageJournal::open(&jdir, &store).await.unwrap();
        let ticket = journal.hold(&hold("long-stream")).unwrap();
        let mut writer = LedgerWriter::new(Arc::clone(&journal), store.clone());
        fill_a_segment(&journal, "a");
        writer.flush_once().await.unwrap();
        // The stream ends in the new segment: its settle line names only the request id.
        let done = UsageRecord::settled(hold("long-stream"), CallSettlement { status: 200, tokens_out: 99, ..CallSettlement::default() });
        journal.settle(done, Some(ticket)).unwrap();
        assert_eq!(segments(&jdir), 2);
        // The process dies before the writer runs again: the record lives only in the files.
    }
    UsageJournal::open(&jdir, &store).await.unwrap();
    let rows = records(&store).await;
    let long = rows.iter().find(|r| r.request_id == "long-stream").unwrap();
    assert_eq!((long.outcome.as_str(), long.tokens_out, long.model.as_str()), ("ok", 99, "gpt-4o"), "hold and settlement joined across segments");

    // And in a running process, the old segment goes once the record is in the database.
    let (journal, _) = UsageJournal::open(&jdir, &store).await.unwrap();
    let ticket = journal.hold(&hold("second")).unwrap();
    let mut writer = LedgerWriter::new(Arc::clone(&journal), store.clone());
    fill_a_segment(&journal, "b");
    writer.flush_once().await.unwrap();
    assert_eq!(segments(&jdir), 2);
    journal.settle(settled("second"), Some(ticket)).unwrap();
    writer.flush_once().await.unwrap();
    assert_eq!(segments(&jdir), 1, "nothing needs the first segment any more");
    assert_eq!(journal.backlog(), 0);
}
