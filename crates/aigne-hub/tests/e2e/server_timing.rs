//! `Server-Timing: hub;dur=<ms>, upstream;dur=<ms>` on API replies: the upstream's share is at
//! least the simulator's scripted latency; for streams (whose headers leave at the first byte) it
//! is the upstream's time to first byte.

use std::time::Duration;

use serde_json::{json, Value};
use upstream_sim::SimConfig;

use crate::support::*;

const UPSTREAM_LATENCY: Duration = Duration::from_millis(150);

/// The `hub` and `upstream` durations of a `Server-Timing` value, in milliseconds.
fn timings(value: &str) -> (f64, f64) {
    let mut hub = None;
    let mut upstream = None;
    for metric in value.split(',') {
        let (name, dur) = metric.trim().split_once(";dur=").unwrap_or_else(|| panic!("metric {metric:?} in {value:?}"));
        let ms: f64 = dur.parse().unwrap_or_else(|e| panic!("{dur:?}: {e}"));
        assert!(ms >= 0.0 && ms.is_finite());
        match name {
            "hub" => hub = Some(ms),
            "upstream" => upstream = Some(ms),
            other => panic!("unexpected metric {other} in {value:?}"),
        }
    }
    (hub.expect("a hub metric"), upstream.expect("an upstream metric"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_replies_split_hub_time_from_upstream_time() {
    let env = setup_with(SimConfig { latency: UPSTREAM_LATENCY, ..SimConfig::default() }, |o| o).await;
    let chat_body = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    let stream_body = json!({"model": "openai/gpt-4o-mini", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
    let cases: [(&str, &str, Value); 5] = [
        ("chat", API_CHAT, chat_body.clone()),
        ("streamed chat", OPENAI_CHAT, stream_body),
        ("embeddings", "/v1/embeddings", json!({"model": "openai/text-embedding-3-small", "input": "hello"})),
        ("images", "/v1/images/generations", json!({"model": "openai/dall-e-3", "prompt": "a fox", "response_format": "url"})),
        ("AIGNE chat", "/api/v2/chat", json!({"input": {"messages": [{"role": "user", "content": "hi"}], "modelOptions": {"model": "openai/gpt-4o-mini"}}})),
    ];
    let floor = UPSTREAM_LATENCY.as_secs_f64() * 1000.0;
    for (what, path, body) in cases {
        let resp = post_json(&env.hub, path, Some(&env.key.key), &body).await;
        assert_eq!(resp.status(), 200, "{what}");
        let value = header(resp.headers(), "server-timing").unwrap_or_else(|| panic!("{what}: no Server-Timing"));
        let (hub, upstream) = timings(&value);
        assert!(upstream >= floor, "{what}: upstream {upstream} ms is below the simulator's {floor} ms latency ({value})");
        assert!(hub < upstream + 10_000.0, "{what}: {value}");
        // The body still arrives whole.
        assert!(!resp.bytes().await.unwrap().is_empty(), "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_made_by_the_hub_carry_no_upstream_time() {
    let env = setup().await;
    let resp = chat(&env.hub, &env.key.key, &json!({"model": "openai/gpt-4o-mini"})).await;
    assert_eq!(resp.status(), 400);
    let timing = header(resp.headers(), "server-timing");
    assert!(timing.as_deref().is_none_or(|v| !v.contains("upstream")), "{timing:?}");
}
