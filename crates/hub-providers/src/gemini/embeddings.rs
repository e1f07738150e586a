//! Pure translation of embeddings: the canonical (OpenAI `/v1/embeddings`) request to
//! `batchEmbedContents`, and Gemini's vectors back.
//!
//! Each input string is one `requests[]` entry with `model: "models/{model}"` and
//! `outputDimensionality` from `dimensions`. Token-array inputs have no Gemini form and are
//! refused. `encoding_format: "base64"` is produced here (little-endian `f32`s, as OpenAI
//! encodes them) because Gemini only returns floats.

use base64::Engine as _;
use hub_core::embeddings::{Embedding, EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse, EmbeddingsUsage};
use serde_json::Value;

use super::wire::{BatchEmbedRequest, BatchEmbedResponse, Content, EmbedContentRequest, Part};
use crate::error::ProviderError;

/// The Gemini request; `model` is the bare upstream model id.
pub fn request(req: &EmbeddingsRequest, model: &str) -> Result<BatchEmbedRequest, ProviderError> {
    let texts: Vec<&str> = match &req.input {
        EmbeddingInput::One(s) => vec![s.as_str()],
        EmbeddingInput::Many(v) => v.iter().map(String::as_str).collect(),
        EmbeddingInput::Tokens(_) | EmbeddingInput::ManyTokens(_) => return Err(ProviderError::Unsupported("token-array embedding inputs")),
    };
    let requests = texts
        .into_iter()
        .map(|t| EmbedContentRequest {
            model: format!("models/{model}"),
            content: Content { role: None, parts: vec![Part::text(t)] },
            output_dimensionality: req.dimensions,
        })
        .collect();
    Ok(BatchEmbedRequest { requests })
}

/// The canonical response. Gemini reports no token usage for embeddings, so `usage` here is an
/// ESTIMATE (about four bytes a token of the input text), never a count from the provider.
pub fn response(req: &EmbeddingsRequest, resp: BatchEmbedResponse, model: &str) -> Result<EmbeddingsResponse, ProviderError> {
    if resp.embeddings.len() != req.input.len() {
        return Err(ProviderError::Protocol(format!("{} embeddings for {} inputs", resp.embeddings.len(), req.input.len())));
    }
    let base64 = req.encoding_format.as_deref() == Some("base64");
    let data = resp
        .embeddings
        .into_iter()
        .enumerate()
        .map(|(i, e)| Embedding {
            object: "embedding".to_owned(),
            index: u32::try_from(i).unwrap_or(u32::MAX),
            embedding: if base64 { Value::String(encode_f32(&e.values)) } else { Value::Array(e.values.iter().map(|v| float(*v)).collect()) },
        })
        .collect();
    let estimated = estimate_tokens(&req.input);
    Ok(EmbeddingsResponse {
        object: "list".to_owned(),
        data,
        model: model.to_owned(),
        usage: EmbeddingsUsage { prompt_tokens: estimated, total_tokens: estimated },
    })
}

/// Estimated input tokens: each input's bytes / 4, rounded up.
fn estimate_tokens(input: &EmbeddingInput) -> u64 {
    match input {
        EmbeddingInput::One(s) => (s.len() as u64).div_ceil(4),
        EmbeddingInput::Many(v) => v.iter().map(|s| (s.len() as u64).div_ceil(4)).sum(),
        other => (other.text_len() as u64).div_ceil(4),
    }
}

/// An `f32` as JSON with its shortest decimal form (`0.013168523`, not the `f64` widening
/// `0.013168522715568542`).
fn float(v: f32) -> Value {
    v.to_string().parse::<f64>().ok().and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number)
}

fn encode_f32(values: &[f32]) -> String {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn req(body: Value) -> EmbeddingsRequest {
        serde_json::from_value(body).unwrap()
    }

    #[test]
    fn request_shape() {
        let r = req(json!({"model": "google/text-embedding-004", "input": ["a b", "c"], "dimensions": 3}));
        let out = serde_json::to_value(request(&r, "text-embedding-004").unwrap()).unwrap();
        assert_eq!(
            out,
            json!({"requests": [
                {"model": "models/text-embedding-004", "content": {"parts": [{"text": "a b"}]}, "outputDimensionality": 3},
                {"model": "models/text-embedding-004", "content": {"parts": [{"text": "c"}]}, "outputDimensionality": 3}
            ]})
        );
        assert!(matches!(request(&req(json!({"model": "m", "input": [1, 2]})), "m"), Err(ProviderError::Unsupported(_))));
    }

    #[test]
    fn response_floats_base64_and_estimated_usage() {
        let path = format!("{}/fixtures/gemini/embed_batch.json", env!("CARGO_MANIFEST_DIR"));
        let body = std::fs::read(path).unwrap();
        let r = req(json!({"model": "m", "input": ["hello world", "abc"]}));
        let out = response(&r, serde_json::from_slice(&body).unwrap(), "text-embedding-004").unwrap();
        assert_eq!(out.data.len(), 2);
        assert_eq!(out.data[1].index, 1);
        assert_eq!(out.data[0].embedding[0].as_f64().map(|v| v as f32), Some(0.013_168_523));
        assert_eq!(out.usage.prompt_tokens, 3 + 1);

        let r = req(json!({"model": "m", "input": ["hello world", "abc"], "encoding_format": "base64"}));
        let out = response(&r, serde_json::from_slice(&body).unwrap(), "m").unwrap();
        let b64 = out.data[0].embedding.as_str().unwrap();
        let bytes = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        assert_eq!(bytes.len(), 12);
        assert_eq!(f32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]), 0.013_168_523);

        let one = req(json!({"model": "m", "input": "x"}));
        assert!(matches!(response(&one, serde_json::from_slice(&body).unwrap(), "m"), Err(ProviderError::Protocol(_))));
    }
}
