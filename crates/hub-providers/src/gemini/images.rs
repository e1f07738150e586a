//! Images through the Gemini API, two ways:
//!
//! - **Imagen** (`imagen-*`): `POST {root}/models/{model}:predict` with
//!   `{"instances":[{"prompt"}],"parameters":{"sampleCount","aspectRatio",…}}`, answered with
//!   `{"predictions":[{"bytesBase64Encoded","mimeType"}]}`.
//! - **Gemini native image generation** (`gemini-2.5-flash-image`,
//!   `gemini-2.0-flash-preview-image-generation`): `generateContent` with
//!   `generationConfig.responseModalities` `["TEXT","IMAGE"]`; the images are the reply's
//!   `inlineData` parts. One call makes one image, so `n` images are `n` calls, made together.
//!
//! Both answer base64, which the HTTP layer stores for clients asking `url`. `size` picks the
//! nearest aspect ratio the model family documents; `aspectRatio`, `negativePrompt`,
//! `personGeneration` and `imageSize` given as extra fields pass through (Imagen) or into
//! `imageConfig` (Gemini).

use hub_core::images::{ImageData, ImageRequest, ImageResponse, ImageUsage};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::wire::{Candidate, GenerateContentResponse};
use crate::error::{FailureKind, ProviderError, UpstreamFailure};

/// Imagen's aspect ratios.
pub const IMAGEN_RATIOS: [(u32, u32); 5] = [(1, 1), (3, 4), (4, 3), (9, 16), (16, 9)];
/// Gemini image models' aspect ratios.
pub const GEMINI_RATIOS: [(u32, u32); 10] = [(1, 1), (2, 3), (3, 2), (3, 4), (4, 3), (4, 5), (5, 4), (9, 16), (16, 9), (21, 9)];
/// Most images one Imagen call makes.
pub const IMAGEN_MAX_IMAGES: u32 = 4;

/// Which of the two flavours a model id speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Imagen,
    Gemini,
}

pub fn flavour(model: &str) -> Flavour {
    let id = model.strip_prefix("models/").unwrap_or(model);
    if id.starts_with("imagen-") {
        Flavour::Imagen
    } else {
        Flavour::Gemini
    }
}

fn bad_request(param: &str, message: String) -> ProviderError {
    ProviderError::Upstream(UpstreamFailure {
        status: 400,
        kind: FailureKind::BadRequest,
        message,
        error_type: Some("invalid_request_error".to_owned()),
        code: None,
        param: Some(param.to_owned()),
        retry_after: None,
    })
}

/// The ratio of `ratios` nearest to `size` (`WIDTHxHEIGHT`), written `W:H`.
pub fn nearest_ratio(size: &str, ratios: &[(u32, u32)]) -> Result<String, ProviderError> {
    let parsed = size.split_once(['x', 'X']).and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)));
    let Some((w, h)) = parsed.filter(|(w, h)| *w > 0 && *h > 0) else {
        return Err(bad_request("size", format!("'size' must be WIDTHxHEIGHT, got '{size}'")));
    };
    let want = (f64::from(w) / f64::from(h)).ln();
    let best = ratios
        .iter()
        .min_by(|a, b| {
            let gap = |r: &&(u32, u32)| ((f64::from(r.0) / f64::from(r.1)).ln() - want).abs();
            gap(a).total_cmp(&gap(b))
        })
        .copied()
        .unwrap_or((1, 1));
    Ok(format!("{}:{}", best.0, best.1))
}

fn copy_extra(req: &ImageRequest, names: &[&str], into: &mut Map<String, Value>) {
    for name in names {
        if let Some(v) = req.extra.get(*name) {
            into.insert((*name).to_owned(), v.clone());
        }
    }
}

/// The `:predict` body of an Imagen call.
pub fn imagen_body(req: &ImageRequest) -> Result<Value, ProviderError> {
    let n = req.n.unwrap_or(1);
    if !(1..=IMAGEN_MAX_IMAGES).contains(&n) {
        return Err(bad_request("n", format!("Imagen makes 1 to {IMAGEN_MAX_IMAGES} images per call, got {n}")));
    }
    let mut parameters = Map::new();
    parameters.insert("sampleCount".to_owned(), json!(n));
    if let (Some(size), false) = (req.size.as_deref(), req.extra.contains_key("aspectRatio")) {
        parameters.insert("aspectRatio".to_owned(), json!(nearest_ratio(size, &IMAGEN_RATIOS)?));
    }
    copy_extra(req, &["aspectRatio", "negativePrompt", "personGeneration", "imageSize", "seed", "enhancePrompt"], &mut parameters);
    Ok(json!({"instances": [{"prompt": req.prompt}], "parameters": parameters}))
}

/// The `generateContent` body of one Gemini image.
pub fn gemini_body(req: &ImageRequest) -> Result<Value, ProviderError> {
    let mut image_config = Map::new();
    if let (Some(size), false) = (req.size.as_deref(), req.extra.contains_key("aspectRatio")) {
        image_config.insert("aspectRatio".to_owned(), json!(nearest_ratio(size, &GEMINI_RATIOS)?));
    }
    copy_extra(req, &["aspectRatio", "imageSize"], &mut image_config);
    let mut config = json!({"responseModalities": ["TEXT", "IMAGE"]});
    if !image_config.is_empty() {
        config["imageConfig"] = Value::Object(image_config);
    }
    Ok(json!({"contents": [{"role": "user", "parts": [{"text": req.prompt}]}], "generationConfig": config}))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Prediction {
    #[serde(default)]
    bytes_base64_encoded: Option<String>,
    #[serde(default)]
    rai_filtered_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PredictResponse {
    #[serde(default)]
    predictions: Vec<Prediction>,
}

fn withheld(reason: Option<&str>) -> ProviderError {
    ProviderError::Upstream(UpstreamFailure {
        status: 400,
        kind: FailureKind::BadRequest,
        message: match reason {
            Some(r) => format!("the provider generated no image: {r}"),
            None => "the provider generated no image for this prompt".to_owned(),
        },
        error_type: Some("invalid_request_error".to_owned()),
        code: Some("content_policy_violation".to_owned()),
        param: Some("prompt".to_owned()),
        retry_after: None,
    })
}

/// Imagen's reply as the canonical response; filtered predictions are left out, and a reply
/// with no image at all is a refusal of the prompt.
pub fn imagen_reply(bytes: &[u8], created: i64) -> Result<ImageResponse, ProviderError> {
    let reply: PredictResponse = serde_json::from_slice(bytes).map_err(|e| ProviderError::Protocol(format!("predict reply: {e}")))?;
    let reason = reply.predictions.iter().find_map(|p| p.rai_filtered_reason.clone());
    let data: Vec<ImageData> = reply
        .predictions
        .into_iter()
        .filter_map(|p| p.bytes_base64_encoded.filter(|b| !b.is_empty()))
        .map(|b| ImageData { url: None, b64_json: Some(b), revised_prompt: None })
        .collect();
    if data.is_empty() {
        return Err(withheld(reason.as_deref()));
    }
    Ok(ImageResponse { created, data, usage: None, extra: Default::default() })
}

/// The images (`inlineData` parts) of `generateContent` replies, and their summed usage.
pub fn gemini_reply(bytes: &[&[u8]], created: i64) -> Result<ImageResponse, ProviderError> {
    let mut data = Vec::new();
    let mut usage = ImageUsage::default();
    let mut block = None;
    for body in bytes {
        let reply: GenerateContentResponse = serde_json::from_slice(body).map_err(|e| ProviderError::Protocol(format!("generateContent reply: {e}")))?;
        if let Some(u) = &reply.usage_metadata {
            usage.input_tokens += u.prompt_token_count.unwrap_or(0);
            usage.output_tokens += u.candidates_token_count.unwrap_or(0);
            usage.total_tokens += u.total_token_count.unwrap_or(0);
        }
        block = block.or_else(|| reply.prompt_feedback.as_ref().and_then(|f| f.block_reason.clone()));
        let text: Vec<&str> = parts(&reply.candidates).filter_map(|p| p.text.as_deref()).collect();
        for part in parts(&reply.candidates) {
            if let Some(blob) = part.inline_data.as_ref().filter(|b| b.mime_type.starts_with("image/")) {
                let revised = (!text.is_empty()).then(|| text.concat());
                data.push(ImageData { url: None, b64_json: Some(blob.data.clone()), revised_prompt: revised });
            }
        }
    }
    if data.is_empty() {
        return Err(withheld(block.as_deref()));
    }
    Ok(ImageResponse { created, data, usage: Some(usage), extra: Default::default() })
}

fn parts(candidates: &[Candidate]) -> impl Iterator<Item = &super::wire::Part> {
    candidates.iter().filter_map(|c| c.content.as_ref()).flat_map(|c| c.parts.iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(v: Value) -> ImageRequest {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/gemini/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn flavours_follow_the_model_id() {
        assert_eq!(flavour("imagen-4.0-generate-001"), Flavour::Imagen);
        assert_eq!(flavour("models/imagen-3.0-generate-002"), Flavour::Imagen);
        assert_eq!(flavour("gemini-2.5-flash-image"), Flavour::Gemini);
    }

    #[test]
    fn imagen_bodies_carry_count_ratio_and_extras() {
        let body = imagen_body(&req(json!({"model": "m", "prompt": "Robot holding a red skateboard", "n": 4, "size": "1792x1024", "personGeneration": "dont_allow"})));
        assert_eq!(
            body.ok(),
            Some(json!({"instances": [{"prompt": "Robot holding a red skateboard"}], "parameters": {"sampleCount": 4, "aspectRatio": "16:9", "personGeneration": "dont_allow"}}))
        );
        assert!(matches!(imagen_body(&req(json!({"model": "m", "prompt": "p", "n": 5}))), Err(ProviderError::Upstream(f)) if f.param.as_deref() == Some("n")));
    }

    #[test]
    fn gemini_bodies_ask_for_images() {
        let body = gemini_body(&req(json!({"model": "m", "prompt": "a nano banana dish", "size": "1024x1024"})));
        assert_eq!(
            body.ok(),
            Some(json!({"contents": [{"role": "user", "parts": [{"text": "a nano banana dish"}]}], "generationConfig": {"responseModalities": ["TEXT", "IMAGE"], "imageConfig": {"aspectRatio": "1:1"}}}))
        );
    }

    #[test]
    fn documented_replies_become_base64_images() {
        let out = imagen_reply(&fixture("imagen_predict_response.json"), 5).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.data.len(), 2);
        assert_eq!(out.data[0].b64_json.as_deref(), Some("iVBORw0KGgo="));
        let body = fixture("image_generate_response.json");
        let out = gemini_reply(&[&body, &body], 5).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.data.len(), 2);
        assert_eq!(out.data[0].revised_prompt.as_deref(), Some("Here is your picture."));
        assert_eq!(out.usage.map(|u| (u.input_tokens, u.output_tokens)), Some((20, 2580)));
        assert!(matches!(imagen_reply(br#"{"predictions":[{"raiFilteredReason":"blocked"}]}"#, 0), Err(ProviderError::Upstream(f)) if f.kind == FailureKind::BadRequest));
        assert!(matches!(gemini_reply(&[br#"{"promptFeedback":{"blockReason":"SAFETY"}}"#], 0), Err(ProviderError::Upstream(f)) if f.message.contains("SAFETY")));
    }
}
