//! The request fields that change what a call costs upstream, besides its token counts: the
//! processing tier (`service_tier`), a web search (`web_search_options`, or a `web_search` /
//! `web_search_preview` tool), an image's `size` and `quality`, and reasoning (`reasoning_effort`,
//! or a reasoning model), whose hidden tokens are billed as output and so need an output bound.
//!
//! [`rate_for`] turns a model's rate (its list price or an admin's override) into the rate of
//! one call with those options: the reservation and the charge both use it, so the charge never
//! exceeds the reservation within the call's bounds. The published tier, size and search prices
//! live here as integers in nano-credits (dollars per million tokens × 1000 per token; dollars ×
//! 10⁹ per image or search). An admin's override of a model's rate scales the model's tier and
//! per-size image prices by the same factor as the override's own field against the list price
//! (an override at the list price leaves them exact); search fees are the list fees.

use serde_json::Value;

use crate::chat::ChatRequest;
use crate::images::ImageRequest;
use crate::money::NanoCredits;
use crate::pricing::{list_price, ModelRate};
use crate::provider::ProviderKind;
use crate::provider::ProviderKind::{Anthropic, DeepSeek, OpenAi};

/// A processing tier (OpenAI's `service_tier`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ServiceTier {
    #[default]
    Standard,
    /// Slower, cheaper (about half price) on the models that offer it.
    Flex,
    /// Faster, dearer (about 1.7–2×, per model as published).
    Priority,
}

impl ServiceTier {
    /// `default`, `auto` and Anthropic's `standard_only` are the standard price; an unknown
    /// name is `None`.
    pub fn parse(s: &str) -> Option<ServiceTier> {
        match s {
            "default" | "auto" | "standard" | "standard_only" => Some(ServiceTier::Standard),
            "flex" => Some(ServiceTier::Flex),
            "priority" => Some(ServiceTier::Priority),
            _ => None,
        }
    }
}

/// Where a call's web search was asked for; the search fee depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebSearch {
    /// `web_search_options` on a chat call.
    ChatOptions,
    /// A `web_search` tool.
    Tool,
    /// A `web_search_preview` tool.
    PreviewTool,
}

impl WebSearch {
    /// The request field a refusal names.
    pub fn param(self) -> &'static str {
        match self {
            WebSearch::ChatOptions => "web_search_options",
            WebSearch::Tool | WebSearch::PreviewTool => "tools",
        }
    }
}

/// What a call asks for that changes its price (as sent, unchecked: [`rate_for`] refuses what it
/// cannot price).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceAsk {
    /// `service_tier` as sent (absent: standard).
    pub service_tier: Option<String>,
    pub web_search: Option<WebSearch>,
    /// `reasoning_effort` (or a `reasoning` object) was sent.
    pub reasoning: bool,
    /// An image call's `size` and `quality` as sent (absent: the model's default).
    pub image_size: Option<String>,
    pub image_quality: Option<String>,
}

impl PriceAsk {
    /// The price-changing fields of a chat call (every chat route parses into this one shape).
    pub fn of_chat(req: &ChatRequest) -> PriceAsk {
        let tier = req.extra.get("service_tier").and_then(Value::as_str).map(str::to_owned);
        let mut web_search = req.extra.get("web_search_options").filter(|v| !v.is_null()).map(|_| WebSearch::ChatOptions);
        for tool in req.tools.iter().flatten() {
            let found = match tool.kind.as_str() {
                k if k.starts_with("web_search_preview") => Some(WebSearch::PreviewTool),
                k if k.starts_with("web_search") => Some(WebSearch::Tool),
                _ => None,
            };
            web_search = web_search.or(found);
        }
        let reasoning = req.extra.get("reasoning_effort").is_some_and(|v| !v.is_null()) || req.extra.get("reasoning").is_some_and(|v| !v.is_null());
        PriceAsk { service_tier: tier, web_search, reasoning, image_size: None, image_quality: None }
    }

    /// The price-changing fields of an image call.
    pub fn of_images(req: &ImageRequest) -> PriceAsk {
        PriceAsk { image_size: req.size.clone(), image_quality: req.quality.clone(), ..PriceAsk::default() }
    }
}

/// A call whose price cannot be known; `param` names the request field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Unpriceable {
    pub param: &'static str,
    pub message: String,
}

/// One model's published prices in a tier other than standard, per token: (input, cached
/// input, output).
struct TierPrice {
    provider: ProviderKind,
    model: &'static str,
    tier: ServiceTier,
    input: i64,
    cached: i64,
    output: i64,
}

const fn tier(provider: ProviderKind, model: &'static str, tier: ServiceTier, input: i64, cached: i64, output: i64) -> TierPrice {
    TierPrice { provider, model, tier, input, cached, output }
}

/// OpenAI's published Flex and Priority prices of the catalog models that offer them (USD per
/// million tokens × 1000 = nano-credits per token; o4-mini's Flex cached $0.1375 is published
/// as $0.138).
const TIER_PRICES: &[TierPrice] = &[
    tier(OpenAi, "gpt-4o", ServiceTier::Priority, 4_250, 2_125, 17_000),
    tier(OpenAi, "gpt-4o-mini", ServiceTier::Priority, 250, 125, 1_000),
    tier(OpenAi, "gpt-4.1", ServiceTier::Priority, 3_500, 875, 14_000),
    tier(OpenAi, "gpt-4.1-mini", ServiceTier::Priority, 700, 175, 2_800),
    tier(OpenAi, "gpt-4.1-nano", ServiceTier::Priority, 200, 50, 800),
    tier(OpenAi, "o3", ServiceTier::Flex, 1_000, 250, 4_000),
    tier(OpenAi, "o3", ServiceTier::Priority, 3_500, 875, 14_000),
    tier(OpenAi, "o4-mini", ServiceTier::Flex, 550, 138, 2_200),
    tier(OpenAi, "o4-mini", ServiceTier::Priority, 2_000, 500, 8_000),
];

/// One image's published price for a quality and a size, in nano-credits.
struct ImagePrice {
    provider: ProviderKind,
    model: &'static str,
    quality: &'static str,
    size: &'static str,
    price: i64,
}

const fn img(provider: ProviderKind, model: &'static str, quality: &'static str, size: &'static str, price: i64) -> ImagePrice {
    ImagePrice { provider, model, quality, size, price }
}

/// Per-image prices: dall-e-3 standard $0.04 / $0.08, hd $0.08 / $0.12 (square / tall or
/// wide); gpt-image-1 low $0.011 / $0.016, medium $0.042 / $0.063, high $0.167 / $0.25.
const IMAGE_PRICES: &[ImagePrice] = &[
    img(OpenAi, "dall-e-3", "standard", "1024x1024", 40_000_000),
    img(OpenAi, "dall-e-3", "standard", "1024x1792", 80_000_000),
    img(OpenAi, "dall-e-3", "standard", "1792x1024", 80_000_000),
    img(OpenAi, "dall-e-3", "hd", "1024x1024", 80_000_000),
    img(OpenAi, "dall-e-3", "hd", "1024x1792", 120_000_000),
    img(OpenAi, "dall-e-3", "hd", "1792x1024", 120_000_000),
    img(OpenAi, "gpt-image-1", "low", "1024x1024", 11_000_000),
    img(OpenAi, "gpt-image-1", "low", "1024x1536", 16_000_000),
    img(OpenAi, "gpt-image-1", "low", "1536x1024", 16_000_000),
    img(OpenAi, "gpt-image-1", "medium", "1024x1024", 42_000_000),
    img(OpenAi, "gpt-image-1", "medium", "1024x1536", 63_000_000),
    img(OpenAi, "gpt-image-1", "medium", "1536x1024", 63_000_000),
    img(OpenAi, "gpt-image-1", "high", "1024x1024", 167_000_000),
    img(OpenAi, "gpt-image-1", "high", "1024x1536", 250_000_000),
    img(OpenAi, "gpt-image-1", "high", "1536x1024", 250_000_000),
];

/// The `size` and `quality` a model uses when the call names none ("auto": the dearest is
/// reserved).
fn image_defaults(model: &str) -> (&'static str, &'static str) {
    match model {
        "dall-e-3" => ("1024x1024", "standard"),
        _ => ("auto", "auto"),
    }
}

/// gpt-image-1's image output tokens: $40 per million. Its per-image prices are these tokens
/// (a high 1536×1024 image is 6,240 tokens, $0.2496 ≤ the $0.25 reserved).
const IMAGE_OUTPUT_TOKEN: &[(ProviderKind, &str, i64)] = &[(OpenAi, "gpt-image-1", 40_000)];

/// OpenAI's reasoning models and DeepSeek's: their hidden reasoning tokens are billed as output.
const REASONING_MODELS: &[(ProviderKind, &str)] = &[(OpenAi, "o3"), (OpenAi, "o4-mini"), (DeepSeek, "deepseek-reasoner")];

/// The fee of one web search: OpenAI's `web_search` tool $10 per 1,000 calls (any model), its
/// `web_search_preview` tool and chat `web_search_options` $25 per 1,000 on non-reasoning models
/// ($10 on reasoning models); Anthropic's web search $10 per 1,000. Other providers: unknown.
fn web_search_fee(kind: ProviderKind, model: &str, how: WebSearch) -> Option<i64> {
    match kind {
        OpenAi if how == WebSearch::Tool || is_reasoning_model(kind, model) => Some(10_000_000),
        OpenAi => Some(25_000_000),
        Anthropic => Some(10_000_000),
        _ => None,
    }
}

/// Whether `model` reasons before it answers (its output bound must cover the reasoning).
pub fn is_reasoning_model(kind: ProviderKind, model: &str) -> bool {
    REASONING_MODELS.iter().any(|(k, m)| *k == kind && *m == model)
}

/// `value × to ÷ from`, rounded up, saturating; `value` when `from` is not positive. With
/// `value == from` (a rate at its list price) the result is exactly `to`.
fn scale(value: NanoCredits, from: i64, to: i64) -> NanoCredits {
    if from <= 0 {
        return value;
    }
    let n = i128::from(value.0.max(0)) * i128::from(to.max(0));
    let q = (n + i128::from(from) - 1) / i128::from(from);
    NanoCredits(i64::try_from(q).unwrap_or(i64::MAX))
}

/// The rate of one call of `model` at a provider of `kind` asking `ask`, from the model's rate
/// `base`. Refuses (naming the field) a tier, size, quality or search whose price for that
/// model is unknown.
pub fn rate_for(base: &ModelRate, kind: ProviderKind, model: &str, ask: &PriceAsk) -> Result<ModelRate, Unpriceable> {
    let mut rate = *base;
    let list = list_price(kind, model).map(|p| p.rate);
    if let Some(name) = ask.service_tier.as_deref() {
        let t = ServiceTier::parse(name)
            .ok_or_else(|| Unpriceable { param: "service_tier", message: format!("'{name}' is not a service tier this hub can price") })?;
        if t != ServiceTier::Standard {
            let (Some(p), Some(list)) = (TIER_PRICES.iter().find(|p| p.provider == kind && p.model == model && p.tier == t), list) else {
                return Err(Unpriceable {
                    param: "service_tier",
                    message: format!("The price of service_tier '{name}' for '{model}' is unknown to this hub, so the call's cost cannot be reserved"),
                });
            };
            rate.input = scale(base.input, list.input.0, p.input);
            rate.cached_input = scale(base.cached_input, list.cached_input.0, p.cached).min(rate.input);
            rate.output = scale(base.output, list.output.0, p.output);
            let u = &mut rate.unit_cost;
            u.input = scale(base.unit_cost.input, list.unit_cost.input.0, p.input);
            u.cached_input = scale(base.unit_cost.cached_input, list.unit_cost.cached_input.0, p.cached);
            u.output = scale(base.unit_cost.output, list.unit_cost.output.0, p.output);
        }
    }
    if let Some(how) = ask.web_search {
        let fee = web_search_fee(kind, model, how).ok_or_else(|| Unpriceable {
            param: how.param(),
            message: format!("The price of a web search with '{model}' is unknown to this hub, so the call's cost cannot be reserved"),
        })?;
        rate.per_web_search = NanoCredits(fee);
    }
    if let Some(price) = image_price(kind, model, ask.image_size.as_deref(), ask.image_quality.as_deref())? {
        if let Some(list) = list {
            rate.per_image = scale(base.per_image, list.per_image.0, price);
            rate.unit_cost.per_image = scale(base.unit_cost.per_image, list.unit_cost.per_image.0, price);
        }
    }
    Ok(rate)
}

/// The published price of one image of `model` at `size` and `quality` (each defaulting to the
/// model's default; "auto" is the dearest choice). `None` for a model without per-size prices
/// (its flat per-image rate applies).
fn image_price(kind: ProviderKind, model: &str, size: Option<&str>, quality: Option<&str>) -> Result<Option<i64>, Unpriceable> {
    let table: Vec<&ImagePrice> = IMAGE_PRICES.iter().filter(|p| p.provider == kind && p.model == model).collect();
    if table.is_empty() {
        return Ok(None);
    }
    let (default_size, default_quality) = image_defaults(model);
    let size = size.unwrap_or(default_size);
    let quality = quality.unwrap_or(default_quality);
    if size != "auto" && !table.iter().any(|p| p.size == size) {
        return Err(Unpriceable { param: "size", message: format!("The price of size '{size}' for '{model}' is unknown to this hub") });
    }
    if quality != "auto" && !table.iter().any(|p| p.quality == quality) {
        return Err(Unpriceable { param: "quality", message: format!("The price of quality '{quality}' for '{model}' is unknown to this hub") });
    }
    Ok(table.iter().filter(|p| (size == "auto" || p.size == size) && (quality == "auto" || p.quality == quality)).map(|p| p.price).max())
}

/// The rate per image output token of an image model that reports its tokens (gpt-image-1),
/// scaled like its per-image prices when an admin overrides the model's rate.
pub fn image_output_token_rate(base: &ModelRate, kind: ProviderKind, model: &str) -> Option<NanoCredits> {
    let (_, _, per_token) = IMAGE_OUTPUT_TOKEN.iter().find(|(k, m, _)| *k == kind && *m == model)?;
    let list = list_price(kind, model)?.rate;
    // Rounded down: a charge by tokens never exceeds the per-image price it stands for.
    let n = i128::from(*per_token) * i128::from(base.per_image.0.max(0));
    let per = if list.per_image.0 > 0 { n / i128::from(list.per_image.0) } else { i128::from(*per_token) };
    Some(NanoCredits(i64::try_from(per).unwrap_or(i64::MAX)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pricing::{charge, reservation, CallBounds, Metered};
    use proptest::prelude::*;

    fn list(model: &str) -> ModelRate {
        list_price(OpenAi, model).map(|p| p.rate).unwrap_or_default()
    }

    fn ask_tier(t: &str) -> PriceAsk {
        PriceAsk { service_tier: Some(t.to_owned()), ..PriceAsk::default() }
    }

    #[test]
    fn tiers_use_the_published_prices() {
        let o3 = list("o3");
        let flex = rate_for(&o3, OpenAi, "o3", &ask_tier("flex")).unwrap();
        assert_eq!((flex.input.0, flex.cached_input.0, flex.output.0), (1_000, 250, 4_000));
        assert_eq!(flex.unit_cost.output.0, 4_000);
        let prio = rate_for(&o3, OpenAi, "o3", &ask_tier("priority")).unwrap();
        assert_eq!((prio.input.0, prio.output.0), (3_500, 14_000));
        for standard in ["default", "auto"] {
            assert_eq!(rate_for(&o3, OpenAi, "o3", &ask_tier(standard)), Ok(o3));
        }
        // gpt-4o has priority but no flex; an unknown tier is refused too.
        let e = rate_for(&list("gpt-4o"), OpenAi, "gpt-4o", &ask_tier("flex")).unwrap_err();
        assert_eq!(e.param, "service_tier");
        assert!(rate_for(&o3, OpenAi, "o3", &ask_tier("scale")).is_err());
        for p in TIER_PRICES {
            assert!(p.cached <= p.input && list_price(p.provider, p.model).is_some(), "{}", p.model);
        }
    }

    #[test]
    fn an_admin_override_scales_the_tier_prices() {
        let mut o3 = list("o3");
        o3.input = NanoCredits(4_000); // twice the list price
        let flex = rate_for(&o3, OpenAi, "o3", &ask_tier("flex")).unwrap();
        assert_eq!(flex.input.0, 2_000);
        assert_eq!(flex.output.0, 4_000, "output stays at its list ratio");
    }

    #[test]
    fn image_sizes_and_qualities() {
        let d3 = list("dall-e-3");
        let img = |size: Option<&str>, quality: Option<&str>| {
            let ask = PriceAsk { image_size: size.map(str::to_owned), image_quality: quality.map(str::to_owned), ..PriceAsk::default() };
            rate_for(&d3, OpenAi, "dall-e-3", &ask).map(|r| r.per_image.0)
        };
        assert_eq!(img(None, None), Ok(40_000_000));
        assert_eq!(img(Some("1024x1024"), Some("hd")), Ok(80_000_000));
        assert_eq!(img(Some("1792x1024"), Some("hd")), Ok(120_000_000));
        assert_eq!(img(Some("auto"), Some("auto")), Ok(120_000_000));
        assert_eq!(img(Some("512x512"), None).unwrap_err().param, "size");
        assert_eq!(img(None, Some("ultra")).unwrap_err().param, "quality");
        let g1 = list("gpt-image-1");
        let auto = rate_for(&g1, OpenAi, "gpt-image-1", &PriceAsk::default()).unwrap();
        assert_eq!(auto.per_image.0, 250_000_000);
        let low = PriceAsk { image_quality: Some("low".into()), image_size: Some("1024x1024".into()), ..PriceAsk::default() };
        assert_eq!(rate_for(&g1, OpenAi, "gpt-image-1", &low).map(|r| r.per_image.0), Ok(11_000_000));
        assert_eq!(image_output_token_rate(&g1, OpenAi, "gpt-image-1"), Some(NanoCredits(40_000)));
        // A model without per-size prices keeps its flat rate.
        let flat = ModelRate::at_list_price(0, 0, 0, 7);
        assert_eq!(rate_for(&flat, OpenAi, "my-image", &low).map(|r| r.per_image.0), Ok(7));
    }

    #[test]
    fn web_search_fees_and_request_fields() {
        let req: ChatRequest = serde_json::from_value(serde_json::json!({
            "model": "gpt-4o", "messages": [], "service_tier": "priority", "web_search_options": {}, "reasoning_effort": "low"
        }))
        .unwrap();
        let ask = PriceAsk::of_chat(&req);
        assert_eq!(ask.service_tier.as_deref(), Some("priority"));
        assert_eq!(ask.web_search, Some(WebSearch::ChatOptions));
        assert!(ask.reasoning);
        let r = rate_for(&list("gpt-4o"), OpenAi, "gpt-4o", &ask).unwrap();
        assert_eq!(r.per_web_search.0, 25_000_000);
        let tool: ChatRequest = serde_json::from_value(serde_json::json!({"model": "o3", "messages": [], "tools": [{"type": "web_search"}]})).unwrap();
        let ask = PriceAsk::of_chat(&tool);
        assert_eq!(ask.web_search, Some(WebSearch::Tool));
        assert_eq!(rate_for(&list("o3"), OpenAi, "o3", &ask).map(|r| r.per_web_search.0), Ok(10_000_000));
        assert_eq!(rate_for(&list("o3"), ProviderKind::Google, "o3", &ask).unwrap_err().param, "tools");
        let b = CallBounds { input_tokens: 10, output_tokens: 10, choices: 1, images: 0, video_seconds: 0 };
        let r = rate_for(&list("o3"), OpenAi, "o3", &ask).unwrap();
        assert_eq!(reservation(&r, b).0, 10 * 2_000 + 10 * 8_000 + 10_000_000);
        let failed = Metered { input_tokens: 10, ..Metered::default() };
        assert_eq!(charge(&r, failed).0, 10 * 2_000, "a call that did not search pays no fee");
        assert!(is_reasoning_model(OpenAi, "o3") && !is_reasoning_model(OpenAi, "gpt-4o"));
    }

    fn any_ask() -> impl Strategy<Value = PriceAsk> {
        let tiers = prop::option::of(prop::sample::select(vec!["default", "auto", "flex", "priority"]));
        let search = prop::option::of(prop::sample::select(vec![WebSearch::ChatOptions, WebSearch::Tool, WebSearch::PreviewTool]));
        (tiers, search).prop_map(|(t, s)| PriceAsk { service_tier: t.map(str::to_owned), web_search: s, ..PriceAsk::default() })
    }

    proptest! {
        /// Whatever the options, a call charged at the rate it was reserved at never costs more
        /// than the reservation within its bounds; an image of any size and quality never costs
        /// more than the "auto" reservation, nor do gpt-image-1's reported tokens.
        #[test]
        fn options_keep_the_charge_within_the_reservation(
            ask in any_ask(), model in prop::sample::select(vec!["gpt-4o", "o3", "o4-mini", "gpt-4.1-nano"]),
            scale_in in 1i64..10_000, input in 0u64..1_000_000, output in 0u64..1_000_000, choices in 1u64..8,
            used_in in any::<u64>(), used_out in any::<u64>(), cached in any::<u64>(), searched in 0u64..2,
        ) {
            let mut base = list(model);
            base.input = NanoCredits(base.input.0 * scale_in / 100);
            base.cached_input = base.cached_input.min(base.input);
            let Ok(rate) = rate_for(&base, OpenAi, model, &ask) else { return Ok(()) };
            prop_assert_eq!(rate.validate(), Ok(()));
            let b = CallBounds { input_tokens: input, output_tokens: output, choices, images: 0, video_seconds: 0 };
            let m = Metered {
                input_tokens: used_in % (input + 1),
                output_tokens: used_out % (output * choices + 1),
                cached_tokens: cached,
                web_searches: if ask.web_search.is_some() { searched } else { 0 },
                ..Metered::default()
            };
            prop_assert!(charge(&rate, m) <= reservation(&rate, b));
        }

        #[test]
        fn any_image_option_fits_the_auto_reservation(
            pick in 0usize..IMAGE_PRICES.len(), n in 1u64..10, factor in 1i64..1_000, tokens in 0u64..=6_240,
        ) {
            let p = &IMAGE_PRICES[pick];
            let mut base = list(p.model);
            base.per_image = NanoCredits(base.per_image.0 * factor / 10);
            base.unit_cost.per_image = base.per_image;
            let auto = PriceAsk { image_size: Some("auto".into()), image_quality: Some("auto".into()), ..PriceAsk::default() };
            let reserved = reservation(&rate_for(&base, OpenAi, p.model, &auto).unwrap(), CallBounds { images: n, choices: 1, ..CallBounds::default() });
            let exact = PriceAsk { image_size: Some(p.size.into()), image_quality: Some(p.quality.into()), ..PriceAsk::default() };
            let rate = rate_for(&base, OpenAi, p.model, &exact).unwrap();
            let images = Metered { images: n, ..Metered::default() };
            prop_assert!(charge(&rate, images) <= reserved);
            if let Some(per_token) = image_output_token_rate(&base, OpenAi, p.model) {
                let by_tokens = ModelRate { output: per_token, per_image: NanoCredits::ZERO, ..rate };
                let used = Metered { output_tokens: tokens * n, ..Metered::default() };
                prop_assert!(charge(&by_tokens, used) <= reserved);
            }
        }
    }
}
