//! Retries that are not billed twice: `Idempotency-Key` on the inference routes, and identical
//! keyless retries of the AIGNE SDK joining the call they repeat.

use std::time::Duration;

use serde_json::{json, Value};

use crate::limits;
use crate::support::*;
use hub_testkit::{sse_content, sse_data};

const KEY_HEADER: &str = "Idempotency-Key";
const REPLAYED: &str = "idempotent-replayed";

async fn post_with_key(hub: &hub_testkit::TestHub, path: &str, api_key: &str, idem: &str, body: &Value) -> reqwest::Response {
    hub.client()
        .post(hub.url(path))
        .bearer_auth(api_key)
        .header(KEY_HEADER, idem)
        .json(body)
        .timeout(limits::REQUEST_TIMEOUT)
        .send()
        .await
        .unwrap()
}

/// Every usage record of the hub, after giving a second one time to show up.
async fn records_after(hub: &hub_testkit::TestHub, n: usize) -> Vec<Value> {
    hub.wait_for_usage(n, limits::USAGE_VISIBLE).await.unwrap();
    tokio::time::sleep(limits::SETTLE).await;
    hub.usage().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_with_the_same_key_replays_the_first_reply_and_is_billed_once() {
    let env = setup().await;
    let (hub, key) = (&env.hub, &env.key.key);
    let body = hello();
    let first = post_with_key(hub, API_CHAT, key, "order-17", &body).await;
    assert_eq!(first.status(), 200);
    assert!(first.headers().get(REPLAYED).is_none());
    let first_text = first.text().await.unwrap();
    let again = post_with_key(hub, API_CHAT, key, "order-17", &body).await;
    assert_eq!(again.status(), 200);
    assert_eq!(header(again.headers(), REPLAYED).as_deref(), Some("true"));
    assert_eq!(again.text().await.unwrap(), first_text, "the replay is the first reply, byte for byte");
    assert_eq!(env.sim.stats().chat_requests, 1, "the upstream saw one call");
    assert_eq!(records_after(hub, 1).await.len(), 1, "one call, one record");

    // The same key with another body is a mistake the client must hear about.
    let other = with(hello(), json!({"messages": [{"role": "user", "content": "Something else"}]}));
    let err = expect_error(post_with_key(hub, API_CHAT, key, "order-17", &other).await, 422, "reused key").await;
    assert!(err.message.contains("Idempotency-Key"), "{}", err.message);
    // Keys are per API key: another key's identical request runs on its own.
    let second = hub.create_key("second").await.unwrap();
    expect_completion(post_with_key(hub, API_CHAT, &second.key, "order-17", &body).await).await;
    assert_eq!(env.sim.stats().chat_requests, 2);
    // A malformed key is refused before anything runs.
    let long = "k".repeat(300);
    expect_error(post_with_key(hub, API_CHAT, key, &long, &body).await, 400, "overlong key").await;
    assert_eq!(env.sim.stats().chat_requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_duplicate_joins_the_running_call() {
    let env = setup().await;
    let (hub, key) = (&env.hub, &env.key.key);
    env.sim.set_latency(limits::SLOW_UPSTREAM);
    let body = hello();
    let (a, b) = tokio::join!(post_with_key(hub, API_CHAT, key, "same", &body), async {
        tokio::time::sleep(limits::SLOW_UPSTREAM / 3).await;
        post_with_key(hub, API_CHAT, key, "same", &body).await
    });
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    assert_eq!(header(b.headers(), REPLAYED).as_deref(), Some("true"));
    assert_eq!(a.text().await.unwrap(), b.text().await.unwrap());
    assert_eq!(env.sim.stats().chat_requests, 1);
    assert_eq!(records_after(hub, 1).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_call_runs_again_on_retry() {
    let env = setup().await;
    let (hub, key) = (&env.hub, &env.key.key);
    // The upstream refuses the first attempt (a 400 is not retried by the relay).
    env.sim.push_fault(upstream_sim::Fault::Status { status: 400, retry_after: None });
    let body = hello();
    let failed = post_with_key(hub, API_CHAT, key, "flaky", &body).await;
    assert_eq!(failed.status(), 400);
    // Read to the end: until then the call is still running, and a retry would join it.
    failed.text().await.unwrap();
    let ok = post_with_key(hub, API_CHAT, key, "flaky", &body).await;
    assert!(ok.headers().get(REPLAYED).is_none(), "a failure is never replayed");
    expect_completion(ok).await;

    // A stream the upstream broke off is a 200 on the wire with an in-band error: the retry
    // still runs again and gets the whole stream.
    env.sim.push_fault(upstream_sim::Fault::CutStreamAfter(2));
    let streamed = with(hello(), json!({"stream": true}));
    let cut = post_with_key(hub, API_CHAT, key, "cut", &streamed).await.text().await.unwrap();
    assert!(cut.contains("\"error\""), "{cut}");
    let whole = post_with_key(hub, API_CHAT, key, "cut", &streamed).await;
    assert!(whole.headers().get(REPLAYED).is_none());
    assert_eq!(sse_content(&sse_data(&whole.text().await.unwrap())), reply());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_reply_replays_as_the_same_stream() {
    let env = setup().await;
    let (hub, key) = (&env.hub, &env.key.key);
    let body = with(hello(), json!({"stream": true, "stream_options": {"include_usage": true}}));
    let first = post_with_key(hub, API_CHAT, key, "stream-1", &body).await.text().await.unwrap();
    let again = post_with_key(hub, API_CHAT, key, "stream-1", &body).await;
    assert_eq!(header(again.headers(), REPLAYED).as_deref(), Some("true"));
    let again = again.text().await.unwrap();
    assert_eq!(again, first);
    assert!(first.trim_end().ends_with("data: [DONE]"), "{first}");
    assert_eq!(sse_content(&sse_data(&first)), reply());
    assert_eq!(env.sim.stats().chat_requests, 1);
}

/// The AIGNE SDK's retry after its own timeout: the same body again, without a key, while the
/// first call is still waiting for the upstream. It joins the first call; the upstream sees one
/// call and one record bills it in full, even though the first client gave up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aigne_retry_of_a_running_call_joins_it_instead_of_paying_twice() {
    let env = setup().await;
    let (hub, key) = (&env.hub, &env.key.key);
    let slow = Duration::from_millis(1500);
    env.sim.set_latency(slow);
    let body = json!({
        "input": {"messages": [{"role": "user", "content": "Hello!"}], "modelOptions": {"model": "openai/gpt-4o-mini"}},
        "agent": "$CHAT_MODEL",
        "options": {"userContext": {}, "memories": []}
    });
    // The first client gives up before the headers come, as the SDK does on its timeout.
    let impatient = hub.client().post(hub.url("/api/v2/chat")).bearer_auth(key).json(&body).timeout(slow / 3).send().await;
    assert!(impatient.is_err(), "the first client timed out");
    let retry = hub.client().post(hub.url("/api/v2/chat")).bearer_auth(key).json(&body).timeout(limits::REQUEST_TIMEOUT).send().await.unwrap();
    assert_eq!(retry.status(), 200);
    assert_eq!(header(retry.headers(), REPLAYED).as_deref(), Some("true"));
    let reply_obj: Value = retry.json().await.unwrap();
    assert_eq!(str_field(&reply_obj, "text"), reply());
    assert_eq!(env.sim.stats().chat_requests, 1, "one upstream call for the call and its retry");
    let records = records_after(hub, 1).await;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["status"], 200, "{}", records[0]);
    assert!(!bool_field(&records[0], "cut_short"), "the first client leaving did not cut the call: {}", records[0]);

    // A different body is a different call.
    let other = json!({
        "input": {"messages": [{"role": "user", "content": "Another question"}], "modelOptions": {"model": "openai/gpt-4o-mini"}},
        "agent": "$CHAT_MODEL",
        "options": {}
    });
    env.sim.set_latency(Duration::ZERO);
    let resp = hub.client().post(hub.url("/api/v2/chat")).bearer_auth(key).json(&other).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().get(REPLAYED).is_none());
    assert_eq!(env.sim.stats().chat_requests, 2);
}

/// A client hanging up on a stream under an `Idempotency-Key` still stops the upstream call
/// soon after (nobody is left to watch it), and the record bills what was produced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_idempotent_stream_is_still_cancelled() {
    let env = setup().await;
    let (hub, key) = (&env.hub, &env.key.key);
    env.sim.set_chunk_interval(limits::STREAM_CHUNK_INTERVAL);
    let body = with(hello(), json!({"stream": true, "max_tokens": limits::LONG_REPLY_TOKENS}));
    let mut resp = post_with_key(hub, API_CHAT, key, "hang-up", &body).await;
    assert_eq!(resp.status(), 200);
    let _ = resp.chunk().await.unwrap();
    drop(resp);
    let records = records_after(hub, 1).await;
    assert_eq!(records.len(), 1);
    assert!(bool_field(&records[0], "cut_short"), "{}", records[0]);
    let produced = u64_field(&records[0], "tokens_out");
    assert!(produced < u64::from(limits::LONG_REPLY_TOKENS), "the upstream stream was cut: {}", records[0]);
}
