#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The simulator's Anthropic Messages API over real HTTP.

use serde_json::{json, Value};
use upstream_sim::{reply_text, Fault, Sim, SimConfig};

const KEY: &str = "sk-ant-api03-simulator-key-0123456789";

async fn sim() -> Sim {
    Sim::start(SimConfig::default()).await.unwrap()
}

fn hello(extra: Value) -> Value {
    let mut body = json!({"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": [{"role": "user", "content": "Hello!"}]});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

async fn post(sim: &Sim, body: &Value, key: Option<&str>, version: bool) -> reqwest::Response {
    let mut req = reqwest::Client::new()
        .post(format!("{}/v1/messages", sim.anthropic_base_url()))
        .json(body);
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    if version {
        req = req.header("anthropic-version", "2023-06-01");
    }
    req.send().await.unwrap()
}

async fn messages(sim: &Sim, body: &Value) -> reqwest::Response {
    post(sim, body, Some(KEY), true).await
}

async fn json_of(resp: reqwest::Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap()
}

/// Event names and data of an SSE body, checking the framing.
fn events(text: &str) -> Vec<(String, Value)> {
    assert!(text.ends_with("\n\n"), "unterminated: {text}");
    text.split_terminator("\n\n")
        .map(|e| {
            let (name, data) = e.split_once('\n').unwrap();
            let name = name.strip_prefix("event: ").unwrap().to_owned();
            let data: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(data["type"], name.as_str());
            (name, data)
        })
        .collect()
}

fn assert_error(body: &Value, kind: &str) {
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("req_")),
        "{body}"
    );
}

#[tokio::test]
async fn a_message_reply_with_exact_usage_and_headers() {
    let sim = sim().await;
    let body = hello(json!({"system": "Be brief and kind."}));
    let resp = messages(&sim, &body).await;
    let headers = resp.headers().clone();
    let v = json_of(resp, 200).await;
    assert!(headers["request-id"].to_str().unwrap().starts_with("req_"));
    assert_eq!(headers["content-type"], "application/json");
    assert!(headers.contains_key("anthropic-ratelimit-requests-remaining"));
    assert!(v["id"].as_str().unwrap().starts_with("msg_01"));
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-sonnet-4-5");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": reply_text(12)}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["stop_sequence"], Value::Null);
    // P = (3 + 4 system words) + (3 + 1) + 3; C = 12.
    assert_eq!(v["usage"]["input_tokens"], 14);
    assert_eq!(v["usage"]["output_tokens"], 12);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 0);
    let stats = sim.stats();
    assert_eq!(stats.messages_requests, 1);
    assert_eq!(stats.chat_requests, 0);
    assert_eq!(stats.last_messages_body, Some(body));
    assert_eq!(stats.last_x_api_key.as_deref(), Some(KEY));
    assert_eq!(
        (stats.total_prompt_tokens, stats.total_completion_tokens),
        (14, 12)
    );
}

#[tokio::test]
async fn max_tokens_caps_the_natural_reply() {
    let sim = sim().await;
    let v = json_of(messages(&sim, &hello(json!({"max_tokens": 5}))).await, 200).await;
    assert_eq!(v["content"][0]["text"], reply_text(5));
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["usage"]["output_tokens"], 5);
    sim.set_default_completion_tokens(30);
    let v = json_of(messages(&sim, &hello(json!({}))).await, 200).await;
    assert_eq!(v["content"][0]["text"], reply_text(30));
    assert_eq!(v["stop_reason"], "end_turn");
}

#[tokio::test]
async fn requests_anthropic_refuses() {
    let sim = Sim::start(SimConfig {
        api_key: Some(KEY.to_owned()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let v = json_of(post(&sim, &hello(json!({})), None, true).await, 401).await;
    assert_error(&v, "authentication_error");
    let v = json_of(
        post(&sim, &hello(json!({})), Some("sk-ant-wrong"), true).await,
        401,
    )
    .await;
    assert_error(&v, "authentication_error");
    assert_eq!(v["error"]["message"], "invalid x-api-key");
    assert_eq!(sim.stats().unauthorized, 2);

    let v = json_of(post(&sim, &hello(json!({})), Some(KEY), false).await, 400).await;
    assert_error(&v, "invalid_request_error");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("anthropic-version"));

    let mut no_max = hello(json!({}));
    no_max.as_object_mut().unwrap().remove("max_tokens");
    let v = json_of(messages(&sim, &no_max).await, 400).await;
    assert_eq!(v["error"]["message"], "max_tokens: Field required");

    let system_role = hello(
        json!({"messages": [{"role": "system", "content": "x"}, {"role": "user", "content": "y"}]}),
    );
    let v = json_of(messages(&sim, &system_role).await, 400).await;
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("top-level `system`"),
        "{v}"
    );

    let v = json_of(messages(&sim, &hello(json!({"max_tokens": 0}))).await, 400).await;
    assert_error(&v, "invalid_request_error");
    let v = json_of(
        messages(&sim, &hello(json!({"model": "missing-claude"}))).await,
        404,
    )
    .await;
    assert_error(&v, "not_found_error");
    assert_eq!(sim.stats().messages_requests, 7);
}

#[tokio::test]
async fn a_stream_has_anthropic_event_sequence() {
    let sim = sim().await;
    let resp = messages(&sim, &hello(json!({"stream": true}))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let evs = events(&resp.text().await.unwrap());
    let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
    let mut expected = vec!["message_start", "content_block_start", "ping"];
    expected.extend(std::iter::repeat_n("content_block_delta", 12));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    let start = &evs[0].1["message"];
    assert_eq!(start["content"], json!([]));
    assert_eq!(start["stop_reason"], Value::Null);
    assert_eq!(start["usage"]["input_tokens"], 7);
    let text: String = evs
        .iter()
        .filter_map(|(_, d)| d["delta"]["text"].as_str())
        .collect();
    assert_eq!(text, reply_text(12));
    let delta = &evs[evs.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta["usage"]["output_tokens"], 12);
}

#[tokio::test]
async fn tools_forced_named_or_marked() {
    let sim = sim().await;
    let tools = json!([{"name": "get_weather", "input_schema": {"type": "object"}}, {"name": "other", "input_schema": {"type": "object"}}]);
    let any = hello(json!({"tools": tools, "tool_choice": {"type": "any"}}));
    let v = json_of(messages(&sim, &any).await, 200).await;
    assert_eq!(v["stop_reason"], "tool_use");
    let block = &v["content"][0];
    assert_eq!(
        (block["type"].as_str(), block["name"].as_str()),
        (Some("tool_use"), Some("get_weather"))
    );
    assert!(block["id"].as_str().unwrap().starts_with("toolu_01"));
    assert_eq!(block["input"], json!({"sim": true}));
    assert_eq!(v["usage"]["output_tokens"], 12);

    let named = hello(
        json!({"tools": tools, "tool_choice": {"type": "tool", "name": "other"}, "stream": true}),
    );
    let resp = messages(&sim, &named).await;
    let evs = events(&resp.text().await.unwrap());
    assert_eq!(evs[1].1["content_block"]["name"], "other");
    let input: String = evs
        .iter()
        .filter_map(|(_, d)| d["delta"]["partial_json"].as_str())
        .collect();
    assert_eq!(input, r#"{"sim":true}"#);
    assert_eq!(evs[evs.len() - 2].1["delta"]["stop_reason"], "tool_use");

    let marked = hello(
        json!({"tools": tools, "messages": [{"role": "user", "content": "weather? [[sim:tool]]"}]}),
    );
    assert_eq!(
        json_of(messages(&sim, &marked).await, 200).await["stop_reason"],
        "tool_use"
    );
    let none = hello(
        json!({"tools": tools, "tool_choice": {"type": "none"}, "messages": [{"role": "user", "content": "[[sim:tool]]"}]}),
    );
    assert_eq!(
        json_of(messages(&sim, &none).await, 200).await["stop_reason"],
        "end_turn"
    );
    // Once the tool result comes back, the marker in the earlier turn is not read again.
    let follow_up = hello(json!({"tools": tools, "messages": [
        {"role": "user", "content": "weather? [[sim:tool]]"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"sim": true}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "fifteen degrees"}]}
    ]}));
    let v = json_of(messages(&sim, &follow_up).await, 200).await;
    assert_eq!(v["stop_reason"], "end_turn");
    // P = (3 + 2) + (3 + 0) + (3 + 2) + 3.
    assert_eq!(v["usage"]["input_tokens"], 16);
}

#[tokio::test]
async fn status_faults_become_anthropic_errors() {
    let sim = sim().await;
    sim.push_fault(Fault::Status {
        status: 529,
        retry_after: None,
    });
    let resp = messages(&sim, &hello(json!({"stream": true}))).await;
    assert_eq!(resp.headers()["x-should-retry"], "true");
    let v = json_of(resp, 529).await;
    assert_error(&v, "overloaded_error");
    assert_eq!(v["error"]["message"], "Overloaded");

    sim.push_fault(Fault::Status {
        status: 429,
        retry_after: Some(3),
    });
    let resp = messages(&sim, &hello(json!({}))).await;
    assert_eq!(resp.headers()["retry-after"], "3");
    assert_error(&json_of(resp, 429).await, "rate_limit_error");

    for (status, kind) in [
        (401, "authentication_error"),
        (403, "permission_error"),
        (500, "api_error"),
        (413, "request_too_large"),
    ] {
        sim.push_fault(Fault::Status {
            status,
            retry_after: None,
        });
        assert_error(
            &json_of(messages(&sim, &hello(json!({}))).await, status).await,
            kind,
        );
    }
    let marked = hello(json!({"messages": [{"role": "user", "content": "hi [[sim:status=400]]"}]}));
    assert_error(
        &json_of(messages(&sim, &marked).await, 400).await,
        "invalid_request_error",
    );
    assert_eq!(sim.stats().faults_served, 7);
}

#[tokio::test]
async fn cut_streams_and_missing_usage() {
    let sim = sim().await;
    sim.push_fault(Fault::CutStreamAfter(2));
    let resp = messages(&sim, &hello(json!({"stream": true}))).await;
    assert_eq!(resp.status(), 200);
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    let mut failed = false;
    while let Some(piece) = futures::StreamExt::next(&mut stream).await {
        match piece {
            Ok(b) => body.extend_from_slice(&b),
            Err(_) => {
                failed = true;
                break;
            }
        }
    }
    assert!(failed, "a cut stream ends with a transport error");
    let evs = events(&String::from_utf8(body).unwrap());
    assert_eq!(evs.len(), 5, "{evs:?}");
    assert_eq!(evs[4].1["delta"]["text"], " from");

    sim.push_fault(Fault::NoUsage);
    let v = json_of(messages(&sim, &hello(json!({}))).await, 200).await;
    assert!(v.get("usage").is_none(), "{v}");
    sim.push_fault(Fault::NoUsage);
    let evs = events(
        &messages(&sim, &hello(json!({"stream": true})))
            .await
            .text()
            .await
            .unwrap(),
    );
    assert!(evs
        .iter()
        .all(|(_, d)| d.get("usage").is_none() && d["message"].get("usage").is_none()));
}
