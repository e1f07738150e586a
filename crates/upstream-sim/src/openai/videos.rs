//! OpenAI's Videos API (Sora): `POST /v1/videos` takes `model` (default `sora-2`), `prompt`,
//! `seconds` (`"4"`, `"8"` or `"12"`, default `"4"`), `size` (`720x1280` default, `1280x720`;
//! `sora-2-pro` also `1024x1792` and `1792x1024`) and an optional `input_reference` file, as
//! multipart form fields (what OpenAI's SDKs send) or a JSON body, and answers the job object
//! at once; `GET /v1/videos/{id}` shows it move queued → in_progress → completed (or failed,
//! with an `error`); `GET /v1/videos/{id}/content` answers the MP4 once completed.
//!
//! A job only its creator's key may read is not simulated: any key the simulator accepts
//! reads any job. Status faults and `[[sim:…]]` markers in the prompt apply to the submission.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::response::Response;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderValue, StatusCode};
use serde::Serialize;
use serde_json::{Map, Value};

use super::chat::{parse_error, MAX_BODY};
use super::errors::{self, ApiError};
use super::{add_openai_headers, json_response, ResponseMeta};
use crate::faults::{parse_markers, Applied, RequestKind};
use crate::state::SharedState;
use crate::stats::{bump, InFlight};
use crate::video::{Job, Phase};

const SECONDS: [&str; 3] = ["4", "8", "12"];
const SIZES: [&str; 2] = ["720x1280", "1280x720"];
const PRO_SIZES: [&str; 4] = ["720x1280", "1280x720", "1024x1792", "1792x1024"];

#[derive(Serialize)]
struct VideoObject<'a> {
    id: &'a str,
    object: &'static str,
    created_at: u64,
    status: &'static str,
    completed_at: Option<u64>,
    error: Option<JobError>,
    expires_at: Option<u64>,
    model: &'a str,
    progress: u8,
    remixed_from_video_id: Option<&'a str>,
    seconds: String,
    size: &'a str,
}

#[derive(Serialize)]
struct JobError {
    code: &'static str,
    message: &'static str,
}

fn object_json(id: &str, job: &Job) -> Vec<u8> {
    let (status, progress) = match job.phase() {
        Phase::Queued => ("queued", 0),
        Phase::InProgress(p) => ("in_progress", p),
        Phase::Completed => ("completed", 100),
        Phase::Failed => ("failed", 100),
    };
    let ended = matches!(job.phase(), Phase::Completed | Phase::Failed).then(super::unix_now);
    let error = (job.phase() == Phase::Failed)
        .then_some(JobError { code: "video_generation_failed", message: "The video could not be generated. Try another prompt." });
    let object = VideoObject {
        id,
        object: "video",
        created_at: job.created_at,
        status,
        completed_at: ended.filter(|_| status == "completed"),
        error,
        expires_at: ended.filter(|_| status == "completed").map(|t| t + 3600),
        model: &job.model,
        progress,
        remixed_from_video_id: None,
        seconds: job.seconds.to_string(),
        size: &job.shape,
    };
    serde_json::to_vec(&object).unwrap_or_default()
}

/// The submitted fields, from a JSON body or multipart form fields (files are only named).
fn fields(content_type: &str, body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    if let Some(boundary) = content_type.split(';').find_map(|p| p.trim().strip_prefix("boundary=")) {
        if content_type.trim_start().starts_with("multipart/form-data") {
            return multipart_fields(body, boundary.trim_matches('"'));
        }
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(errors::invalid_body("expected an object")),
        Err(e) => Err(parse_error(&e)),
    }
}

/// Text parts as strings; a file part (one with a `filename`) as `{"filename": …}`.
pub(crate) fn multipart_fields(body: &[u8], boundary: &str) -> Result<Map<String, Value>, ApiError> {
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    let mut out = Map::new();
    for part in text.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let Some((head, value)) = part.split_once("\r\n\r\n") else {
            return Err(errors::invalid_body("malformed multipart part"));
        };
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let disposition = head.lines().find(|l| l.to_ascii_lowercase().starts_with("content-disposition")).unwrap_or("");
        let param = |key: &str| {
            disposition.split(';').find_map(|p| p.trim().strip_prefix(key).map(|v| v.trim_matches('"').to_owned()))
        };
        let Some(name) = param("name=") else {
            return Err(errors::invalid_body("a multipart part has no name"));
        };
        let entry = match param("filename=") {
            Some(filename) => serde_json::json!({ "filename": filename }),
            None => Value::String(value.to_owned()),
        };
        out.insert(name, entry);
    }
    Ok(out)
}

fn invalid_value(param: &'static str, got: &str, allowed: &[&str]) -> ApiError {
    let list = allowed.iter().map(|s| format!("'{s}'")).collect::<Vec<_>>().join(", ");
    errors::invalid_body(&format!("Invalid value: '{got}'. Supported values are: {list}. - '{param}'"))
}

fn text_field<'a>(fields: &'a Map<String, Value>, name: &'static str) -> Result<Option<&'a str>, ApiError> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(errors::invalid_body(&format!("Invalid type for '{name}': expected a string."))),
    }
}

/// `POST /v1/videos`.
pub(crate) async fn create(State(state): State<SharedState>, req: Request) -> Response {
    let _in_flight = InFlight::new(&state.counters);
    bump(&state.counters.video_requests);
    let meta = ResponseMeta::new(&state);
    let (parts, body) = req.into_parts();
    if let Err(e) = state.authorize(&parts.headers) {
        return e.into_response(&meta);
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return errors::invalid_json().into_response(&meta);
    };
    let content_type = parts.headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let fields = match fields(content_type, &body) {
        Ok(f) => f,
        Err(e) => return e.into_response(&meta),
    };
    state.counters.record_video_body(Value::Object(fields.clone()));
    let job = match submit(&state, &fields) {
        Ok(j) => j,
        Err(e) => return e.into_response(&meta),
    };
    json_response(StatusCode::OK, job, &meta)
}

fn submit(state: &crate::state::AppState, fields: &Map<String, Value>) -> Result<Vec<u8>, ApiError> {
    let model = text_field(fields, "model")?.unwrap_or("sora-2");
    let Some(prompt) = text_field(fields, "prompt")? else {
        return Err(errors::missing_parameter("prompt"));
    };
    if prompt.is_empty() {
        return Err(errors::invalid_body("'prompt' must not be empty"));
    }
    let seconds = text_field(fields, "seconds")?.unwrap_or("4");
    if !SECONDS.contains(&seconds) {
        return Err(invalid_value("seconds", seconds, &SECONDS));
    }
    let size = text_field(fields, "size")?.unwrap_or("720x1280");
    let sizes: &[&str] = if model.starts_with("sora-2-pro") { &PRO_SIZES } else { &SIZES };
    if !sizes.contains(&size) {
        return Err(invalid_value("size", size, sizes));
    }
    if !model.starts_with("sora-") {
        return Err(errors::model_not_found(model));
    }
    let mut applied = Applied::default();
    parse_markers(prompt, RequestKind::Video, &mut applied);
    state.faults.take_for(RequestKind::Video, &mut applied);
    if applied.any_fault() {
        bump(&state.counters.faults_served);
    }
    if let Some((status, retry_after)) = applied.status {
        return Err(errors::for_status(status, retry_after, model));
    }
    let id = state.ids.hex("video_", 48);
    let secs = seconds.parse().unwrap_or(4);
    let job = state.videos.insert(&id, model.to_owned(), secs, size.to_owned(), prompt, state.tunables.video_render());
    Ok(object_json(&id, &job))
}

fn not_found(id: &str) -> ApiError {
    errors::invalid_url_message(StatusCode::NOT_FOUND, format!("Video with id '{id}' not found."))
}

/// `GET /v1/videos/{id}`.
pub(crate) async fn retrieve(State(state): State<SharedState>, Path(id): Path<String>, req: Request) -> Response {
    bump(&state.counters.video_polls);
    let meta = ResponseMeta::new(&state);
    if let Err(e) = state.authorize(req.headers()) {
        return e.into_response(&meta);
    }
    match state.videos.get(&id) {
        Some(job) => json_response(StatusCode::OK, object_json(&id, &job), &meta),
        None => not_found(&id).into_response(&meta),
    }
}

/// `GET /v1/videos/{id}/content`: the MP4 once the job completed.
pub(crate) async fn content(State(state): State<SharedState>, Path(id): Path<String>, req: Request) -> Response {
    bump(&state.counters.video_downloads);
    let meta = ResponseMeta::new(&state);
    if let Err(e) = state.authorize(req.headers()) {
        return e.into_response(&meta);
    }
    let Some(job) = state.videos.get(&id) else {
        return not_found(&id).into_response(&meta);
    };
    if job.phase() != Phase::Completed {
        return errors::invalid_url_message(StatusCode::NOT_FOUND, "Video is not ready yet, use GET /v1/videos/{video_id} to check status.".to_owned())
            .into_response(&meta);
    }
    let mut resp = Response::new(Body::from(crate::video::sim_mp4()));
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    add_openai_headers(resp.headers_mut(), &meta);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_fields_are_read_like_json() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na cat\r\non two lines\r\n--XyZ\r\nContent-Disposition: form-data; name=\"seconds\"\r\n\r\n8\r\n--XyZ\r\nContent-Disposition: form-data; name=\"input_reference\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nPNG\r\n--XyZ--\r\n";
        let f = fields("multipart/form-data; boundary=XyZ", &Bytes::from(body)).unwrap_or_default();
        assert_eq!(f.get("prompt"), Some(&Value::from("a cat\r\non two lines")));
        assert_eq!(f.get("seconds"), Some(&Value::from("8")));
        assert_eq!(f.get("input_reference"), Some(&serde_json::json!({"filename": "a.png"})));
        let j = fields("application/json", &Bytes::from(r#"{"prompt":"x"}"#)).unwrap_or_default();
        assert_eq!(j.get("prompt"), Some(&Value::from("x")));
    }
}
