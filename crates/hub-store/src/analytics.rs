//! The dashboard's queries: totals, time series and breakdowns read the daily rollups for the
//! whole days of a range, the hourly rollups for its other whole hours and the raw records for
//! the partial hours at its edges (so "the last hour" means the last 60 minutes); call history, one call's details and the CSV export read
//! raw records, newest first, paged by (ts, request_id). Every query takes an optional user,
//! which is how members and analytics keys see only their own usage.
//!
//! Filters become SQL only for the values given (no `$1 IS NULL OR …`), so each query can use
//! the index that fits it.

use std::collections::{BTreeMap, HashMap};

use futures::Stream;
use hub_core::money::NanoCredits;
use sqlx::Row;

use crate::db::Store;
use crate::error::StoreError;
use crate::rollup::{raw_measure_sql, rollup_measure_sql, Measures, Period, DAILY, DAY_MS, HOURLY, HOUR_MS, STATUS_CLASS_SQL};
use crate::usage::{usage_row, UsageRow};

/// What to count: a time range `[from_ms, to_ms)` and optional equality filters.
#[derive(Debug, Clone, Default)]
pub struct AnalyticsFilter {
    pub from_ms: i64,
    pub to_ms: i64,
    /// Only this user's usage (members, analytics keys).
    pub user_id: Option<String>,
    pub key_id: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    /// `""` names calls without a project.
    pub project: Option<String>,
    /// `2xx`, `3xx`, `4xx`, `5xx` or `none` ([`hub_core::usage::status_class`]).
    pub status_class: Option<String>,
}

/// What a breakdown groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Model,
    Provider,
    Key,
    User,
    Project,
    StatusClass,
}

impl Dimension {
    pub fn parse(s: &str) -> Option<Dimension> {
        match s {
            "model" => Some(Dimension::Model),
            "provider" => Some(Dimension::Provider),
            "key" => Some(Dimension::Key),
            "user" => Some(Dimension::User),
            "project" => Some(Dimension::Project),
            "status" => Some(Dimension::StatusClass),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Model => "model",
            Dimension::Provider => "provider",
            Dimension::Key => "key",
            Dimension::User => "user",
            Dimension::Project => "project",
            Dimension::StatusClass => "status",
        }
    }
}

/// One row of a breakdown: the group's value, a readable label when there is one (a key's
/// name and kid, a user's email), and its measures.
#[derive(Debug, Clone)]
pub struct BreakdownRow {
    pub value: String,
    pub label: Option<String>,
    pub measures: Measures,
}

/// A page of call history and the cursor of the next one.
#[derive(Debug, Clone)]
pub struct CallsPage {
    pub calls: Vec<UsageRow>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Rollup(Period),
    Raw,
}

impl Source {
    fn time_column(self) -> &'static str {
        match self {
            Source::Rollup(p) => p.column,
            Source::Raw => "ts",
        }
    }
}

#[derive(Clone, Copy)]
enum Group {
    Dim(Dimension),
    /// Start of a time bucket of this many milliseconds (UTC-aligned).
    Time(i64),
}

impl Group {
    fn sql(self, source: Source) -> String {
        let time = source.time_column();
        match (self, source) {
            (Group::Time(b), _) => format!("{time} - ({time} % {b})"),
            (Group::Dim(Dimension::Model), _) => "model".into(),
            (Group::Dim(Dimension::Provider), _) => "provider".into(),
            (Group::Dim(Dimension::Key), _) => "key_id".into(),
            (Group::Dim(Dimension::User), _) => "user_id".into(),
            (Group::Dim(Dimension::Project), Source::Rollup(_)) => "project".into(),
            (Group::Dim(Dimension::Project), Source::Raw) => "COALESCE(project, '')".into(),
            (Group::Dim(Dimension::StatusClass), Source::Rollup(_)) => "status_class".into(),
            (Group::Dim(Dimension::StatusClass), Source::Raw) => STATUS_CLASS_SQL.into(),
        }
    }
}

enum Bind {
    Int(i64),
    Text(String),
}

/// SQL text and its bind values, numbered as they are added.
#[derive(Default)]
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    fn int(&mut self, v: i64) -> String {
        self.binds.push(Bind::Int(v));
        format!("${}", self.binds.len())
    }

    fn text(&mut self, v: &str) -> String {
        self.binds.push(Bind::Text(v.to_owned()));
        format!("${}", self.binds.len())
    }

    fn query(&self) -> sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments<'_>> {
        let mut q = sqlx::query(&self.text);
        for b in &self.binds {
            q = match b {
                Bind::Int(v) => q.bind(*v),
                Bind::Text(v) => q.bind(v.as_str()),
            };
        }
        q
    }

    /// ` WHERE …` for the filter over `[from, to)` of `source`.
    fn filter(&mut self, f: &AnalyticsFilter, source: Source, from: i64, to: i64) {
        let time = source.time_column();
        let (a, b) = (self.int(from), self.int(to));
        let mut clauses = vec![format!("{time} >= {a} AND {time} < {b}")];
        for (column, value) in [("user_id", &f.user_id), ("key_id", &f.key_id), ("model", &f.model), ("provider", &f.provider)] {
            if let Some(v) = value {
                clauses.push(format!("{column} = {}", self.text(v)));
            }
        }
        if let Some(p) = &f.project {
            let column = if source == Source::Raw { "COALESCE(project, '')" } else { "project" };
            clauses.push(format!("{column} = {}", self.text(p)));
        }
        if let Some(class) = &f.status_class {
            match source {
                Source::Rollup(_) => clauses.push(format!("status_class = {}", self.text(class))),
                Source::Raw => clauses.push(raw_status_condition(class)),
            }
        }
        self.text.push_str(" WHERE ");
        self.text.push_str(&clauses.join(" AND "));
    }
}

/// A status class as a range of raw statuses (the twin of `STATUS_CLASS_SQL`, as a condition);
/// an unknown class matches nothing.
fn raw_status_condition(class: &str) -> String {
    match class {
        "2xx" => "status >= 200 AND status < 300".into(),
        "3xx" => "status >= 300 AND status < 400".into(),
        "4xx" => "status >= 400 AND status < 500".into(),
        "5xx" => "status >= 500".into(),
        "none" => "status < 200".into(),
        _ => "1 = 0".into(),
    }
}

fn floor_to(t: i64, step: i64) -> i64 {
    t - t.rem_euclid(step)
}

fn ceil_to(t: i64, step: i64) -> i64 {
    floor_to(t + step - 1, step)
}

/// Which parts of `[from, to)` come from which source: raw records for the partial hours at
/// the edges, daily rollups for whole days (when `days` allows them), hourly rollups between.
fn segments(from: i64, to: i64, days: bool) -> Vec<(Source, i64, i64)> {
    if from >= to {
        return Vec::new();
    }
    let (h1, h2) = (ceil_to(from, HOUR_MS), floor_to(to, HOUR_MS));
    if h1 >= h2 {
        return vec![(Source::Raw, from, to)];
    }
    let (d1, d2) = (ceil_to(h1, DAY_MS), floor_to(h2, DAY_MS));
    let mut out = Vec::with_capacity(5);
    let mut push = |source, a: i64, b: i64| {
        if a < b {
            out.push((source, a, b));
        }
    };
    push(Source::Raw, from, h1);
    if days && d1 < d2 {
        push(Source::Rollup(HOURLY), h1, d1);
        push(Source::Rollup(DAILY), d1, d2);
        push(Source::Rollup(HOURLY), d2, h2);
    } else {
        push(Source::Rollup(HOURLY), h1, h2);
    }
    push(Source::Raw, h2, to);
    out
}

/// The bucket a time series over `[from, to)` uses: an hour up to 48 hours, a day beyond.
pub fn series_bucket_ms(from: i64, to: i64) -> i64 {
    if to - from <= 48 * HOUR_MS {
        HOUR_MS
    } else {
        DAY_MS
    }
}

/// At most this many points in a series (a year of days).
const MAX_POINTS: i64 = 400;

impl Store {
    /// Measures per group (or one group `""` without grouping), merged over the range's
    /// rollup and raw parts.
    async fn aggregate(&self, f: &AnalyticsFilter, group: Option<Group>) -> Result<BTreeMap<String, Measures>, StoreError> {
        let mut out: BTreeMap<String, Measures> = BTreeMap::new();
        // Daily rows cannot be split into hours.
        let days = !matches!(group, Some(Group::Time(b)) if b % DAY_MS != 0);
        for (source, from, to) in segments(f.from_ms, f.to_ms, days) {
            let mut sql = Sql::default();
            let (table, measures) = match source {
                Source::Rollup(p) => (p.table, rollup_measure_sql()),
                Source::Raw => ("usage_records", raw_measure_sql()),
            };
            let group_sql = group.map(|g| g.sql(source));
            sql.text = match &group_sql {
                Some(g) => format!("SELECT CAST({g} AS TEXT) AS g, {measures} FROM {table}"),
                None => format!("SELECT {measures} FROM {table}"),
            };
            sql.filter(f, source, from, to);
            if let Some(g) = &group_sql {
                sql.text.push_str(&format!(" GROUP BY {g}"));
            }
            for row in sql.query().fetch_all(&self.pool).await? {
                let key = if group.is_some() { row.try_get::<Option<String>, _>("g")?.unwrap_or_default() } else { String::new() };
                out.entry(key).or_default().merge(&Measures::from_row(&row)?);
            }
        }
        Ok(out)
    }

    /// Totals over the filter's range.
    pub async fn usage_totals(&self, f: &AnalyticsFilter) -> Result<Measures, StoreError> {
        Ok(self.aggregate(f, None).await?.remove("").unwrap_or_default())
    }

    /// One point per bucket of `bucket_ms` from the bucket holding `from_ms` up to `to_ms`,
    /// zero where nothing happened. Buckets start at UTC hour / day boundaries.
    pub async fn usage_series(&self, f: &AnalyticsFilter, bucket_ms: i64) -> Result<Vec<(i64, Measures)>, StoreError> {
        if bucket_ms <= 0 || (f.to_ms - f.from_ms) / bucket_ms > MAX_POINTS {
            return Err(StoreError::Invalid(format!("a series has at most {MAX_POINTS} points; choose a shorter range")));
        }
        let mut by_bucket: HashMap<i64, Measures> = HashMap::new();
        for (k, m) in self.aggregate(f, Some(Group::Time(bucket_ms))).await? {
            if let Ok(t) = k.parse::<i64>() {
                by_bucket.entry(t).or_default().merge(&m);
            }
        }
        let mut points = Vec::new();
        let mut t = floor_to(f.from_ms, bucket_ms);
        while t < f.to_ms {
            points.push((t, by_bucket.remove(&t).unwrap_or_default()));
            t += bucket_ms;
        }
        Ok(points)
    }

    /// The range's usage by `dim`, most calls first, at most `limit` rows.
    pub async fn usage_breakdown(&self, f: &AnalyticsFilter, dim: Dimension, limit: usize) -> Result<Vec<BreakdownRow>, StoreError> {
        let mut rows: Vec<BreakdownRow> =
            self.aggregate(f, Some(Group::Dim(dim))).await?.into_iter().map(|(value, measures)| BreakdownRow { value, label: None, measures }).collect();
        rows.sort_by(|a, b| b.measures.calls.cmp(&a.measures.calls).then_with(|| a.value.cmp(&b.value)));
        rows.truncate(limit);
        let labels = match dim {
            Dimension::Key => self.key_labels(rows.iter().map(|r| r.value.as_str())).await?,
            Dimension::User => self.user_labels(rows.iter().map(|r| r.value.as_str())).await?,
            _ => HashMap::new(),
        };
        for r in &mut rows {
            r.label = labels.get(&r.value).cloned();
        }
        Ok(rows)
    }

    /// `name (kid)` per key id.
    async fn key_labels<'a>(&self, ids: impl Iterator<Item = &'a str>) -> Result<HashMap<String, String>, StoreError> {
        let mut sql = Sql::default();
        let list: Vec<String> = ids.map(|id| sql.text(id)).collect();
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        sql.text = format!("SELECT k.id AS id, k.name AS name, MIN(s.kid) AS kid FROM api_keys k LEFT JOIN api_key_secrets s ON s.key_id = k.id WHERE k.id IN ({}) GROUP BY k.id, k.name", list.join(", "));
        let mut out = HashMap::new();
        for row in sql.query().fetch_all(&self.pool).await? {
            let name: String = row.try_get("name")?;
            let kid: Option<String> = row.try_get("kid")?;
            out.insert(row.try_get("id")?, kid.map_or_else(|| name.clone(), |k| format!("{name} ({k})")));
        }
        Ok(out)
    }

    /// Email per user id.
    async fn user_labels<'a>(&self, ids: impl Iterator<Item = &'a str>) -> Result<HashMap<String, String>, StoreError> {
        let mut sql = Sql::default();
        let list: Vec<String> = ids.map(|id| sql.text(id)).collect();
        if list.is_empty() {
            return Ok(HashMap::new());
        }
        sql.text = format!("SELECT id, email FROM users WHERE id IN ({})", list.join(", "));
        let mut out = HashMap::new();
        for row in sql.query().fetch_all(&self.pool).await? {
            out.insert(row.try_get("id")?, row.try_get("email")?);
        }
        Ok(out)
    }

    /// Raw calls matching the filter, newest first, `limit` (1–1000) per page, after `cursor`
    /// (the `next` of the previous page).
    pub async fn usage_calls(&self, f: &AnalyticsFilter, cursor: Option<&str>, limit: i64) -> Result<CallsPage, StoreError> {
        let limit = limit.clamp(1, 1000);
        let mut sql = Sql { text: "SELECT * FROM usage_records".into(), binds: Vec::new() };
        sql.filter(f, Source::Raw, f.from_ms, f.to_ms);
        if let Some(c) = cursor {
            let (ts, id) = c
                .split_once('.')
                .and_then(|(ts, id)| Some((ts.parse::<i64>().ok()?, id)))
                .ok_or_else(|| StoreError::Invalid("the cursor is not one this hub gave out".into()))?;
            let (a, b, c2) = (sql.int(ts), sql.int(ts), sql.text(id));
            sql.text.push_str(&format!(" AND (ts < {a} OR (ts = {b} AND request_id < {c2}))"));
        }
        let n = sql.int(limit + 1);
        sql.text.push_str(&format!(" ORDER BY ts DESC, request_id DESC LIMIT {n}"));
        let mut calls = sql.query().fetch_all(&self.pool).await?.iter().map(usage_row).collect::<Result<Vec<_>, _>>()?;
        let next = if calls.len() as i64 > limit {
            calls.truncate(limit as usize);
            calls.last().map(|r| format!("{}.{}", r.ts, r.request_id))
        } else {
            None
        };
        Ok(CallsPage { calls, next })
    }

    /// One call, if it exists and (with a user) is that user's.
    pub async fn usage_call(&self, request_id: &str, user_id: Option<&str>) -> Result<Option<UsageRow>, StoreError> {
        let mut sql = Sql::default();
        let id = sql.text(request_id);
        sql.text = format!("SELECT * FROM usage_records WHERE request_id = {id}");
        if let Some(u) = user_id {
            let u = sql.text(u);
            sql.text.push_str(&format!(" AND user_id = {u}"));
        }
        sql.query().fetch_optional(&self.pool).await?.as_ref().map(usage_row).transpose()
    }

    /// The calls matching the filter as CSV text, newest first: a header line, then one chunk
    /// per page of records, read as the consumer pulls (nothing is held in memory whole).
    pub fn usage_calls_csv(&self, f: AnalyticsFilter) -> impl Stream<Item = Result<String, StoreError>> + Send + 'static {
        struct State {
            store: Store,
            filter: AnalyticsFilter,
            cursor: Option<String>,
            header_sent: bool,
            done: bool,
        }
        let start = State { store: self.clone(), filter: f, cursor: None, header_sent: false, done: false };
        futures::stream::try_unfold(start, |mut st| async move {
            if !st.header_sent {
                st.header_sent = true;
                return Ok(Some((csv::header(), st)));
            }
            if st.done {
                return Ok(None);
            }
            let page = st.store.usage_calls(&st.filter, st.cursor.as_deref(), 1000).await?;
            let mut chunk = String::new();
            for r in &page.calls {
                csv::row(&mut chunk, r);
            }
            st.done = page.next.is_none();
            st.cursor = page.next;
            Ok(Some((chunk, st)))
        })
    }
}

/// CSV for spreadsheets: RFC 4180 quoting, and text cells that a spreadsheet would run as a
/// formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) prefixed with `'`.
pub mod csv {
    use super::*;

    const COLUMNS: [&str; 24] = [
        "time_utc",
        "request_id",
        "kid",
        "key_id",
        "user_id",
        "project",
        "provider",
        "model",
        "endpoint",
        "stream",
        "client_ip",
        "status",
        "outcome",
        "error_class",
        "tokens_in",
        "tokens_out",
        "tokens_cached",
        "credits",
        "upstream_cost",
        "duration_ms",
        "ttfb_ms",
        "upstream_ttfb_ms",
        "cut_short",
        "estimated",
    ];

    pub fn header() -> String {
        let mut s = COLUMNS.join(",");
        s.push_str("\r\n");
        s
    }

    /// One text cell, escaped.
    pub fn cell(value: &str) -> String {
        let guarded = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
        if guarded.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", guarded.replace('"', "\"\""))
        } else {
            guarded
        }
    }

    pub fn row(out: &mut String, r: &UsageRow) {
        let time = chrono::DateTime::from_timestamp_millis(r.ts).map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()).unwrap_or_default();
        let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
        let cells = [
            time,
            cell(&r.request_id),
            cell(&r.kid),
            cell(&r.key_id),
            cell(&r.user_id),
            cell(r.project.as_deref().unwrap_or("")),
            cell(&r.provider),
            cell(&r.model),
            cell(&r.endpoint),
            r.stream.to_string(),
            cell(r.client_ip.as_deref().unwrap_or("")),
            r.status.to_string(),
            cell(&r.outcome),
            cell(r.error_class.as_deref().unwrap_or("")),
            r.tokens_in.to_string(),
            r.tokens_out.to_string(),
            r.tokens_cached.to_string(),
            NanoCredits(r.credits).to_string(),
            NanoCredits(r.upstream_cost).to_string(),
            r.duration_ms.to_string(),
            opt(r.ttfb_ms),
            opt(r.upstream_ttfb_ms),
            r.cut_short.to_string(),
            r.estimated.to_string(),
        ];
        out.push_str(&cells.join(","));
        out.push_str("\r\n");
    }

    #[cfg(test)]
    mod tests {
        use super::cell;

        #[test]
        fn cells_are_quoted_and_formulas_defused() {
            assert_eq!(cell("plain"), "plain");
            assert_eq!(cell("a,b"), "\"a,b\"");
            assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
            assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
            assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
            assert_eq!(cell("+1"), "'+1");
            assert_eq!(cell("-2"), "'-2");
            assert_eq!(cell("@SUM(A1)"), "'@SUM(A1)");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_split_into_days_hours_and_raw_edges() {
        let (h, d) = (HOUR_MS, DAY_MS);
        assert!(segments(10, 10, true).is_empty());
        assert_eq!(segments(10, 20, true), vec![(Source::Raw, 10, 20)]);
        assert_eq!(
            segments(h / 2, 3 * h + 5, true),
            vec![(Source::Raw, h / 2, h), (Source::Rollup(HOURLY), h, 3 * h), (Source::Raw, 3 * h, 3 * h + 5)]
        );
        assert_eq!(segments(h, 2 * h, true), vec![(Source::Rollup(HOURLY), h, 2 * h)]);
        let long = segments(d - h - 5, 3 * d + 2 * h + 5, true);
        assert_eq!(
            long,
            vec![
                (Source::Raw, d - h - 5, d - h),
                (Source::Rollup(HOURLY), d - h, d),
                (Source::Rollup(DAILY), d, 3 * d),
                (Source::Rollup(HOURLY), 3 * d, 3 * d + 2 * h),
                (Source::Raw, 3 * d + 2 * h, 3 * d + 2 * h + 5),
            ]
        );
        assert!(segments(d - h - 5, 3 * d + 2 * h + 5, false).iter().all(|(s, _, _)| *s != Source::Rollup(DAILY)), "hourly series never read days");
    }

    #[test]
    fn buckets_are_hours_up_to_two_days() {
        assert_eq!(series_bucket_ms(0, 48 * HOUR_MS), HOUR_MS);
        assert_eq!(series_bucket_ms(0, 49 * HOUR_MS), DAY_MS);
    }
}
