//! Usage rollups: one row per (hour, key, user, project, provider, model, endpoint, status
//! class) with counts, sums and latency / time-to-first-byte histograms, so the dashboard reads
//! hours instead of calls; and the same per day, each day's row being the sum of its hours, so
//! a 30-day view reads 30 rows per group instead of 720. The ledger writer folds each batch
//! into both in the transaction that inserts the batch's records, and only the records that
//! batch actually inserted: a replayed journal never counts a call twice.
//!
//! The same measures can be computed from raw records ([`raw_measure_sql`]): the dashboard
//! does that for the partial hours at the edges of a range, and the `0004_rollups` migration
//! did it once to fill the table from the records already there.

use hub_core::fast_map::FastMap;
use hub_core::latency::{bucket_range, Histogram, BUCKETS};
use hub_core::usage::{status_class, UsageRecord};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::error::StoreError;

pub const HOUR_MS: i64 = 3_600_000;
pub const DAY_MS: i64 = 24 * HOUR_MS;

/// A rollup table: its name, the column holding each row's period start, and the period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub table: &'static str,
    pub column: &'static str,
    pub ms: i64,
}

pub const HOURLY: Period = Period { table: "usage_hourly", column: "hour", ms: HOUR_MS };
pub const DAILY: Period = Period { table: "usage_daily", column: "day", ms: DAY_MS };

/// The grouping columns after the period start, in primary-key order.
pub const DIMENSION_COLUMNS: [&str; 7] = ["key_id", "user_id", "project", "provider", "model", "endpoint", "status_class"];

/// The status class of a raw record in SQL; the twin of [`hub_core::usage::status_class`].
pub const STATUS_CLASS_SQL: &str =
    "CASE WHEN status >= 500 THEN '5xx' WHEN status >= 400 THEN '4xx' WHEN status >= 300 THEN '3xx' WHEN status >= 200 THEN '2xx' ELSE 'none' END";

/// The additive measures of a group, as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Measures {
    pub calls: i64,
    pub errors: i64,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub tokens_cached: i64,
    pub credits: i64,
    pub upstream_cost: i64,
    pub duration_ms_sum: i64,
    pub ttfb_ms_sum: i64,
    pub latency: Histogram,
    pub ttfb: Histogram,
}

const SUM_COLUMNS: [&str; 9] = ["calls", "errors", "tokens_in", "tokens_out", "tokens_cached", "credits", "upstream_cost", "duration_ms_sum", "ttfb_ms_sum"];

/// Every measure column: the sums, then `lat_0…` and `ttfb_0…`.
pub fn measure_columns() -> Vec<String> {
    let mut cols: Vec<String> = SUM_COLUMNS.iter().map(|c| (*c).to_owned()).collect();
    cols.extend((0..BUCKETS).map(|i| format!("lat_{i}")));
    cols.extend((0..BUCKETS).map(|i| format!("ttfb_{i}")));
    cols
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Measures {
    pub fn add(&mut self, r: &UsageRecord) {
        let s = &r.settlement;
        self.calls += 1;
        self.errors += i64::from(r.outcome.is_error());
        self.tokens_in += clamp(s.tokens_in);
        self.tokens_out += clamp(s.tokens_out);
        self.tokens_cached += clamp(s.tokens_cached);
        self.credits += s.credits.0;
        self.upstream_cost += s.upstream_cost.0;
        self.duration_ms_sum += clamp(s.duration_ms);
        self.latency.record(s.duration_ms);
        if let Some(t) = s.ttfb_ms {
            self.ttfb_ms_sum += clamp(t);
            self.ttfb.record(t);
        }
    }

    pub fn merge(&mut self, o: &Measures) {
        self.calls += o.calls;
        self.errors += o.errors;
        self.tokens_in += o.tokens_in;
        self.tokens_out += o.tokens_out;
        self.tokens_cached += o.tokens_cached;
        self.credits += o.credits;
        self.upstream_cost += o.upstream_cost;
        self.duration_ms_sum += o.duration_ms_sum;
        self.ttfb_ms_sum += o.ttfb_ms_sum;
        self.latency.merge(&o.latency);
        self.ttfb.merge(&o.ttfb);
    }

    /// The values in [`measure_columns`] order.
    fn values(&self) -> Vec<i64> {
        let mut v = vec![
            self.calls,
            self.errors,
            self.tokens_in,
            self.tokens_out,
            self.tokens_cached,
            self.credits,
            self.upstream_cost,
            self.duration_ms_sum,
            self.ttfb_ms_sum,
        ];
        v.extend(self.latency.0.iter().map(|&n| clamp(n)));
        v.extend(self.ttfb.0.iter().map(|&n| clamp(n)));
        v
    }

    /// Reads the measure columns (named as in [`measure_columns`]) of a result row.
    pub fn from_row(row: &AnyRow) -> Result<Measures, StoreError> {
        let get = |c: &str| -> Result<i64, StoreError> { Ok(row.try_get::<Option<i64>, _>(c)?.unwrap_or(0)) };
        let mut m = Measures {
            calls: get("calls")?,
            errors: get("errors")?,
            tokens_in: get("tokens_in")?,
            tokens_out: get("tokens_out")?,
            tokens_cached: get("tokens_cached")?,
            credits: get("credits")?,
            upstream_cost: get("upstream_cost")?,
            duration_ms_sum: get("duration_ms_sum")?,
            ttfb_ms_sum: get("ttfb_ms_sum")?,
            ..Measures::default()
        };
        for i in 0..BUCKETS {
            m.latency.0[i] = u64::try_from(get(&format!("lat_{i}"))?).unwrap_or(0);
            m.ttfb.0[i] = u64::try_from(get(&format!("ttfb_{i}"))?).unwrap_or(0);
        }
        Ok(m)
    }
}

/// A sum that PostgreSQL returns as BIGINT (its SUM of BIGINT is NUMERIC) and that is 0, not
/// NULL, over no rows.
fn sum(expr: &str) -> String {
    format!("CAST(COALESCE(SUM({expr}), 0) AS BIGINT)")
}

/// `SUM(…) AS column` for every measure, over a rollup table.
pub fn rollup_measure_sql() -> String {
    measure_columns().iter().map(|c| format!("{} AS {c}", sum(c))).collect::<Vec<_>>().join(", ")
}

fn bucket_condition(column: &str, i: usize) -> String {
    match bucket_range(i) {
        (lo, Some(hi)) => format!("{column} >= {lo} AND {column} < {hi}"),
        (lo, None) => format!("{column} >= {lo}"),
    }
}

/// The same measures computed from raw `usage_records` rows.
pub fn raw_measure_sql() -> String {
    let mut exprs = vec![
        "COUNT(*) AS calls".to_owned(),
        format!("{} AS errors", sum("CASE WHEN outcome IN ('error', 'interrupted') THEN 1 ELSE 0 END")),
        format!("{} AS tokens_in", sum("tokens_in")),
        format!("{} AS tokens_out", sum("tokens_out")),
        format!("{} AS tokens_cached", sum("tokens_cached")),
        format!("{} AS credits", sum("credits")),
        format!("{} AS upstream_cost", sum("upstream_cost")),
        format!("{} AS duration_ms_sum", sum("duration_ms")),
        format!("{} AS ttfb_ms_sum", sum("ttfb_ms")),
    ];
    for i in 0..BUCKETS {
        exprs.push(format!("{} AS lat_{i}", sum(&format!("CASE WHEN {} THEN 1 ELSE 0 END", bucket_condition("duration_ms", i)))));
    }
    for i in 0..BUCKETS {
        exprs.push(format!("{} AS ttfb_{i}", sum(&format!("CASE WHEN {} THEN 1 ELSE 0 END", bucket_condition("ttfb_ms", i)))));
    }
    exprs.join(", ")
}

/// Fills the rollups from every raw record (what the migration does once; also used to build
/// benchmark databases): the hours from the records, then the days as sums of their hours.
/// Only for empty rollup tables.
pub fn rebuild_sql() -> [String; 2] {
    let dims = DIMENSION_COLUMNS.join(", ");
    let measures = measure_columns().join(", ");
    let hourly = format!(
        "INSERT INTO usage_hourly (hour, {dims}, {measures}) SELECT ts - (ts % {HOUR_MS}), key_id, user_id, COALESCE(project, ''), provider, model, endpoint, {STATUS_CLASS_SQL}, {} \
         FROM usage_records GROUP BY ts - (ts % {HOUR_MS}), key_id, user_id, COALESCE(project, ''), provider, model, endpoint, {STATUS_CLASS_SQL}",
        raw_measure_sql()
    );
    let daily = format!(
        "INSERT INTO usage_daily (day, {dims}, {measures}) SELECT hour - (hour % {DAY_MS}), {dims}, {} FROM usage_hourly GROUP BY hour - (hour % {DAY_MS}), {dims}",
        rollup_measure_sql()
    );
    [hourly, daily]
}

/// One upsert statement for a group of `period`: add the batch's measures to the stored ones.
fn upsert_sql(period: Period) -> String {
    let measures = measure_columns();
    let keys: Vec<&str> = std::iter::once(period.column).chain(DIMENSION_COLUMNS).collect();
    let all: Vec<&str> = keys.iter().copied().chain(measures.iter().map(String::as_str)).collect();
    let placeholders: Vec<String> = (1..=all.len()).map(|n| format!("${n}")).collect();
    let table = period.table;
    let updates: Vec<String> = measures.iter().map(|c| format!("{c} = {table}.{c} + excluded.{c}")).collect();
    format!("INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {}", all.join(", "), placeholders.join(", "), keys.join(", "), updates.join(", "))
}

#[derive(Clone, Copy, Hash, PartialEq, Eq, PartialOrd, Ord)]
struct GroupKey<'a> {
    start: i64,
    key_id: &'a str,
    user_id: &'a str,
    project: &'a str,
    provider: &'a str,
    model: &'a str,
    endpoint: &'a str,
    status_class: &'static str,
}

/// Aggregates `records` by hour and group in memory, then adds each group to its hour's row
/// and to its day's: one statement per group and period, in the caller's transaction.
pub async fn add_records<'r>(tx: &mut sqlx::Transaction<'_, sqlx::Any>, records: impl Iterator<Item = &'r UsageRecord>) -> Result<(), StoreError> {
    let mut hours: FastMap<GroupKey<'r>, Measures> = FastMap::default();
    for r in records {
        let h = &r.hold;
        let key = GroupKey {
            start: h.started_at_ms - h.started_at_ms.rem_euclid(HOUR_MS),
            key_id: &h.key_id,
            user_id: &h.user_id,
            project: h.project.as_deref().unwrap_or(""),
            provider: &h.provider,
            model: &h.model,
            endpoint: &h.endpoint,
            status_class: status_class(r.settlement.status),
        };
        hours.entry(key).or_default().add(r);
    }
    if hours.is_empty() {
        return Ok(());
    }
    let mut days: FastMap<GroupKey<'r>, Measures> = FastMap::default();
    for (g, m) in &hours {
        days.entry(GroupKey { start: g.start - g.start.rem_euclid(DAY_MS), ..*g }).or_default().merge(m);
    }
    for (period, groups) in [(HOURLY, hours), (DAILY, days)] {
        let sql = upsert_sql(period);
        // In group order: two instances writing at once lock the same rows in the same order
        // (on PostgreSQL, another order could make them wait for each other in a circle).
        let mut groups: Vec<_> = groups.into_iter().collect();
        groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (g, m) in groups {
            let mut q = sqlx::query(&sql)
                .bind(g.start)
                .bind(g.key_id)
                .bind(g.user_id)
                .bind(g.project)
                .bind(g.provider)
                .bind(g.model)
                .bind(g.endpoint)
                .bind(g.status_class);
            for v in m.values() {
                q = q.bind(v);
            }
            q.execute(&mut **tx).await?;
        }
    }
    Ok(())
}

impl crate::db::Store {
    /// Recomputes every rollup from the raw records, in one transaction. Raw records past
    /// their retention are gone, so this is for repair and for building test databases, not
    /// something the hub runs by itself.
    pub async fn rebuild_rollups(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM usage_daily").execute(&mut *tx).await?;
        sqlx::query("DELETE FROM usage_hourly").execute(&mut *tx).await?;
        for statement in rebuild_sql() {
            sqlx::query(&statement).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The migration's backfill is this module's SQL, so raw and rolled-up figures agree.
    #[test]
    fn the_migration_backfills_with_the_same_sql() {
        for engine in ["sqlite", "postgres"] {
            let path = format!("{}/migrations/{engine}/0004_rollups.sql", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let compact = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
            for statement in rebuild_sql() {
                assert!(compact(&text).contains(&compact(&statement)), "{path} does not hold:\n{statement}");
            }
        }
    }
}
