//! The Dashboard (totals, charts, breakdowns), the Calls page (filtered, paged call history,
//! one call's details, CSV export) and the usage section of a key's page. Pages are rendered
//! on the server from the same queries as the analytics API; charts are drawn in the browser
//! by `assets/charts.js` from each chart's `data-series` attribute.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use hub_core::money::NanoCredits;
use hub_store::analytics::{series_bucket_ms, AnalyticsFilter, Dimension};
use hub_store::rollup::{Measures, DAY_MS, HOUR_MS};
use hub_store::usage::UsageRow;
use serde::Deserialize;
use serde_json::{json, Value};

use super::pages::{nav, render, require_session, storage_failure};
use super::views::{format_optional_time, format_time, MessagePage, Nav};
use crate::admin::analytics::{filter, time_range, AnalyticsQuery, Viewer, RANGES};
use crate::state::AppState;

type PageResult = Result<Response, Response>;

/// The query string of the Dashboard and Calls pages: the analytics API's parameters, with a
/// custom range given as UTC date-times (what `<input type="datetime-local">` sends).
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    range: Option<String>,
    from_time: Option<String>,
    to_time: Option<String>,
    key: Option<String>,
    user: Option<String>,
    model: Option<String>,
    provider: Option<String>,
    project: Option<String>,
    status: Option<String>,
    cursor: Option<String>,
}

fn parse_utc(s: &Option<String>) -> Option<i64> {
    let s = s.as_deref()?.trim();
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| chrono::NaiveDateTime::parse_from_str(s, f).ok())
        .map(|t| t.and_utc().timestamp_millis())
}

fn some_text(v: &Option<String>) -> Option<String> {
    v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned)
}

impl PageQuery {
    fn custom(&self) -> bool {
        self.range.as_deref() == Some("custom")
    }

    fn analytics(&self) -> AnalyticsQuery {
        let (from, to) = if self.custom() { (parse_utc(&self.from_time), parse_utc(&self.to_time)) } else { (None, None) };
        AnalyticsQuery {
            range: some_text(&self.range).filter(|r| r != "custom"),
            from,
            to,
            key: some_text(&self.key),
            user: some_text(&self.user),
            model: some_text(&self.model),
            provider: some_text(&self.provider),
            project: some_text(&self.project),
            status: some_text(&self.status),
            cursor: some_text(&self.cursor),
            ..AnalyticsQuery::default()
        }
    }

    /// The query string for the same view (without the page cursor).
    fn query_string(&self) -> String {
        let pairs = [
            ("range", &self.range),
            ("from_time", &self.from_time),
            ("to_time", &self.to_time),
            ("key", &self.key),
            ("user", &self.user),
            ("model", &self.model),
            ("provider", &self.provider),
            ("project", &self.project),
            ("status", &self.status),
        ];
        pairs.iter().filter_map(|(k, v)| some_text(v).map(|v| format!("{k}={}", encode(&v)))).collect::<Vec<_>>().join("&")
    }
}

/// Percent-encoding for a query-string value.
fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn bad_request(message: &str) -> Response {
    render(&MessagePage { title: "Cannot show that".into(), message: message.to_owned(), link: Some(("/dashboard".into(), "Back to the dashboard".into())) }, StatusCode::BAD_REQUEST)
}

/// One figure on a totals card.
pub struct Card {
    pub label: &'static str,
    pub value: String,
    pub detail: String,
}

pub struct BreakdownTable {
    pub title: &'static str,
    pub dimension: &'static str,
    pub rows: Vec<BreakdownLine>,
}

pub struct BreakdownLine {
    pub label: String,
    /// The Calls page filtered to this group.
    pub link: String,
    pub calls: i64,
    pub errors: i64,
    pub tokens: String,
    pub credits: String,
    pub p95: String,
}

/// A chart: its title and the JSON `charts.js` draws (also what tests read).
pub struct Chart {
    pub id: &'static str,
    pub title: &'static str,
    pub series: String,
}

pub struct RangeChoice {
    pub value: &'static str,
    pub label: &'static str,
}

const RANGE_CHOICES: [RangeChoice; 5] = [
    RangeChoice { value: "1h", label: "Last hour" },
    RangeChoice { value: "24h", label: "Last 24 hours" },
    RangeChoice { value: "7d", label: "Last 7 days" },
    RangeChoice { value: "30d", label: "Last 30 days" },
    RangeChoice { value: "custom", label: "Custom (UTC)" },
];

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct DashboardPage {
    pub nav: Nav,
    pub ranges: &'static [RangeChoice],
    pub range: String,
    pub from_time: String,
    pub to_time: String,
    pub span: String,
    pub cards: Vec<Card>,
    pub charts: Vec<Chart>,
    pub tables: Vec<BreakdownTable>,
    pub calls_link: String,
}

fn ms_text(v: Option<u64>) -> String {
    v.map_or_else(|| "—".to_owned(), |ms| format!("{ms} ms"))
}

fn percent(m: &Measures) -> String {
    if m.calls == 0 {
        return "0 %".into();
    }
    format!("{:.1} %", m.errors as f64 * 100.0 / m.calls as f64)
}

fn cards(m: &Measures) -> Vec<Card> {
    vec![
        Card { label: "Calls", value: m.calls.to_string(), detail: format!("{} errors", m.errors) },
        Card { label: "Error rate", value: percent(m), detail: format!("{} of {}", m.errors, m.calls) },
        Card { label: "Tokens in", value: m.tokens_in.to_string(), detail: format!("{} cached", m.tokens_cached) },
        Card { label: "Tokens out", value: m.tokens_out.to_string(), detail: String::new() },
        Card { label: "Credits", value: NanoCredits(m.credits).to_string(), detail: format!("upstream cost {}", NanoCredits(m.upstream_cost)) },
        Card { label: "Latency p50 / p95", value: ms_text(m.latency.quantile(0.5)), detail: format!("p95 {}", ms_text(m.latency.quantile(0.95))) },
        Card { label: "Time to first byte p50 / p95", value: ms_text(m.ttfb.quantile(0.5)), detail: format!("p95 {}", ms_text(m.ttfb.quantile(0.95))) },
    ]
}

/// `{"unit","bucket_ms","t":[…],"series":[{"name","values":[…]}]}`; money values are decimal
/// strings, like everywhere else.
/// A named line of a chart and how to read its value from a bucket's measures.
type Line<'a> = (&'a str, &'a dyn Fn(&Measures) -> Value);

fn chart_json(points: &[(i64, Measures)], bucket_ms: i64, unit: &str, lines: &[Line<'_>]) -> String {
    let t: Vec<i64> = points.iter().map(|(t, _)| *t).collect();
    let series: Vec<Value> = lines.iter().map(|(name, f)| json!({"name": name, "values": points.iter().map(|(_, m)| f(m)).collect::<Vec<_>>()})).collect();
    json!({"unit": unit, "bucket_ms": bucket_ms, "t": t, "series": series}).to_string()
}

fn charts(points: &[(i64, Measures)], bucket_ms: i64) -> Vec<Chart> {
    let quantile = |q: f64| move |m: &Measures| m.latency.quantile(q).map_or(Value::Null, |v| json!(v));
    let (p50, p95) = (quantile(0.5), quantile(0.95));
    vec![
        Chart { id: "chart-calls", title: "Calls", series: chart_json(points, bucket_ms, "calls", &[("calls", &|m| json!(m.calls))]) },
        Chart {
            id: "chart-tokens",
            title: "Tokens",
            series: chart_json(points, bucket_ms, "tokens", &[("in", &|m| json!(m.tokens_in)), ("out", &|m| json!(m.tokens_out))]),
        },
        Chart { id: "chart-credits", title: "Credits", series: chart_json(points, bucket_ms, "credits", &[("credits", &|m| json!(NanoCredits(m.credits).to_string()))]) },
        Chart { id: "chart-errors", title: "Errors", series: chart_json(points, bucket_ms, "errors", &[("errors", &|m| json!(m.errors))]) },
        Chart { id: "chart-latency", title: "Latency", series: chart_json(points, bucket_ms, "ms", &[("p50", &p50), ("p95", &p95)]) },
    ]
}

fn viewer_of(s: &hub_store::sessions::Session) -> Viewer {
    Viewer { user_id: (!s.user.role.is_admin()).then(|| s.user.id.clone()) }
}

async fn page_filter(state: &AppState, viewer: &Viewer, q: &PageQuery) -> Result<AnalyticsFilter, Response> {
    filter(state, viewer, &q.analytics()).await.map_err(|e| bad_request(e.message()))
}

fn datetime_local(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map(|t| t.format("%Y-%m-%dT%H:%M").to_string()).unwrap_or_default()
}

pub async fn dashboard_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<PageQuery>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    let viewer = viewer_of(&s);
    let f = page_filter(&state, &viewer, &q).await?;
    let store = &state.store;
    let totals = store.usage_totals(&f).await.map_err(storage_failure)?;
    let bucket = series_bucket_ms(f.from_ms, f.to_ms);
    let points = store.usage_series(&f, bucket).await.map_err(storage_failure)?;
    let base = q.query_string();
    let mut dims = vec![(Dimension::Model, "By model"), (Dimension::Provider, "By provider"), (Dimension::Key, "By key"), (Dimension::Project, "By project")];
    if viewer.user_id.is_none() {
        dims.push((Dimension::User, "By user"));
    }
    let mut tables = Vec::new();
    for (dim, title) in dims {
        let rows = store.usage_breakdown(&f, dim, 20).await.map_err(storage_failure)?;
        let param = if dim == Dimension::StatusClass { "status" } else { dim.as_str() };
        let rows = rows
            .into_iter()
            .map(|r| BreakdownLine {
                label: r.label.clone().unwrap_or_else(|| if r.value.is_empty() { "(none)".into() } else { r.value.clone() }),
                link: format!("/calls?{}{}{param}={}", base, if base.is_empty() { "" } else { "&" }, encode(&r.value)),
                calls: r.measures.calls,
                errors: r.measures.errors,
                tokens: format!("{} / {}", r.measures.tokens_in, r.measures.tokens_out),
                credits: NanoCredits(r.measures.credits).to_string(),
                p95: ms_text(r.measures.latency.quantile(0.95)),
            })
            .collect();
        tables.push(BreakdownTable { title, dimension: dim.as_str(), rows });
    }
    let range = if q.custom() { "custom".to_owned() } else { f_range_name(&q) };
    let page = DashboardPage {
        nav: nav(&state, &s, "dashboard"),
        ranges: &RANGE_CHOICES,
        range,
        from_time: datetime_local(f.from_ms),
        to_time: datetime_local(f.to_ms),
        span: format!("{} – {} ({} buckets of one {})", format_time(f.from_ms), format_time(f.to_ms), points.len(), if bucket == HOUR_MS { "hour" } else { "day" }),
        cards: cards(&totals),
        charts: charts(&points, bucket),
        tables,
        calls_link: format!("/calls?{base}"),
    };
    Ok(render(&page, StatusCode::OK))
}

fn f_range_name(q: &PageQuery) -> String {
    some_text(&q.range).filter(|r| RANGES.iter().any(|(n, _)| n == r)).unwrap_or_else(|| "24h".into())
}

// ------------------------------------------------------------------------------------------
// Calls

pub struct CallLine {
    pub time: String,
    pub request_id: String,
    pub kid: String,
    pub model: String,
    pub endpoint: String,
    pub status: i64,
    pub outcome: String,
    pub tokens: String,
    pub credits: String,
    pub duration_ms: i64,
}

impl From<&UsageRow> for CallLine {
    fn from(r: &UsageRow) -> CallLine {
        CallLine {
            time: format_time(r.ts),
            request_id: r.request_id.clone(),
            kid: r.kid.clone(),
            model: if r.provider.is_empty() { r.model.clone() } else { format!("{}/{}", r.provider, r.model) },
            endpoint: r.endpoint.clone(),
            status: r.status,
            outcome: r.outcome.clone(),
            tokens: format!("{} / {}", r.tokens_in, r.tokens_out),
            credits: NanoCredits(r.credits).to_string(),
            duration_ms: r.duration_ms,
        }
    }
}

#[derive(Template)]
#[template(path = "calls.html")]
pub struct CallsPage {
    pub nav: Nav,
    pub ranges: &'static [RangeChoice],
    pub range: String,
    pub from_time: String,
    pub to_time: String,
    pub key: String,
    pub user: String,
    pub model: String,
    pub provider: String,
    pub project: String,
    /// Each status class and whether it is the one filtered on.
    pub statuses: Vec<(&'static str, bool)>,
    pub show_user: bool,
    pub calls: Vec<CallLine>,
    pub next_link: Option<String>,
    pub csv_link: String,
}

pub async fn calls_page(State(state): State<AppState>, headers: HeaderMap, Query(q): Query<PageQuery>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    let viewer = viewer_of(&s);
    let f = page_filter(&state, &viewer, &q).await?;
    let page = match state.store.usage_calls(&f, some_text(&q.cursor).as_deref(), 50).await {
        Ok(p) => p,
        Err(hub_store::StoreError::Invalid(m)) => return Err(bad_request(&m)),
        Err(e) => return Err(storage_failure(e)),
    };
    let base = q.query_string();
    let sep = if base.is_empty() { "" } else { "&" };
    // The export names the resolved range in ms, so it holds exactly what the page shows.
    let mut csv = format!("/api/admin/analytics/calls.csv?from={}&to={}", f.from_ms, f.to_ms);
    for (k, v) in [("key", &q.key), ("user", &q.user), ("model", &q.model), ("provider", &q.provider), ("project", &q.project), ("status", &q.status)] {
        if let Some(v) = some_text(v) {
            csv.push_str(&format!("&{k}={}", encode(&v)));
        }
    }
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let out = CallsPage {
        nav: nav(&state, &s, "calls"),
        ranges: &RANGE_CHOICES,
        range: if q.custom() { "custom".into() } else { f_range_name(&q) },
        from_time: datetime_local(f.from_ms),
        to_time: datetime_local(f.to_ms),
        key: text(&q.key),
        user: text(&q.user),
        model: text(&q.model),
        provider: text(&q.provider),
        project: text(&q.project),
        statuses: hub_core::usage::STATUS_CLASSES.iter().map(|c| (*c, q.status.as_deref() == Some(*c))).collect(),
        show_user: viewer.user_id.is_none(),
        calls: page.calls.iter().map(CallLine::from).collect(),
        next_link: page.next.map(|c| format!("/calls?{base}{sep}cursor={}", encode(&c))),
        csv_link: csv,
    };
    Ok(render(&out, StatusCode::OK))
}

#[derive(Template)]
#[template(path = "call.html")]
pub struct CallPage {
    pub nav: Nav,
    pub request_id: String,
    /// (field, value) in display order.
    pub fields: Vec<(&'static str, String)>,
}

pub async fn call_page(State(state): State<AppState>, headers: HeaderMap, Path(request_id): Path<String>) -> PageResult {
    let s = require_session(&state, &headers).await?;
    let viewer = viewer_of(&s);
    let Some(r) = state.store.usage_call(&request_id, viewer.user_id.as_deref()).await.map_err(storage_failure)? else {
        return Ok(render(&MessagePage { title: "Call not found".into(), message: "There is no such call, or its record is past the retention.".into(), link: Some(("/calls".into(), "Back to calls".into())) }, StatusCode::NOT_FOUND));
    };
    let opt = |v: Option<String>| v.unwrap_or_else(|| "—".into());
    let ms = |v: Option<i64>| v.map_or_else(|| "—".into(), |n| format!("{n} ms"));
    let fields = vec![
        ("Time", format_time(r.ts)),
        ("Request id", r.request_id.clone()),
        ("Key (kid)", r.kid.clone()),
        ("Key id", r.key_id.clone()),
        ("User id", r.user_id.clone()),
        ("Project", opt(r.project.clone())),
        ("Provider", r.provider.clone()),
        ("Credential", opt(r.credential_id.clone())),
        ("Model", r.model.clone()),
        ("Endpoint", r.endpoint.clone()),
        ("Streamed", r.stream.to_string()),
        ("Client address", opt(r.client_ip.clone())),
        ("Status", r.status.to_string()),
        ("Outcome", r.outcome.clone()),
        ("Error class", opt(r.error_class.clone())),
        ("Tokens in", r.tokens_in.to_string()),
        ("Tokens out", r.tokens_out.to_string()),
        ("Tokens cached", r.tokens_cached.to_string()),
        ("Credits", NanoCredits(r.credits).to_string()),
        ("Reserved", NanoCredits(r.reserved).to_string()),
        ("Upstream cost", NanoCredits(r.upstream_cost).to_string()),
        ("Duration", format!("{} ms", r.duration_ms)),
        ("Time to first byte (hub)", ms(r.ttfb_ms)),
        ("Time to first byte (upstream)", ms(r.upstream_ttfb_ms)),
        ("Cut short by the client", r.cut_short.to_string()),
        ("Usage estimated", r.estimated.to_string()),
    ];
    Ok(render(&CallPage { nav: nav(&state, &s, "calls"), request_id: r.request_id, fields }, StatusCode::OK))
}

// ------------------------------------------------------------------------------------------
// A key's page: its usage over the last 30 days

pub struct KeyUsage {
    /// Calls and errors, and tokens, per day.
    pub charts: Vec<Chart>,
    pub calls: i64,
    pub errors: i64,
    pub error_rate: String,
    pub tokens: String,
    pub credits: String,
    pub last_used: String,
    pub last_address: String,
    /// (model, calls, errors, tokens, credits)
    pub models: Vec<(String, i64, i64, String, String)>,
    pub calls_link: String,
}

/// The key's last 30 days, by day; `info` has the last-used time and address.
pub async fn key_usage(state: &AppState, info: &hub_store::keys::KeyInfo) -> Result<KeyUsage, Response> {
    let q = AnalyticsQuery { range: Some("30d".into()), ..AnalyticsQuery::default() };
    let (from_ms, to_ms) = time_range(&q, hub_core::ids::now_ms()).map_err(|e| bad_request(e.message()))?;
    let f = AnalyticsFilter { from_ms, to_ms, key_id: Some(info.id.clone()), ..AnalyticsFilter::default() };
    let store = &state.store;
    let totals = store.usage_totals(&f).await.map_err(storage_failure)?;
    let points = store.usage_series(&f, DAY_MS).await.map_err(storage_failure)?;
    let models = store.usage_breakdown(&f, Dimension::Model, 20).await.map_err(storage_failure)?;
    let calls = chart_json(&points, DAY_MS, "calls", &[("calls", &|m| json!(m.calls)), ("errors", &|m| json!(m.errors))]);
    let tokens = chart_json(&points, DAY_MS, "tokens", &[("in", &|m| json!(m.tokens_in)), ("out", &|m| json!(m.tokens_out))]);
    Ok(KeyUsage {
        charts: vec![
            Chart { id: "chart-key-usage", title: "Calls and errors per day (30 days)", series: calls },
            Chart { id: "chart-key-tokens", title: "Tokens per day (30 days)", series: tokens },
        ],
        calls: totals.calls,
        errors: totals.errors,
        error_rate: percent(&totals),
        tokens: format!("{} in / {} out", totals.tokens_in, totals.tokens_out),
        credits: NanoCredits(totals.credits).to_string(),
        last_used: format_optional_time(info.last_used_at),
        last_address: info.last_used_ip.clone().unwrap_or_else(|| "—".into()),
        models: models
            .into_iter()
            .map(|r| (r.value, r.measures.calls, r.measures.errors, format!("{} / {}", r.measures.tokens_in, r.measures.tokens_out), NanoCredits(r.measures.credits).to_string()))
            .collect(),
        calls_link: format!("/calls?range=30d&key={}", encode(&info.kid)),
    })
}
