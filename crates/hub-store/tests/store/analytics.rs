//! Hourly rollups and the dashboard's queries: rollups agree with the raw records, a replayed
//! journal never counts twice, ranges with partial hours are exact, member scoping holds, and
//! call history pages cover every call once.

use std::sync::Arc;

use futures::TryStreamExt;
use hub_core::money::NanoCredits;
use hub_core::usage::{CallHold, CallSettlement, UsageRecord};
use hub_store::analytics::{AnalyticsFilter, Dimension};
use hub_store::journal::{LedgerWriter, UsageJournal};
use hub_store::rollup::{Measures, HOUR_MS};
use hub_store::Store;

/// A fixed hour far from "now", so tests never depend on the clock.
const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % HOUR_MS;

struct Call {
    id: String,
    ts: i64,
    key: &'static str,
    user: &'static str,
    model: &'static str,
    project: Option<&'static str>,
    status: u16,
    ms: u64,
}

fn call(n: usize, ts: i64, key: &'static str, user: &'static str, model: &'static str, status: u16) -> Call {
    Call { id: format!("req_{ts:015}_{n:06}"), ts, key, user, model, project: None, status, ms: 30 + (n as u64 % 7) * 100 }
}

fn record(c: &Call) -> UsageRecord {
    let hold = CallHold {
        request_id: c.id.clone(),
        started_at_ms: c.ts,
        key_id: c.key.into(),
        kid: format!("kid-{}", c.key),
        user_id: c.user.into(),
        project: c.project.map(str::to_owned),
        provider: "openai".into(),
        credential_id: None,
        model: c.model.into(),
        endpoint: "chat".into(),
        stream: false,
        client_ip: Some("10.0.0.1".into()),
        est_input_tokens: 10,
        reserved: NanoCredits(5_000),
        billed: false,
        budget_window: None,
    };
    let ok = (200..300).contains(&c.status);
    UsageRecord::settled(
        hold,
        CallSettlement {
            status: c.status,
            error_class: (!ok).then(|| "upstream_error".to_owned()),
            tokens_in: 10,
            tokens_out: if ok { 20 } else { 0 },
            credits: NanoCredits(if ok { 1_500 } else { 0 }),
            upstream_cost: NanoCredits(if ok { 1_000 } else { 0 }),
            duration_ms: c.ms,
            ttfb_ms: Some(c.ms / 2),
            ..CallSettlement::default()
        },
    )
}

/// 3 hours of calls, two users, three keys, two models, some errors; minutes apart so
/// partial-hour ranges cut through them.
fn calls() -> Vec<Call> {
    let mut out = Vec::new();
    for n in 0..180usize {
        let ts = T0 + n as i64 * 60_000;
        let (key, user) = match n % 3 {
            0 => ("key_a", "usr_1"),
            1 => ("key_b", "usr_1"),
            _ => ("key_c", "usr_2"),
        };
        let model = if n.is_multiple_of(4) { "gpt-4o" } else { "gpt-4o-mini" };
        let status = if n.is_multiple_of(10) { 502 } else { 200 };
        let mut c = call(n, ts, key, user, model, status);
        if n.is_multiple_of(5) {
            c.project = Some("=cmd|' /C calc'!A0");
        }
        out.push(c);
    }
    out
}

fn expected(calls: &[Call], keep: impl Fn(&Call) -> bool) -> Measures {
    let mut m = Measures::default();
    for c in calls.iter().filter(|c| keep(c)) {
        m.add(&record(c));
    }
    m
}

fn range(from: i64, to: i64) -> AnalyticsFilter {
    AnalyticsFilter { from_ms: from, to_ms: to, ..AnalyticsFilter::default() }
}

async fn load(store: &Store, calls: &[Call]) {
    let records: Vec<UsageRecord> = calls.iter().map(record).collect();
    for batch in records.chunks(50) {
        store.insert_new_usage(batch).await.unwrap();
    }
}

pub async fn totals_match_the_raw_records_for_whole_and_partial_hours(store: &Store) {
    let all = calls();
    load(store, &all).await;
    for (from, to) in [(T0, T0 + 3 * HOUR_MS), (T0 + 17 * 60_000, T0 + 2 * HOUR_MS + 5 * 60_000), (T0 + 61 * 60_000, T0 + 62 * 60_000), (T0 - HOUR_MS, T0 + 10 * HOUR_MS)] {
        let got = store.usage_totals(&range(from, to)).await.unwrap();
        let want = expected(&all, |c| c.ts >= from && c.ts < to);
        assert_eq!(got, want, "range {from}..{to}");
    }
    let whole = store.usage_totals(&range(T0, T0 + 3 * HOUR_MS)).await.unwrap();
    assert_eq!(whole.calls, 180);
    assert_eq!(whole.errors, 18);
    assert_eq!(whole.credits, 162 * 1_500);
    assert!(whole.latency.quantile(0.5).unwrap() <= whole.latency.quantile(0.95).unwrap());

    // The maintained rollups are exactly what recomputing them from the records gives.
    store.rebuild_rollups().await.unwrap();
    assert_eq!(store.usage_totals(&range(T0, T0 + 3 * HOUR_MS)).await.unwrap(), whole);
}

pub async fn days_hours_and_raw_edges_add_up(store: &Store) {
    use hub_store::rollup::DAY_MS;
    // Every 37 minutes for four days.
    let all: Vec<Call> = (0..160usize).map(|n| call(n, T0 + n as i64 * 37 * 60_000, "key_a", "usr_1", "gpt-4o", if n.is_multiple_of(9) { 429 } else { 200 })).collect();
    load(store, &all).await;
    let day0 = T0 - T0 % DAY_MS;
    for (from, to) in [(T0 + 5 * 60_000, T0 + 3 * DAY_MS + 7 * 60_000), (day0 + DAY_MS, day0 + 3 * DAY_MS), (day0 + DAY_MS - 1, day0 + 3 * DAY_MS + 1), (T0, T0 + 4 * DAY_MS)] {
        assert_eq!(store.usage_totals(&range(from, to)).await.unwrap(), expected(&all, |c| c.ts >= from && c.ts < to), "range {from}..{to}");
    }
    let f = range(T0 + 5 * 60_000, T0 + 3 * DAY_MS + 7 * 60_000);
    let by_day = store.usage_series(&f, DAY_MS).await.unwrap();
    let by_hour = store.usage_series(&f, HOUR_MS).await.unwrap();
    let sum = |points: &[(i64, Measures)]| points.iter().fold(Measures::default(), |mut acc, (_, m)| {
        acc.merge(m);
        acc
    });
    assert_eq!(sum(&by_day), sum(&by_hour));
    assert_eq!(sum(&by_day), store.usage_totals(&f).await.unwrap());
    for (t, m) in &by_day {
        let (a, b) = ((*t).max(f.from_ms), (*t + DAY_MS).min(f.to_ms));
        assert_eq!(*m, expected(&all, |c| c.ts >= a && c.ts < b), "day {t}");
    }
    store.rebuild_rollups().await.unwrap();
    assert_eq!(store.usage_totals(&f).await.unwrap(), sum(&by_day), "rebuilt rollups agree");
}

pub async fn a_replayed_journal_is_not_counted_twice(store: &Store) {
    let dir = tempfile::tempdir().unwrap();
    let jdir = dir.path().join("journal");
    let all = calls();
    {
        let (journal, _) = UsageJournal::open(&jdir, store).await.unwrap();
        for c in &all[..100] {
            let r = record(c);
            let ticket = journal.hold(&r.hold).unwrap();
            journal.settle(r, Some(ticket)).unwrap();
        }
        // These reach the database; the journal segment still holds them when the process dies.
        LedgerWriter::new(Arc::clone(&journal), store.clone()).flush_once().await.unwrap();
        for c in &all[100..] {
            let r = record(c);
            let ticket = journal.hold(&r.hold).unwrap();
            journal.settle(r, Some(ticket)).unwrap();
        }
    }
    let (_journal, replayed) = UsageJournal::open(&jdir, store).await.unwrap();
    assert_eq!(replayed, 80, "only the records not yet written are new");
    let got = store.usage_totals(&range(T0, T0 + 3 * HOUR_MS)).await.unwrap();
    assert_eq!(got, expected(&all, |_| true));

    // The same batch again, by either path: nothing changes.
    let again: Vec<UsageRecord> = all[..64].iter().map(record).collect();
    assert_eq!(store.insert_usage(&again).await.unwrap(), 0);
    assert_eq!(store.insert_new_usage(&again).await.unwrap(), 0);
    let mut mixed: Vec<UsageRecord> = all[..3].iter().map(record).collect();
    let fresh = call(999, T0 + 30_000, "key_a", "usr_1", "gpt-4o", 200);
    mixed.push(record(&fresh));
    assert_eq!(store.insert_new_usage(&mixed).await.unwrap(), 1, "a batch with old records counts only the new one");
    let after = store.usage_totals(&range(T0, T0 + 3 * HOUR_MS)).await.unwrap();
    assert_eq!(after.calls, 181);
    assert_eq!(store.count_usage().await.unwrap(), 181);
}

pub async fn series_breakdowns_and_member_scoping(store: &Store) {
    let all = calls();
    load(store, &all).await;
    let f = range(T0 + 30 * 60_000, T0 + 3 * HOUR_MS);
    let series = store.usage_series(&f, HOUR_MS).await.unwrap();
    let starts: Vec<i64> = series.iter().map(|(t, _)| *t).collect();
    assert_eq!(starts, vec![T0, T0 + HOUR_MS, T0 + 2 * HOUR_MS], "dense buckets from the one holding `from`");
    assert_eq!(series[0].1.calls, 30, "the first bucket counts only the part of its hour in range");
    assert_eq!(series.iter().map(|(_, m)| m.calls).sum::<i64>(), 150);

    let by_model = store.usage_breakdown(&range(T0, T0 + 3 * HOUR_MS), Dimension::Model, 10).await.unwrap();
    assert_eq!(by_model.iter().map(|r| (r.value.as_str(), r.measures.calls)).collect::<Vec<_>>(), vec![("gpt-4o-mini", 135), ("gpt-4o", 45)]);
    let by_status = store.usage_breakdown(&range(T0, T0 + 3 * HOUR_MS), Dimension::StatusClass, 10).await.unwrap();
    assert_eq!(by_status.iter().map(|r| (r.value.as_str(), r.measures.calls)).collect::<Vec<_>>(), vec![("2xx", 162), ("5xx", 18)]);

    let mine = AnalyticsFilter { user_id: Some("usr_2".into()), ..range(T0 + 90 * 60_000, T0 + 3 * HOUR_MS) };
    assert_eq!(store.usage_totals(&mine).await.unwrap(), expected(&all, |c| c.user == "usr_2" && c.ts >= mine.from_ms));
    let keys = store.usage_breakdown(&mine, Dimension::Key, 10).await.unwrap();
    assert_eq!(keys.iter().map(|r| r.value.as_str()).collect::<Vec<_>>(), vec!["key_c"], "a member sees only their own keys");
    let errors_only = AnalyticsFilter { status_class: Some("5xx".into()), ..range(T0 + 5 * 60_000, T0 + 3 * HOUR_MS) };
    assert_eq!(store.usage_totals(&errors_only).await.unwrap().calls, 17);
    let project = AnalyticsFilter { project: Some("=cmd|' /C calc'!A0".into()), ..range(T0, T0 + 150 * 60_000) };
    assert_eq!(store.usage_totals(&project).await.unwrap().calls, 30);
}

pub async fn call_history_pages_cover_every_call_once_and_csv_is_safe(store: &Store) {
    let mut all = calls();
    // Calls in the same millisecond: the page boundary must not skip or repeat them.
    for n in 0..5 {
        all.push(call(500 + n, T0 + 100 * 60_000, "key_a", "usr_1", "gpt-4o", 200));
    }
    load(store, &all).await;
    let f = AnalyticsFilter { user_id: Some("usr_1".into()), ..range(T0, T0 + 3 * HOUR_MS) };
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.usage_calls(&f, cursor.as_deref(), 7).await.unwrap();
        assert!(page.calls.len() <= 7);
        seen.extend(page.calls.iter().map(|r| (r.ts, r.request_id.clone())));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let mut want: Vec<(i64, String)> = all.iter().filter(|c| c.user == "usr_1").map(|c| (c.ts, c.id.clone())).collect();
    want.sort();
    want.reverse();
    assert_eq!(seen, want, "newest first, each call once");
    assert!(store.usage_calls(&f, Some("garbage"), 7).await.is_err());

    let one = store.usage_call(&all[2].id, Some("usr_2")).await.unwrap().expect("usr_2's call");
    assert_eq!(one.request_id, all[2].id);
    assert!(store.usage_call(&all[2].id, Some("usr_1")).await.unwrap().is_none(), "another user's call is hidden");

    let csv: Vec<String> = store.usage_calls_csv(AnalyticsFilter { project: Some("=cmd|' /C calc'!A0".into()), ..range(T0, T0 + 3 * HOUR_MS) }).try_collect().await.unwrap();
    let text = csv.concat();
    let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("time_utc,request_id,"), "{}", lines[0]);
    assert_eq!(lines.len(), 1 + 36);
    for l in &lines[1..] {
        assert!(l.contains(",'=cmd|' /C calc'!A0,"), "the formula is defused: {l}");
        assert!(l.contains(",0.0000015,") || l.contains(",0,"), "money as decimals: {l}");
    }
}

pub async fn pruning_removes_old_records_and_keeps_the_rollups(store: &Store) {
    let all = calls();
    load(store, &all).await;
    let before = store.usage_totals(&range(T0, T0 + 3 * HOUR_MS)).await.unwrap();
    let deleted = store.prune_usage_before(T0 + 2 * HOUR_MS, T0 + 3 * HOUR_MS).await.unwrap();
    assert_eq!(deleted, 120);
    assert_eq!(store.count_usage().await.unwrap(), 60);
    assert_eq!(store.usage_totals(&range(T0, T0 + 3 * HOUR_MS)).await.unwrap(), before, "whole hours still come from the rollups");
    let page = store.usage_calls(&range(T0, T0 + 3 * HOUR_MS), None, 1000).await.unwrap();
    assert_eq!(page.calls.len(), 60);
}

/// Retention never deletes what money is summed from: billed records (balances) and a budgeted
/// key's records in its current window stay; everything else past the cutoff goes.
pub async fn pruning_keeps_what_balances_and_budgets_are_summed_from(store: &Store) {
    use hub_core::budget::{Budget, BudgetPeriod};
    use hub_core::scopes::KeyPolicy;
    use hub_core::{KeyType, Pepper};

    let user = store.create_user("retention@example.com", "$argon2id$placeholder", hub_store::users::Role::Owner).await.unwrap();
    let pepper = Pepper::from_bytes([5; 32]);
    let plain = store.issue_key(&pepper, &user.id, "plain", KeyType::Inference, &KeyPolicy::default(), "test", None).await.unwrap().info.id;
    let daily = KeyPolicy { budget: Some(Budget { limit: NanoCredits(1_000_000), period: BudgetPeriod::Day, since_ms: 0 }), ..KeyPolicy::default() };
    let budgeted = store.issue_key(&pepper, &user.id, "budgeted", KeyType::Inference, &daily, "test", None).await.unwrap().info.id;

    let day = T0 - T0 % (24 * HOUR_MS);
    let now = day + 12 * HOUR_MS;
    let record = |id: &str, key: &str, ts: i64, billed: bool| {
        let hold = CallHold {
            request_id: id.into(),
            started_at_ms: ts,
            key_id: key.into(),
            kid: "kid".into(),
            user_id: user.id.clone(),
            provider: "openai".into(),
            model: "gpt-4o".into(),
            endpoint: "chat.completions".into(),
            billed,
            ..CallHold::default()
        };
        UsageRecord::settled(hold, CallSettlement { status: 200, credits: NanoCredits(100), ..CallSettlement::default() })
    };
    let old = day - 5 * 24 * HOUR_MS;
    let records = [
        record("old-plain", &plain, old, false),
        record("old-plain-billed", &plain, old, true),
        record("old-budgeted", &budgeted, old, false),
        record("today-budgeted", &budgeted, day + HOUR_MS, false),
        record("today-plain", &plain, day + 2 * HOUR_MS, false),
    ];
    assert_eq!(store.insert_usage(&records).await.unwrap(), 5);
    let balance = store.stored_balance(&user.id, now).await.unwrap();
    let window = store.key_spent_since(&budgeted, day).await.unwrap();

    // A retention of zero days: everything before now is past the cutoff.
    assert_eq!(store.prune_usage_before(now, now).await.unwrap(), 3);
    let mut left: Vec<String> = store.list_usage(&hub_store::usage::UsageFilter { limit: 100, ..Default::default() }).await.unwrap().into_iter().map(|r| r.request_id).collect();
    left.sort();
    assert_eq!(left, ["old-plain-billed", "today-budgeted"]);
    assert_eq!(store.stored_balance(&user.id, now).await.unwrap(), balance, "the balance is unchanged");
    assert_eq!(store.key_spent_since(&budgeted, day).await.unwrap(), window, "the budget window's spending is unchanged");
    assert_eq!(window, NanoCredits(100));
}

/// The checks above on SQLite; `postgres.rs` runs them on PostgreSQL.
mod on_sqlite {
    use crate::fresh_store;

    #[tokio::test]
    async fn days_hours_and_raw_edges_add_up() {
        let (_dir, store) = fresh_store().await;
        super::days_hours_and_raw_edges_add_up(&store).await;
    }

    #[tokio::test]
    async fn totals_match_the_raw_records_for_whole_and_partial_hours() {
        let (_dir, store) = fresh_store().await;
        super::totals_match_the_raw_records_for_whole_and_partial_hours(&store).await;
    }

    #[tokio::test]
    async fn a_replayed_journal_is_not_counted_twice() {
        let (_dir, store) = fresh_store().await;
        super::a_replayed_journal_is_not_counted_twice(&store).await;
    }

    #[tokio::test]
    async fn series_breakdowns_and_member_scoping() {
        let (_dir, store) = fresh_store().await;
        super::series_breakdowns_and_member_scoping(&store).await;
    }

    #[tokio::test]
    async fn call_history_pages_cover_every_call_once_and_csv_is_safe() {
        let (_dir, store) = fresh_store().await;
        super::call_history_pages_cover_every_call_once_and_csv_is_safe(&store).await;
    }

    #[tokio::test]
    async fn pruning_keeps_what_balances_and_budgets_are_summed_from() {
        let (_dir, store) = fresh_store().await;
        super::pruning_keeps_what_balances_and_budgets_are_summed_from(&store).await;
    }

    #[tokio::test]
    async fn pruning_removes_old_records_and_keeps_the_rollups() {
        let (_dir, store) = fresh_store().await;
        super::pruning_removes_old_records_and_keeps_the_rollups(&store).await;
    }
}
