//! Embeddings through InvokeModel (`POST /model/{modelId}/invoke`), whose body is the model
//! family's own format. Pure translation; the calls are made by the adapter.
//!
//! - Amazon Titan (`amazon.titan-embed-*`): one call per input string, body
//!   `{"inputText", "dimensions"?}`, reply `{"embedding":[…], "inputTextTokenCount":n}`.
//! - Cohere (`cohere.embed-*`): one call for all strings, body `{"texts":[…], "input_type"}`
//!   (`input_type` from the request's `input_type`, default `search_document`), reply
//!   `{"embeddings":[[…]]}` (v3) or `{"embeddings":{"float":[[…]]}}` (v4); its token count comes
//!   from the `X-Amzn-Bedrock-Input-Token-Count` reply header. `dimensions` is not sent.
//!
//! Token-array inputs are refused: these models take text. `encoding_format: "base64"` is
//! honoured by encoding the floats as little-endian f32, as OpenAI does.

use base64::Engine as _;
use hub_core::embeddings::{Embedding, EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse, EmbeddingsUsage};
use serde_json::Value;

use crate::error::ProviderError;

use super::translate::bad_request;
use super::wire::{CohereEmbedRequest, CohereEmbedResponse, CohereEmbeddings, TitanEmbedRequest, TitanEmbedResponse};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Titan,
    Cohere,
}

pub fn family(model: &str) -> Family {
    if model.to_ascii_lowercase().contains("cohere.embed") {
        Family::Cohere
    } else {
        Family::Titan
    }
}

/// The input strings, or a 400 for token arrays and empty input.
pub fn texts(req: &EmbeddingsRequest) -> Result<Vec<String>, ProviderError> {
    let texts = match &req.input {
        EmbeddingInput::One(s) => vec![s.clone()],
        EmbeddingInput::Many(v) => v.clone(),
        EmbeddingInput::Tokens(_) | EmbeddingInput::ManyTokens(_) => {
            return Err(bad_request("Amazon Bedrock embedding models take text; token-array inputs are not supported"))
        }
    };
    if texts.is_empty() || texts.iter().any(|t| t.is_empty()) {
        return Err(bad_request("`input` must hold non-empty strings"));
    }
    Ok(texts)
}

/// The InvokeModel bodies to send, one per call.
pub fn request_bodies(req: &EmbeddingsRequest, texts: &[String]) -> Result<Vec<Vec<u8>>, ProviderError> {
    let encode = |v: Result<Vec<u8>, serde_json::Error>| v.map_err(|e| ProviderError::Protocol(format!("encoding the request: {e}")));
    match family(&req.model) {
        Family::Titan => texts.iter().map(|t| encode(serde_json::to_vec(&TitanEmbedRequest { input_text: t, dimensions: req.dimensions }))).collect(),
        Family::Cohere => {
            let input_type = req.extra.get("input_type").and_then(Value::as_str).unwrap_or("search_document");
            Ok(vec![encode(serde_json::to_vec(&CohereEmbedRequest { texts, input_type }))?])
        }
    }
}

/// One reply body and the token count from its headers (if any), as vectors and tokens.
pub fn parse_reply(family: Family, body: &[u8], header_tokens: Option<u64>) -> Result<(Vec<Vec<f32>>, u64), ProviderError> {
    match family {
        Family::Titan => {
            let r: TitanEmbedResponse = serde_json::from_slice(body).map_err(|e| ProviderError::Protocol(format!("Titan embedding: {e}")))?;
            Ok((vec![r.embedding], header_tokens.unwrap_or(r.input_text_token_count)))
        }
        Family::Cohere => {
            let r: CohereEmbedResponse = serde_json::from_slice(body).map_err(|e| ProviderError::Protocol(format!("Cohere embedding: {e}")))?;
            let vectors = match r.embeddings {
                CohereEmbeddings::Floats(v) | CohereEmbeddings::ByType { float: v } => v,
            };
            Ok((vectors, header_tokens.unwrap_or(0)))
        }
    }
}

/// The OpenAI-shaped reply from every call's vectors, in input order.
pub fn response(req: &EmbeddingsRequest, vectors: Vec<Vec<f32>>, tokens: u64) -> EmbeddingsResponse {
    let base64 = req.encoding_format.as_deref() == Some("base64");
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(i, v)| Embedding {
            object: "embedding".to_owned(),
            index: u32::try_from(i).unwrap_or(u32::MAX),
            embedding: if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                Value::from(v)
            },
        })
        .collect();
    EmbeddingsResponse {
        object: "list".to_owned(),
        data,
        model: req.model.clone(),
        usage: EmbeddingsUsage { prompt_tokens: tokens, total_tokens: tokens },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use serde_json::json;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/fixtures/bedrock/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    }

    fn req(v: Value) -> EmbeddingsRequest {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn titan_gets_one_documented_body_per_string() {
        let case = fixture("invoke_titan_embed.json");
        let r = req(json!({"model":"amazon.titan-embed-text-v2:0","input":"What are the different services that you offer?","dimensions":256}));
        let bodies = request_bodies(&r, &texts(&r).unwrap()).unwrap();
        assert_eq!(bodies.len(), 1);
        assert_eq!(serde_json::from_slice::<Value>(&bodies[0]).unwrap(), case["request"]);
        let (vectors, tokens) = parse_reply(Family::Titan, case["response"].to_string().as_bytes(), None).unwrap();
        assert_eq!((vectors[0].len(), tokens), (4, 10));
        let many = req(json!({"model":"amazon.titan-embed-text-v2:0","input":["a","b","c"]}));
        assert_eq!(request_bodies(&many, &texts(&many).unwrap()).unwrap().len(), 3);
    }

    #[test]
    fn cohere_gets_one_documented_body_for_all_strings() {
        let case = fixture("invoke_cohere_embed.json");
        let r = req(json!({"model":"cohere.embed-english-v3","input":["hello world","goodbye"]}));
        let bodies = request_bodies(&r, &texts(&r).unwrap()).unwrap();
        assert_eq!(bodies.len(), 1);
        assert_eq!(serde_json::from_slice::<Value>(&bodies[0]).unwrap(), case["request"]);
        let (vectors, tokens) = parse_reply(Family::Cohere, case["response"].to_string().as_bytes(), Some(4)).unwrap();
        assert_eq!((vectors.len(), tokens), (2, 4));
        let v4 = br#"{"embeddings":{"float":[[0.5,0.5]]},"id":"x","response_type":"embeddings_by_type","texts":["a"]}"#;
        assert_eq!(parse_reply(Family::Cohere, v4, None).unwrap().0, vec![vec![0.5, 0.5]]);
    }

    #[test]
    fn replies_take_the_openai_shape() {
        let r = req(json!({"model":"amazon.titan-embed-text-v2:0","input":["a","b"],"encoding_format":"base64"}));
        let out = response(&r, vec![vec![1.0], vec![0.0]], 2);
        let v = serde_json::to_value(&out).unwrap();
        assert_eq!(v["data"][1]["index"], 1);
        assert_eq!(v["data"][0]["embedding"], "AACAPw==");
        assert_eq!(v["usage"], json!({"prompt_tokens":2,"total_tokens":2}));
    }

    #[test]
    fn token_inputs_are_refused() {
        let r = req(json!({"model":"amazon.titan-embed-text-v2:0","input":[1,2,3]}));
        assert!(matches!(texts(&r), Err(ProviderError::Upstream(f)) if f.status == 400));
    }
}
