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

/// Usage the hub refuses to believe (far beyond what any model produces) is replaced by the
/// estimate and the record is flagged.
const ABSURD_TOKENS: u64 = 100_000_000;

pub fn finish(guard: CallGuard, outcome: Outcome) {
    let estimate_out = (outcome.output_chars as u64).div_ceil(4);
    let (tokens_in, tokens_out, tokens_cached, estimated) = match &outcome.usage {
        Some(u) if u.prompt_tokens < ABSURD_TOKENS && u.completion_tokens < ABSURD_TOKENS => {
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
