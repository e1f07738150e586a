//! The `max_tokens` the hub sends: a default when the client sets none, and a known model's
//! ceiling when it asks for more than the model can give.
//!
//! Anthropic requires `max_tokens` on every request, while OpenAI-shaped clients usually leave
//! it out. Sending a model's full output window would be the literal translation of "no limit",
//! but Anthropic estimates output-tokens-per-minute rate limits from `max_tokens` when a request
//! starts, so a 64k default would throttle (or outright refuse) accounts on lower tiers. The
//! default is therefore the model's output limit capped at 8192 tokens: room for long answers,
//! cheap on rate limits. A client that needs more sets `max_tokens` itself.

/// Longest default, whatever the model allows.
pub const DEFAULT_CAP: u32 = 8192;

/// For models this table does not know: the smallest output limit of any Claude model, so the
/// request is always accepted.
pub const FALLBACK: u32 = 4096;

/// Output limits by model id prefix, most specific first.
const OUTPUT_LIMITS: &[(&str, u32)] = &[
    ("claude-opus-4-1", 32_000),
    ("claude-opus-4-0", 32_000),
    ("claude-opus-4-2", 32_000),
    ("claude-opus-4", 64_000),
    ("claude-sonnet-4", 64_000),
    ("claude-haiku-4", 64_000),
    ("claude-3-7-sonnet", 64_000),
    ("claude-3-5-sonnet", 8_192),
    ("claude-3-5-haiku", 8_192),
    ("claude-3-", 4_096),
];

/// The model's output limit, when the table knows the model.
pub fn output_limit(model: &str) -> Option<u32> {
    let model = model.to_ascii_lowercase();
    OUTPUT_LIMITS.iter().find(|(prefix, _)| model.starts_with(prefix)).map(|(_, limit)| *limit)
}

/// What `max_tokens` becomes when the client set none.
pub fn default_max_tokens(model: &str) -> u32 {
    output_limit(model).map_or(FALLBACK, |limit| limit.min(DEFAULT_CAP))
}

/// The `max_tokens` to send: the client's limit, lowered to the model's output limit when the
/// table knows it (OpenAI-shaped clients often ask for more than a Claude model can give, which
/// Anthropic refuses outright), else the default.
pub fn max_tokens(model: &str, requested: Option<u32>) -> u32 {
    match requested {
        Some(n) => output_limit(model).map_or(n, |limit| n.min(limit)),
        None => default_max_tokens(model),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_model_and_stay_modest() {
        assert_eq!(default_max_tokens("claude-3-haiku-20240307"), 4096);
        assert_eq!(default_max_tokens("claude-3-5-sonnet-20241022"), 8192);
        assert_eq!(default_max_tokens("claude-sonnet-4-5"), 8192);
        assert_eq!(default_max_tokens("claude-opus-4-1-20250805"), 8192);
        assert_eq!(default_max_tokens("some-fine-tune"), FALLBACK);
        assert_eq!(output_limit("claude-opus-4-1-20250805"), Some(32_000));
        assert_eq!(output_limit("claude-opus-4-5"), Some(64_000));
        assert_eq!(max_tokens("claude-3-5-haiku-20241022", Some(100_000)), 8192);
        assert_eq!(max_tokens("claude-3-5-haiku-20241022", Some(300)), 300);
        assert_eq!(max_tokens("my-model", Some(100_000)), 100_000);
        assert_eq!(max_tokens("claude-sonnet-4-5", None), 8192);
    }
}
