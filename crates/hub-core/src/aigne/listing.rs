//! `GET /api/ai/models`: the catalog as the AIGNE SDK's model picker reads it.

use serde::Serialize;
use serde_json::Value;

use crate::catalog::{CatalogModel, ModelKind};

/// The `type` filter of the model list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListType {
    Chat,
    Image,
    Embedding,
    Video,
}

impl ListType {
    pub fn parse(s: &str) -> Option<ListType> {
        match s.to_ascii_lowercase().as_str() {
            "chat" | "chatcompletion" => Some(ListType::Chat),
            "image" | "imagegeneration" => Some(ListType::Image),
            "embedding" | "embeddings" => Some(ListType::Embedding),
            "video" => Some(ListType::Video),
            _ => None,
        }
    }

    pub fn matches(self, kind: ModelKind) -> bool {
        matches!((self, kind), (ListType::Chat, ModelKind::Chat) | (ListType::Image, ModelKind::Image) | (ListType::Embedding, ModelKind::Embeddings) | (ListType::Video, ModelKind::Video))
    }
}

fn type_name(kind: ModelKind) -> &'static str {
    match kind {
        ModelKind::Chat => "chat",
        ModelKind::Image => "image",
        ModelKind::Embeddings => "embedding",
        ModelKind::Video => "video",
    }
}

/// `available`, which the SDK reads, and what the hub observed of the model's recent calls
/// (absent when it was not called lately).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelStatus {
    pub available: bool,
    /// Share of recent calls that succeeded, 0–1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub success_rate: Option<f64>,
    /// Median duration of recent successful calls.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<u64>,
    /// How many recent calls those figures come from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample_size: Option<usize>,
}

impl ModelStatus {
    /// A model nothing is known against.
    pub const AVAILABLE: ModelStatus = ModelStatus { available: true, success_rate: None, latency_p50_ms: None, sample_size: None };
}

/// One model: `key` is `provider/model`, as chat calls name it. The credit rates are strings, as
/// the SDK's schema requires; they are `"0"` while credit billing is not built.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedModel {
    pub key: String,
    pub model: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub provider: String,
    pub provider_display_name: String,
    #[serde(rename = "input_credits_per_token")]
    pub input_credits_per_token: String,
    #[serde(rename = "output_credits_per_token")]
    pub output_credits_per_token: String,
    pub model_metadata: Option<Value>,
    pub status: Option<ModelStatus>,
}

/// A catalog model of the configured provider `provider` (shown as `display_name`).
pub fn listed(provider: &str, display_name: &str, m: &CatalogModel) -> ListedModel {
    ListedModel {
        key: format!("{provider}/{}", m.id),
        model: m.id.to_owned(),
        kind: type_name(m.kind),
        provider: provider.to_owned(),
        provider_display_name: display_name.to_owned(),
        input_credits_per_token: "0".to_owned(),
        output_credits_per_token: "0".to_owned(),
        model_metadata: None,
        status: Some(ModelStatus::AVAILABLE),
    }
}
