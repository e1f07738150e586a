//! Video jobs shared by the OpenAI (`/v1/videos`) and Gemini (`:predictLongRunning`) sides: a
//! job is accepted at once and renders for the configured render time (`/__sim/config`
//! `video_render_ms`, default 200 ms): queued for the first quarter, in progress (with a
//! growing `progress`) until the end, then completed, or failed when its prompt holds
//! `[[sim:video_fail]]`. Every completed job's file is [`sim_mp4`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// What a prompt writes to make its job fail once rendered.
pub const FAIL_MARKER: &str = "[[sim:video_fail]]";

/// Where a job is, as of now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Queued,
    InProgress(u8),
    Completed,
    Failed,
}

#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub model: String,
    pub seconds: u32,
    /// OpenAI's `size`, or Gemini's aspect ratio.
    pub shape: String,
    pub created_at: u64,
    started: Instant,
    render: Duration,
    fails: bool,
}

impl Job {
    pub(crate) fn phase(&self) -> Phase {
        let elapsed = self.started.elapsed();
        if elapsed >= self.render {
            return if self.fails { Phase::Failed } else { Phase::Completed };
        }
        if elapsed < self.render / 4 {
            return Phase::Queued;
        }
        let pct = elapsed.as_micros().saturating_mul(100) / self.render.as_micros().max(1);
        Phase::InProgress(u8::try_from(pct.clamp(1, 99)).unwrap_or(99))
    }
}

/// Every job since the start (a simulator serves tests; nothing is ever evicted).
#[derive(Debug, Default)]
pub(crate) struct VideoJobs {
    jobs: Mutex<HashMap<String, Job>>,
}

impl VideoJobs {
    pub(crate) fn insert(&self, id: &str, model: String, seconds: u32, shape: String, prompt: &str, render: Duration) -> Job {
        let job = Job {
            model,
            seconds,
            shape,
            created_at: crate::openai::unix_now(),
            started: Instant::now(),
            render,
            fails: prompt.contains(FAIL_MARKER),
        };
        self.jobs.lock().insert(id.to_owned(), job.clone());
        job
    }

    pub(crate) fn get(&self, id: &str) -> Option<Job> {
        self.jobs.lock().get(id).cloned()
    }
}

/// The simulator's video: a small, well-formed MP4 (an `ftyp` box, a `moov` with its movie
/// header saying one second at 1000 units a second, and an empty `mdat`).
pub fn sim_mp4() -> Vec<u8> {
    let mut out = Vec::with_capacity(160);
    let mut ftyp = Vec::new();
    ftyp.extend_from_slice(b"isom");
    ftyp.extend_from_slice(&0x200u32.to_be_bytes());
    for brand in [b"isom", b"iso2", b"mp41"] {
        ftyp.extend_from_slice(brand);
    }
    mp4_box(&mut out, b"ftyp", &ftyp);

    let mut mvhd = vec![0u8; 4]; // version 0, no flags
    mvhd.extend_from_slice(&0u32.to_be_bytes()); // creation time
    mvhd.extend_from_slice(&0u32.to_be_bytes()); // modification time
    mvhd.extend_from_slice(&1000u32.to_be_bytes()); // timescale
    mvhd.extend_from_slice(&1000u32.to_be_bytes()); // duration
    mvhd.extend_from_slice(&0x0001_0000u32.to_be_bytes()); // rate 1.0
    mvhd.extend_from_slice(&0x0100u16.to_be_bytes()); // volume 1.0
    mvhd.extend_from_slice(&[0; 10]);
    for v in [0x0001_0000u32, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] {
        mvhd.extend_from_slice(&v.to_be_bytes()); // identity matrix
    }
    mvhd.extend_from_slice(&[0; 24]);
    mvhd.extend_from_slice(&1u32.to_be_bytes()); // next track id
    let mut moov = Vec::new();
    mp4_box(&mut moov, b"mvhd", &mvhd);
    mp4_box(&mut out, b"moov", &moov);
    mp4_box(&mut out, b"mdat", &[]);
    out
}

fn mp4_box(out: &mut Vec<u8>, kind: &[u8; 4], body: &[u8]) {
    let len = u32::try_from(body.len() + 8).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mp4_boxes_add_up() {
        let mp4 = sim_mp4();
        assert_eq!(&mp4[4..8], b"ftyp");
        let mut at = 0usize;
        let mut kinds = Vec::new();
        while at < mp4.len() {
            let len = u32::from_be_bytes([mp4[at], mp4[at + 1], mp4[at + 2], mp4[at + 3]]) as usize;
            kinds.push(String::from_utf8_lossy(&mp4[at + 4..at + 8]).into_owned());
            at += len;
        }
        assert_eq!(at, mp4.len());
        assert_eq!(kinds, ["ftyp", "moov", "mdat"]);
        // The movie header is version 0's fixed 100 bytes.
        assert_eq!(u32::from_be_bytes([mp4[28], mp4[29], mp4[30], mp4[31]]), 116);
    }

    #[test]
    fn jobs_move_from_queued_to_their_end() {
        let jobs = VideoJobs::default();
        let ok = jobs.insert("a", "m".into(), 4, "720x1280".into(), "a cat", Duration::from_secs(3600));
        assert_eq!(ok.phase(), Phase::Queued);
        let done = jobs.insert("b", "m".into(), 4, "720x1280".into(), "a cat", Duration::ZERO);
        assert_eq!(done.phase(), Phase::Completed);
        let failed = jobs.insert("c", "m".into(), 4, "720x1280".into(), "x [[sim:video_fail]]", Duration::ZERO);
        assert_eq!(failed.phase(), Phase::Failed);
        assert!(jobs.get("b").is_some() && jobs.get("z").is_none());
    }
}
