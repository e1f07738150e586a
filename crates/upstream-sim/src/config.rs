//! Server configuration: the part fixed at start and the part tests may
//! change while the server runs.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// How the simulated provider behaves.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// When set, every `/v1` request must carry `Authorization: Bearer <key>`
    /// or it gets OpenAI's 401.
    pub api_key: Option<String>,
    /// Delay before a reply's headers (for streams: before the first chunk).
    pub latency: Duration,
    /// Delay between two stream chunks.
    pub chunk_interval: Duration,
    /// Reply length in tokens when the request sets neither
    /// `max_completion_tokens` nor `max_tokens`.
    pub default_completion_tokens: u32,
    /// When set (`(access key id, secret access key)`), every Bedrock request (`/model/…`) must
    /// carry a valid AWS Signature Version 4 for these credentials, or it gets the 403 AWS sends.
    pub aws_credentials: Option<(String, String)>,
    /// How long a video job renders before it completes (or fails).
    pub video_render: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_key: None,
            latency: Duration::ZERO,
            chunk_interval: Duration::ZERO,
            default_completion_tokens: 12,
            aws_credentials: None,
            video_render: Duration::from_millis(200),
        }
    }
}

/// The settings that can change at run time, read on every request without
/// locking.
#[derive(Debug)]
pub(crate) struct Tunables {
    latency_us: AtomicU64,
    chunk_interval_us: AtomicU64,
    default_completion_tokens: AtomicU32,
    video_render_us: AtomicU64,
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Tunables {
    pub(crate) fn new(config: &SimConfig) -> Self {
        Self {
            latency_us: AtomicU64::new(micros(config.latency)),
            chunk_interval_us: AtomicU64::new(micros(config.chunk_interval)),
            default_completion_tokens: AtomicU32::new(config.default_completion_tokens),
            video_render_us: AtomicU64::new(micros(config.video_render)),
        }
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us.load(Ordering::Relaxed))
    }

    pub(crate) fn set_latency(&self, d: Duration) {
        self.latency_us.store(micros(d), Ordering::Relaxed);
    }

    pub(crate) fn chunk_interval(&self) -> Duration {
        Duration::from_micros(self.chunk_interval_us.load(Ordering::Relaxed))
    }

    pub(crate) fn set_chunk_interval(&self, d: Duration) {
        self.chunk_interval_us.store(micros(d), Ordering::Relaxed);
    }

    pub(crate) fn default_completion_tokens(&self) -> u32 {
        self.default_completion_tokens.load(Ordering::Relaxed)
    }

    pub(crate) fn set_default_completion_tokens(&self, n: u32) {
        self.default_completion_tokens.store(n, Ordering::Relaxed);
    }

    pub(crate) fn video_render(&self) -> Duration {
        Duration::from_micros(self.video_render_us.load(Ordering::Relaxed))
    }

    pub(crate) fn set_video_render(&self, d: Duration) {
        self.video_render_us.store(micros(d), Ordering::Relaxed);
    }
}
