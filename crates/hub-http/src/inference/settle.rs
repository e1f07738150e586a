//! Step 7: what a finished call cost, from the upstream's usage (or an estimate when the upstream
//! did not say), turned into the call's settlement.

use hub_core::chat::Usage;
use hub_core::usage::CallSettlement;

use crate::inference::admit::CallGuard;

/// How a reply ended, as the relay saw it.
pub struct Outcome {
    pub status: u16,
    pub usage: Option<Usage>,
    /// Output characters seen, for an estimate when usage is missing.
    pub output_chars: usize,
    pub ttfb_ms: Option<u64>,
    pub upstream_ttfb_ms: Option<u64>,
    pub cut_short: bool,
    pub error_class: Option<&'static str>,
}

pub fn finish(guard: CallGuard, outcome: Outcome) {
    let estimate_out = (outcome.output_chars as u64).div_ceil(4);
    let (tokens_in, tokens_out, tokens_cached, estimated) = match &outcome.usage {
        // Usage the hub refuses to believe is replaced by the estimate and flagged.
        Some(u) if u.is_believable() => {
            (u.prompt_tokens, u.completion_tokens, u.cached_tokens(), false)
        }
        _ => (guard.hold.est_input_tokens, estimate_out, 0, true),
    };
    let settlement = CallSettlement {
        status: outcome.status,
        error_class: outcome.error_class.map(str::to_owned),
        tokens_in,
        tokens_out,
        tokens_cached,
        duration_ms: guard.elapsed_ms(),
        ttfb_ms: outcome.ttfb_ms,
        upstream_ttfb_ms: outcome.upstream_ttfb_ms,
        cut_short: outcome.cut_short,
        estimated,
        ..CallSettlement::default()
    };
    guard.settle(settlement);
}

/// Settles a call answered with one whole JSON body and builds its `200` response, with
/// `Server-Timing` splitting the hub's time from the upstream's.
pub fn json_reply(
    guard: CallGuard,
    usage: Option<Usage>,
    output_chars: usize,
    upstream_ttfb_ms: Option<u64>,
    upstream_ms: f64,
    body: impl Into<axum::body::Body>,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue, StatusCode};
    use axum::response::IntoResponse;
    let total_ms = guard.started.elapsed().as_secs_f64() * 1000.0;
    let rates = guard.rate_snapshot();
    finish(
        guard,
        Outcome { status: 200, usage, output_chars, ttfb_ms: Some(total_ms as u64), upstream_ttfb_ms, cut_short: false, error_class: None },
    );
    let mut res = (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body.into()).into_response();
    crate::inference::chat::set_server_timing(&mut res, total_ms - upstream_ms, Some(upstream_ms));
    if let Some(r) = rates {
        r.write(res.headers_mut());
    }
    res
}
