#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end checks of the simulator over real HTTP.

use std::time::Duration;

use serde_json::{json, Value};
use upstream_sim::{reply_text, text_embedding, Fault, Sim, SimConfig, Stats};

async fn sim() -> Sim {
    Sim::start(SimConfig::default()).await.unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn chat(sim: &Sim, body: Value) -> reqwest::Response {
    client()
        .post(format!("{}/chat/completions", sim.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap()
}

fn hello(extra: Value) -> Value {
    let mut body =
        json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

/// Splits an SSE body into its `data:` payloads, checking the framing.
fn sse_events(text: &str) -> Vec<String> {
    assert!(
        text.ends_with("data: [DONE]\n\n"),
        "no [DONE] at the end: {text}"
    );
    text.split_terminator("\n\n")
        .map(|e| {
            e.strip_prefix("data: ")
                .expect("event without data: prefix")
                .to_owned()
        })
        .collect()
}

fn stream_content(events: &[String]) -> String {
    events
        .iter()
        .filter(|e| *e != "[DONE]")
        .filter_map(|e| {
            let v: Value = serde_json::from_str(e).unwrap();
            v["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect()
}

#[tokio::test]
async fn non_stream_shape_and_exact_usage() {
    let sim = sim().await;
    let resp = chat(&sim, hello(json!({}))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    assert!(resp.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .starts_with("req_"));
    let v: Value = resp.json().await.unwrap();
    let id = v["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-") && id.len() == 9 + 29, "{id}");
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-4o-mini");
    assert!(v["created"].as_u64().unwrap() > 1_700_000_000);
    assert!(v["system_fingerprint"].as_str().unwrap().starts_with("fp_"));
    assert_eq!(v["service_tier"], "default");
    let choice = &v["choices"][0];
    assert_eq!(
        choice["message"],
        json!({"role": "assistant", "content": reply_text(12), "refusal": null, "annotations": []})
    );
    assert_eq!(choice["logprobs"], Value::Null);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(v["usage"]["prompt_tokens"], 7);
    assert_eq!(v["usage"]["completion_tokens"], 12);
    assert_eq!(v["usage"]["total_tokens"], 19);
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(
        v["usage"]["completion_tokens_details"]["reasoning_tokens"],
        0
    );

    // Two messages (3+3 words each side) and n=2 with an explicit limit.
    let body = json!({
        "model": "gpt-4o",
        "max_completion_tokens": 5,
        "n": 2,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": [{"type": "text", "text": "one two three"}]}
        ]
    });
    let v: Value = chat(&sim, body).await.json().await.unwrap();
    assert_eq!(v["choices"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["choices"][1]["message"]["content"],
        "Hello from the upstream simulator."
    );
    assert_eq!(v["usage"]["prompt_tokens"], 3 + 3 + 3 + 3 + 3);
    assert_eq!(v["usage"]["completion_tokens"], 10);

    let stats = sim.stats();
    assert_eq!(stats.chat_requests, 2);
    assert_eq!(stats.total_prompt_tokens, 7 + 15);
    assert_eq!(stats.total_completion_tokens, 12 + 10);
    assert_eq!(stats.last_chat_body.unwrap()["model"], "gpt-4o");
    sim.shutdown().await;
}

#[tokio::test]
async fn stream_framing_matches_non_stream() {
    let sim = sim().await;
    let plain: Value = chat(&sim, hello(json!({"max_tokens": 4})))
        .await
        .json()
        .await
        .unwrap();
    let expected = plain["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();

    for include_usage in [false, true] {
        let mut extra = json!({"max_tokens": 4, "stream": true});
        if include_usage {
            extra["stream_options"] = json!({"include_usage": true});
        }
        let resp = chat(&sim, hello(extra)).await;
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.headers()["content-type"],
            "text/event-stream; charset=utf-8"
        );
        let events = sse_events(&resp.text().await.unwrap());
        // role + 4 words + finish (+ usage) + [DONE]
        assert_eq!(events.len(), if include_usage { 8 } else { 7 });
        assert_eq!(stream_content(&events), expected);

        let chunks: Vec<Value> = events[..events.len() - 1]
            .iter()
            .map(|e| serde_json::from_str(e).unwrap())
            .collect();
        let first = &chunks[0];
        assert_eq!(first["object"], "chat.completion.chunk");
        assert_eq!(
            first["choices"][0]["delta"],
            json!({"role": "assistant", "content": "", "refusal": null})
        );
        assert!(chunks.iter().all(|c| c["id"] == first["id"]));
        let finish = &chunks[5];
        assert_eq!(finish["choices"][0]["delta"], json!({}));
        assert_eq!(finish["choices"][0]["finish_reason"], "stop");
        if include_usage {
            assert!(chunks[..6]
                .iter()
                .all(|c| c.get("usage") == Some(&Value::Null)));
            let usage_chunk = &chunks[6];
            assert_eq!(usage_chunk["choices"], json!([]));
            assert_eq!(usage_chunk["usage"]["prompt_tokens"], 7);
            assert_eq!(usage_chunk["usage"]["completion_tokens"], 4);
            assert_eq!(usage_chunk["usage"]["total_tokens"], 11);
        } else {
            assert!(chunks.iter().all(|c| c.get("usage").is_none()));
        }
    }
    assert_eq!(sim.stats().stream_requests, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn tool_calls_plain_and_streamed() {
    let sim = sim().await;
    let tools = json!([
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
    ]);

    let v: Value = chat(
        &sim,
        hello(json!({"tools": tools, "tool_choice": "required"})),
    )
    .await
    .json()
    .await
    .unwrap();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert!(call["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(call["function"]["arguments"], r#"{"sim":true}"#);

    // A named choice picks that function; "auto" without a marker does not call.
    let named = json!({"type": "function", "function": {"name": "get_time"}});
    let v: Value = chat(&sim, hello(json!({"tools": tools, "tool_choice": named})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["choices"][0]["message"]["tool_calls"][0]["function"]["name"],
        "get_time"
    );
    let v: Value = chat(&sim, hello(json!({"tools": tools, "tool_choice": "auto"})))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");

    // Streamed, forced by the marker.
    let body = json!({
        "model": "gpt-4o-mini", "stream": true, "tools": tools,
        "messages": [{"role": "user", "content": "weather? [[sim:tool]]"}]
    });
    let events = sse_events(&chat(&sim, body).await.text().await.unwrap());
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect();
    let head = &chunks[0]["choices"][0]["delta"]["tool_calls"][0];
    assert_eq!(head["index"], 0);
    assert!(head["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(
        head["function"],
        json!({"name": "get_weather", "arguments": ""})
    );
    let args: String = chunks[1..]
        .iter()
        .filter_map(|c| {
            let tc = &c["choices"][0]["delta"]["tool_calls"][0];
            assert!(tc.get("id").is_none());
            tc["function"]["arguments"].as_str().map(str::to_owned)
        })
        .collect();
    assert_eq!(args, r#"{"sim":true}"#);
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "tool_calls"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn unauthorized_is_openai_401() {
    let key = "sk-test-0123456789abcdefWXYZ";
    let sim = Sim::start(SimConfig {
        api_key: Some(key.into()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let url = format!("{}/chat/completions", sim.base_url());

    let resp = client()
        .post(&url)
        .bearer_auth("sk-wrong-0123456789abcd")
        .json(&hello(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v,
        json!({"error": {
            "message": "Incorrect API key provided: sk-wro***abcd. You can find your API key at https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error", "param": null, "code": "invalid_api_key"
        }})
    );

    let resp = client()
        .post(&url)
        .json(&hello(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let resp = client()
        .post(&url)
        .bearer_auth(key)
        .json(&hello(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let stats = sim.stats();
    assert_eq!(stats.unauthorized, 2);
    assert_eq!(stats.chat_requests, 3);
    assert_eq!(
        stats.last_authorization.as_deref(),
        Some(&*format!("Bearer {key}"))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn queued_429_then_success() {
    let sim = sim().await;
    sim.push_fault(Fault::Status {
        status: 429,
        retry_after: Some(2),
    });
    // A status fault on a streaming request still answers in JSON.
    let resp = chat(&sim, hello(json!({"stream": true}))).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "2");
    assert_eq!(resp.headers()["content-type"], "application/json");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "requests");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Rate limit reached for gpt-4o-mini"));

    assert_eq!(chat(&sim, hello(json!({}))).await.status(), 200);
    let stats = sim.stats();
    assert_eq!((stats.faults_served, stats.chat_requests), (1, 2));

    // Marker faults: 500 and 503 bodies.
    let body =
        json!({"model": "m", "messages": [{"role": "user", "content": "x [[sim:status=500]]"}]});
    let resp = chat(&sim, body).await;
    assert_eq!(resp.status(), 500);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "server_error");
    assert_eq!(v["error"]["code"], Value::Null);
    sim.shutdown().await;
}

#[tokio::test]
async fn control_api_over_http() {
    let sim = sim().await;
    let root = sim.base_url().trim_end_matches("/v1").to_owned();
    let v: Value = client()
        .post(format!("{root}/__sim/faults"))
        .json(&json!({"no_usage": true, "count": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["queued"], 2);

    let v: Value = chat(&sim, hello(json!({}))).await.json().await.unwrap();
    assert!(v.get("usage").is_none());

    let stats: Stats = client()
        .get(format!("{root}/__sim/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats.chat_requests, 1);
    assert_eq!(stats.faults_served, 1);

    let resp = client()
        .post(format!("{root}/__sim/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(sim.stats().chat_requests, 0);
    assert_eq!(sim.queued_faults(), 0);

    let resp = client()
        .post(format!("{}/xyz", sim.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["message"], "Invalid URL (POST /v1/xyz)");

    let v: Value = client()
        .get(format!("{}/models", sim.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["data"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m["id"] == "gpt-4o-mini"));
    sim.shutdown().await;
}

#[tokio::test]
async fn embeddings_are_deterministic() {
    let sim = sim().await;
    let url = format!("{}/embeddings", sim.base_url());
    let body = json!({"model": "text-embedding-3-small", "input": ["hello world", "again"]});
    let v: Value = client()
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["object"], "list");
    assert_eq!(v["usage"], json!({"prompt_tokens": 3, "total_tokens": 3}));
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    assert_eq!(data[1]["index"], 1);
    let first: Vec<f32> = serde_json::from_value(data[0]["embedding"].clone()).unwrap();
    assert_eq!(first, text_embedding("hello world", 8));

    let body =
        json!({"model": "m", "input": "hello world", "dimensions": 4, "encoding_format": "base64"});
    let v: Value = client()
        .post(&url)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(v["data"][0]["embedding"].as_str().unwrap())
        .unwrap();
    let floats: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(floats, text_embedding("hello world", 4));
    assert_eq!(sim.stats().embedding_requests, 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn cut_stream_and_client_cancel() {
    let sim = sim().await;
    sim.push_fault(Fault::CutStreamAfter(2));
    let mut resp = chat(&sim, hello(json!({"stream": true}))).await;
    assert_eq!(resp.status(), 200);
    let mut got = Vec::new();
    let err = loop {
        match resp.chunk().await {
            Ok(Some(c)) => got.extend_from_slice(&c),
            Ok(None) => panic!("stream ended cleanly"),
            Err(e) => break e,
        }
    };
    let text = String::from_utf8(got).unwrap();
    assert!(!text.contains("[DONE]"), "{err}");
    assert_eq!(text.matches("data: ").count(), 3, "role + 2 content chunks");

    // A client that leaves mid-stream is counted as a cancelled stream.
    sim.set_chunk_interval(Duration::from_millis(50));
    let mut resp = chat(&sim, hello(json!({"stream": true}))).await;
    let _ = resp.chunk().await.unwrap();
    drop(resp);
    let mut stats = sim.stats();
    for _ in 0..50 {
        if stats.cancelled_streams == 1 && stats.in_flight == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        stats = sim.stats();
    }
    assert_eq!((stats.cancelled_streams, stats.in_flight), (1, 0));
    sim.shutdown().await;
}

#[tokio::test]
async fn stall_holds_until_shutdown() {
    let sim = sim().await;
    sim.push_fault(Fault::Stall);
    let url = format!("{}/chat/completions", sim.base_url());
    let pending =
        tokio::spawn(async move { client().post(url).json(&hello(json!({}))).send().await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.stats().in_flight, 1);
    assert!(!pending.is_finished());
    tokio::time::timeout(Duration::from_secs(2), sim.shutdown())
        .await
        .expect("shutdown waited on a stalled request");
    assert!(pending.await.unwrap().is_err());
}

#[tokio::test]
async fn images_come_as_urls_on_the_sim_or_as_base64() {
    let sim = sim().await;
    let url = format!("{}/images/generations", sim.base_url());
    let v: Value = client()
        .post(&url)
        .json(&json!({"model": "dall-e-3", "prompt": "a cat", "n": 2}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let data = v["data"].as_array().unwrap();
    assert_eq!(data.len(), 2);
    let link = data[0]["url"].as_str().unwrap();
    let got = client().get(link).send().await.unwrap();
    assert_eq!(got.headers()["content-type"], "image/png");
    assert_eq!(got.bytes().await.unwrap().to_vec(), upstream_sim::sim_png());
    assert!(v.get("usage").is_none());

    let v: Value = client()
        .post(&url)
        .json(&json!({"model": "gpt-image-1", "prompt": "a cat", "response_format": "url"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(v["data"][0]["b64_json"].is_string());
    assert_eq!(v["usage"]["total_tokens"], v["usage"]["input_tokens"].as_u64().unwrap() + 272);

    let bad = client().post(&url).json(&json!({"model": "dall-e-3", "prompt": "x", "n": 11})).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    sim.push_fault(Fault::Status { status: 429, retry_after: Some(1) });
    let limited = client().post(&url).json(&json!({"model": "dall-e-3", "prompt": "x"})).send().await.unwrap();
    assert_eq!(limited.status(), 429);
}
