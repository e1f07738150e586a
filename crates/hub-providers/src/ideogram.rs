//! Ideogram 3.0 (`POST {base}/v1/ideogram-v3/generate`), provider `ideogram`.
//!
//! The request is a `multipart/form-data` form with the key in the `Api-Key` header. The hub's
//! model names Ideogram's tiers: `V_3` (rendering speed `DEFAULT`), `V_3_TURBO` and
//! `V_3_QUALITY`; the model decides the speed because it decides the price. `n` becomes
//! `num_images` (1–8), `size` the nearest of Ideogram's aspect ratios; `negative_prompt`,
//! `magic_prompt`, `seed`, `style_type`, `aspect_ratio` and `resolution` given as extra fields
//! pass through.
//!
//! The reply's image URLs are ephemeral, so the adapter downloads every image (without the
//! credential: the file lives on another origin) and answers base64, as providers that return
//! bytes do; the HTTP layer stores it and hands `url` clients the hub's own signed URL. An
//! image Ideogram withheld (`is_image_safe: false`, no URL) is left out; when all are, the call
//! fails as a bad request.
//!
//! The connection probe is a form without a prompt: Ideogram checks the key first (401 for a bad
//! one) and refuses the form (400/422) for a good one, so nothing is generated or billed.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use futures::future::BoxFuture;
use hub_core::chat::ChatRequest;
use hub_core::images::{ImageData, ImageRequest, ImageResponse};
use serde::Deserialize;
use serde_json::Value;

use crate::adapter::{Adapter, ChatReply, StreamReply, Target};
use crate::client::HttpClient;
use crate::error::{classify_status, scrub, FailureKind, ProviderError, UpstreamFailure};
use crate::video::{call, Auth};

/// Most images one Ideogram call makes.
pub const MAX_IMAGES: u32 = 8;
/// Ideogram's aspect ratios, as `(width, height)`.
pub const ASPECT_RATIOS: [(u32, u32); 15] =
    [(1, 3), (3, 1), (1, 2), (2, 1), (9, 16), (16, 9), (10, 16), (16, 10), (2, 3), (3, 2), (3, 4), (4, 3), (4, 5), (5, 4), (1, 1)];
/// Extra request fields passed through as form fields.
const PASSED_THROUGH: [&str; 6] = ["negative_prompt", "magic_prompt", "seed", "style_type", "aspect_ratio", "resolution"];
const API_KEY_HEADER: &str = "Api-Key";
/// Largest JSON reply read.
const MAX_REPLY_BYTES: usize = 1024 * 1024;
/// Largest image downloaded.
const MAX_IMAGE_BYTES: usize = 64 * 1024 * 1024;

pub struct IdeogramAdapter {
    client: HttpClient,
}

impl IdeogramAdapter {
    pub fn new(client: HttpClient) -> IdeogramAdapter {
        IdeogramAdapter { client }
    }
}

/// `{base}/v1/ideogram-v3/generate`; a base ending in `/v1` is tolerated.
pub fn generate_url(base_url: &str) -> String {
    let base = base_url.trim_end_matches('/');
    let base = base.strip_suffix("/v1").unwrap_or(base).trim_end_matches('/');
    format!("{base}/v1/ideogram-v3/generate")
}

/// The rendering speed a hub model name stands for.
pub fn rendering_speed(model: &str) -> Result<&'static str, ProviderError> {
    match model.to_ascii_uppercase().as_str() {
        "V_3" | "V3" => Ok("DEFAULT"),
        "V_3_TURBO" | "V3_TURBO" => Ok("TURBO"),
        "V_3_QUALITY" | "V3_QUALITY" => Ok("QUALITY"),
        "V_3_FLASH" | "V3_FLASH" => Ok("FLASH"),
        _ => Err(bad_request("model", format!("Ideogram model '{model}' is not one of V_3, V_3_TURBO, V_3_QUALITY, V_3_FLASH"))),
    }
}

/// The Ideogram aspect ratio nearest to `size` (`WIDTHxHEIGHT`), as Ideogram writes it (`16x9`).
pub fn aspect_ratio(size: &str) -> Result<String, ProviderError> {
    let parsed = size.split_once(['x', 'X']).and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)));
    let Some((w, h)) = parsed.filter(|(w, h)| *w > 0 && *h > 0) else {
        return Err(bad_request("size", format!("'size' must be WIDTHxHEIGHT, got '{size}'")));
    };
    let want = (f64::from(w) / f64::from(h)).ln();
    let mut best = (1, 1);
    let mut best_gap = f64::INFINITY;
    for (aw, ah) in ASPECT_RATIOS {
        let gap = ((f64::from(aw) / f64::from(ah)).ln() - want).abs();
        if gap < best_gap {
            best_gap = gap;
            best = (aw, ah);
        }
    }
    Ok(format!("{}x{}", best.0, best.1))
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

/// The form fields of one generation, in the order they are sent.
pub fn form_fields(model: &str, req: &ImageRequest) -> Result<Vec<(&'static str, String)>, ProviderError> {
    let mut fields = vec![("prompt", req.prompt.clone()), ("rendering_speed", rendering_speed(model)?.to_owned())];
    let n = req.n.unwrap_or(1);
    if !(1..=MAX_IMAGES).contains(&n) {
        return Err(bad_request("n", format!("Ideogram makes 1 to {MAX_IMAGES} images per call, got {n}")));
    }
    fields.push(("num_images", n.to_string()));
    let explicit_shape = req.extra.contains_key("aspect_ratio") || req.extra.contains_key("resolution");
    if let (Some(size), false) = (req.size.as_deref(), explicit_shape) {
        fields.push(("aspect_ratio", aspect_ratio(size)?));
    }
    for name in PASSED_THROUGH {
        match req.extra.get(name) {
            Some(Value::String(s)) => fields.push((name, s.clone())),
            Some(Value::Number(n)) => fields.push((name, n.to_string())),
            Some(Value::Bool(b)) => fields.push((name, if *b { "ON" } else { "OFF" }.to_owned())),
            _ => {}
        }
    }
    Ok(fields)
}

/// One item of Ideogram's reply.
#[derive(Debug, Deserialize)]
pub struct GeneratedImage {
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub prompt: Option<String>,
    #[serde(default)]
    pub resolution: Option<String>,
    #[serde(default = "safe_by_default")]
    pub is_image_safe: bool,
    #[serde(default)]
    pub seed: Option<i64>,
    #[serde(default)]
    pub style_type: Option<String>,
}

fn safe_by_default() -> bool {
    true
}

/// Ideogram's reply: `created` is an RFC 3339 time.
#[derive(Debug, Deserialize)]
pub struct GenerateResponse {
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub data: Vec<GeneratedImage>,
}

/// The images worth downloading, with the prompt Ideogram used (its magic prompt may rewrite it).
pub fn usable_images(reply: &GenerateResponse) -> Result<Vec<(&str, Option<&str>)>, ProviderError> {
    let out: Vec<_> = reply
        .data
        .iter()
        .filter(|d| d.is_image_safe)
        .filter_map(|d| d.url.as_deref().filter(|u| !u.is_empty()).map(|u| (u, d.prompt.as_deref())))
        .collect();
    if out.is_empty() {
        return Err(ProviderError::Upstream(UpstreamFailure {
            status: 400,
            kind: FailureKind::BadRequest,
            message: "the provider withheld every image of this request (its safety check)".to_owned(),
            error_type: Some("invalid_request_error".to_owned()),
            code: Some("content_policy_violation".to_owned()),
            param: Some("prompt".to_owned()),
            retry_after: None,
        }));
    }
    Ok(out)
}

/// Ideogram's error bodies (`{"error": "…"}`, or FastAPI's `{"detail": …}`) as a safe failure.
pub fn parse_failure(status: u16, body: &[u8], retry_after: Option<Duration>, credential: Option<&str>) -> UpstreamFailure {
    let kind = classify_status(status);
    let text = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        ["error", "detail", "message"].iter().find_map(|k| match v.get(k) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Object(o)) => o.get("message").and_then(Value::as_str).map(str::to_owned),
            Some(other @ Value::Array(_)) => Some(other.to_string()),
            _ => None,
        })
    });
    let message = match kind {
        FailureKind::Auth => "the provider refused the hub's credential".to_owned(),
        _ => text.map(|m| scrub(&m, credential)).unwrap_or_else(|| format!("the provider answered with status {status}")),
    };
    let error_type = match kind {
        FailureKind::BadRequest => Some("invalid_request_error".to_owned()),
        FailureKind::RateLimited => Some("rate_limit_error".to_owned()),
        _ => None,
    };
    UpstreamFailure { status, kind, message, error_type, code: None, param: None, retry_after }
}

fn boundary() -> String {
    format!("aignehub{}", hub_core::base62::random(&mut rand::rngs::OsRng, 24))
}

fn form_request(client: &HttpClient, target: &Target, fields: &[(&str, String)]) -> reqwest::RequestBuilder {
    let boundary = boundary();
    let body = crate::openai_video::form(&boundary, fields, None);
    client
        .inner
        .post(generate_url(&target.base_url))
        .header(reqwest::header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
        .header(reqwest::header::ACCEPT, "application/json")
        .body(body)
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}

/// One generation: the form, the reply, then every usable image downloaded as base64.
pub async fn images(client: &HttpClient, target: &Target, req: &ImageRequest) -> Result<ImageResponse, ProviderError> {
    let fields = form_fields(&target.model, req)?;
    let work = async {
        let (bytes, _) = call(client, target, form_request(client, target, &fields), Auth::Header(API_KEY_HEADER), parse_failure, MAX_REPLY_BYTES).await?;
        let reply: GenerateResponse = serde_json::from_slice(&bytes).map_err(|e| ProviderError::Protocol(format!("Ideogram reply: {e}")))?;
        // The files live on another origin: they are fetched without the credential.
        let anonymous = Target { api_key: None, ..target.clone() };
        let mut data = Vec::new();
        for (url, prompt) in usable_images(&reply)? {
            let (image, _) = call(client, &anonymous, client.inner.get(url), Auth::Header(API_KEY_HEADER), parse_failure, MAX_IMAGE_BYTES)
                .await
                .map_err(|e| ProviderError::Protocol(format!("a generated image could not be downloaded: {e}")))?;
            if image.is_empty() {
                return Err(ProviderError::Protocol("a generated image is empty".to_owned()));
            }
            data.push(ImageData { url: None, b64_json: Some(STANDARD.encode(&image)), revised_prompt: prompt.map(str::to_owned) });
        }
        Ok(ImageResponse { created: unix_now(), data, usage: None, extra: Default::default() })
    };
    tokio::time::timeout(client.timeouts.total, work).await.map_err(|_| ProviderError::Timeout(crate::error::TimeoutKind::Total))?
}

impl Adapter for IdeogramAdapter {
    fn chat<'a>(&'a self, _target: &'a Target, _req: &'a ChatRequest) -> BoxFuture<'a, Result<ChatReply, ProviderError>> {
        Box::pin(async { Err(ProviderError::Unsupported("chat completions")) })
    }

    fn chat_stream<'a>(&'a self, _target: &'a Target, _req: &'a ChatRequest) -> BoxFuture<'a, Result<StreamReply, ProviderError>> {
        Box::pin(async { Err(ProviderError::Unsupported("chat completions")) })
    }

    fn images<'a>(&'a self, target: &'a Target, req: &'a ImageRequest) -> BoxFuture<'a, Result<ImageResponse, ProviderError>> {
        Box::pin(images(&self.client, target, req))
    }

    /// A form without a prompt: refused as invalid (400/422) once the key is accepted, 401
    /// before; nothing is generated.
    fn probe<'a>(&'a self, target: &'a Target) -> BoxFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            let builder = form_request(&self.client, target, &[("num_images", "1".to_owned())]);
            match crate::probe::send(&self.client, target, builder, Auth::Header(API_KEY_HEADER), parse_failure).await {
                Ok(()) => Ok(()),
                Err(ProviderError::Upstream(f)) if f.kind == FailureKind::BadRequest => Ok(()),
                Err(e) => Err(e),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: Value) -> ImageRequest {
        serde_json::from_value(v).unwrap_or_else(|e| panic!("{e}"))
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!("{}/fixtures/ideogram/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    #[test]
    fn the_form_carries_prompt_speed_count_and_shape() {
        let r = req(json!({"model": "ideogram/V_3_TURBO", "prompt": "a red fox", "n": 2, "size": "1792x1024", "negative_prompt": "blur", "seed": 7, "response_format": "b64_json"}));
        let fields = form_fields("V_3_TURBO", &r).unwrap_or_else(|e| panic!("{e}"));
        let want: Vec<(&str, String)> = vec![
            ("prompt", "a red fox".into()),
            ("rendering_speed", "TURBO".into()),
            ("num_images", "2".into()),
            ("aspect_ratio", "16x9".into()),
            ("negative_prompt", "blur".into()),
            ("seed", "7".into()),
        ];
        assert_eq!(fields, want);
        let explicit = req(json!({"model": "m", "prompt": "p", "size": "1024x1024", "resolution": "1280x768"}));
        let fields = form_fields("V_3", &explicit).unwrap_or_else(|e| panic!("{e}"));
        assert!(fields.contains(&("resolution", "1280x768".into())) && !fields.iter().any(|(k, _)| *k == "aspect_ratio"), "{fields:?}");
    }

    #[test]
    fn sizes_map_to_the_nearest_aspect_ratio_and_bad_input_is_a_bad_request() {
        assert_eq!(aspect_ratio("1024x1024").ok().as_deref(), Some("1x1"));
        assert_eq!(aspect_ratio("1024x1792").ok().as_deref(), Some("9x16"));
        assert_eq!(aspect_ratio("1536x1024").ok().as_deref(), Some("3x2"));
        assert_eq!(aspect_ratio("1280x800").ok().as_deref(), Some("16x10"));
        for bad in ["big", "0x10", "10x"] {
            assert!(matches!(aspect_ratio(bad), Err(ProviderError::Upstream(f)) if f.status == 400), "{bad}");
        }
        assert!(matches!(form_fields("V_3", &req(json!({"model": "m", "prompt": "p", "n": 9}))), Err(ProviderError::Upstream(f)) if f.param.as_deref() == Some("n")));
        assert!(rendering_speed("V_2").is_err());
        assert_eq!(rendering_speed("V_3_QUALITY").ok(), Some("QUALITY"));
    }

    #[test]
    fn the_documented_reply_parses_and_unsafe_images_are_left_out() {
        let reply: GenerateResponse = serde_json::from_slice(&fixture("generate_response.json")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(reply.data.len(), 2);
        assert_eq!(reply.data[0].resolution.as_deref(), Some("1024x1024"));
        let usable = usable_images(&reply).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(usable.len(), 1, "the unsafe image has no URL");
        assert!(usable[0].0.starts_with("https://ideogram.ai/api/images/ephemeral/"));
        let none: GenerateResponse = serde_json::from_value(json!({"created": "2025-01-01T00:00:00Z", "data": [{"is_image_safe": false, "url": null}]})).unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(usable_images(&none), Err(ProviderError::Upstream(f)) if f.kind == FailureKind::BadRequest));
    }

    #[test]
    fn errors_are_classified_and_auth_text_never_passes() {
        let f = parse_failure(401, &fixture("error_401.json"), None, Some("ideo-secret-key-123"));
        assert_eq!(f.kind, FailureKind::Auth);
        assert!(!f.message.contains("ideo-secret"), "{}", f.message);
        let f = parse_failure(422, &fixture("error_422.json"), None, None);
        assert_eq!((f.kind, f.message.as_str()), (FailureKind::BadRequest, "Prompt failed the safety check."));
        let f = parse_failure(429, br#"{"error":"Too many requests"}"#, Some(Duration::from_secs(3)), None);
        assert_eq!((f.kind, f.retry_after), (FailureKind::RateLimited, Some(Duration::from_secs(3))));
        let f = parse_failure(400, b"<html>", None, None);
        assert_eq!(f.message, "the provider answered with status 400");
    }

    #[test]
    fn urls_tolerate_a_version_suffix() {
        assert_eq!(generate_url("https://api.ideogram.ai"), "https://api.ideogram.ai/v1/ideogram-v3/generate");
        assert_eq!(generate_url("http://127.0.0.1:9/v1/"), "http://127.0.0.1:9/v1/ideogram-v3/generate");
    }
}
