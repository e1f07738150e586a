//! Step 5–6 glue: makes the upstream attempts of a plan. Retries happen only before the first
//! byte reaches the client, at most [`MAX_ATTEMPTS`] in all, each on the next credential whose
//! health admits it, after a full-jitter back-off, and only while the retry budget allows.
//! Every attempt's outcome feeds the credential's health (circuit breaker, cool-down,
//! set-aside), so unhealthy credentials get less traffic.

use std::future::Future;
use std::time::Duration;

use futures::StreamExt;
use hub_core::chat::ChatRequest;
use hub_core::embeddings::{EmbeddingsRequest, EmbeddingsResponse};
use hub_core::wire::Chunk;
use hub_providers::health::{full_jitter, Admission, CredentialHealth, WaitReason};
use hub_providers::{ChatReply, ChunkStream, ProviderError, Target};
use rand::Rng;

use crate::error::ApiError;
use crate::inference::resolve::{Candidate, Plan};
use crate::state::AppState;

pub const MAX_ATTEMPTS: usize = 3;
const BACKOFF_BASE: Duration = Duration::from_millis(25);
const BACKOFF_CAP: Duration = Duration::from_millis(400);

/// A success, and the target that produced it.
pub struct Relayed<T> {
    pub value: T,
    pub target: Target,
}

/// A stream whose first chunk has arrived.
pub struct OpenStream {
    pub first: Chunk,
    pub rest: ChunkStream,
    pub upstream_ttfb: Duration,
}

/// The relay gave up: the error to answer with, and the last target tried (if any).
pub struct Failed {
    pub error: ApiError,
    pub target: Option<Target>,
}

fn health_key(t: &Target) -> &str {
    t.credential_id.as_deref().unwrap_or(&t.provider)
}

/// Releases a probe slot if the attempt is abandoned (the client went away mid-attempt).
struct ProbeSlot<'a> {
    health: &'a CredentialHealth,
    armed: bool,
}

impl Drop for ProbeSlot<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.health.release_probe();
        }
    }
}

async fn attempts<'p, T, F, Fut>(state: &AppState, plan: &'p Plan<'p>, call: F) -> Result<Relayed<T>, Failed>
where
    F: FnMut(&'p Candidate<'p>) -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    attempts_while(state, plan, ProviderError::is_retryable, call).await
}

/// [`attempts`], retrying only the failures `retryable` accepts.
async fn attempts_while<'p, T, F, Fut>(state: &AppState, plan: &'p Plan<'p>, retryable: fn(&ProviderError) -> bool, mut call: F) -> Result<Relayed<T>, Failed>
where
    F: FnMut(&'p Candidate<'p>) -> Fut,
    Fut: Future<Output = Result<T, ProviderError>>,
{
    let now = hub_core::ids::now_ms;
    state.retry_budget.record_call(now());
    let mut made = 0usize;
    let mut last: Option<(ProviderError, &Target)> = None;
    let mut soonest: Option<(i64, WaitReason)> = None;
    let n = plan.candidates.len();
    if n == 0 {
        return Err(Failed { error: ApiError::ModelNotFound("No provider can serve this model for this key.".to_owned()), target: None });
    }
    // Visit candidates in order from the preferred one (wrapping round when there are fewer
    // candidates than attempts) until the attempts are used up.
    for i in 0..(n.max(MAX_ATTEMPTS) * 2) {
        if made >= MAX_ATTEMPTS {
            break;
        }
        let candidate = &plan.candidates[i % n];
        let target = &candidate.target;
        let health = state.health.get(health_key(target));
        match health.admission(now()) {
            Admission::Wait { until_ms, reason } => {
                // The most hopeful reason wins: a cool-down ends by itself soonest.
                soonest = Some(match soonest {
                    Some((s, r)) => (s.min(until_ms), more_hopeful(r, reason)),
                    None => (until_ms, reason),
                });
                if i + 1 >= n && made == 0 && last.is_none() {
                    break;
                }
                continue;
            }
            Admission::Use | Admission::Probe => {}
        }
        let mut slot = ProbeSlot { health: &health, armed: true };
        if made > 0 {
            if !state.retry_budget.try_retry(now()) {
                break;
            }
            let jitter: f64 = rand::thread_rng().gen();
            tokio::time::sleep(full_jitter(u32::try_from(made).unwrap_or(u32::MAX), BACKOFF_BASE, BACKOFF_CAP, jitter)).await;
        }
        made += 1;
        let outcome = call(candidate).await;
        slot.armed = false;
        match outcome {
            Ok(value) => {
                health.record_success();
                return Ok(Relayed { value, target: target.clone() });
            }
            Err(e) => {
                health.record_failure(&e, now());
                let retryable = retryable(&e);
                last = Some((e, target));
                if !retryable {
                    break;
                }
            }
        }
    }
    match last {
        Some((e, t)) => Err(Failed { error: ApiError::Upstream(e), target: Some(t.clone()) }),
        None => {
            let (until, reason) = soonest.unwrap_or((now() + 1000, WaitReason::CircuitOpen));
            let retry_after = Duration::from_millis(u64::try_from((until - now()).max(0)).unwrap_or(1000));
            let provider = plan.preferred().map_or("the provider", |t| t.provider.as_str()).to_owned();
            Err(Failed { error: ApiError::NoCapacity { provider, retry_after, reason }, target: None })
        }
    }
}

fn more_hopeful(a: WaitReason, b: WaitReason) -> WaitReason {
    let rank = |r: WaitReason| match r {
        WaitReason::CoolingDown => 0,
        WaitReason::CircuitOpen => 1,
        WaitReason::SetAside => 2,
    };
    if rank(a) <= rank(b) {
        a
    } else {
        b
    }
}

pub async fn chat(state: &AppState, plan: &Plan<'_>, req: &ChatRequest) -> Result<Relayed<ChatReply>, Failed> {
    attempts(state, plan, |c| c.adapter.chat(&c.target, req)).await
}

pub async fn embeddings(state: &AppState, plan: &Plan<'_>, req: &EmbeddingsRequest) -> Result<Relayed<EmbeddingsResponse>, Failed> {
    attempts(state, plan, |c| c.adapter.embeddings(&c.target, req)).await
}

pub async fn images(state: &AppState, plan: &Plan<'_>, req: &hub_core::images::ImageRequest) -> Result<Relayed<hub_core::images::ImageResponse>, Failed> {
    attempts(state, plan, |c| c.adapter.images(&c.target, req)).await
}

pub async fn video(state: &AppState, plan: &Plan<'_>, req: &hub_core::video::VideoRequest) -> Result<Relayed<hub_core::video::VideoResult>, Failed> {
    let polling = state.config.video_polling;
    // A generation that ran out of time is not started again elsewhere: the client has waited
    // the whole deadline already. (Failures after the provider accepted the job come back from
    // the adapter as non-retryable, so a job is submitted again only when its submission failed
    // or the provider itself failed it.)
    let retryable = |e: &ProviderError| e.is_retryable() && !matches!(e, ProviderError::Timeout(hub_providers::error::TimeoutKind::Total));
    attempts_while(state, plan, retryable, |c| async move { c.adapter.video(&c.target, req, &polling).await }).await
}

/// Opens a stream and waits for its first chunk; a failure before it is still retryable.
pub async fn stream(state: &AppState, plan: &Plan<'_>, req: &ChatRequest) -> Result<Relayed<OpenStream>, Failed> {
    attempts(state, plan, |c| async move {
        let reply = c.adapter.chat_stream(&c.target, req).await?;
        let mut rest = reply.chunks;
        match rest.next().await {
            Some(Ok(first)) => Ok(OpenStream { first, rest, upstream_ttfb: reply.upstream_ttfb }),
            Some(Err(e)) => Err(e),
            None => Err(ProviderError::StreamCut),
        }
    })
    .await
}
