//! Usage analytics as JSON (and CSV), twice: under `/api/admin/analytics/…` for admin sessions
//! and admin keys (members see only their own usage), and under `/api/analytics/…` for
//! read-only analytics keys (`aihr_`), which see their owner's usage only. Inference keys are
//! refused on both by their prefix; analytics keys are refused on model calls the same way.
//!
//! Ranges: `range=1h|24h|7d|30d` (default 24h), or `from` / `to` in Unix milliseconds.
//! Money is rendered as decimal strings, never as floats.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use futures::StreamExt;
use hub_core::money::NanoCredits;
use hub_store::analytics::{series_bucket_ms, AnalyticsFilter, Dimension};
use hub_store::rollup::{Measures, HOUR_MS};
use hub_store::usage::UsageRow;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{actor, AdminError};
use crate::context::RequestCtx;
use crate::inference::authenticate;
use crate::inference::authorize::RouteFamily;
use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/admin/analytics/summary", get(summary::<true>))
        .route("/api/admin/analytics/timeseries", get(timeseries::<true>))
        .route("/api/admin/analytics/breakdown", get(breakdown::<true>))
        .route("/api/admin/analytics/calls", get(calls::<true>))
        .route("/api/admin/analytics/calls.csv", get(calls_csv::<true>))
        .route("/api/admin/analytics/calls/{request_id}", get(call::<true>))
        .route("/api/analytics/summary", get(summary::<false>))
        .route("/api/analytics/timeseries", get(timeseries::<false>))
        .route("/api/analytics/breakdown", get(breakdown::<false>))
        .route("/api/analytics/calls", get(calls::<false>))
        .route("/api/analytics/calls.csv", get(calls_csv::<false>))
        .route("/api/analytics/calls/{request_id}", get(call::<false>))
}

/// Whose usage the caller may read: `None` for everyone's (admins), else one user's.
pub struct Viewer {
    pub user_id: Option<String>,
}

async fn viewer(state: &AppState, headers: &HeaderMap, ctx: &RequestCtx, admin_api: bool) -> Result<Viewer, AdminError> {
    if admin_api {
        let a = actor(state, headers, false).await?;
        return Ok(Viewer { user_id: (!a.user.role.is_admin()).then(|| a.user.id.clone()) });
    }
    let caller = authenticate::from_headers(state, headers, RouteFamily::Analytics).await?;
    crate::inference::authorize::address(&caller.secret.policy, ctx.client_ip)?;
    Ok(Viewer { user_id: Some(caller.secret.owner_id.clone()) })
}

/// Query parameters shared by every analytics endpoint.
#[derive(Debug, Default, Deserialize)]
pub struct AnalyticsQuery {
    pub range: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// A key's kid (or id).
    pub key: Option<String>,
    /// A user id.
    pub user: Option<String>,
    pub model: Option<String>,
    pub provider: Option<String>,
    pub project: Option<String>,
    /// A status class: 2xx, 3xx, 4xx, 5xx, none.
    pub status: Option<String>,
    /// Breakdown dimension: model, provider, key, user, project, status.
    pub by: Option<String>,
    pub cursor: Option<String>,
    pub limit: Option<i64>,
}

fn bad(param: &'static str, message: impl Into<String>) -> AdminError {
    AdminError::new(StatusCode::BAD_REQUEST, "invalid_request_error", message).with_param(param)
}

/// The named ranges and their length.
pub const RANGES: [(&str, i64); 4] = [("1h", HOUR_MS), ("24h", 24 * HOUR_MS), ("7d", 7 * 24 * HOUR_MS), ("30d", 30 * 24 * HOUR_MS)];

/// `[from, to)` in ms from `range` or `from`/`to` (default: the last 24 hours).
pub fn time_range(q: &AnalyticsQuery, now: i64) -> Result<(i64, i64), AdminError> {
    let to = q.to.unwrap_or(now);
    let from = match (q.from, q.range.as_deref().filter(|r| !r.is_empty())) {
        (Some(from), _) => from,
        (None, Some(name)) => {
            let (_, len) = RANGES.iter().find(|(n, _)| *n == name).ok_or_else(|| bad("range", "range must be 1h, 24h, 7d or 30d (or give from and to in ms)"))?;
            to - len
        }
        (None, None) => to - 24 * HOUR_MS,
    };
    if from >= to {
        return Err(bad("from", "from must be before to"));
    }
    if to - from > 400 * 24 * HOUR_MS {
        return Err(bad("from", "a range is at most 400 days"));
    }
    Ok((from, to))
}

/// The filter a query asks for, narrowed to the viewer's own usage when they are not an admin.
pub async fn filter(state: &AppState, viewer: &Viewer, q: &AnalyticsQuery) -> Result<AnalyticsFilter, AdminError> {
    let (from_ms, to_ms) = time_range(q, hub_core::ids::now_ms())?;
    let nonempty = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    let key_id = match nonempty(&q.key) {
        // An unknown key matches nothing, like any other unknown value.
        Some(k) => Some(state.store.key_by_ref(&k).await?.map_or(k, |info| info.id)),
        None => None,
    };
    let status_class = nonempty(&q.status);
    if let Some(c) = &status_class {
        if !hub_core::usage::STATUS_CLASSES.contains(&c.as_str()) {
            return Err(bad("status", "status must be 2xx, 3xx, 4xx, 5xx or none"));
        }
    }
    Ok(AnalyticsFilter {
        from_ms,
        to_ms,
        user_id: viewer.user_id.clone().or_else(|| nonempty(&q.user)),
        key_id,
        model: nonempty(&q.model),
        provider: nonempty(&q.provider),
        // An empty `project=` is a filter too: calls without a project.
        project: q.project.clone(),
        status_class,
    })
}

/// A group's measures as JSON: counts, tokens, money as decimal strings, latency figures.
pub fn measures_json(m: &Measures) -> Map<String, Value> {
    let avg = |sum: i64, n: u64| if n == 0 { Value::Null } else { json!(sum / i64::try_from(n).unwrap_or(i64::MAX)) };
    let rate = if m.calls == 0 { 0.0 } else { (m.errors as f64 / m.calls as f64 * 10_000.0).round() / 10_000.0 };
    let mut out = Map::new();
    out.insert("calls".into(), json!(m.calls));
    out.insert("errors".into(), json!(m.errors));
    out.insert("error_rate".into(), json!(rate));
    out.insert("tokens_in".into(), json!(m.tokens_in));
    out.insert("tokens_out".into(), json!(m.tokens_out));
    out.insert("tokens_cached".into(), json!(m.tokens_cached));
    out.insert("credits".into(), json!(NanoCredits(m.credits).to_string()));
    out.insert("upstream_cost".into(), json!(NanoCredits(m.upstream_cost).to_string()));
    out.insert(
        "latency_ms".into(),
        json!({"avg": avg(m.duration_ms_sum, m.latency.count()), "p50": m.latency.quantile(0.5), "p95": m.latency.quantile(0.95)}),
    );
    out.insert("ttfb_ms".into(), json!({"avg": avg(m.ttfb_ms_sum, m.ttfb.count()), "p50": m.ttfb.quantile(0.5), "p95": m.ttfb.quantile(0.95)}));
    out
}

/// One call as JSON, money as decimal strings.
pub fn call_json(r: &UsageRow) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        for (field, amount) in [("credits", r.credits), ("reserved", r.reserved), ("upstream_cost", r.upstream_cost)] {
            o.insert(field.into(), json!(NanoCredits(amount).to_string()));
        }
    }
    v
}

async fn summary<const ADMIN: bool>(State(state): State<AppState>, headers: HeaderMap, Extension(ctx): Extension<RequestCtx>, Query(q): Query<AnalyticsQuery>) -> Result<Json<Value>, AdminError> {
    let f = filter(&state, &viewer(&state, &headers, &ctx, ADMIN).await?, &q).await?;
    let totals = state.store.usage_totals(&f).await?;
    let mut body = measures_json(&totals);
    body.insert("from".into(), json!(f.from_ms));
    body.insert("to".into(), json!(f.to_ms));
    Ok(Json(Value::Object(body)))
}

async fn timeseries<const ADMIN: bool>(State(state): State<AppState>, headers: HeaderMap, Extension(ctx): Extension<RequestCtx>, Query(q): Query<AnalyticsQuery>) -> Result<Json<Value>, AdminError> {
    let f = filter(&state, &viewer(&state, &headers, &ctx, ADMIN).await?, &q).await?;
    let bucket = series_bucket_ms(f.from_ms, f.to_ms);
    let points: Vec<Value> = state
        .store
        .usage_series(&f, bucket)
        .await?
        .iter()
        .map(|(t, m)| {
            let mut p = measures_json(m);
            p.insert("t".into(), json!(t));
            Value::Object(p)
        })
        .collect();
    let name = if bucket == HOUR_MS { "hour" } else { "day" };
    Ok(Json(json!({"from": f.from_ms, "to": f.to_ms, "bucket": name, "bucket_ms": bucket, "points": points})))
}

async fn breakdown<const ADMIN: bool>(State(state): State<AppState>, headers: HeaderMap, Extension(ctx): Extension<RequestCtx>, Query(q): Query<AnalyticsQuery>) -> Result<Json<Value>, AdminError> {
    let viewer = viewer(&state, &headers, &ctx, ADMIN).await?;
    let by = q.by.as_deref().unwrap_or("model");
    let dim = Dimension::parse(by).ok_or_else(|| bad("by", "by must be model, provider, key, user, project or status"))?;
    let f = filter(&state, &viewer, &q).await?;
    let limit = usize::try_from(q.limit.unwrap_or(50).clamp(1, 500)).unwrap_or(50);
    let rows: Vec<Value> = state
        .store
        .usage_breakdown(&f, dim, limit)
        .await?
        .iter()
        .map(|r| {
            let mut row = measures_json(&r.measures);
            row.insert("value".into(), json!(r.value));
            row.insert("label".into(), json!(r.label.clone().unwrap_or_else(|| r.value.clone())));
            Value::Object(row)
        })
        .collect();
    Ok(Json(json!({"from": f.from_ms, "to": f.to_ms, "by": dim.as_str(), "rows": rows})))
}

async fn calls<const ADMIN: bool>(State(state): State<AppState>, headers: HeaderMap, Extension(ctx): Extension<RequestCtx>, Query(q): Query<AnalyticsQuery>) -> Result<Json<Value>, AdminError> {
    let f = filter(&state, &viewer(&state, &headers, &ctx, ADMIN).await?, &q).await?;
    let page = state.store.usage_calls(&f, q.cursor.as_deref().filter(|c| !c.is_empty()), q.limit.unwrap_or(50)).await?;
    Ok(Json(json!({"calls": page.calls.iter().map(call_json).collect::<Vec<_>>(), "next": page.next})))
}

async fn call<const ADMIN: bool>(State(state): State<AppState>, headers: HeaderMap, Extension(ctx): Extension<RequestCtx>, Path(request_id): Path<String>) -> Result<Json<Value>, AdminError> {
    let viewer = viewer(&state, &headers, &ctx, ADMIN).await?;
    let row = state.store.usage_call(&request_id, viewer.user_id.as_deref()).await?;
    row.map(|r| Json(call_json(&r))).ok_or_else(|| hub_store::StoreError::NotFound("call").into())
}

async fn calls_csv<const ADMIN: bool>(State(state): State<AppState>, headers: HeaderMap, Extension(ctx): Extension<RequestCtx>, Query(q): Query<AnalyticsQuery>) -> Result<Response, AdminError> {
    let f = filter(&state, &viewer(&state, &headers, &ctx, ADMIN).await?, &q).await?;
    let stream = state.store.usage_calls_csv(f).map(|chunk| {
        chunk.map(bytes::Bytes::from).map_err(|e| {
            tracing::error!(error = %e, "CSV export stopped: storage failure");
            std::io::Error::other("storage failure")
        })
    });
    let mut res = Body::from_stream(stream).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"aigne-hub-calls.csv\""));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_by_name_or_bounds() {
        let q = |range: Option<&str>, from: Option<i64>, to: Option<i64>| AnalyticsQuery { range: range.map(str::to_owned), from, to, ..AnalyticsQuery::default() };
        let now = 100 * 24 * HOUR_MS;
        assert_eq!(time_range(&q(Some("1h"), None, None), now).unwrap(), (now - HOUR_MS, now));
        assert_eq!(time_range(&q(Some("30d"), None, None), now).unwrap().0, now - 30 * 24 * HOUR_MS);
        assert_eq!(time_range(&q(None, None, None), now).unwrap().0, now - 24 * HOUR_MS);
        assert_eq!(time_range(&q(None, Some(5), Some(10)), now).unwrap(), (5, 10));
        assert!(time_range(&q(Some("2w"), None, None), now).is_err());
        assert!(time_range(&q(None, Some(10), Some(10)), now).is_err());
    }
}
