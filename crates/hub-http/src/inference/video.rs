//! Video generation, the one request path behind `POST /api/v2/video` (the AIGNE SDK, which
//! waits for the video) and `POST /v1/videos` (OpenAI clients, which get a job at once and poll
//! it, see `video_jobs.rs`): authenticate → parse once → validate → admit → resolve → scopes and
//! limits → the family's documented lengths and sizes → journal the hold → relay (the adapter
//! submits, polls and downloads) → store the file → settle. The record's endpoint is `video`,
//! its tokens 0 and its `video_seconds` the clip's length, which the call is billed by.
//!
//! The finished file is kept in the hub's file store and answered as a signed, expiring URL on
//! the hub's public origin (`crate::files`), like stored images.

use std::time::Instant;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use hub_core::scopes::Endpoint;
use hub_core::video::{self, Family, VideoRequest};
use hub_providers::Target;

use crate::context::RequestCtx;
use crate::error::ApiError;
use crate::files::unix_now;
use crate::inference::admit::{self, CallGuard, CallIntent};
use crate::inference::authenticate::Caller;
use crate::inference::chat::project;
use crate::inference::relay;
use crate::inference::resolve::{self, Candidate, Plan};
use crate::state::AppState;

/// A call admitted, resolved and journaled: ready to reach the upstream, here or in a task.
pub struct ReadyCall {
    pub guard: CallGuard,
    /// The attempts in order, owned so the call can outlive the request.
    pub targets: Vec<Target>,
    pub req: VideoRequest,
}

/// The finished video, stored.
pub struct Stored {
    pub file_id: String,
    pub mime_type: String,
    pub seconds: u32,
    pub model: String,
}

fn invalid(e: hub_core::validate::InvalidRequest) -> ApiError {
    ApiError::bad_request(Some(e.param), e.message)
}

/// Every step before the upstream: a refusal ends the call here, with its record.
pub async fn prepare(state: &AppState, caller: &Caller, ctx: &RequestCtx, headers: &HeaderMap, req: VideoRequest) -> Result<ReadyCall, ApiError> {
    video::validate(&req).map_err(invalid)?;
    let est_input = (req.prompt.chars().count() as u64).div_ceil(4);
    let intent = CallIntent { project: project(headers), endpoint: "video", scope: Endpoint::Video, model: &req.model, stream: false, est_input_tokens: est_input, max_output_tokens: Some(0), choices: 1, images: 0, price: hub_core::price_options::PriceAsk::default() };
    let mut guard = admit::admit(state, caller, ctx, intent).await?;
    let mut plan = guard.check(resolve::plan_for(state, &req.model, "video generation"))?;
    // Reserved per second: the length asked for, else the model family's default length.
    let seconds = plan.preferred().and_then(|t| Family::for_protocol(t.kind.protocol())).map_or(req.seconds.unwrap_or(video::MAX_SECONDS), |f| f.seconds(&req));
    guard.ask_video_seconds(u64::from(seconds));
    let scoped = guard.enforce(caller, ctx, &req.model, &mut plan).await;
    guard.check(scoped)?;
    if let Some(first) = plan.preferred() {
        guard.name_target(first);
        let fits = match Family::for_protocol(first.kind.protocol()) {
            Some(family) => family.check(&req, &first.model).map_err(invalid),
            None => Err(ApiError::Upstream(hub_providers::ProviderError::Unsupported("video generation"))),
        };
        guard.check(fits)?;
    }
    let held = guard.journal_hold();
    guard.check(held)?;
    let targets = plan.candidates.into_iter().map(|c| c.target).collect();
    Ok(ReadyCall { guard, targets, req })
}

/// Reaches the upstream, stores the file and settles the call: exactly one record, whatever
/// happens. The guard is handed back on success so the caller settles it when its reply is
/// built; [`settle`] does that.
pub async fn generate(state: &AppState, call: ReadyCall) -> Result<(CallGuard, Stored), ApiError> {
    let ReadyCall { mut guard, targets, req } = call;
    let candidates = targets
        .into_iter()
        .filter_map(|target| state.adapters.for_protocol(target.kind.protocol()).map(|adapter| Candidate { target, adapter }))
        .collect();
    let plan = Plan { candidates };
    let relayed = match relay::video(state, &plan, &req).await {
        Ok(r) => r,
        Err(failed) => return Err(guard.fail_relay(failed)),
    };
    guard.name_target(&relayed.target);
    let result = relayed.value;
    let file_id = match state.files.store.put(result.bytes).await {
        Ok(id) => id,
        Err(e) => {
            let err = ApiError::Storage(e);
            guard.fail(&err);
            return Err(err);
        }
    };
    Ok((guard, Stored { file_id, mime_type: result.mime_type, seconds: result.seconds, model: result.model }))
}

/// Writes the successful call's record: billed by its seconds of video.
pub fn settle(guard: CallGuard, stored: &Stored) {
    let ms = guard.elapsed_ms();
    guard.settle(hub_core::usage::CallSettlement {
        status: 200,
        duration_ms: ms,
        ttfb_ms: Some(ms),
        video_seconds: u64::from(stored.seconds),
        ..hub_core::usage::CallSettlement::default()
    });
}

/// A signed URL to the stored video, valid for the configured time.
pub fn signed_url(state: &AppState, file_id: &str) -> String {
    let exp = unix_now().saturating_add(i64::try_from(state.config.file_url_ttl_secs).unwrap_or(i64::MAX));
    state.files.url(&state.config.public_url, file_id, exp)
}

/// `POST /api/v2/video`: the whole call while the client waits; the reply names the video by
/// URL (or carries it as base64 when `outputFileType` is `file`).
pub async fn run_aigne(state: &AppState, ctx: &RequestCtx, headers: &HeaderMap, body: axum::body::Body) -> Result<Response, ApiError> {
    use hub_core::aigne::video::{to_video_reply, to_video_request, VideoFile, VideoInput};
    let caller = crate::inference::authenticate::from_headers(state, headers, crate::inference::authorize::RouteFamily::Inference).await?;
    let bytes = crate::inference::body::read_limited(body, state.config.max_body_bytes).await?;
    let envelope: hub_core::aigne::Envelope<VideoInput> =
        crate::inference::body::parse_json_naming(&bytes, &["input", "prompt", "seconds", "size", "image", "modelOptions", "outputFileType"])?;
    let (req, inline) = to_video_request(envelope.input).map_err(invalid)?;
    let started = Instant::now();
    let ready = prepare(state, &caller, ctx, headers, req).await?;
    let (guard, stored) = generate(state, ready).await?;
    let file = if inline {
        let bytes = match state.files.store.get(&stored.file_id).await {
            Ok(Some(f)) => f.bytes,
            Ok(None) => Vec::new(),
            Err(e) => {
                let err = ApiError::Storage(e);
                guard.fail(&err);
                return Err(err);
            }
        };
        use base64::Engine as _;
        VideoFile::File { data: base64::engine::general_purpose::STANDARD.encode(bytes), mime_type: stored.mime_type.clone() }
    } else {
        VideoFile::Url { url: signed_url(state, &stored.file_id), mime_type: stored.mime_type.clone() }
    };
    let body = match serde_json::to_vec(&to_video_reply(file, &stored.model, stored.seconds)) {
        Ok(b) => b,
        Err(e) => {
            let err = ApiError::Upstream(hub_providers::ProviderError::Protocol(e.to_string()));
            guard.fail(&err);
            return Err(err);
        }
    };
    let rates = guard.rate_snapshot();
    settle(guard, &stored);
    let mut res = (StatusCode::OK, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
    crate::inference::chat::set_server_timing(&mut res, 0.0, Some(started.elapsed().as_secs_f64() * 1000.0));
    if let Some(r) = rates {
        r.write(res.headers_mut());
    }
    Ok(res)
}
