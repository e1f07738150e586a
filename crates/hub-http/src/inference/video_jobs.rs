//! `POST /v1/videos`, `GET /v1/videos/{id}` and `GET /v1/videos/{id}/content` (also under
//! `/api/v1`), for OpenAI clients: the hub runs every step up to the journaled hold while the
//! client waits (so a refusal is an ordinary error reply), answers its own job object at once,
//! and generates the video in a task of its own; the call's one usage record is written when
//! that task ends, billed by the seconds of video. Only the key that created a job may read it
//! (any other key is told it does not exist).
//!
//! Job state lives in this process's memory: a job still running when the hub stops is lost
//! (its guard records it as cut short when the task is dropped; after a kill its hold replays
//! as `interrupted`), while a finished job's
//! file is in the file store until the retention sweep. Finished jobs are forgotten after the
//! file retention.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use hub_core::video::{from_openai, Family, InputImage, JobError, OpenAiVideoCreate, VideoJob, VideoRequest};
use parking_lot::Mutex;

use crate::context::RequestCtx;
use crate::error::ApiError;
use crate::files::unix_now;
use crate::inference::authenticate::{self, Caller};
use crate::inference::authorize::RouteFamily;
use crate::inference::body;
use crate::inference::video;
use crate::state::AppState;

#[derive(Debug, Clone)]
enum Phase {
    Running,
    Done { file_id: String, mime_type: String, at: i64 },
    Failed { code: String, message: String, at: i64 },
}

#[derive(Debug, Clone)]
struct Job {
    key_id: String,
    created_at: i64,
    model: String,
    seconds: u32,
    size: Option<String>,
    phase: Phase,
}

/// The jobs of this process.
#[derive(Debug, Default)]
pub struct VideoJobs {
    jobs: Mutex<HashMap<String, Job>>,
}

impl VideoJobs {
    fn insert(&self, id: String, job: Job, forget_before: i64) {
        let mut jobs = self.jobs.lock();
        jobs.retain(|_, j| match &j.phase {
            Phase::Running => true,
            Phase::Done { at, .. } | Phase::Failed { at, .. } => *at >= forget_before,
        });
        jobs.insert(id, job);
    }

    fn finish(&self, id: &str, phase: Phase) {
        if let Some(job) = self.jobs.lock().get_mut(id) {
            job.phase = phase;
        }
    }

    /// The job, when `key_id` created it.
    fn get(&self, id: &str, key_id: &str) -> Option<Job> {
        self.jobs.lock().get(id).filter(|j| j.key_id == key_id).cloned()
    }
}

fn object(id: &str, job: &Job) -> VideoJob {
    let (status, progress, completed_at, error) = match &job.phase {
        Phase::Running => ("in_progress", 0, None, None),
        Phase::Done { at, .. } => ("completed", 100, Some(*at), None),
        Phase::Failed { code, message, .. } => ("failed", 0, None, Some(JobError { code: code.clone(), message: message.clone() })),
    };
    VideoJob {
        id: id.to_owned(),
        object: "video",
        created_at: job.created_at,
        status,
        completed_at,
        error,
        expires_at: None,
        model: job.model.clone(),
        progress,
        remixed_from_video_id: None,
        seconds: job.seconds.to_string(),
        size: job.size.clone(),
    }
}

/// The body as JSON, or as the multipart form OpenAI's SDKs send (the image in `input_reference`).
fn parse(headers: &HeaderMap, bytes: &[u8]) -> Result<VideoRequest, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let Some(boundary) = hub_core::multipart::boundary(content_type) else {
        let create: OpenAiVideoCreate = body::parse_json_naming(bytes, &["model", "prompt", "seconds", "size"])?;
        return from_openai(create, None).map_err(|e| ApiError::bad_request(Some(e.param), e.message));
    };
    let parts = hub_core::multipart::parse(bytes, boundary).map_err(|e| ApiError::bad_request(None, e.to_string()))?;
    let mut fields = serde_json::Map::new();
    let mut image = None;
    for part in parts {
        if part.name == "input_reference" {
            let mime_type = part.content_type.clone().unwrap_or_else(|| hub_store::files::sniff(&part.data).to_owned());
            image = Some(InputImage { mime_type, data: base64::engine::general_purpose::STANDARD.encode(&part.data) });
        } else if part.filename.is_none() {
            let text = String::from_utf8(part.data).map_err(|_| ApiError::bad_request(None, format!("the form field '{}' is not UTF-8 text", part.name)))?;
            fields.insert(part.name, serde_json::Value::String(text));
        }
    }
    let create: OpenAiVideoCreate = serde_json::from_value(serde_json::Value::Object(fields)).map_err(|e| ApiError::bad_request(None, e.to_string()))?;
    from_openai(create, image).map_err(|e| ApiError::bad_request(Some(e.param), e.message))
}

pub async fn create(State(state): State<AppState>, Extension(ctx): Extension<RequestCtx>, headers: HeaderMap, body: Body) -> Response {
    match start(&state, &ctx, &headers, body).await {
        Ok(job) => Json(job).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn start(state: &AppState, ctx: &RequestCtx, headers: &HeaderMap, body: Body) -> Result<VideoJob, ApiError> {
    let caller = authenticate::from_headers(state, headers, RouteFamily::Inference).await?;
    let bytes = body::read_limited(body, state.config.max_body_bytes).await?;
    let req = parse(headers, &bytes)?;
    let ready = video::prepare(state, &caller, ctx, headers, req).await?;
    let seconds = ready.targets.first().and_then(|t| Family::for_protocol(t.kind.protocol())).map_or(0, |f| f.seconds(&ready.req));
    let id = format!("video_{}", hub_core::base62::random(&mut rand::rngs::OsRng, 32));
    let job = Job {
        key_id: caller.secret.key_id.clone(),
        created_at: unix_now(),
        model: ready.req.model.clone(),
        seconds,
        size: ready.req.size.clone(),
        phase: Phase::Running,
    };
    let mut reply = object(&id, &job);
    reply.status = "queued";
    let forget_before = unix_now().saturating_sub(i64::try_from(state.config.file_retention_secs).unwrap_or(i64::MAX));
    state.video_jobs.insert(id.clone(), job, forget_before);
    let task_state = state.clone();
    // The generation belongs to the job, not to this request: it runs on after the reply.
    tokio::spawn(async move {
        let phase = match video::generate(&task_state, ready).await {
            Ok((guard, stored)) => {
                video::settle(guard, &stored);
                Phase::Done { file_id: stored.file_id, mime_type: stored.mime_type, at: unix_now() }
            }
            Err(e) => Phase::Failed { code: e.class().to_owned(), message: e.client_message(), at: unix_now() },
        };
        task_state.video_jobs.finish(&id, phase);
    });
    Ok(reply)
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("Video with id '{id}' not found."))
}

async fn owned(state: &AppState, headers: &HeaderMap, id: &str) -> Result<Job, ApiError> {
    let caller: Caller = authenticate::from_headers(state, headers, RouteFamily::Inference).await?;
    state.video_jobs.get(id, &caller.secret.key_id).ok_or_else(|| not_found(id))
}

pub async fn retrieve(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    match owned(&state, &headers, &id).await {
        Ok(job) => Json(object(&id, &job)).into_response(),
        Err(e) => e.into_response(),
    }
}

pub async fn content(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let job = match owned(&state, &headers, &id).await {
        Ok(j) => j,
        Err(e) => return e.into_response(),
    };
    let Phase::Done { file_id, mime_type, .. } = job.phase else {
        return ApiError::NotFound(format!("Video '{id}' is not ready; GET /v1/videos/{id} tells its status.")).into_response();
    };
    match state.files.store.get(&file_id).await {
        Ok(Some(file)) => {
            let mime = HeaderValue::from_str(&mime_type).unwrap_or(HeaderValue::from_static("video/mp4"));
            (StatusCode::OK, [(header::CONTENT_TYPE, mime)], file.bytes).into_response()
        }
        Ok(None) => ApiError::NotFound(format!("The file of video '{id}' is no longer kept.")).into_response(),
        Err(e) => ApiError::Storage(e).into_response(),
    }
}
