//! `POST /v1/images/generations`: `n` copies of one small deterministic PNG, as URLs on the
//! simulator itself (`GET /__sim/files/{id}.png`) or as base64. `gpt-image-1` answers base64
//! only and reports token usage, its `size` and its `quality` (`auto` resolved to the
//! cheapest, 1024×1024 low: 272 tokens an image), as OpenAI's does.

use std::borrow::Cow;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use base64::Engine as _;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

use super::chat::{parse_error, MAX_BODY};
use super::errors::{self, ApiError};
use super::{json_response, unix_now, ResponseMeta};
use crate::faults::{Applied, RequestKind};
use crate::state::{AppState, SharedState};
use crate::stats::InFlight;
use crate::tokens::count_words;

/// Most images one request may ask for (OpenAI's limit for dall-e-2 and gpt-image-1).
pub const MAX_IMAGES: u32 = 10;
/// Side of the square test image, in pixels.
const SIDE: u32 = 8;
/// Image tokens gpt-image-1 reports per image, by quality and size (OpenAI's figures).
fn tokens_per_image(quality: &str, size: &str) -> u64 {
    let square = size == "1024x1024";
    match (quality, square) {
        ("medium", true) => 1056,
        ("medium", false) => 1584,
        ("high", true) => 4160,
        ("high", false) => 6240,
        (_, true) => 272,
        (_, false) => 408,
    }
}

#[derive(Deserialize)]
struct ImageRequest<'a> {
    #[serde(borrow, default)]
    model: Cow<'a, str>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    n: Option<u32>,
    #[serde(default)]
    response_format: Option<String>,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    quality: Option<String>,
}

#[derive(Serialize)]
struct ImageList {
    created: u64,
    data: Vec<Datum>,
    #[serde(skip_serializing_if = "Option::is_none")]
    usage: Option<Usage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    quality: Option<String>,
}

#[derive(Serialize)]
struct Datum {
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    b64_json: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    revised_prompt: Option<String>,
}

#[derive(Serialize)]
struct Usage {
    input_tokens: u64,
    output_tokens: u64,
    total_tokens: u64,
}

struct Plan {
    model: String,
    prompt: String,
    n: u32,
    base64: bool,
    size: String,
    quality: String,
    applied: Applied,
}

fn plan(req: ImageRequest<'_>, state: &AppState) -> Result<Plan, ApiError> {
    if req.model.is_empty() {
        return Err(errors::missing_model());
    }
    let prompt = req.prompt.ok_or_else(|| errors::missing_parameter("prompt"))?;
    if prompt.is_empty() {
        return Err(errors::invalid_body("'prompt' must not be empty"));
    }
    let n = req.n.unwrap_or(1);
    if n == 0 {
        return Err(errors::below_minimum("n", 1, 0));
    }
    if n > MAX_IMAGES {
        return Err(errors::above_maximum("n", u64::from(MAX_IMAGES), u64::from(n)));
    }
    let gpt_image = req.model.starts_with("gpt-image");
    let base64 = match req.response_format.as_deref() {
        None | Some("url") => gpt_image,
        Some("b64_json") => true,
        Some(other) => return Err(errors::invalid_body(&format!("'{other}' is not one of ['url', 'b64_json'] - 'response_format'"))),
    };
    if req.model.starts_with("missing-") {
        return Err(errors::model_not_found(&req.model));
    }
    let mut applied = Applied::default();
    state.faults.take_for(RequestKind::Images, &mut applied);
    let size = req.size.filter(|s| s != "auto").unwrap_or_else(|| "1024x1024".to_owned());
    let quality = req.quality.filter(|q| q != "auto").unwrap_or_else(|| "low".to_owned());
    Ok(Plan { model: req.model.into_owned(), prompt, n, base64, size, quality, applied })
}

pub(crate) async fn generate(State(state): State<SharedState>, req: Request) -> Response {
    let _in_flight = InFlight::new(&state.counters);
    let mut meta = ResponseMeta::new(&state);
    let (parts, body) = req.into_parts();
    if let Err(e) = state.authorize(&parts.headers) {
        return e.into_response(&meta);
    }
    let host = parts.headers.get(HOST).and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1").to_owned();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return errors::invalid_json().into_response(&meta),
    };
    let request: ImageRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return parse_error(&e).into_response(&meta),
    };
    let plan = match plan(request, &state) {
        Ok(p) => p,
        Err(e) => return e.into_response(&meta),
    };
    if plan.applied.any_fault() {
        crate::stats::bump(&state.counters.faults_served);
    }
    if plan.applied.stall {
        std::future::pending::<()>().await;
    }
    let wait = state.tunables.latency() + plan.applied.delay;
    meta.processing_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    if let Some((status, retry_after)) = plan.applied.status {
        return errors::for_status(status, retry_after, &plan.model).into_response(&meta);
    }

    let gpt_image = plan.model.starts_with("gpt-image");
    let data = (0..plan.n)
        .map(|_| {
            if plan.base64 {
                Datum { url: None, b64_json: Some(base64::engine::general_purpose::STANDARD.encode(sim_png())), revised_prompt: None }
            } else {
                let id = state.ids.hex("img_", 24);
                Datum { url: Some(format!("http://{host}/__sim/files/{id}.png")), b64_json: None, revised_prompt: Some(plan.prompt.clone()) }
            }
        })
        .collect();
    let usage = (gpt_image && !plan.applied.no_usage).then(|| {
        let input_tokens = count_words(&plan.prompt);
        let output_tokens = tokens_per_image(&plan.quality, &plan.size) * u64::from(plan.n);
        Usage { input_tokens, output_tokens, total_tokens: input_tokens + output_tokens }
    });
    let (size, quality) = if gpt_image { (Some(plan.size.clone()), Some(plan.quality.clone())) } else { (None, None) };
    let list = ImageList { created: unix_now(), data, usage, size, quality };
    let mut out = Vec::with_capacity(512);
    let _ = serde_json::to_writer(&mut out, &list);
    json_response(StatusCode::OK, out, &meta)
}

/// `GET /__sim/files/{id}.png`: every URL the simulator hands out serves the same PNG.
pub(crate) async fn file(State(state): State<SharedState>, Path(name): Path<String>) -> Response {
    if !name.ends_with(".png") {
        let meta = ResponseMeta::new(&state);
        return errors::invalid_url("GET", &format!("/__sim/files/{name}")).into_response(&meta);
    }
    crate::stats::bump(&state.counters.file_downloads);
    let mut resp = Response::new(Body::from(sim_png()));
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("image/png"));
    resp
}

/// The simulator's image: a valid 8×8 RGB PNG (a fixed gradient), built by hand with a stored
/// (uncompressed) deflate block.
pub fn sim_png() -> Vec<u8> {
    let mut raw = Vec::with_capacity((SIDE * (SIDE * 3 + 1)) as usize);
    for y in 0..SIDE {
        raw.push(0); // filter: none
        for x in 0..SIDE {
            raw.extend_from_slice(&[(x * 32) as u8, (y * 32) as u8, 0x80]);
        }
    }
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&SIDE.to_be_bytes());
    ihdr.extend_from_slice(&SIDE.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit, truecolour, deflate, adaptive, no interlace
    let len = raw.len() as u16;
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend_from_slice(&len.to_le_bytes());
    zlib.extend_from_slice(&(!len).to_le_bytes());
    zlib.extend_from_slice(&raw);
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());

    let mut png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &zlib);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in data {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_png_is_well_formed() {
        let png = sim_png();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        // IHDR's CRC, checked independently.
        let crc = crc32fast::hash(&png[12..29]);
        assert_eq!(&png[29..33], &crc.to_be_bytes());
        assert!(png.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]));
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
    }
}
