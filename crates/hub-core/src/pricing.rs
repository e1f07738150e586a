//! What a call costs: per-model rates in nano-credits, the built-in list prices that make costs
//! never silently zero, a call's reservation (its maximum cost, taken before the upstream is
//! contacted) and its actual cost (charged at settlement). Pure integer arithmetic, saturating:
//! no amount ever wraps, and floats never hold money.
//!
//! Rates are per token (input, output, cached input), per image and per second of video. The
//! sell rate is what the hub charges; the unit cost is what the upstream charges the hub, kept so
//! that margins are visible. Built-in entries sell at list price (unit cost = list price).

use serde::{Deserialize, Serialize};

use crate::money::NanoCredits;
use crate::provider::ProviderKind;
use crate::provider::ProviderKind::{Anthropic, Bedrock, DeepSeek, Doubao, Google, Ideogram, OpenAi, XAi};

/// What the upstream charges the hub, for margins.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitCost {
    pub input: NanoCredits,
    pub output: NanoCredits,
    pub cached_input: NanoCredits,
    pub per_image: NanoCredits,
}

/// One model's prices, in nano-credits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelRate {
    /// Per input token not served from the provider's prompt cache.
    pub input: NanoCredits,
    pub output: NanoCredits,
    /// Per input token served from the prompt cache.
    pub cached_input: NanoCredits,
    pub per_image: NanoCredits,
    pub per_video_second: NanoCredits,
    /// Per web search a call runs (the call's search tool or options); never stored: set from
    /// the catalog's search fee for calls that ask for a search ([`rate_for`]).
    #[serde(default)]
    pub per_web_search: NanoCredits,
    pub unit_cost: UnitCost,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("{0} must not be negative")]
    Negative(&'static str),
    #[error("the cached-input rate must not exceed the input rate")]
    CachedAboveInput,
}

impl ModelRate {
    /// A rate sold at its unit cost (the built-in list prices).
    pub const fn at_list_price(input: i64, output: i64, cached_input: i64, per_image: i64) -> ModelRate {
        ModelRate {
            input: NanoCredits(input),
            output: NanoCredits(output),
            cached_input: NanoCredits(cached_input),
            per_image: NanoCredits(per_image),
            per_video_second: NanoCredits(0),
            per_web_search: NanoCredits(0),
            unit_cost: UnitCost { input: NanoCredits(input), output: NanoCredits(output), cached_input: NanoCredits(cached_input), per_image: NanoCredits(per_image) },
        }
    }

    /// Rates are never negative, and a cached token never costs more than an uncached one
    /// (which keeps every actual cost within its reservation).
    pub fn validate(&self) -> Result<(), RateError> {
        let fields = [
            ("input", self.input),
            ("output", self.output),
            ("cached_input", self.cached_input),
            ("per_image", self.per_image),
            ("per_video_second", self.per_video_second),
            ("per_web_search", self.per_web_search),
            ("unit_cost_input", self.unit_cost.input),
            ("unit_cost_output", self.unit_cost.output),
            ("unit_cost_cached_input", self.unit_cost.cached_input),
            ("unit_cost_per_image", self.unit_cost.per_image),
        ];
        if let Some((name, _)) = fields.iter().find(|(_, v)| v.0 < 0) {
            return Err(RateError::Negative(name));
        }
        if self.cached_input > self.input {
            return Err(RateError::CachedAboveInput);
        }
        Ok(())
    }
}

/// The most a call may use, known before the upstream is contacted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallBounds {
    /// Estimated input tokens (an upper estimate: the hub's byte-based count).
    pub input_tokens: u64,
    /// Output tokens per choice (`max_tokens`, or the model's output limit).
    pub output_tokens: u64,
    /// Choices asked for (`n`); at least 1.
    pub choices: u64,
    pub images: u64,
    /// Seconds of video asked for.
    pub video_seconds: u64,
}

/// What a call used, as settled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metered {
    /// All input tokens, cached ones included (as OpenAI's `prompt_tokens` counts them).
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// The part of `input_tokens` served from the prompt cache.
    pub cached_tokens: u64,
    pub images: u64,
    pub video_seconds: u64,
    /// Web searches run (0 or 1: a call that asked for search and succeeded).
    pub web_searches: u64,
}

/// The reservation: `(input × rate + output × rate) × choices + images × per-image + seconds
/// of video × per-second + one web search`, saturating. The search fee is zero unless the
/// call asked for a search ([`rate_for`]).
pub fn reservation(rate: &ModelRate, b: CallBounds) -> NanoCredits {
    let per_choice = rate.input.times(b.input_tokens).saturating_add(rate.output.times(b.output_tokens));
    per_choice
        .times(b.choices.max(1))
        .saturating_add(rate.per_image.times(b.images))
        .saturating_add(rate.per_video_second.times(b.video_seconds))
        .saturating_add(rate.per_web_search)
}

/// What the hub charges for `m`: cached input at the cached rate, the rest at the input rate.
pub fn charge(rate: &ModelRate, m: Metered) -> NanoCredits {
    priced(m, rate.input, rate.cached_input, rate.output, rate.per_image)
        .saturating_add(rate.per_video_second.times(m.video_seconds))
        .saturating_add(rate.per_web_search.times(m.web_searches.min(1)))
}

/// What the upstream charges the hub for `m`. Video and web searches have no separate unit
/// cost: a second or a search is costed at the rate it is sold at (the list price unless an
/// admin overrides the model's rate).
pub fn upstream_cost(rate: &ModelRate, m: Metered) -> NanoCredits {
    let u = &rate.unit_cost;
    priced(m, u.input, u.cached_input, u.output, u.per_image)
        .saturating_add(rate.per_video_second.times(m.video_seconds))
        .saturating_add(rate.per_web_search.times(m.web_searches.min(1)))
}

fn priced(m: Metered, input: NanoCredits, cached: NanoCredits, output: NanoCredits, per_image: NanoCredits) -> NanoCredits {
    let cached_tokens = m.cached_tokens.min(m.input_tokens);
    input
        .times(m.input_tokens - cached_tokens)
        .saturating_add(cached.times(cached_tokens))
        .saturating_add(output.times(m.output_tokens))
        .saturating_add(per_image.times(m.images))
}

/// A built-in list price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListPrice {
    pub provider: ProviderKind,
    pub model: &'static str,
    pub rate: ModelRate,
    /// The most output tokens one reply may have; reserved when a chat call names no maximum.
    pub max_output_tokens: Option<u64>,
}

const fn chat(provider: ProviderKind, model: &'static str, input: i64, cached: i64, output: i64, max_output: u64) -> ListPrice {
    ListPrice { provider, model, rate: ModelRate::at_list_price(input, output, cached, 0), max_output_tokens: Some(max_output) }
}

const fn embed(provider: ProviderKind, model: &'static str, input: i64) -> ListPrice {
    ListPrice { provider, model, rate: ModelRate::at_list_price(input, 0, input, 0), max_output_tokens: None }
}

/// An image model billed per image, plus its text prompt per token.
const fn image(provider: ProviderKind, model: &'static str, prompt_input: i64, per_image: i64) -> ListPrice {
    ListPrice { provider, model, rate: ModelRate::at_list_price(prompt_input, 0, prompt_input, per_image), max_output_tokens: None }
}

/// A video model billed per second of video.
const fn video(provider: ProviderKind, model: &'static str, per_second: i64) -> ListPrice {
    let mut rate = ModelRate::at_list_price(0, 0, 0, 0);
    rate.per_video_second = NanoCredits(per_second);
    ListPrice { provider, model, rate, max_output_tokens: None }
}

/// Public list prices (USD, 1 credit = $1) of every catalog model, plus models clients still
/// name (the seed's `gpt-3.5-turbo`). Per-token columns: input, cached input, output, in
/// nano-credits per token (= dollars per million tokens × 1000); images in nano-credits each.
pub const LIST_PRICES: &[ListPrice] = &[
    // OpenAI
    chat(OpenAi, "gpt-4o", 2_500, 1_250, 10_000, 16_384),
    chat(OpenAi, "gpt-4o-mini", 150, 75, 600, 16_384),
    chat(OpenAi, "gpt-4.1", 2_000, 500, 8_000, 32_768),
    chat(OpenAi, "gpt-4.1-mini", 400, 100, 1_600, 32_768),
    chat(OpenAi, "gpt-4.1-nano", 100, 25, 400, 32_768),
    chat(OpenAi, "o3", 2_000, 500, 8_000, 100_000),
    chat(OpenAi, "o4-mini", 1_100, 275, 4_400, 100_000),
    chat(OpenAi, "gpt-3.5-turbo", 500, 500, 1_500, 4_096),
    embed(OpenAi, "text-embedding-3-small", 20),
    embed(OpenAi, "text-embedding-3-large", 130),
    // gpt-image-1: $5/M prompt tokens; a medium 1024×1024 image $0.042 (the image-output
    // tokens it reports are what that per-image price stands for, so they are not billed again).
    image(OpenAi, "gpt-image-1", 5_000, 42_000_000),
    // dall-e-3: a standard 1024×1024 image $0.04.
    image(OpenAi, "dall-e-3", 0, 40_000_000),
    // Sora: $0.10 per second (sora-2, 720p), $0.30 (sora-2-pro, 720p).
    video(OpenAi, "sora-2", 100_000_000),
    video(OpenAi, "sora-2-pro", 300_000_000),
    // Anthropic (cached = cache reads)
    chat(Anthropic, "claude-sonnet-4-5", 3_000, 300, 15_000, 64_000),
    chat(Anthropic, "claude-opus-4-1", 15_000, 1_500, 75_000, 32_000),
    chat(Anthropic, "claude-3-5-haiku", 800, 80, 4_000, 8_192),
    // Google Gemini (prompts up to 200k tokens)
    chat(Google, "gemini-2.5-pro", 1_250, 310, 10_000, 65_536),
    chat(Google, "gemini-2.5-flash", 300, 75, 2_500, 65_536),
    embed(Google, "text-embedding-004", 150),
    embed(Google, "gemini-embedding-001", 150),
    // Gemini native images: 1290 output tokens per 1024×1024 image at $30/M, $0.039 an image
    // (the prompt at the model's text rate). Imagen: $0.04 (4), $0.02 (4 Fast), $0.03 (3).
    image(Google, "gemini-2.5-flash-image", 300, 39_000_000),
    image(Google, "gemini-2.0-flash-preview-image-generation", 100, 39_000_000),
    image(Google, "imagen-4.0-generate-001", 0, 40_000_000),
    image(Google, "imagen-4.0-fast-generate-001", 0, 20_000_000),
    image(Google, "imagen-3.0-generate-002", 0, 30_000_000),
    // Veo 3 with audio: $0.40 per second; Veo 3 Fast $0.15.
    video(Google, "veo-3.0-generate-001", 400_000_000),
    video(Google, "veo-3.0-fast-generate-001", 150_000_000),
    // Amazon Bedrock (on-demand, us-east-1)
    chat(Bedrock, "anthropic.claude-3-5-sonnet-20240620-v1:0", 3_000, 3_000, 15_000, 8_192),
    chat(Bedrock, "amazon.nova-pro-v1:0", 800, 200, 3_200, 5_120),
    embed(Bedrock, "amazon.titan-embed-text-v2:0", 20),
    embed(Bedrock, "cohere.embed-english-v3", 100),
    // DeepSeek (cache miss / cache hit)
    chat(DeepSeek, "deepseek-chat", 280, 28, 420, 8_192),
    chat(DeepSeek, "deepseek-reasoner", 280, 28, 420, 65_536),
    // xAI
    chat(XAi, "grok-4", 3_000, 750, 15_000, 65_536),
    chat(XAi, "grok-3-mini", 300, 75, 500, 32_768),
    // Doubao (¥0.8 / ¥8 per million tokens, about $0.11 / $1.10)
    chat(Doubao, "doubao-seed-1-6-250615", 110, 22, 1_100, 16_384),
    // Ideogram 3.0 per image: Default $0.06, Turbo $0.03, Quality $0.09.
    image(Ideogram, "V_3", 0, 60_000_000),
    image(Ideogram, "V_3_TURBO", 0, 30_000_000),
    image(Ideogram, "V_3_QUALITY", 0, 90_000_000),
];

/// The list price of `model` at a provider of `kind`.
pub fn list_price(kind: ProviderKind, model: &str) -> Option<&'static ListPrice> {
    LIST_PRICES.iter().find(|p| p.provider == kind && p.model == model)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn list_prices_are_exact_and_valid() {
        let mini = list_price(OpenAi, "gpt-4o-mini").map(|p| p.rate);
        assert_eq!(mini.map(|r| (r.input.0, r.output.0, r.cached_input.0)), Some((150, 600, 75)));
        for p in LIST_PRICES {
            assert_eq!(p.rate.validate(), Ok(()), "{}", p.model);
            assert!(p.rate.input.0 > 0 || p.rate.per_image.0 > 0 || p.rate.per_video_second.0 > 0, "{} would be free", p.model);
        }
    }

    #[test]
    fn every_catalog_model_has_a_list_price() {
        for m in crate::catalog::MODELS {
            let price = list_price(m.provider, m.id);
            assert!(price.is_some(), "{} has no list price", m.id);
            let is_chat = m.kind == crate::catalog::ModelKind::Chat;
            assert_eq!(price.and_then(|p| p.max_output_tokens).is_some(), is_chat, "{}", m.id);
        }
    }

    #[test]
    fn reservation_and_charge_by_hand() {
        let r = ModelRate::at_list_price(150, 600, 75, 0);
        // 7 input tokens and 20 output tokens, twice.
        let b = CallBounds { input_tokens: 7, output_tokens: 20, choices: 2, images: 0, video_seconds: 0 };
        assert_eq!(reservation(&r, b), NanoCredits((7 * 150 + 20 * 600) * 2));
        let m = Metered { input_tokens: 7, output_tokens: 20, cached_tokens: 4, ..Metered::default() };
        assert_eq!(charge(&r, m), NanoCredits(3 * 150 + 4 * 75 + 20 * 600));
        let img = ModelRate::at_list_price(5_000, 0, 5_000, 42_000_000);
        let b = CallBounds { input_tokens: 10, output_tokens: 0, choices: 1, images: 3, video_seconds: 0 };
        assert_eq!(reservation(&img, b), NanoCredits(50_000 + 126_000_000));
    }

    #[test]
    fn negative_or_inverted_rates_are_refused() {
        let mut r = ModelRate::at_list_price(150, 600, 75, 0);
        r.output = NanoCredits(-1);
        assert_eq!(r.validate(), Err(RateError::Negative("output")));
        assert_eq!(ModelRate::at_list_price(10, 10, 11, 0).validate(), Err(RateError::CachedAboveInput));
    }

    fn any_rate() -> impl Strategy<Value = ModelRate> {
        (0..i64::MAX, 0..i64::MAX, 0..i64::MAX, 0..i64::MAX, 0..i64::MAX).prop_map(|(input, output, cached, image, second)| {
            let mut rate = ModelRate::at_list_price(input, output, cached.min(input), image);
            rate.per_video_second = NanoCredits(second);
            rate
        })
    }

    proptest! {
        #[test]
        fn actual_never_exceeds_the_reservation_within_the_bounds(
            rate in any_rate(),
            input in 0u64..u64::MAX, output in 0u64..u64::MAX, choices in 0u64..16, images in 0u64..16,
            used_in in 0u64..=u64::MAX, used_out in 0u64..=u64::MAX, cached in 0u64..=u64::MAX, used_images in 0u64..16,
            seconds in 0u64..64, used_seconds in 0u64..64,
        ) {
            let b = CallBounds { input_tokens: input, output_tokens: output, choices, images, video_seconds: seconds };
            let m = Metered {
                input_tokens: used_in % (input + 1),
                output_tokens: used_out % (output.saturating_mul(choices.max(1)).saturating_add(1)),
                cached_tokens: cached,
                images: used_images % (images + 1),
                video_seconds: used_seconds % (seconds + 1),
                web_searches: 0,
            };
            let reserved = reservation(&rate, b);
            prop_assert!(reserved.0 >= 0);
            prop_assert!(charge(&rate, m) <= reserved);
            prop_assert!(upstream_cost(&rate, m) <= reserved);
        }

        #[test]
        fn nothing_overflows(rate in any_rate(), a in any::<u64>(), b in any::<u64>(), c in any::<u64>(), d in any::<u64>()) {
            let m = Metered { input_tokens: a, output_tokens: b, cached_tokens: c, images: d, video_seconds: 0, web_searches: a };
            prop_assert!(charge(&rate, m).0 >= 0);
            let bounds = CallBounds { input_tokens: a, output_tokens: b, choices: c, images: d, video_seconds: 0 };
            prop_assert!(reservation(&rate, bounds).0 >= 0);
        }
    }
}
