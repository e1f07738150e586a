//! `POST {base}/embeddings` for OpenAI and every OpenAI-compatible provider.
//!
//! The canonical request already is OpenAI's shape: the upstream receives it with the upstream
//! model id and every unknown field unchanged; the reply (floats, or base64 strings when
//! `encoding_format` is `base64`) comes back as the canonical response.

use hub_core::chat::Extra;
use hub_core::embeddings::{EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse};
use serde::Serialize;

use crate::adapter::Target;
use crate::client::HttpClient;
use crate::error::ProviderError;
use crate::openai_call::post_json;

/// The request as the upstream receives it.
#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    input: &'a EmbeddingInput,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding_format: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Extra,
}

fn wire_body(target: &Target, req: &EmbeddingsRequest) -> Result<Vec<u8>, ProviderError> {
    let wire = WireRequest {
        model: &target.model,
        input: &req.input,
        encoding_format: req.encoding_format.as_deref(),
        dimensions: req.dimensions,
        user: req.user.as_deref(),
        extra: &req.extra,
    };
    serde_json::to_vec(&wire).map_err(|e| ProviderError::Protocol(format!("encoding the request: {e}")))
}

/// One embeddings call, bounded by the client's first-byte and total timeouts.
pub async fn embeddings(client: &HttpClient, target: &Target, req: &EmbeddingsRequest) -> Result<EmbeddingsResponse, ProviderError> {
    let body = wire_body(target, req)?;
    let bytes = post_json(client, target, "embeddings", body).await?;
    parse_reply(&bytes, req)
}

/// The upstream's reply as the canonical response; one vector per input, in order.
pub fn parse_reply(bytes: &[u8], req: &EmbeddingsRequest) -> Result<EmbeddingsResponse, ProviderError> {
    let mut reply: EmbeddingsResponse =
        serde_json::from_slice(bytes).map_err(|e| ProviderError::Protocol(format!("embeddings reply: {e}")))?;
    if reply.data.len() != req.input.len() {
        return Err(ProviderError::Protocol(format!("{} embeddings for {} inputs", reply.data.len(), req.input.len())));
    }
    reply.data.sort_by_key(|e| e.index);
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hub_core::ProviderKind;
    use serde_json::{json, Value};

    fn target() -> Target {
        Target {
            provider: "openai".to_owned(),
            kind: ProviderKind::OpenAi,
            base_url: "http://127.0.0.1:9/v1".to_owned(),
            credential_id: None,
            api_key: None,
            model: "text-embedding-3-small".to_owned(),
        }
    }

    fn req(v: Value) -> EmbeddingsRequest {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_upstream_gets_its_model_id_and_unknown_fields() {
        let r = req(json!({"model": "openai/text-embedding-3-small", "input": [[1, 2], [3]], "encoding_format": "base64", "x_custom": 1}));
        let body: Value = serde_json::from_slice(&wire_body(&target(), &r).unwrap_or_default()).unwrap_or_default();
        assert_eq!(body, json!({"model": "text-embedding-3-small", "input": [[1, 2], [3]], "encoding_format": "base64", "x_custom": 1}));
    }

    #[test]
    fn replies_keep_base64_and_floats_and_must_match_the_inputs() {
        let r = req(json!({"model": "m", "input": ["a", "b"]}));
        let body = br#"{"object":"list","data":[{"object":"embedding","index":1,"embedding":"AAAAAA=="},{"object":"embedding","index":0,"embedding":[0.5]}],"model":"m","usage":{"prompt_tokens":2,"total_tokens":2}}"#;
        let out = parse_reply(body, &r).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.data[0].embedding, json!([0.5]));
        assert_eq!(out.data[1].embedding, json!("AAAAAA=="));
        assert_eq!(out.usage.prompt_tokens, 2);
        let one = req(json!({"model": "m", "input": "a"}));
        assert!(matches!(parse_reply(body, &one), Err(ProviderError::Protocol(_))));
    }
}
