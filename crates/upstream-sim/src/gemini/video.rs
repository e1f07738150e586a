//! Veo through the Gemini API: `POST /v1beta/models/{model}:predictLongRunning` with
//! `{"instances":[{"prompt", "image"?}],"parameters":{"durationSeconds"?,"aspectRatio"?,…}}`
//! answers `{"name":"models/{model}/operations/{id}"}`; `GET /v1beta/models/{model}/operations/{id}`
//! answers `{"name","done":false}` while the job renders, then `done: true` with
//! `response.generateVideoResponse.generatedSamples[].video.uri`, or with an `error` when the
//! prompt held `[[sim:video_fail]]`. The URI is `GET /v1beta/files/{id}:download?alt=media` on
//! the simulator, and like every call here it needs the key.
//!
//! Durations are 4, 6 or 8 seconds (default 8); aspect ratios `16:9` (default) and `9:16`.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderValue, StatusCode};
use serde_json::{json, Value};

use super::errors::{self, GoogleError};
use super::{add_google_headers, authorize, json_response, pretty, query, Query};
use crate::faults::{parse_markers, Applied, RequestKind};
use crate::openai::chat::MAX_BODY;
use crate::state::{AppState, SharedState};
use crate::stats::{bump, InFlight};
use crate::video::Phase;

const DURATIONS: [u64; 3] = [4, 6, 8];
const ASPECT_RATIOS: [&str; 2] = ["16:9", "9:16"];
const INSTANCE: &[&str] = &["prompt", "image", "lastFrame", "referenceImages"];
const PARAMETERS: &[&str] = &["durationSeconds", "aspectRatio", "resolution", "negativePrompt", "personGeneration", "sampleCount", "seed"];

pub(crate) async fn submit(state: SharedState, model: String, q: Query, req: Request) -> Response {
    let _in_flight = InFlight::new(&state.counters);
    bump(&state.counters.video_requests);
    let (parts, body) = req.into_parts();
    if let Err(e) = authorize(&state, &parts.headers, &q) {
        return e.into_response();
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return errors::invalid_json().into_response();
    };
    match accept(&state, &model, &body) {
        Ok(name) => json_response(StatusCode::OK, pretty(&json!({ "name": name }))),
        Err(e) => e.into_response(),
    }
}

fn accept(state: &AppState, model: &str, body: &[u8]) -> Result<String, GoogleError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| errors::invalid_json())?;
    state.counters.record_video_body(value.clone());
    let top = value.as_object().ok_or_else(errors::invalid_json)?;
    if let Some(k) = top.keys().find(|k| !["instances", "parameters"].contains(&k.as_str())) {
        return Err(errors::unknown_field(k, ""));
    }
    let instance = top.get("instances").and_then(Value::as_array).and_then(|a| a.first()).and_then(Value::as_object);
    let Some(instance) = instance else {
        return Err(errors::invalid_argument("* PredictLongRunningRequest.instances: instances is not specified\n"));
    };
    if let Some(k) = instance.keys().find(|k| !INSTANCE.contains(&k.as_str())) {
        return Err(errors::unknown_field(k, "instances[0]"));
    }
    let prompt = instance.get("prompt").and_then(Value::as_str).unwrap_or("");
    if prompt.trim().is_empty() && instance.get("image").is_none() {
        return Err(errors::invalid_argument("A prompt or an image is required."));
    }
    let params = top.get("parameters").and_then(Value::as_object).cloned().unwrap_or_default();
    if let Some(k) = params.keys().find(|k| !PARAMETERS.contains(&k.as_str())) {
        return Err(errors::unknown_field(k, "parameters"));
    }
    let duration = match params.get("durationSeconds") {
        None => 8,
        Some(v) => match v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())) {
            Some(d) if DURATIONS.contains(&d) => d,
            _ => return Err(errors::invalid_argument(format!("The duration ({v}) is out of bounds. Supported durations are 4, 6 and 8 seconds."))),
        },
    };
    let aspect = match params.get("aspectRatio") {
        None => "16:9",
        Some(v) => match v.as_str() {
            Some(a) if ASPECT_RATIOS.contains(&a) => a,
            _ => return Err(errors::invalid_argument(format!("Aspect ratio {v} is not supported. Supported aspect ratios are 16:9 and 9:16."))),
        },
    };
    if !model.starts_with("veo-") {
        return Err(errors::model_not_found(model, "predictLongRunning"));
    }
    let mut applied = Applied::default();
    parse_markers(prompt, RequestKind::Video, &mut applied);
    state.faults.take_for(RequestKind::Video, &mut applied);
    if applied.any_fault() {
        bump(&state.counters.faults_served);
    }
    if let Some((status, retry_after)) = applied.status {
        return Err(errors::for_status(status, retry_after, model, "predictLongRunning"));
    }
    let id = state.ids.alnum("", 12).to_ascii_lowercase();
    state.videos.insert(&id, model.to_owned(), u32::try_from(duration).unwrap_or(8), aspect.to_owned(), prompt, state.tunables.video_render());
    Ok(format!("models/{model}/operations/{id}"))
}

/// `GET /v1beta/models/{model}/operations/{id}`.
pub(crate) async fn operation(State(state): State<SharedState>, Path((model, id)): Path<(String, String)>, req: Request) -> Response {
    bump(&state.counters.video_polls);
    let q = query(req.uri());
    if let Err(e) = authorize(&state, req.headers(), &q) {
        return e.into_response();
    }
    let name = format!("models/{model}/operations/{id}");
    let job = state.videos.get(&id).filter(|j| j.model == model);
    let Some(job) = job else {
        return errors::method_not_found(req.uri().path()).into_response();
    };
    let host = req.headers().get(HOST).and_then(|v| v.to_str().ok()).unwrap_or("127.0.0.1");
    let body = match job.phase() {
        Phase::Queued | Phase::InProgress(_) => json!({ "name": name }),
        Phase::Failed => json!({
            "name": name,
            "done": true,
            "error": { "code": 13, "message": "Video generation failed. Try another prompt." }
        }),
        Phase::Completed => json!({
            "name": name,
            "done": true,
            "response": {
                "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse",
                "generateVideoResponse": {
                    "generatedSamples": [
                        { "video": { "uri": format!("http://{host}/v1beta/files/{id}:download?alt=media") } }
                    ]
                }
            }
        }),
    };
    json_response(StatusCode::OK, pretty(&body))
}

/// `GET /v1beta/files/{id}:download?alt=media`.
pub(crate) async fn download(State(state): State<SharedState>, Path(target): Path<String>, req: Request) -> Response {
    bump(&state.counters.video_downloads);
    let q = query(req.uri());
    if let Err(e) = authorize(&state, req.headers(), &q) {
        return e.into_response();
    }
    let ready = target
        .strip_suffix(":download")
        .and_then(|id| state.videos.get(id))
        .is_some_and(|j| j.phase() == Phase::Completed);
    if !ready {
        return errors::method_not_found(req.uri().path()).into_response();
    }
    let mut resp = Response::new(Body::from(crate::video::sim_mp4()));
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    add_google_headers(resp.headers_mut());
    resp
}
