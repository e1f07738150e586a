//! Images through the Gemini API:
//!
//! - Imagen, `POST /v1beta/models/{model}:predict` with
//!   `{"instances":[{"prompt"}],"parameters":{"sampleCount","aspectRatio",…}}`, answered with
//!   `{"predictions":[{"mimeType":"image/png","bytesBase64Encoded"}]}` (one per sample, 1–4).
//!   Only `imagen-*` models predict; others get Google's 404.
//! - Native image generation: `generateContent` whose `generationConfig.responseModalities`
//!   holds `IMAGE` is answered by [`content_reply`]: a text part and an `inlineData` PNG part,
//!   with 1290 `IMAGE` output tokens as Gemini reports them. Models without `image` in their id
//!   refuse it as Gemini does (400, the modalities are not supported).
//!
//! The image is the simulator's 8×8 PNG. A prompt with `[[sim:blocked]]` gets no image
//! (Imagen: an empty `predictions`; Gemini: `promptFeedback.blockReason` `SAFETY`).

use axum::extract::Request;
use axum::response::Response;
use base64::Engine as _;
use http::StatusCode;
use serde_json::{json, Value};

use super::errors::{self, GoogleError};
use super::{authorize, json_response, pretty, Query};
use crate::faults::{Applied, RequestKind};
use crate::openai::chat::MAX_BODY;
use crate::openai::images::sim_png;
use crate::state::SharedState;
use crate::stats::{bump, InFlight};
use crate::tokens::count_words;

/// Output tokens Gemini reports per 1024×1024 image.
pub const TOKENS_PER_IMAGE: u64 = 1290;
/// Imagen's sample limit.
pub const MAX_SAMPLES: u64 = 4;
const RATIOS: [&str; 5] = ["1:1", "3:4", "4:3", "9:16", "16:9"];

fn png_b64() -> String {
    base64::engine::general_purpose::STANDARD.encode(sim_png())
}

/// Whether a `generateContent` body asks for images.
pub(crate) fn wants_image(body: &Value) -> bool {
    let config = body.get("generationConfig").or_else(|| body.get("generation_config"));
    let modalities = config.and_then(|c| c.get("responseModalities").or_else(|| c.get("response_modalities")));
    modalities.and_then(Value::as_array).is_some_and(|m| m.iter().any(|v| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case("image"))))
}

fn faults(state: &SharedState) -> Applied {
    let mut applied = Applied::default();
    state.faults.take_for(RequestKind::Images, &mut applied);
    if applied.any_fault() {
        bump(&state.counters.faults_served);
    }
    applied
}

async fn wait_out(state: &SharedState, applied: &Applied, model: &str, method: &str) -> Result<(), GoogleError> {
    let wait = state.tunables.latency() + applied.delay;
    if !wait.is_zero() {
        tokio::time::sleep(wait).await;
    }
    match applied.status {
        Some((status, retry_after)) => Err(errors::for_status(status, retry_after, model, method)),
        None => Ok(()),
    }
}

/// The reply to a `generateContent` that asks for images; `body` is already validated.
pub(crate) async fn content_reply(state: &SharedState, model: &str, body: &Value) -> Response {
    bump(&state.counters.gemini_image_requests);
    state.counters.record_image_request(body.clone());
    if !model.contains("image") {
        return errors::invalid_argument("The requested combination of response modalities (TEXT, IMAGE) is not supported by the model.").into_response();
    }
    let prompt: String = body
        .pointer("/contents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .flat_map(|c| c.get("parts").and_then(Value::as_array).into_iter().flatten())
        .filter_map(|p| p.get("text").and_then(Value::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let applied = faults(state);
    if let Err(e) = wait_out(state, &applied, model, "generateContent").await {
        return e.into_response();
    }
    let prompt_tokens = count_words(&prompt);
    let response_id = state.ids.alnum("", 23);
    if prompt.contains("[[sim:blocked]]") {
        let reply = json!({
            "promptFeedback": {"blockReason": "SAFETY"},
            "usageMetadata": {"promptTokenCount": prompt_tokens, "totalTokenCount": prompt_tokens, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}]},
            "modelVersion": model,
            "responseId": response_id,
        });
        return json_response(StatusCode::OK, pretty(&reply));
    }
    let reply = json!({
        "candidates": [{
            "content": {"parts": [{"text": "Here is the image you asked for."}, {"inlineData": {"mimeType": "image/png", "data": png_b64()}}], "role": "model"},
            "finishReason": "STOP",
            "index": 0
        }],
        "usageMetadata": {
            "promptTokenCount": prompt_tokens,
            "candidatesTokenCount": TOKENS_PER_IMAGE,
            "totalTokenCount": prompt_tokens + TOKENS_PER_IMAGE,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": prompt_tokens}],
            "candidatesTokensDetails": [{"modality": "IMAGE", "tokenCount": TOKENS_PER_IMAGE}]
        },
        "modelVersion": model,
        "responseId": response_id,
    });
    json_response(StatusCode::OK, pretty(&reply))
}

/// `POST /v1beta/models/{model}:predict` (Imagen).
pub(crate) async fn predict(state: SharedState, model: String, q: Query, req: Request) -> Response {
    let _in_flight = InFlight::new(&state.counters);
    bump(&state.counters.gemini_image_requests);
    let (parts, body) = req.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return errors::invalid_json().into_response();
    };
    if let Err(e) = authorize(&state, &parts.headers, &q) {
        return e.into_response();
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return errors::invalid_json().into_response();
    };
    state.counters.record_image_request(value.clone());
    if !model.starts_with("imagen-") {
        return errors::model_not_found(&model, "predict").into_response();
    }
    let Some(prompt) = value.pointer("/instances/0/prompt").and_then(Value::as_str).filter(|p| !p.trim().is_empty()) else {
        return errors::invalid_argument("* PredictRequest.instances[0].prompt: prompt is required\n").into_response();
    };
    let samples = match value.pointer("/parameters/sampleCount") {
        None => 1,
        Some(v) => match v.as_u64() {
            Some(n) if (1..=MAX_SAMPLES).contains(&n) => n,
            _ => return errors::invalid_argument(format!("Invalid sample count: {v}. The sample count must be between 1 and {MAX_SAMPLES}.")).into_response(),
        },
    };
    if let Some(ratio) = value.pointer("/parameters/aspectRatio") {
        if !ratio.as_str().is_some_and(|r| RATIOS.contains(&r)) {
            return errors::invalid_argument(format!("Unsupported aspect ratio: {ratio}. Supported values are 1:1, 3:4, 4:3, 9:16 and 16:9.")).into_response();
        }
    }
    let applied = faults(&state);
    if let Err(e) = wait_out(&state, &applied, &model, "predict").await {
        return e.into_response();
    }
    if prompt.contains("[[sim:blocked]]") {
        return json_response(StatusCode::OK, pretty(&json!({})));
    }
    let predictions: Vec<Value> = (0..samples).map(|_| json!({"mimeType": "image/png", "bytesBase64Encoded": png_b64()})).collect();
    json_response(StatusCode::OK, pretty(&json!({"predictions": predictions})))
}
