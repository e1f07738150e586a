//! How fast the dashboard's queries are on a large ledger. Ignored by default; run it with
//! `bash bench/dashboard.sh [RECORDS]` (see bench/README.md). It writes RECORDS generated usage
//! records (default 200 000) spread over the last 30 days into a fresh SQLite database through
//! the usage writer's own insert (so the rollups are maintained as in production), then
//! times each query the Dashboard, Calls and key pages and the analytics API run.

use std::time::{Duration, Instant};

use hub_core::money::NanoCredits;
use hub_core::usage::{CallHold, CallSettlement, UsageRecord};
use hub_store::analytics::{AnalyticsFilter, Dimension};
use hub_store::rollup::{DAY_MS, HOUR_MS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const USERS: usize = 20;
const KEYS_PER_USER: usize = 2;
const MODELS: [(&str, &str); 8] = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("openai", "gpt-3.5-turbo"),
    ("anthropic", "claude-sonnet-4"),
    ("anthropic", "claude-haiku-4"),
    ("google", "gemini-2.5-flash"),
    ("google", "gemini-2.5-pro"),
    ("openai", "text-embedding-3-small"),
];
const PROJECTS: [Option<&str>; 4] = [None, Some("did:abt:app-one"), Some("did:abt:app-two"), Some("did:abt:app-three")];
/// The goal for every query.
const BUDGET: Duration = Duration::from_millis(200);

fn generate(rng: &mut StdRng, n: usize, i: usize, now: i64) -> UsageRecord {
    let span = 30 * DAY_MS;
    // Evenly spread, newest last, with a little jitter; request ids sort by time like real ones.
    let ts = now - span + (i as i64 * span) / n as i64 + rng.gen_range(0..(span / n as i64).clamp(1, 1000));
    let user = rng.gen_range(0..USERS);
    let key = user * KEYS_PER_USER + rng.gen_range(0..KEYS_PER_USER);
    // Each key calls three models.
    let (provider, model) = MODELS[(key + rng.gen_range(0..3)) % MODELS.len()];
    let roll = rng.gen_range(0..100);
    let status = match roll {
        0..=2 => 429,
        3..=4 => 502,
        _ => 200,
    };
    let ok = status == 200;
    let duration = if ok { 200 + rng.gen_range(0..3000u64) * rng.gen_range(1..4) } else { rng.gen_range(1..50) };
    let tokens_in = rng.gen_range(10..4000u64);
    let tokens_out = if ok { rng.gen_range(1..1500u64) } else { 0 };
    let hold = CallHold {
        request_id: format!("req_{ts:013}{i:010}"),
        started_at_ms: ts,
        key_id: format!("key_{key:03}"),
        kid: format!("kid{key:09}"),
        user_id: format!("usr_{user:03}"),
        project: PROJECTS[key % PROJECTS.len()].map(str::to_owned),
        provider: provider.into(),
        credential_id: Some(format!("cred_{provider}")),
        model: model.into(),
        endpoint: if model.starts_with("text-embedding") { "embeddings".into() } else { "chat".into() },
        stream: i.is_multiple_of(2),
        client_ip: Some(format!("10.0.{}.{}", user, key % 250)),
        est_input_tokens: tokens_in,
        reserved: NanoCredits(5_000_000),
        billed: false,
        budget_window: None,
    };
    UsageRecord::settled(
        hold,
        CallSettlement {
            status,
            error_class: (!ok).then(|| if status == 429 { "rate_limited".to_owned() } else { "upstream_error".to_owned() }),
            tokens_in,
            tokens_out,
            tokens_cached: tokens_in / 4,
            credits: NanoCredits(if ok { (tokens_in * 150 + tokens_out * 600) as i64 } else { 0 }),
            upstream_cost: NanoCredits(if ok { (tokens_in * 100 + tokens_out * 400) as i64 } else { 0 }),
            duration_ms: duration,
            ttfb_ms: Some(duration / 3),
            upstream_ttfb_ms: Some(duration / 3 - duration / 20),
            ..CallSettlement::default()
        },
    )
}

async fn time<T>(results: &mut Vec<(String, Duration)>, name: &str, f: impl std::future::Future<Output = T>) -> T {
    let started = Instant::now();
    let out = f.await;
    results.push((name.to_owned(), started.elapsed()));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bash bench/dashboard.sh"]
async fn bench_dashboard_queries() {
    let n: usize = std::env::var("BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    let dir = tempfile::tempdir().unwrap();
    let store = hub_store::Store::open_sqlite(dir.path()).await.unwrap();
    let now = hub_core::ids::now_ms();
    let mut rng = StdRng::seed_from_u64(7);

    let started = Instant::now();
    let mut batch = Vec::with_capacity(4096);
    for i in 0..n {
        batch.push(generate(&mut rng, n, i, now));
        if batch.len() == 4096 || i + 1 == n {
            store.insert_new_usage(&batch).await.unwrap();
            batch.clear();
        }
    }
    let fill = started.elapsed();
    assert_eq!(store.count_usage().await.unwrap(), n as i64);
    let db_bytes = std::fs::metadata(dir.path().join("hub.db")).map(|m| m.len()).unwrap_or(0);
    println!("filled {n} records in {:.1} s ({:.0} records/s), database {} MB", fill.as_secs_f64(), n as f64 / fill.as_secs_f64(), db_bytes / 1_000_000);

    let range = |len: i64| AnalyticsFilter { from_ms: now - len, to_ms: now, ..AnalyticsFilter::default() };
    let month = range(30 * DAY_MS);
    let day = range(DAY_MS);
    let hour = range(HOUR_MS);
    let member = AnalyticsFilter { user_id: Some("usr_007".into()), ..month.clone() };
    let key = AnalyticsFilter { key_id: Some("key_011".into()), ..month.clone() };
    let model = AnalyticsFilter { model: Some("claude-haiku-4".into()), ..month.clone() };
    let errors = AnalyticsFilter { status_class: Some("5xx".into()), ..month.clone() };

    let mut results = Vec::new();
    // Twice: the first pass reads the database file into the page cache.
    for pass in 0..2 {
        results.clear();
        let r = &mut results;
        let totals = time(r, "totals, 30 days", store.usage_totals(&month)).await.unwrap();
        assert_eq!(totals.calls, n as i64);
        time(r, "totals, 24 hours", store.usage_totals(&day)).await.unwrap();
        time(r, "totals, 1 hour", store.usage_totals(&hour)).await.unwrap();
        time(r, "totals, one member, 30 days", store.usage_totals(&member)).await.unwrap();
        time(r, "series by day, 30 days", store.usage_series(&month, DAY_MS)).await.unwrap();
        time(r, "series by hour, 24 hours", store.usage_series(&day, HOUR_MS)).await.unwrap();
        time(r, "series by day, one key, 30 days", store.usage_series(&key, DAY_MS)).await.unwrap();
        for dim in [Dimension::Model, Dimension::Provider, Dimension::Key, Dimension::User, Dimension::Project] {
            time(r, &format!("breakdown by {}, 30 days", dim.as_str()), store.usage_breakdown(&month, dim, 20)).await.unwrap();
        }
        time(r, "breakdown by model, one key, 30 days", store.usage_breakdown(&key, Dimension::Model, 20)).await.unwrap();
        let page = time(r, "calls, first page", store.usage_calls(&month, None, 50)).await.unwrap();
        let next = page.next.clone().unwrap();
        time(r, "calls, next page", store.usage_calls(&month, Some(&next), 50)).await.unwrap();
        time(r, "calls, one member", store.usage_calls(&member, None, 50)).await.unwrap();
        time(r, "calls, one key", store.usage_calls(&key, None, 50)).await.unwrap();
        time(r, "calls, one model", store.usage_calls(&model, None, 50)).await.unwrap();
        time(r, "calls, 5xx only", store.usage_calls(&errors, None, 50)).await.unwrap();
        let id = page.calls[0].request_id.clone();
        time(r, "one call", store.usage_call(&id, None)).await.unwrap();
        time(r, "CSV export, first 1000 rows", store.usage_calls(&month, None, 1000)).await.unwrap();
        if pass == 0 {
            continue;
        }
        println!("\n| query | ms |\n|---|---:|");
        for (name, d) in &results {
            println!("| {name} | {:.1} |", d.as_secs_f64() * 1000.0);
        }
    }
    let slow: Vec<_> = results.iter().filter(|(_, d)| *d > BUDGET).collect();
    if !slow.is_empty() {
        println!("\nover the {} ms goal: {slow:?}", BUDGET.as_millis());
    }
}
