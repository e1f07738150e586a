//! Server-sent event streams: framing, content, the optional usage chunk, and a client that
//! hangs up half way.

use std::time::Instant;

use hub_testkit::{sse_content, sse_data};
use serde_json::{json, Value};
use upstream_sim::SimConfig;

use crate::limits;
use crate::support::*;

/// Reads a whole stream and checks what every stream must satisfy; returns the JSON chunks.
async fn read_stream(resp: reqwest::Response, what: &str) -> Vec<Value> {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp
        .text()
        .await
        .unwrap_or_else(|e| panic!("{what}: read the stream: {e}"));
    assert_eq!(status, 200, "{what}: {text}");
    request_id(&headers);
    assert!(
        header(&headers, "content-type").is_some_and(|t| t.starts_with("text/event-stream")),
        "{what}: content-type {:?}",
        headers.get("content-type")
    );
    let events = sse_data(&text);
    assert_eq!(
        events.last().map(String::as_str),
        Some("[DONE]"),
        "{what}: no final [DONE]: {text}"
    );
    assert_eq!(
        events.iter().filter(|e| *e == "[DONE]").count(),
        1,
        "{what}: one [DONE]"
    );
    assert!(
        text.trim_end().ends_with("data: [DONE]"),
        "{what}: the stream must end with data: [DONE]"
    );
    assert_eq!(sse_content(&events), reply(), "{what}: concatenated deltas");
    events[..events.len() - 1]
        .iter()
        .map(|e| {
            let v: Value = serde_json::from_str(e)
                .unwrap_or_else(|err| panic!("{what}: chunk is not JSON ({err}): {e}"));
            assert_eq!(v["object"], "chat.completion.chunk", "{what}: {v}");
            v
        })
        .collect()
}

fn has_usage(chunk: &Value) -> bool {
    chunk.get("usage").is_some_and(|u| !u.is_null())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_with_done_and_carry_usage_only_when_asked() {
    let env = setup().await;

    let plain = with(hello(), json!({"stream": true}));
    let chunks = read_stream(
        chat(&env.hub, &env.key.key, &plain).await,
        "without include_usage",
    )
    .await;
    assert!(
        !chunks.iter().any(has_usage),
        "usage chunk sent without include_usage: {chunks:?}"
    );

    let asked = with(
        hello(),
        json!({"stream": true, "stream_options": {"include_usage": true}}),
    );
    let chunks = read_stream(
        post_json(&env.hub, OPENAI_CHAT, Some(&env.key.key), &asked).await,
        "with include_usage",
    )
    .await;
    let with_usage: Vec<&Value> = chunks.iter().filter(|c| has_usage(c)).collect();
    assert_eq!(with_usage.len(), 1, "exactly one usage chunk: {chunks:?}");
    let last = chunks.last().expect("chunks");
    assert!(
        has_usage(last),
        "the usage chunk is the last one before [DONE]"
    );
    assert_eq!(last["usage"]["prompt_tokens"], 7);
    assert_eq!(last["usage"]["completion_tokens"], 12);
    assert_eq!(last["usage"]["total_tokens"], 19);
    assert_eq!(last["choices"], json!([]), "the usage chunk has no choices");

    // Both streams are metered from the upstream's usage, asked for or not.
    let records = env
        .hub
        .wait_for_usage(2, limits::USAGE_VISIBLE)
        .await
        .unwrap();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert!(bool_field(r, "stream"), "{r}");
        assert_eq!(str_field(r, "outcome"), "ok", "{r}");
        assert_eq!(u64_field(r, "status"), 200, "{r}");
        assert_eq!(u64_field(r, "tokens_in"), 7, "{r}");
        assert_eq!(u64_field(r, "tokens_out"), 12, "{r}");
        assert!(!bool_field(r, "estimated"), "{r}");
        assert!(!bool_field(r, "cut_short"), "{r}");
    }
    assert_eq!(env.sim.stats().stream_requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_hanging_up_mid_stream_cancels_upstream_and_is_recorded_cut_short() {
    let env = setup_with(
        SimConfig {
            chunk_interval: limits::STREAM_CHUNK_INTERVAL,
            ..SimConfig::default()
        },
        |o| o,
    )
    .await;
    let body = with(
        hello(),
        json!({"stream": true, "max_tokens": limits::LONG_REPLY_TOKENS}),
    );
    let mut resp = chat(&env.hub, &env.key.key, &body).await;
    assert_eq!(resp.status(), 200);
    let rid = request_id(resp.headers());

    let mut received = String::new();
    while sse_content(&sse_data(&received))
        .split_inclusive(' ')
        .count()
        < limits::CHUNKS_BEFORE_DISCONNECT
    {
        let chunk = resp
            .chunk()
            .await
            .expect("read a chunk")
            .expect("the stream ended before the client hung up");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }
    drop(resp);
    let hung_up = Instant::now();

    eventually(
        limits::CANCEL_PROPAGATION,
        "the upstream stream is cancelled",
        || async { (env.sim.stats().cancelled_streams == 1).then_some(()) },
    )
    .await;
    let cancelled_after = hung_up.elapsed();

    let record = env
        .hub
        .wait_for_record(&rid, limits::USAGE_VISIBLE)
        .await
        .unwrap();
    assert_eq!(str_field(&record, "outcome"), "cut_short", "{record}");
    assert!(bool_field(&record, "cut_short"), "{record}");
    assert!(bool_field(&record, "stream"), "{record}");
    assert!(
        u64_field(&record, "tokens_out") > 0,
        "output already relayed is billed: {record}"
    );
    assert!(
        u64_field(&record, "tokens_out") < u64::from(limits::LONG_REPLY_TOKENS),
        "only part of the reply was produced: {record}"
    );
    assert!(cancelled_after <= limits::CANCEL_PROPAGATION);

    tokio::time::sleep(limits::SETTLE).await;
    assert_eq!(
        env.hub.usage().await.unwrap().len(),
        1,
        "one record for the call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_stream_cut_ends_with_an_error_event_not_done() {
    let env = setup().await;
    env.sim.push_fault(upstream_sim::Fault::CutStreamAfter(3));
    let body = with(hello(), json!({"stream": true}));
    let resp = chat(&env.hub, &env.key.key, &body).await;
    assert_eq!(resp.status(), 200, "the stream had started");
    let rid = request_id(resp.headers());
    let text = resp.text().await.unwrap_or_default();
    let events = sse_data(&text);
    assert!(
        !events.iter().any(|e| e == "[DONE]"),
        "a cut stream must not look complete: {text}"
    );
    assert_eq!(
        sse_content(&events),
        "Hello from the",
        "what the upstream sent is relayed"
    );
    let last: Value = serde_json::from_str(events.last().expect("events")).expect("JSON event");
    assert!(
        last["error"]["message"].is_string(),
        "the stream ends with an error event: {text}"
    );

    let r = env
        .hub
        .wait_for_record(&rid, limits::USAGE_VISIBLE)
        .await
        .unwrap();
    assert_ne!(str_field(&r, "outcome"), "ok", "{r}");
    assert!(
        u64_field(&r, "tokens_out") > 0,
        "relayed output is billed: {r}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_hanging_up_before_the_first_byte_cancels_upstream_and_is_recorded_once() {
    let env = setup_with(
        SimConfig {
            latency: limits::SLOW_UPSTREAM * 4,
            ..SimConfig::default()
        },
        |o| o,
    )
    .await;
    for (n, stream) in [(1u64, false), (2, true)] {
        let body = with(hello(), json!({ "stream": stream }));
        let call = env
            .hub
            .client()
            .post(env.hub.url(API_CHAT))
            .bearer_auth(&env.key.key)
            .json(&body)
            .send();
        let hub_ref = &env.hub;
        let sim = &env.sim;
        tokio::select! {
            r = call => panic!("the call finished before the client hung up: {r:?} ({})", hub_ref.logs()),
            () = wait_upstream_requests(sim, n) => {}
        }
        // The client's request future is dropped here: the connection closes.
        eventually(
            limits::CANCEL_PROPAGATION,
            "the upstream call is abandoned",
            || async { (env.sim.stats().in_flight == 0).then_some(()) },
        )
        .await;
        let records = env
            .hub
            .wait_for_usage(n as usize, limits::USAGE_VISIBLE)
            .await
            .unwrap();
        let r = &records[0];
        assert_eq!(bool_field(r, "stream"), stream, "{r}");
        assert_ne!(str_field(r, "outcome"), "ok", "{r}");
    }
    assert_eq!(
        env.sim.stats().cancelled_streams,
        1,
        "the stream was cancelled upstream"
    );
    tokio::time::sleep(limits::SETTLE).await;
    assert_eq!(
        env.hub.usage().await.unwrap().len(),
        2,
        "one record per call"
    );
}
