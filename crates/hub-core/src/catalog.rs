//! The built-in model catalog: well-known chat, embedding, image and video model ids of each provider kind,
//! which `GET /v1/models` lists for the providers configured on a hub.
//!
//! The catalog is deliberately modest: it names the current, widely used models so that
//! clients (and SDK model pickers) have something sensible to show. It is not a routing table;
//! any model id a provider accepts can still be called as `provider/model`. Providers whose
//! model set is open-ended or user-defined (OpenRouter, Ollama, Poe, custom base URLs) have no
//! entries. `created` is the approximate public release date, in Unix seconds, as OpenAI's
//! model objects carry it.

use crate::provider::ProviderKind;
use crate::provider::ProviderKind::{Anthropic, Bedrock, DeepSeek, Doubao, Google, Ideogram, OpenAi, XAi};

/// What a catalog model does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    Chat,
    Embeddings,
    Image,
    Video,
}

/// One model of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogModel {
    pub provider: ProviderKind,
    /// The provider's own model id (without the `provider/` prefix).
    pub id: &'static str,
    pub kind: ModelKind,
    /// Approximate public release date, Unix seconds.
    pub created: i64,
}

const fn chat(provider: ProviderKind, id: &'static str, created: i64) -> CatalogModel {
    CatalogModel { provider, id, kind: ModelKind::Chat, created }
}

const fn embed(provider: ProviderKind, id: &'static str, created: i64) -> CatalogModel {
    CatalogModel { provider, id, kind: ModelKind::Embeddings, created }
}

const fn image(provider: ProviderKind, id: &'static str, created: i64) -> CatalogModel {
    CatalogModel { provider, id, kind: ModelKind::Image, created }
}

const fn video(provider: ProviderKind, id: &'static str, created: i64) -> CatalogModel {
    CatalogModel { provider, id, kind: ModelKind::Video, created }
}

/// Every catalog entry, grouped by provider.
pub const MODELS: &[CatalogModel] = &[
    // OpenAI
    chat(OpenAi, "gpt-4o", 1_715_367_049),
    chat(OpenAi, "gpt-4o-mini", 1_721_172_741),
    chat(OpenAi, "gpt-4.1", 1_744_316_542),
    chat(OpenAi, "gpt-4.1-mini", 1_744_318_173),
    chat(OpenAi, "gpt-4.1-nano", 1_744_321_707),
    chat(OpenAi, "o3", 1_744_225_308),
    chat(OpenAi, "o4-mini", 1_744_225_351),
    embed(OpenAi, "text-embedding-3-small", 1_705_948_997),
    embed(OpenAi, "text-embedding-3-large", 1_705_953_180),
    image(OpenAi, "gpt-image-1", 1_745_366_400),
    image(OpenAi, "dall-e-3", 1_698_785_189),
    video(OpenAi, "sora-2", 1_759_276_800),
    video(OpenAi, "sora-2-pro", 1_759_276_800),
    // Anthropic
    chat(Anthropic, "claude-sonnet-4-5", 1_759_104_000),
    chat(Anthropic, "claude-opus-4-1", 1_754_352_000),
    chat(Anthropic, "claude-3-5-haiku", 1_729_555_200),
    // Google Gemini
    chat(Google, "gemini-2.5-pro", 1_750_118_400),
    chat(Google, "gemini-2.5-flash", 1_750_118_400),
    embed(Google, "text-embedding-004", 1_712_620_800),
    embed(Google, "gemini-embedding-001", 1_752_710_400),
    image(Google, "gemini-2.5-flash-image", 1_759_363_200),
    image(Google, "gemini-2.0-flash-preview-image-generation", 1_746_576_000),
    image(Google, "imagen-4.0-generate-001", 1_755_043_200),
    image(Google, "imagen-4.0-fast-generate-001", 1_755_043_200),
    image(Google, "imagen-3.0-generate-002", 1_738_540_800),
    video(Google, "veo-3.0-generate-001", 1_757_462_400),
    video(Google, "veo-3.0-fast-generate-001", 1_757_462_400),
    // Amazon Bedrock
    chat(Bedrock, "anthropic.claude-3-5-sonnet-20240620-v1:0", 1_718_841_600),
    chat(Bedrock, "amazon.nova-pro-v1:0", 1_733_184_000),
    embed(Bedrock, "amazon.titan-embed-text-v2:0", 1_714_435_200),
    embed(Bedrock, "cohere.embed-english-v3", 1_701_302_400),
    // DeepSeek
    chat(DeepSeek, "deepseek-chat", 1_735_171_200),
    chat(DeepSeek, "deepseek-reasoner", 1_737_331_200),
    // xAI
    chat(XAi, "grok-4", 1_752_105_600),
    chat(XAi, "grok-3-mini", 1_739_836_800),
    // Doubao
    chat(Doubao, "doubao-seed-1-6-250615", 1_749_945_600),
    // Ideogram 3.0 (one endpoint; the model picks its rendering speed)
    image(Ideogram, "V_3", 1_742_947_200),
    image(Ideogram, "V_3_TURBO", 1_742_947_200),
    image(Ideogram, "V_3_QUALITY", 1_742_947_200),
];

/// The catalog models of one provider kind, in catalog order.
pub fn for_kind(kind: ProviderKind) -> impl Iterator<Item = &'static CatalogModel> {
    MODELS.iter().filter(move |m| m.provider == kind)
}

/// The catalog entry of `kind` with this model id (exact match).
pub fn find(kind: ProviderKind, id: &str) -> Option<&'static CatalogModel> {
    for_kind(kind).find(|m| m.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_per_provider_and_plain() {
        for (i, a) in MODELS.iter().enumerate() {
            assert!(!a.id.is_empty() && !a.id.contains('/') && !a.id.contains(char::is_whitespace), "{}", a.id);
            assert!(a.created > 1_600_000_000, "{}", a.id);
            for b in &MODELS[i + 1..] {
                assert!(!(a.provider == b.provider && a.id == b.id), "duplicate {}", a.id);
            }
        }
    }

    #[test]
    fn lookups_are_per_provider() {
        assert_eq!(find(ProviderKind::OpenAi, "gpt-4o-mini").map(|m| m.kind), Some(ModelKind::Chat));
        assert_eq!(find(ProviderKind::OpenAi, "text-embedding-3-small").map(|m| m.kind), Some(ModelKind::Embeddings));
        assert_eq!(find(ProviderKind::OpenAi, "gpt-image-1").map(|m| m.kind), Some(ModelKind::Image));
        assert_eq!(find(ProviderKind::Anthropic, "gpt-4o-mini"), None);
        assert_eq!(for_kind(ProviderKind::Custom).count(), 0);
    }

    #[test]
    fn bare_catalog_ids_route_to_their_provider() {
        // Bedrock and Ideogram ids are always written `provider/<model>`; every other bare id
        // routes home.
        for m in MODELS.iter().filter(|m| !matches!(m.provider, ProviderKind::Bedrock | ProviderKind::Ideogram)) {
            assert_eq!(ProviderKind::for_bare_model(m.id), Some(m.provider), "{}", m.id);
        }
    }
}
