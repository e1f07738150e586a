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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ModelStatus {
    pub available: bool,
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
        status: Some(ModelStatus { available: true }),
    }
}
