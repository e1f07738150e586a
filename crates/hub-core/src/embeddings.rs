//! Canonical embeddings types (the OpenAI `/v1/embeddings` shape).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::chat::Extra;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingsRequest {
    pub model: String,
    pub input: EmbeddingInput,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dimensions: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// A string, an array of strings, or token arrays.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    One(String),
    Many(Vec<String>),
    Tokens(Vec<u32>),
    ManyTokens(Vec<Vec<u32>>),
}

impl EmbeddingInput {
    pub fn len(&self) -> usize {
        match self {
            EmbeddingInput::One(_) | EmbeddingInput::Tokens(_) => 1,
            EmbeddingInput::Many(v) => v.len(),
            EmbeddingInput::ManyTokens(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Text bytes, for token estimates.
    pub fn text_len(&self) -> usize {
        match self {
            EmbeddingInput::One(s) => s.len(),
            EmbeddingInput::Many(v) => v.iter().map(String::len).sum(),
            EmbeddingInput::Tokens(t) => t.len() * 4,
            EmbeddingInput::ManyTokens(v) => v.iter().map(|t| t.len() * 4).sum(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EmbeddingsResponse {
    #[serde(default = "list_object")]
    pub object: String,
    pub data: Vec<Embedding>,
    pub model: String,
    #[serde(default)]
    pub usage: EmbeddingsUsage,
}

fn list_object() -> String {
    "list".to_owned()
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Embedding {
    #[serde(default = "embedding_object")]
    pub object: String,
    pub index: u32,
    /// Floats, or a base64 string when `encoding_format` was `base64`.
    pub embedding: Value,
}

fn embedding_object() -> String {
    "embedding".to_owned()
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct EmbeddingsUsage {
    #[serde(default)]
    pub prompt_tokens: u64,
    #[serde(default)]
    pub total_tokens: u64,
}
