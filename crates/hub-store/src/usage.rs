//! The usage ledger in SQL: batch inserts (idempotent on request id, so a journal replay never
//! duplicates a record) and the queries behind the key list and call history.

use std::collections::BTreeMap;

use hub_core::fast_map::FastSet;
use hub_core::usage::UsageRecord;
use sqlx::Row;

use crate::db::{Backend, Store};
use crate::error::StoreError;
use crate::leases::AccountScope;

#[derive(Debug, Clone, serde::Serialize)]
pub struct UsageRow {
    pub request_id: String,
    pub ts: i64,
    pub key_id: String,
    pub kid: String,
    pub user_id: String,
    pub project: Option<String>,
    pub provider: String,
    pub credential_id: Option<String>,
    pub model: String,
    pub endpoint: String,
    pub stream: bool,
    pub client_ip: Option<String>,
    pub status: i64,
    pub outcome: String,
    pub error_class: Option<String>,
    pub tokens_in: i64,
    pub tokens_out: i64,
    pub tokens_cached: i64,
    pub credits: i64,
    pub reserved: i64,
    pub upstream_cost: i64,
    pub duration_ms: i64,
    pub ttfb_ms: Option<i64>,
    pub upstream_ttfb_ms: Option<i64>,
    pub cut_short: bool,
    pub estimated: bool,
    /// Debited from the user's credit balance.
    pub billed: bool,
    pub video_seconds: i64,
}

#[derive(Debug, Clone, Default)]
pub struct UsageFilter {
    pub key_id: Option<String>,
    pub user_id: Option<String>,
    pub limit: i64,
}

#[derive(Default)]
struct KeyDelta {
    requests: i64,
    tokens_in: i64,
    tokens_out: i64,
    last_used_at: i64,
    last_used_ip: Option<String>,
}

/// Records per INSERT statement: 28 parameters each stays far below SQLite's and PostgreSQL's
/// parameter limits.
pub const ROWS_PER_STATEMENT: usize = 64;

const USAGE_COLUMNS: &str = "request_id, ts, key_id, kid, user_id, project, provider, credential_id, model, endpoint, stream, client_ip, \
     status, outcome, error_class, tokens_in, tokens_out, tokens_cached, credits, reserved, upstream_cost, duration_ms, ttfb_ms, upstream_ttfb_ms, cut_short, estimated, billed, video_seconds";
const USAGE_COLUMN_COUNT: usize = 28;

/// `INSERT … VALUES (…), (…) ON CONFLICT DO NOTHING [RETURNING request_id]` for `rows` rows.
/// SQLite gets positional `?` placeholders: resolving hundreds of `$N` names costs it time
/// quadratic in their number. PostgreSQL only knows `$N`.
fn insert_sql(backend: Backend, rows: usize, returning: bool) -> String {
    let mut sql = format!("INSERT INTO usage_records ({USAGE_COLUMNS}) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..USAGE_COLUMN_COUNT {
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(r * USAGE_COLUMN_COUNT + c + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql.push_str(" ON CONFLICT (request_id) DO NOTHING");
    if returning {
        sql.push_str(" RETURNING request_id");
    }
    sql
}

/// Binds each record's columns, in [`USAGE_COLUMNS`] order.
fn bind_rows<'q>(mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>, chunk: &[UsageRecord]) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    for r in chunk {
        let h = &r.hold;
        let s = &r.settlement;
        q = q
            .bind(h.request_id.clone())
            .bind(h.started_at_ms)
            .bind(h.key_id.clone())
            .bind(h.kid.clone())
            .bind(h.user_id.clone())
            .bind(h.project.clone())
            .bind(h.provider.clone())
            .bind(h.credential_id.clone())
            .bind(h.model.clone())
            .bind(h.endpoint.clone())
            .bind(i64::from(h.stream))
            .bind(h.client_ip.clone())
            .bind(i64::from(s.status))
            .bind(r.outcome.as_str())
            .bind(s.error_class.clone())
            .bind(clamp(s.tokens_in))
            .bind(clamp(s.tokens_out))
            .bind(clamp(s.tokens_cached))
            .bind(s.credits.0)
            .bind(h.reserved.0)
            .bind(s.upstream_cost.0)
            .bind(clamp(s.duration_ms))
            .bind(s.ttfb_ms.map(clamp))
            .bind(s.upstream_ttfb_ms.map(clamp))
            .bind(i64::from(s.cut_short))
            .bind(i64::from(s.estimated))
            .bind(i64::from(h.billed))
            .bind(clamp(s.video_seconds));
    }
    q
}

/// Splits records into statements of 64, 16, 4 or 1 rows: few distinct statement texts, so
/// the database reuses its prepared statements instead of parsing a new shape per batch size.
fn statement_chunks(mut records: &[UsageRecord]) -> impl Iterator<Item = &[UsageRecord]> {
    std::iter::from_fn(move || {
        let size = [ROWS_PER_STATEMENT, 16, 4, 1].into_iter().find(|&n| records.len() >= n)?;
        let (chunk, rest) = records.split_at(size);
        records = rest;
        Some(chunk)
    })
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A `usage_records` row (`SELECT *`).
pub(crate) fn usage_row(r: &sqlx::any::AnyRow) -> Result<UsageRow, StoreError> {
    Ok(UsageRow {
        request_id: r.try_get("request_id")?,
        ts: r.try_get("ts")?,
        key_id: r.try_get("key_id")?,
        kid: r.try_get("kid")?,
        user_id: r.try_get("user_id")?,
        project: r.try_get("project")?,
        provider: r.try_get("provider")?,
        credential_id: r.try_get("credential_id")?,
        model: r.try_get("model")?,
        endpoint: r.try_get("endpoint")?,
        stream: r.try_get::<i64, _>("stream")? != 0,
        client_ip: r.try_get("client_ip")?,
        status: r.try_get("status")?,
        outcome: r.try_get("outcome")?,
        error_class: r.try_get("error_class")?,
        tokens_in: r.try_get("tokens_in")?,
        tokens_out: r.try_get("tokens_out")?,
        tokens_cached: r.try_get("tokens_cached")?,
        credits: r.try_get("credits")?,
        reserved: r.try_get("reserved")?,
        upstream_cost: r.try_get("upstream_cost")?,
        duration_ms: r.try_get("duration_ms")?,
        ttfb_ms: r.try_get("ttfb_ms")?,
        upstream_ttfb_ms: r.try_get("upstream_ttfb_ms")?,
        cut_short: r.try_get::<i64, _>("cut_short")? != 0,
        estimated: r.try_get::<i64, _>("estimated")? != 0,
        billed: r.try_get::<i64, _>("billed")? != 0,
        video_seconds: r.try_get("video_seconds")?,
    })
}

impl Store {
    /// Inserts records not yet present and folds them into each key's counters, in one
    /// transaction. Rows go in multi-row statements (one round trip per [`ROWS_PER_STATEMENT`]
    /// records); `RETURNING` tells which were new, so a replayed journal never counts twice.
    /// Returns how many were new.
    pub async fn insert_usage(&self, records: &[UsageRecord]) -> Result<usize, StoreError> {
        self.insert_usage_inner(records, true).await
    }

    /// [`Store::insert_usage`] for records that cannot be in the database yet (each settled call
    /// reaches the writer once): no `RETURNING`, whose rows SQLite hands back one message each.
    pub async fn insert_new_usage(&self, records: &[UsageRecord]) -> Result<usize, StoreError> {
        self.insert_usage_inner(records, false).await
    }

    async fn insert_usage_inner(&self, records: &[UsageRecord], dedupe: bool) -> Result<usize, StoreError> {
        if records.is_empty() {
            return Ok(0);
        }
        match self.insert_usage_tx(records, dedupe).await? {
            Some(n) => Ok(n),
            // Some records were there already, and without `RETURNING` it is unknown which:
            // the transaction was rolled back, and the batch goes again the counting way, so
            // the key counters and the rollups only ever see records this batch inserted.
            None => Ok(self.insert_usage_tx(records, true).await?.unwrap_or(0)),
        }
    }

    /// One transaction: insert, then counters and rollups for what was inserted. `None` (and
    /// nothing written) when `dedupe` is off and some record was already present.
    async fn insert_usage_tx(&self, records: &[UsageRecord], dedupe: bool) -> Result<Option<usize>, StoreError> {
        let mut tx = self.begin_write().await?;
        let mut inserted: FastSet<&str> = FastSet::default();
        for chunk in statement_chunks(records) {
            let sql = insert_sql(self.backend, chunk.len(), dedupe);
            let q = bind_rows(sqlx::query(&sql), chunk);
            if dedupe {
                let new: FastSet<String> = q.fetch_all(&mut *tx).await?.iter().map(|row| row.try_get::<String, _>("request_id")).collect::<Result<_, _>>()?;
                inserted.extend(chunk.iter().map(|r| r.hold.request_id.as_str()).filter(|id| new.contains(*id)));
            } else {
                let done = q.execute(&mut *tx).await?.rows_affected();
                if done != chunk.len() as u64 {
                    tracing::warn!(expected = chunk.len(), inserted = done, "usage records already present; writing the batch again with duplicates skipped");
                    tx.rollback().await?;
                    return Ok(None);
                }
                inserted.extend(chunk.iter().map(|r| r.hold.request_id.as_str()));
            }
        }
        // In key order: two instances writing at once lock the same rows in the same order.
        let mut deltas: BTreeMap<&str, KeyDelta> = BTreeMap::new();
        for r in records.iter().filter(|r| inserted.contains(r.hold.request_id.as_str())) {
            let h = &r.hold;
            let s = &r.settlement;
            let d = deltas.entry(h.key_id.as_str()).or_default();
            d.requests += 1;
            d.tokens_in += clamp(s.tokens_in);
            d.tokens_out += clamp(s.tokens_out);
            if h.started_at_ms >= d.last_used_at {
                d.last_used_at = h.started_at_ms;
                d.last_used_ip.clone_from(&h.client_ip);
            }
        }
        for (key_id, d) in deltas {
            sqlx::query(
                "UPDATE api_keys SET request_count = request_count + $1, tokens_in = tokens_in + $2, tokens_out = tokens_out + $3, \
                 last_used_ip = CASE WHEN last_used_at IS NULL OR last_used_at <= $4 THEN $5 ELSE last_used_ip END, \
                 last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < $4 THEN $4 ELSE last_used_at END WHERE id = $6",
            )
            .bind(d.requests)
            .bind(d.tokens_in)
            .bind(d.tokens_out)
            .bind(d.last_used_at)
            .bind(d.last_used_ip)
            .bind(key_id)
            .execute(&mut *tx)
            .await?;
        }
        crate::rollup::add_records(&mut tx, records.iter().filter(|r| inserted.contains(r.hold.request_id.as_str()))).await?;
        // Summed by account first, named after: one account name per account in the batch
        // rather than two per record.
        let mut by_scope: BTreeMap<AccountScope<'_>, i64> = BTreeMap::new();
        for r in records.iter().filter(|r| inserted.contains(r.hold.request_id.as_str()) && r.settlement.credits.0 != 0) {
            if let Some(window) = r.hold.budget_window {
                *by_scope.entry(AccountScope::Key { key_id: &r.hold.key_id, window_start_ms: window }).or_default() += r.settlement.credits.0;
            }
            if r.hold.billed {
                *by_scope.entry(AccountScope::User { user_id: &r.hold.user_id }).or_default() += r.settlement.credits.0;
            }
        }
        let charges: BTreeMap<String, i64> = by_scope.into_iter().map(|(scope, credits)| (scope.account(), credits)).collect();
        crate::leases::charge_in(&mut tx, self.backend, self.instance_id.as_deref(), &charges).await?;
        tx.commit().await?;
        Ok(Some(inserted.len()))
    }

    /// Newest records first.
    pub async fn list_usage(&self, filter: &UsageFilter) -> Result<Vec<UsageRow>, StoreError> {
        let limit = if filter.limit <= 0 { 100 } else { filter.limit.min(10_000) };
        let rows = sqlx::query(
            "SELECT * FROM usage_records WHERE ($1 IS NULL OR key_id = $1) AND ($2 IS NULL OR user_id = $2) ORDER BY ts DESC, request_id DESC LIMIT $3",
        )
        .bind(filter.key_id.as_deref())
        .bind(filter.user_id.as_deref())
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(usage_row).collect()
    }

    /// Deletes raw records older than `before_ms` that no balance or budget is summed from, a
    /// slice at a time so the usage writer is never held up for long; the rollups are kept.
    /// Returns how many were deleted. Two kinds stay, whatever their age: billed records (a
    /// user's balance is every grant minus every billed record, `billing.rs`) and the records of
    /// a budgeted key inside its current budget window at `now_ms` (the window's spending is
    /// summed from them when an instance starts or leases more of it). Deleting either would
    /// hand the money back and let a balance or a budget be overspent.
    pub async fn prune_usage_before(&self, before_ms: i64, now_ms: i64) -> Result<u64, StoreError> {
        let mut total = self
            .delete_usage_slices(
                concat!(
                    "DELETE FROM usage_records WHERE request_id IN (SELECT request_id FROM usage_records u WHERE u.ts < $1 AND u.billed = 0 \
                     AND NOT EXISTS (SELECT 1 FROM api_keys WHERE api_keys.id = u.key_id AND ",
                    crate::keys::budget_counts!(),
                    ") LIMIT 5000)"
                ),
                None,
                before_ms,
            )
            .await?;
        for (key_id, budget) in self.budgeted_keys().await? {
            let until = before_ms.min(budget.window_start(now_ms));
            total += self
                .delete_usage_slices(
                    "DELETE FROM usage_records WHERE request_id IN (SELECT request_id FROM usage_records WHERE ts < $1 AND billed = 0 AND key_id = $2 LIMIT 5000)",
                    Some(&key_id),
                    until,
                )
                .await?;
        }
        Ok(total)
    }

    /// Runs a `DELETE … LIMIT 5000` statement until it deletes fewer than 5000 rows.
    async fn delete_usage_slices(&self, sql: &str, key_id: Option<&str>, before_ms: i64) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let mut q = sqlx::query(sql).bind(before_ms);
            if let Some(k) = key_id {
                q = q.bind(k);
            }
            let done = q.execute(&self.pool).await?.rows_affected();
            total += done;
            if done < 5000 {
                return Ok(total);
            }
            tokio::task::yield_now().await;
        }
    }

    /// Every `every`, deletes raw records older than `retention` that no balance or budget
    /// depends on (the rollups stay).
    pub async fn run_usage_pruner(self, every: std::time::Duration, retention: std::time::Duration) {
        let retention_ms = i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            let now = hub_core::ids::now_ms();
            match self.prune_usage_before(now.saturating_sub(retention_ms), now).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(deleted = n, "usage records past their retention deleted"),
                Err(e) => tracing::warn!(error = %e, "pruning usage records failed"),
            }
        }
    }

    pub async fn count_usage(&self) -> Result<i64, StoreError> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM usage_records").fetch_one(&self.pool).await?;
        Ok(r.try_get("n")?)
    }
}

#[cfg(test)]
mod statement_shape_tests {
    use super::*;
    use hub_core::usage::CallHold;

    #[test]
    fn batches_use_few_statement_shapes_and_keep_every_record_once() {
        for n in [0, 1, 3, 4, 5, 17, 64, 65, 100, 255, 1024, 1031] {
            let records: Vec<UsageRecord> = (0..n).map(|_| UsageRecord::interrupted(CallHold::default())).collect();
            let sizes: Vec<usize> = statement_chunks(&records).map(<[UsageRecord]>::len).collect();
            assert_eq!(sizes.iter().sum::<usize>(), n);
            assert!(sizes.iter().all(|s| [64, 16, 4, 1].contains(s)), "{n}: {sizes:?}");
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "largest first");
        }
    }
}
