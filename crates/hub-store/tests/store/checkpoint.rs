//! Write-ahead-log checkpoints taken off the usage writer: each copies what the log holds into
//! the database file without waiting, and after a complete one the log starts over instead of
//! growing.

use std::time::Duration;

use hub_core::money::NanoCredits;
use hub_core::usage::{CallHold, CallSettlement, UsageRecord};

use crate::fresh_store;

fn records(from: usize, n: usize) -> Vec<UsageRecord> {
    (from..from + n)
        .map(|i| {
            let hold = CallHold {
                request_id: format!("req-{i:08}"),
                started_at_ms: 1_000 + i as i64,
                key_id: "key_1".into(),
                kid: "kid1".into(),
                user_id: "usr_1".into(),
                provider: "openai".into(),
                model: "gpt-4o".into(),
                endpoint: "chat.completions".into(),
                est_input_tokens: 10,
                reserved: NanoCredits(1_000),
                ..CallHold::default()
            };
            UsageRecord::settled(hold, CallSettlement { status: 200, tokens_in: 10, tokens_out: 20, ..CallSettlement::default() })
        })
        .collect()
}

#[tokio::test]
async fn a_checkpoint_copies_the_log_into_the_database_file_and_the_log_starts_over() {
    let (dir, store) = fresh_store().await;
    let db_file = dir.path().join("hub.db");
    for batch in records(0, 3_000).chunks(512) {
        store.insert_usage(batch).await.unwrap();
    }
    let before = std::fs::metadata(&db_file).unwrap().len();

    let first = store.checkpoint_wal().await.unwrap().expect("SQLite has a write-ahead log");
    assert!(first.log_frames > 100, "3,000 records fill many pages: {first:?}");
    assert_eq!(first.copied_frames, first.log_frames, "nothing reads, so every frame is copied: {first:?}");
    assert!(std::fs::metadata(&db_file).unwrap().len() > before, "the pages reached the database file");

    // Everything was copied, so the next write starts the log from its beginning: a few
    // records take a few frames, not the earlier ones plus theirs.
    store.insert_usage(&records(3_000, 5)).await.unwrap();
    let next = store.checkpoint_wal().await.unwrap().unwrap();
    assert!(next.log_frames < first.log_frames / 4, "the log started over: {first:?} then {next:?}");
    assert_eq!(next.copied_frames, next.log_frames);
    assert_eq!(store.count_usage().await.unwrap(), 3_005);
}

/// Writes 2,000 records in ten batches, with or without the background checkpoints, and
/// returns how many frames the log holds at the end.
async fn log_frames_after_writing(background: bool) -> i64 {
    let (_dir, store) = fresh_store().await;
    let task = background.then(|| tokio::spawn(store.clone().run_wal_checkpoints(Duration::from_millis(20))));
    for batch in records(0, 2_000).chunks(200) {
        store.insert_usage(batch).await.unwrap();
        tokio::time::sleep(Duration::from_millis(40)).await;
    }
    if let Some(task) = task {
        task.abort();
    }
    assert_eq!(store.count_usage().await.unwrap(), 2_000);
    store.checkpoint_wal().await.unwrap().unwrap().log_frames
}

#[tokio::test]
async fn background_checkpoints_keep_the_log_short_while_records_arrive() {
    let without = log_frames_after_writing(false).await;
    let with = log_frames_after_writing(true).await;
    // Without them every batch's pages stay in the log (far below the automatic checkpoint's
    // 8,192 frames); with them the log starts over after each complete copy.
    assert!(with * 3 < without, "log frames at the end: {with} with background checkpoints, {without} without");
}
