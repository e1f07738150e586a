//! What the two video protocols share: a job is submitted, polled with a growing interval
//! until it ends or the overall deadline passes, and its file downloaded. Each request is one
//! bounded HTTP call (the client's first-byte and total timeouts); the protocol modules
//! (`openai_video.rs`, `gemini/video.rs`) say what to send and how to read the answers.

use std::time::Duration;

use tokio::time::Instant;

use hub_core::video::JobState;
use reqwest::header::{HeaderValue, CONTENT_TYPE};

use crate::adapter::Target;
use crate::client::{transport_error, HttpClient};
use crate::error::{classify_status, ProviderError, TimeoutKind, UpstreamFailure};
use crate::reply::{read_limited, retry_after};

/// Largest video accepted.
const MAX_VIDEO_BYTES: usize = 512 * 1024 * 1024;
/// Largest job or operation reply read.
const MAX_JSON_BYTES: usize = 1024 * 1024;
const MAX_ERROR_BYTES: usize = 64 * 1024;
/// Status reads that may fail in a row (a network blip) before the call gives up.
const MAX_POLL_FAILURES: u32 = 3;

/// How a job is waited for: the first status read after `first_interval`, each next one after
/// twice the last wait up to `max_interval`, and no longer than `deadline` from submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoPolling {
    pub first_interval: Duration,
    pub max_interval: Duration,
    pub deadline: Duration,
}

impl Default for VideoPolling {
    fn default() -> Self {
        VideoPolling { first_interval: Duration::from_millis(500), max_interval: Duration::from_secs(10), deadline: Duration::from_secs(600) }
    }
}

/// How the credential travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    Bearer,
    GoogApiKey,
    /// The key alone in the named header (`x-api-key`, `Api-Key`).
    Header(&'static str),
}

/// Parses a provider's error body into a safe failure.
pub(crate) type ParseFailure = fn(u16, &[u8], Option<Duration>, Option<&str>) -> UpstreamFailure;

/// One bounded call: the credential added, a non-2xx answer parsed with `parse_failure`, the
/// body and its content type returned.
pub(crate) async fn call(
    client: &HttpClient,
    target: &Target,
    mut builder: reqwest::RequestBuilder,
    auth: Auth,
    parse_failure: ParseFailure,
    limit: usize,
) -> Result<(Vec<u8>, Option<String>), ProviderError> {
    if let Some(key) = &target.api_key {
        builder = match auth {
            Auth::Bearer => builder.bearer_auth(key.expose()),
            Auth::GoogApiKey | Auth::Header(_) => {
                let mut value = HeaderValue::from_str(key.expose()).map_err(|_| ProviderError::Config("the API key is not a valid header value".to_owned()))?;
                value.set_sensitive(true);
                let name = if let Auth::Header(name) = auth { name } else { "x-goog-api-key" };
                builder.header(name, value)
            }
        };
    }
    let work = async {
        let response = tokio::time::timeout(client.timeouts.first_byte, builder.send())
            .await
            .map_err(|_| ProviderError::Timeout(TimeoutKind::FirstByte))?
            .map_err(transport_error)?;
        let status = response.status().as_u16();
        if !response.status().is_success() {
            let wait = retry_after(response.headers());
            let bytes = read_limited(response, MAX_ERROR_BYTES).await.unwrap_or_default();
            return Err(ProviderError::Upstream(parse_failure(status, &bytes, wait, target.api_key.as_ref().map(|k| k.expose()))));
        }
        let mime = response.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        Ok((read_limited(response, limit).await?, mime))
    };
    tokio::time::timeout(client.timeouts.total, work).await.map_err(|_| ProviderError::Timeout(TimeoutKind::Total))?
}

/// A JSON call's body.
pub(crate) async fn call_json(client: &HttpClient, target: &Target, builder: reqwest::RequestBuilder, auth: Auth, parse_failure: ParseFailure) -> Result<Vec<u8>, ProviderError> {
    Ok(call(client, target, builder, auth, parse_failure, MAX_JSON_BYTES).await?.0)
}

/// Downloads the finished file: its bytes and type (`video/mp4` when the upstream does not say).
pub(crate) async fn download(client: &HttpClient, target: &Target, url: &str, auth: Auth, parse_failure: ParseFailure) -> Result<(Vec<u8>, String), ProviderError> {
    let (bytes, mime) = call(client, target, client.inner.get(url), auth, parse_failure, MAX_VIDEO_BYTES).await.map_err(after_submission)?;
    if bytes.is_empty() {
        return Err(ProviderError::Protocol("the video file is empty".to_owned()));
    }
    let mime = mime.map(|m| m.split(';').next().unwrap_or("").trim().to_owned()).filter(|m| m.starts_with("video/")).unwrap_or_else(|| "video/mp4".to_owned());
    Ok((bytes, mime))
}

/// Reads the job's state until it ends: `Ok(uri)` when it succeeded (`None` when the file is
/// at a fixed route), a failure when it failed or the deadline passed. A status read that fails
/// retryably is tried again at the next tick, a few times in a row at most.
pub(crate) async fn wait_for<F, Fut>(polling: &VideoPolling, started: Instant, mut read: F) -> Result<Option<String>, ProviderError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<JobState, ProviderError>>,
{
    let mut interval = polling.first_interval;
    let mut failures = 0u32;
    loop {
        let left = polling.deadline.saturating_sub(started.elapsed());
        if left.is_zero() {
            return Err(ProviderError::Timeout(TimeoutKind::Total));
        }
        tokio::time::sleep(interval.min(left)).await;
        interval = (interval * 2).min(polling.max_interval.max(polling.first_interval));
        match read().await {
            Ok(JobState::Running { .. }) => failures = 0,
            Ok(JobState::Succeeded { uri }) => return Ok(uri),
            Ok(JobState::Failed { code, message }) => return Err(job_failed(code, message)),
            Err(e) if e.is_retryable() && failures + 1 < MAX_POLL_FAILURES => failures += 1,
            Err(e) => return Err(after_submission(e)),
        }
    }
}

/// A failure once the provider holds the job: submitting it again would start (and bill) a
/// second job, so a failure that would otherwise be retried elsewhere (the network, a 5xx, a
/// 429 on a status read or the download) is reported as the job being unreadable, which is not.
/// The overall deadline keeps its class (`504`); the relay does not retry it either.
pub(crate) fn after_submission(e: ProviderError) -> ProviderError {
    match e {
        ProviderError::Timeout(TimeoutKind::Total) => e,
        e if e.is_retryable() => ProviderError::Protocol(format!("the video job's status or file could not be read: {e}")),
        other => other,
    }
}

/// A request the family's documented choices refuse, as the 400 the upstream would answer.
pub(crate) fn invalid_for_family(e: hub_core::validate::InvalidRequest) -> ProviderError {
    ProviderError::Upstream(UpstreamFailure {
        status: 400,
        kind: crate::error::FailureKind::BadRequest,
        message: e.message,
        error_type: Some("invalid_request_error".to_owned()),
        code: None,
        param: Some(e.param.to_owned()),
        retry_after: None,
    })
}

/// A job that ended without a video: the upstream's reason, as a failure of the request (a
/// refused prompt is the usual cause), or of the provider when Google names an internal or
/// unavailable state.
fn job_failed(code: Option<String>, message: String) -> ProviderError {
    let status = match code.as_deref() {
        Some("8") => 429,
        Some("13" | "2") => 500,
        Some("14") => 503,
        _ => 400,
    };
    let kind = classify_status(status);
    ProviderError::Upstream(UpstreamFailure {
        status,
        kind,
        message: format!("The video could not be generated: {message}"),
        error_type: Some("video_generation_failed".to_owned()),
        code,
        param: None,
        retry_after: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FailureKind;

    #[tokio::test]
    async fn polling_backs_off_and_stops_at_the_deadline() {
        let polling = VideoPolling { first_interval: Duration::from_millis(10), max_interval: Duration::from_millis(40), deadline: Duration::from_millis(200) };
        let started = Instant::now();
        let mut reads = 0;
        let out = wait_for(&polling, started, || {
            reads += 1;
            async { Ok(JobState::Running { progress: None }) }
        })
        .await;
        assert!(matches!(out, Err(ProviderError::Timeout(TimeoutKind::Total))));
        assert!(started.elapsed() >= polling.deadline);
        // 10 + 20 + 40 + 40 + 40 + 40 ms and the rest: at most 7 reads, however slow the machine.
        assert!((2..=7).contains(&reads), "{reads}");
    }

    #[tokio::test]
    async fn a_job_ends_with_its_uri_or_its_reason() {
        let polling = VideoPolling { first_interval: Duration::from_millis(1), ..VideoPolling::default() };
        let done = wait_for(&polling, Instant::now(), || async { Ok(JobState::Succeeded { uri: Some("u".to_owned()) }) }).await;
        assert_eq!(done.ok().flatten().as_deref(), Some("u"));
        let failed = wait_for(&polling, Instant::now(), || async { Ok(JobState::Failed { code: None, message: "blocked".to_owned() }) }).await;
        match failed {
            Err(ProviderError::Upstream(f)) => {
                assert_eq!((f.status, f.kind), (400, FailureKind::BadRequest));
                assert!(f.message.contains("blocked"));
            }
            other => panic!("{other:?}"),
        }
        let mut n = 0;
        let blips = wait_for(&polling, Instant::now(), || {
            n += 1;
            let again = n < 3;
            async move { if again { Err(ProviderError::Connect("reset".to_owned())) } else { Ok(JobState::Succeeded { uri: None }) } }
        })
        .await;
        assert!(matches!(blips, Ok(None)));
        let lost = wait_for(&polling, Instant::now(), || async { Err(ProviderError::Connect("reset".to_owned())) }).await;
        assert!(matches!(lost, Err(ref e) if !e.is_retryable()), "{lost:?}");
    }
}
