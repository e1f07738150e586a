//! `POST {base}/images/generations` for OpenAI and every OpenAI-compatible provider.
//!
//! The canonical request already is OpenAI's shape: the upstream receives it with the upstream
//! model id and every unknown field unchanged; the reply (URLs or base64, and `usage` for
//! token-billed models such as gpt-image-1) comes back as the canonical response.

use hub_core::chat::Extra;
use hub_core::images::{ImageRequest, ImageResponse};
use serde::Serialize;

use crate::adapter::Target;
use crate::client::HttpClient;
use crate::error::ProviderError;
use crate::openai_call::post_json;

/// The request as the upstream receives it.
#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    prompt: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    n: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quality: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    style: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'a str>,
    #[serde(flatten)]
    extra: &'a Extra,
}

fn wire_body(target: &Target, req: &ImageRequest) -> Result<Vec<u8>, ProviderError> {
    let wire = WireRequest {
        model: &target.model,
        prompt: &req.prompt,
        n: req.n,
        size: req.size.as_deref(),
        quality: req.quality.as_deref(),
        response_format: req.response_format.as_deref(),
        style: req.style.as_deref(),
        user: req.user.as_deref(),
        extra: &req.extra,
    };
    serde_json::to_vec(&wire).map_err(|e| ProviderError::Protocol(format!("encoding the request: {e}")))
}

/// One image-generation call, bounded by the client's first-byte and total timeouts.
pub async fn images(client: &HttpClient, target: &Target, req: &ImageRequest) -> Result<ImageResponse, ProviderError> {
    let body = wire_body(target, req)?;
    let bytes = post_json(client, target, "images/generations", body).await?;
    parse_reply(&bytes)
}

/// The upstream's reply as the canonical response; every image must carry a URL or base64.
pub fn parse_reply(bytes: &[u8]) -> Result<ImageResponse, ProviderError> {
    let reply: ImageResponse = serde_json::from_slice(bytes).map_err(|e| ProviderError::Protocol(format!("images reply: {e}")))?;
    if reply.data.iter().any(|d| d.url.is_none() && d.b64_json.is_none()) {
        return Err(ProviderError::Protocol("an image in the reply has neither 'url' nor 'b64_json'".to_owned()));
    }
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
            model: "dall-e-3".to_owned(),
        }
    }

    #[test]
    fn the_upstream_gets_its_model_id_and_unknown_fields() {
        let r: ImageRequest = serde_json::from_value(json!({"model": "openai/dall-e-3", "prompt": "a cat", "n": 1, "background": "transparent"}))
            .unwrap_or_else(|e| panic!("{e}"));
        let body: Value = serde_json::from_slice(&wire_body(&target(), &r).unwrap_or_default()).unwrap_or_default();
        assert_eq!(body, json!({"model": "dall-e-3", "prompt": "a cat", "n": 1, "background": "transparent"}));
    }

    #[test]
    fn replies_keep_urls_base64_and_usage() {
        let body = br#"{"created":1,"data":[{"url":"http://x/a.png","revised_prompt":"p"},{"b64_json":"AAAA"}],"usage":{"input_tokens":3,"output_tokens":272,"total_tokens":275}}"#;
        let out = parse_reply(body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.data[0].url.as_deref(), Some("http://x/a.png"));
        assert_eq!(out.data[1].b64_json.as_deref(), Some("AAAA"));
        assert_eq!(out.usage.map(|u| u.total_tokens), Some(275));
        assert!(matches!(parse_reply(br#"{"created":1,"data":[{}]}"#), Err(ProviderError::Protocol(_))));
    }
}
