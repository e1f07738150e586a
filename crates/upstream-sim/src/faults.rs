//! Injected failures: a FIFO queue of one-shot faults, an optional
//! probability-based fault for load tests, and per-request markers written
//! into the prompt (`[[sim:status=500]]`).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Deserialize;

use crate::ids::SeededRng;

/// A failure the simulator can inject into one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status and OpenAI's error body for it, with a
    /// `retry-after` header (seconds) when given. Streams get the JSON
    /// error too, not SSE, as OpenAI does.
    Status {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Accept the request and never answer; the connection stays open
    /// until the client goes away or the server shuts down.
    Stall,
    /// Streams only: send the role chunk and this many content chunks, then
    /// drop the connection without the finish chunk, usage or `[DONE]`.
    CutStreamAfter(usize),
    /// Leave `usage` out of the reply (streams: no usage chunk).
    NoUsage,
    /// Extra latency for one request, on top of the configured latency.
    Delay(Duration),
}

/// Which kind of request a fault is being looked up for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    Chat,
    ChatStream,
    Embeddings,
    Images,
    /// A video job's submission (status reads and downloads take no faults).
    Video,
}

impl Fault {
    /// Whether this fault can apply to a request of `kind`; a queued fault
    /// waits for the first request it can apply to.
    pub(crate) fn matches(&self, kind: RequestKind) -> bool {
        match self {
            Fault::CutStreamAfter(_) => kind == RequestKind::ChatStream,
            Fault::Status { .. } | Fault::Stall | Fault::NoUsage | Fault::Delay(_) => true,
        }
    }
}

/// The faults that apply to one request, merged from every source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Applied {
    pub status: Option<(u16, Option<u64>)>,
    pub stall: bool,
    pub cut_after: Option<usize>,
    pub no_usage: bool,
    pub delay: Duration,
    /// Not a fault: forces a tool call when the request offers tools.
    pub force_tool: bool,
}

impl Applied {
    pub(crate) fn add(&mut self, fault: &Fault, kind: RequestKind) {
        match *fault {
            Fault::Status {
                status,
                retry_after,
            } => {
                if self.status.is_none() {
                    self.status = Some((status, retry_after));
                }
            }
            Fault::Stall => self.stall = true,
            Fault::CutStreamAfter(n) => {
                if kind == RequestKind::ChatStream && self.cut_after.is_none() {
                    self.cut_after = Some(n);
                }
            }
            Fault::NoUsage => self.no_usage = true,
            Fault::Delay(d) => self.delay += d,
        }
    }

    /// Whether any failure (not counting a forced tool call) applies.
    pub(crate) fn any_fault(&self) -> bool {
        self.status.is_some()
            || self.stall
            || self.cut_after.is_some()
            || self.no_usage
            || !self.delay.is_zero()
    }
}

#[derive(Debug)]
struct RateFault {
    probability: f64,
    fault: Fault,
    rng: SeededRng,
}

/// Queued and rate-based faults. Both have an atomic fast path so that a
/// benchmark with no faults configured never takes a lock.
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    queued_len: AtomicUsize,
    queue: Mutex<VecDeque<Fault>>,
    rate_on: AtomicBool,
    rate: Mutex<Option<RateFault>>,
    /// Rate-based faults for one API key only: one bad credential among healthy ones.
    keyed_on: AtomicBool,
    keyed: Mutex<HashMap<String, RateFault>>,
}

impl FaultPlan {
    pub(crate) fn push(&self, fault: Fault) {
        let mut q = self.queue.lock();
        q.push_back(fault);
        self.queued_len.store(q.len(), Ordering::Release);
    }

    pub(crate) fn clear(&self) {
        let mut q = self.queue.lock();
        q.clear();
        self.queued_len.store(0, Ordering::Release);
        drop(q);
        self.set_rate(0.0, Fault::NoUsage, 0);
    }

    pub(crate) fn queued(&self) -> usize {
        self.queued_len.load(Ordering::Acquire)
    }

    /// `probability <= 0` turns the rate-based fault off.
    pub(crate) fn set_rate(&self, probability: f64, fault: Fault, seed: u64) {
        let mut r = self.rate.lock();
        if probability > 0.0 {
            *r = Some(RateFault {
                probability,
                fault,
                rng: SeededRng::new(seed),
            });
            self.rate_on.store(true, Ordering::Release);
        } else {
            *r = None;
            self.rate_on.store(false, Ordering::Release);
        }
    }

    /// Like [`FaultPlan::set_rate`], for requests presenting `api_key` only.
    pub(crate) fn set_key_rate(&self, api_key: &str, probability: f64, fault: Fault, seed: u64) {
        let mut k = self.keyed.lock();
        if probability > 0.0 {
            k.insert(api_key.to_owned(), RateFault { probability, fault, rng: SeededRng::new(seed) });
        } else {
            k.remove(api_key);
        }
        self.keyed_on.store(!k.is_empty(), Ordering::Release);
    }

    /// Draws the rate-based fault set for the presented key, if any.
    pub(crate) fn take_for_key(&self, api_key: &str, kind: RequestKind, applied: &mut Applied) {
        if !self.keyed_on.load(Ordering::Acquire) {
            return;
        }
        let mut k = self.keyed.lock();
        if let Some(rate) = k.get_mut(api_key) {
            if rate.fault.matches(kind) && rate.rng.next_f64() < rate.probability {
                applied.add(&rate.fault, kind);
            }
        }
    }

    /// Takes the first queued fault that matches, then draws the rate-based
    /// one, and merges both into `applied`.
    pub(crate) fn take_for(&self, kind: RequestKind, applied: &mut Applied) {
        if self.queued_len.load(Ordering::Acquire) > 0 {
            let mut q = self.queue.lock();
            if let Some(pos) = q.iter().position(|f| f.matches(kind)) {
                if let Some(f) = q.remove(pos) {
                    applied.add(&f, kind);
                }
            }
            self.queued_len.store(q.len(), Ordering::Release);
        }
        if self.rate_on.load(Ordering::Acquire) {
            let mut r = self.rate.lock();
            if let Some(rate) = r.as_mut() {
                if rate.fault.matches(kind) && rate.rng.next_f64() < rate.probability {
                    applied.add(&rate.fault, kind);
                }
            }
        }
    }
}

/// Reads `[[sim:…]]` markers from a message's text. A marker holds
/// comma-separated `key` or `key=value` items; several markers may appear.
/// Keys: `status`, `retry_after`, `stall`, `cut`, `no_usage`, `delay_ms`, `tool`.
pub(crate) fn parse_markers(text: &str, kind: RequestKind, applied: &mut Applied) {
    const OPEN: &str = "[[sim:";
    let mut rest = text;
    while let Some(start) = rest.find(OPEN) {
        let after = &rest[start + OPEN.len()..];
        let Some(end) = after.find("]]") else { break };
        let body = &after[..end];
        rest = &after[end + 2..];

        let mut status: Option<u16> = None;
        let mut retry_after: Option<u64> = None;
        for item in body.split(',') {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (item.trim(), None),
            };
            let num = value.and_then(|v| v.parse::<u64>().ok());
            match key {
                "status" => status = num.and_then(|n| u16::try_from(n).ok()),
                "retry_after" => retry_after = num,
                "stall" => applied.add(&Fault::Stall, kind),
                "cut" => {
                    if let Some(n) = num {
                        applied.add(&Fault::CutStreamAfter(n as usize), kind);
                    }
                }
                "no_usage" => applied.add(&Fault::NoUsage, kind),
                "delay_ms" => {
                    if let Some(ms) = num {
                        applied.add(&Fault::Delay(Duration::from_millis(ms)), kind);
                    }
                }
                "tool" => applied.force_tool = true,
                _ => {}
            }
        }
        if let Some(status) = status {
            applied.add(
                &Fault::Status {
                    status,
                    retry_after,
                },
                kind,
            );
        }
    }
}

/// A fault as written to the control API: exactly one of the fields,
/// optionally with `count` copies.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultSpec {
    pub status: Option<u16>,
    pub retry_after: Option<u64>,
    #[serde(default)]
    pub stall: bool,
    pub cut_stream_after: Option<usize>,
    #[serde(default)]
    pub no_usage: bool,
    pub delay_ms: Option<u64>,
    pub count: Option<usize>,
    // Only meaningful for `/__sim/fault_rate`.
    pub probability: Option<f64>,
    pub seed: Option<u64>,
}

impl FaultSpec {
    pub(crate) fn fault(&self) -> Result<Fault, String> {
        let mut found = Vec::with_capacity(1);
        if let Some(status) = self.status {
            found.push(Fault::Status {
                status,
                retry_after: self.retry_after,
            });
        }
        if self.stall {
            found.push(Fault::Stall);
        }
        if let Some(n) = self.cut_stream_after {
            found.push(Fault::CutStreamAfter(n));
        }
        if self.no_usage {
            found.push(Fault::NoUsage);
        }
        if let Some(ms) = self.delay_ms {
            found.push(Fault::Delay(Duration::from_millis(ms)));
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err("no fault given: expected one of status, stall, cut_stream_after, no_usage, delay_ms".into()),
            _ => Err("one fault per entry: give only one of status, stall, cut_stream_after, no_usage, delay_ms".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        let mut a = Applied::default();
        parse_markers(
            "hi [[sim:status=429,retry_after=1]] and [[sim:tool]] [[sim:cut=3]]",
            RequestKind::ChatStream,
            &mut a,
        );
        assert_eq!(a.status, Some((429, Some(1))));
        assert!(a.force_tool);
        assert_eq!(a.cut_after, Some(3));

        let mut b = Applied::default();
        parse_markers("[[sim:cut=3]] [[sim:stall]]", RequestKind::Chat, &mut b);
        assert_eq!(b.cut_after, None);
        assert!(b.stall);
    }

    #[test]
    fn queue_skips_non_matching() {
        let plan = FaultPlan::default();
        plan.push(Fault::CutStreamAfter(2));
        plan.push(Fault::NoUsage);
        let mut a = Applied::default();
        plan.take_for(RequestKind::Chat, &mut a);
        assert!(a.no_usage);
        assert_eq!(plan.queued(), 1);
        let mut b = Applied::default();
        plan.take_for(RequestKind::ChatStream, &mut b);
        assert_eq!(b.cut_after, Some(2));
        assert_eq!(plan.queued(), 0);
    }

    #[test]
    fn rate_is_deterministic() {
        let run = || {
            let plan = FaultPlan::default();
            plan.set_rate(0.3, Fault::NoUsage, 42);
            (0..100)
                .map(|_| {
                    let mut a = Applied::default();
                    plan.take_for(RequestKind::Chat, &mut a);
                    a.no_usage
                })
                .collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        let hits = first.iter().filter(|h| **h).count();
        assert!((10..60).contains(&hits), "{hits}");
    }
}
