//! `POST /api/v2/image` and `POST /api/v2/embeddings`: AIGNE inputs → canonical requests, and
//! canonical replies → AIGNE replies.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{invalid, required_model, OutputUsage};
use crate::embeddings::{Embedding, EmbeddingInput, EmbeddingsRequest, EmbeddingsResponse};
use crate::images::{ImageRequest, ImageResponse};
use crate::validate::InvalidRequest;

/// `{"prompt","n"?,"size"?,"modelOptions":{"model",…},"outputFileType"?}`. The image options
/// may also sit in `modelOptions` (the SDK's schema keeps only `prompt`, `n`, `image`,
/// `outputFileType` and `modelOptions` at the top).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageInput {
    pub prompt: String,
    #[serde(default)]
    pub n: Option<u32>,
    #[serde(default)]
    pub size: Option<String>,
    #[serde(default)]
    pub quality: Option<String>,
    #[serde(default)]
    pub style: Option<String>,
    /// Images to edit: not supported yet.
    #[serde(default)]
    pub image: Option<Vec<Value>>,
    #[serde(default)]
    pub model_options: Option<Map<String, Value>>,
    #[serde(default)]
    pub model: Option<String>,
    /// `url` (default) or `file` (base64 in the reply).
    #[serde(default)]
    pub output_file_type: Option<String>,
}

fn option_str(opts: Option<&Map<String, Value>>, key: &str) -> Option<String> {
    opts.and_then(|o| o.get(key)).and_then(Value::as_str).map(str::to_owned)
}

pub fn to_image_request(input: ImageInput) -> Result<ImageRequest, InvalidRequest> {
    let opts = input.model_options.as_ref();
    let model = required_model(option_str(opts, "model").as_deref(), input.model.as_deref())?;
    if input.image.as_ref().is_some_and(|i| !i.is_empty()) {
        return Err(invalid("input.image", "editing images ('input.image') is not supported by this hub; send a prompt only"));
    }
    let n = match input.n {
        Some(n) => Some(n),
        None => match opts.and_then(|o| o.get("n")) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(|| invalid("input.n", "'n' must be a positive integer"))?),
        },
    };
    let response_format = match input.output_file_type.as_deref() {
        None | Some("url") => None,
        Some("file") => Some("b64_json".to_owned()),
        Some(other) => return Err(invalid("input.outputFileType", format!("'outputFileType' must be 'url' or 'file', got '{other}'"))),
    };
    Ok(ImageRequest {
        model,
        prompt: input.prompt,
        n,
        size: input.size.or_else(|| option_str(opts, "size")),
        quality: input.quality.or_else(|| option_str(opts, "quality")),
        response_format,
        style: input.style.or_else(|| option_str(opts, "style")),
        user: None,
        extra: Map::new(),
    })
}

/// One generated image, as the AIGNE framework's file content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum OutputFile {
    Url {
        url: String,
    },
    File {
        data: String,
        #[serde(rename = "mimeType")]
        mime_type: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageReply {
    pub images: Vec<OutputFile>,
    pub usage: OutputUsage,
    pub model: String,
}

pub fn to_image_reply(resp: ImageResponse, model: &str) -> ImageReply {
    let usage = resp.usage.as_ref().map_or_else(OutputUsage::default, |u| OutputUsage {
        input_tokens: u.input_tokens,
        output_tokens: u.output_tokens,
        cache_read_input_tokens: None,
    });
    let images = resp
        .data
        .into_iter()
        .filter_map(|d| match (d.url, d.b64_json) {
            (Some(url), _) => Some(OutputFile::Url { url }),
            (None, Some(data)) => {
                let mime_type = sniff_image_type(&data);
                Some(OutputFile::File { data, mime_type })
            }
            (None, None) => None,
        })
        .collect();
    ImageReply { images, usage, model: model.to_owned() }
}

/// The image type of base64 data, from its first bytes; PNG when unknown.
pub fn sniff_image_type(b64: &str) -> &'static str {
    let head: String = b64.trim_start().chars().take(24).collect();
    let bytes = STANDARD.decode(head.as_bytes()).unwrap_or_default();
    if bytes.starts_with(b"\xFF\xD8\xFF") {
        "image/jpeg"
    } else if bytes.starts_with(b"GIF8") {
        "image/gif"
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && bytes.get(8..12) == Some(b"WEBP".as_slice()) {
        "image/webp"
    } else {
        "image/png"
    }
}

/// `{"input":"text"|["…"],"modelOptions":{"model"}}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddingsInput {
    pub input: EmbeddingInput,
    #[serde(default)]
    pub model_options: Option<Map<String, Value>>,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub dimensions: Option<u32>,
}

pub fn to_embeddings_request(input: EmbeddingsInput) -> Result<EmbeddingsRequest, InvalidRequest> {
    let opts = input.model_options.as_ref();
    let model = required_model(option_str(opts, "model").as_deref(), input.model.as_deref())?;
    let dimensions = input.dimensions.or_else(|| opts.and_then(|o| o.get("dimensions")).and_then(Value::as_u64).and_then(|d| u32::try_from(d).ok()));
    Ok(EmbeddingsRequest { model, input: input.input, encoding_format: None, dimensions, user: None, extra: Map::new() })
}

/// `{"data":[{"object":"embedding","index","embedding"}],"model","usage":{"inputTokens","outputTokens":0}}`:
/// the vectors as OpenAI lists them, the usage as the AIGNE framework counts it.
#[derive(Debug, Clone, Serialize)]
pub struct EmbeddingsReply {
    pub data: Vec<Embedding>,
    pub model: String,
    pub usage: OutputUsage,
}

pub fn to_embeddings_reply(resp: EmbeddingsResponse) -> EmbeddingsReply {
    let usage = OutputUsage { input_tokens: resp.usage.prompt_tokens, output_tokens: 0, cache_read_input_tokens: None };
    EmbeddingsReply { data: resp.data, model: resp.model, usage }
}
