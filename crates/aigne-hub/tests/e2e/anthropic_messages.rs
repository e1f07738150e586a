//! `POST /v1/messages`: Anthropic clients unchanged, to any provider. Both auth headers, errors
//! in Anthropic's shape, replies and SSE events to an OpenAI-protocol upstream and to the
//! simulator's Anthropic API, a tool-use round trip, and the usage record.

use hub_testkit::{HubOptions, TestHub};
use reqwest::Response;
use serde_json::{json, Value};
use upstream_sim::{reply_text, Sim, SimConfig};

use crate::limits;
use crate::support::*;

const MESSAGES: &str = "/v1/messages";
const ANTHROPIC_KEY: &str = "sk-ant-api03-e2e-provider-credential-0123456789abcdef";

fn ask(model: &str, extra: Value) -> Value {
    with(
        // The simulator's OpenAI API writes exactly max_tokens words; 12 is its whole reply.
        json!({"model": model, "max_tokens": 12, "messages": [{"role": "user", "content": "Hello!"}]}),
        extra,
    )
}

/// POST /v1/messages with the key in `x-api-key`, as Anthropic SDKs send it.
async fn messages(hub: &TestHub, key: &str, body: &Value) -> Response {
    hub.client()
        .post(hub.url(MESSAGES))
        .header("x-api-key", key)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .timeout(limits::REQUEST_TIMEOUT)
        .send()
        .await
        .unwrap()
}

async fn expect_message(resp: Response) -> (String, Value) {
    let status = resp.status();
    let rid = request_id(resp.headers());
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["type"], "message", "{v}");
    assert_eq!(v["role"], "assistant", "{v}");
    assert!(str_field(&v, "id").starts_with("msg_"), "{v}");
    (rid, v)
}

async fn expect_anthropic_error(resp: Response, status: u16, kind: &str) -> Value {
    let got = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(got, status, "{text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v["type"], "error", "{v}");
    assert_eq!(v["error"]["type"], kind, "{v}");
    assert!(!str_field(&v["error"], "message").is_empty(), "{v}");
    v
}

/// `(event name, data)` pairs of an Anthropic SSE body; every event's name is its data's type.
fn events(body: &str) -> Vec<(String, Value)> {
    body.split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| {
            let mut name = String::new();
            let mut data = Value::Null;
            for line in e.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = serde_json::from_str(d).unwrap_or_else(|err| panic!("{err}: {d}"));
                }
            }
            assert_eq!(data["type"], name.as_str(), "{e}");
            (name, data)
        })
        .collect()
}

async fn stream(hub: &TestHub, key: &str, body: &Value) -> Vec<(String, Value)> {
    let resp = messages(hub, key, &with(body.clone(), json!({"stream": true}))).await;
    let status = resp.status();
    let ctype = header(resp.headers(), "content-type").unwrap_or_default();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert!(ctype.starts_with("text/event-stream"), "{ctype}");
    events(&text)
}

/// The text and tool inputs the events add up to, after checking their order.
fn assemble(events: &[(String, Value)]) -> (String, Vec<Value>, Value) {
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.first(), Some(&"message_start"), "{names:?}");
    assert_eq!(names.get(1), Some(&"ping"), "{names:?}");
    assert_eq!(names.last(), Some(&"message_stop"), "{names:?}");
    assert_eq!(names[names.len() - 2], "message_delta", "{names:?}");
    let mut text = String::new();
    let mut tools: Vec<Value> = Vec::new();
    let mut json_parts: Vec<String> = Vec::new();
    for (name, data) in events {
        match name.as_str() {
            "content_block_start" if data["content_block"]["type"] == "tool_use" => {
                tools.push(data["content_block"].clone());
                json_parts.push(String::new());
            }
            "content_block_delta" if data["delta"]["type"] == "text_delta" => text.push_str(str_field(&data["delta"], "text")),
            "content_block_delta" if data["delta"]["type"] == "input_json_delta" => {
                json_parts.last_mut().unwrap().push_str(str_field(&data["delta"], "partial_json"))
            }
            _ => {}
        }
    }
    for (tool, json_text) in tools.iter_mut().zip(json_parts) {
        tool["input"] = serde_json::from_str(&json_text).unwrap_or_else(|e| panic!("{e}: {json_text}"));
    }
    let delta = events[events.len() - 2].1.clone();
    (text, tools, delta)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_key_headers_work_and_errors_have_anthropics_shape() {
    let env = setup().await;
    let hub = &env.hub;
    let key = &env.key.key;

    // x-api-key, to an OpenAI-protocol upstream; top_k has no OpenAI field and is not sent.
    let (_, message) = expect_message(messages(hub, key, &ask("openai/gpt-4o-mini", json!({"top_k": 5, "temperature": 0.2}))).await).await;
    assert_eq!(message["content"], json!([{"type": "text", "text": reply()}]), "{message}");
    assert_eq!(message["stop_reason"], "end_turn");
    assert_eq!(message["usage"]["input_tokens"], 7, "{message}");
    assert_eq!(message["usage"]["output_tokens"], 12, "{message}");
    let sent = env.sim.stats().last_chat_body.unwrap();
    assert!(sent.get("top_k").is_none(), "{sent}");
    assert_eq!(sent["max_tokens"], 12, "{sent}");
    assert_eq!(sent["temperature"], 0.2, "{sent}");

    // Bearer, on the /api/v1 mount, without anthropic-version.
    let resp = post_json(hub, "/api/v1/messages", Some(key), &ask("gpt-4o-mini", json!({}))).await;
    expect_message(resp).await;

    // A wrong key, a missing key: 401 authentication_error; the key never echoes back.
    let wrong = format!("{}x", &key[..key.len() - 1]);
    let v = expect_anthropic_error(messages(hub, &wrong, &ask("openai/gpt-4o-mini", json!({}))).await, 401, "authentication_error").await;
    assert!(!v.to_string().contains(&wrong[10..]), "{v}");
    let resp = post_json(hub, MESSAGES, None, &ask("openai/gpt-4o-mini", json!({}))).await;
    expect_anthropic_error(resp, 401, "authentication_error").await;

    // Bad JSON, missing max_tokens, an unknown provider.
    let resp = hub.client().post(hub.url(MESSAGES)).header("x-api-key", key).body("{\"model\":").send().await.unwrap();
    expect_anthropic_error(resp, 400, "invalid_request_error").await;
    let no_max = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hello!"}]});
    let v = expect_anthropic_error(messages(hub, key, &no_max).await, 400, "invalid_request_error").await;
    assert!(str_field(&v["error"], "message").contains("max_tokens"), "{v}");
    expect_anthropic_error(messages(hub, key, &ask("nowhere/model-x", json!({}))).await, 404, "not_found_error").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_to_an_openai_upstream_as_anthropic_events_and_records_usage() {
    let env = setup().await;
    let hub = &env.hub;
    let evs = stream(hub, &env.key.key, &ask("openai/gpt-4o-mini", json!({"max_tokens": 5, "system": "Be brief."}))).await;
    let (text, tools, delta) = assemble(&evs);
    assert_eq!(text, reply_text(5));
    assert!(tools.is_empty());
    assert_eq!(delta["usage"]["output_tokens"], 5, "{delta}");
    let start = &evs[0].1["message"];
    assert_eq!(start["content"], json!([]), "{start}");
    assert_eq!(start["role"], "assistant", "{start}");
    let sent = env.sim.stats().last_chat_body.unwrap();
    assert_eq!(sent["messages"][0], json!({"role": "system", "content": "Be brief."}), "{sent}");
    assert_eq!(sent["stream_options"]["include_usage"], true, "{sent}");

    // The usage record: endpoint `messages`, the project header, the upstream's tokens.
    let resp = hub
        .client()
        .post(hub.url(MESSAGES))
        .header("x-api-key", &env.key.key)
        .header(PROJECT_HEADER, "zMessagesApp")
        .json(&ask("openai/gpt-4o-mini", json!({})))
        .timeout(limits::REQUEST_TIMEOUT)
        .send()
        .await
        .unwrap();
    let (rid, _) = expect_message(resp).await;
    let r = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&r, "endpoint"), "messages", "{r}");
    assert_eq!(str_field(&r, "project"), "zMessagesApp", "{r}");
    assert_eq!(str_field(&r, "provider"), "openai", "{r}");
    assert_eq!(str_field(&r, "key_id"), env.key.id, "{r}");
    assert_eq!(u64_field(&r, "status"), 200, "{r}");
    assert_eq!(u64_field(&r, "tokens_in"), 7, "{r}");
    assert_eq!(u64_field(&r, "tokens_out"), 12, "{r}");
    assert!(!bool_field(&r, "stream"), "{r}");
    assert!(!bool_field(&r, "estimated"), "{r}");
    let records = hub.wait_for_usage(2, limits::USAGE_VISIBLE).await.unwrap();
    let streamed = records.iter().find(|r| bool_field(r, "stream")).expect("the streamed call's record");
    assert_eq!(str_field(streamed, "endpoint"), "messages", "{streamed}");
    assert_eq!(u64_field(streamed, "tokens_out"), 5, "{streamed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_use_round_trips_through_an_openai_upstream() {
    let env = setup().await;
    let hub = &env.hub;
    let key = &env.key.key;
    let tools = json!([{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}]);
    let body = ask("openai/gpt-4o-mini", json!({"tools": tools, "tool_choice": {"type": "tool", "name": "get_weather"}}));
    let (_, reply) = expect_message(messages(hub, key, &body).await).await;
    assert_eq!(reply["stop_reason"], "tool_use", "{reply}");
    let call = reply["content"].as_array().unwrap().iter().find(|b| b["type"] == "tool_use").unwrap().clone();
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["input"], json!({"sim": true}), "{call}");
    let sent = env.sim.stats().last_chat_body.unwrap();
    assert_eq!(sent["tool_choice"], json!({"type": "function", "function": {"name": "get_weather"}}), "{sent}");
    assert_eq!(sent["tools"][0]["function"]["parameters"]["properties"]["city"]["type"], "string", "{sent}");

    // Streamed: one tool_use block whose input_json_delta pieces add up to the arguments.
    let (_, tools_streamed, delta) = assemble(&stream(hub, key, &body).await);
    assert_eq!(tools_streamed.len(), 1);
    assert_eq!(tools_streamed[0]["name"], "get_weather");
    assert_eq!(tools_streamed[0]["input"], json!({"sim": true}));
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");

    // The call and its result go back up as an assistant tool call and a tool message.
    let id = str_field(&call, "id").to_owned();
    let history = json!({"model": "openai/gpt-4o-mini", "max_tokens": 100, "tools": tools, "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": "get_weather", "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": [{"type": "text", "text": "21C"}]}]}
    ]});
    let (_, answer) = expect_message(messages(hub, key, &history).await).await;
    assert_eq!(answer["stop_reason"], "end_turn", "{answer}");
    let sent = env.sim.stats().last_chat_body.unwrap();
    assert_eq!(sent["messages"][1]["tool_calls"][0]["id"], id.as_str(), "{sent}");
    assert_eq!(sent["messages"][1]["tool_calls"][0]["function"]["arguments"], "{\"city\":\"Paris\"}", "{sent}");
    assert_eq!(sent["messages"][2], json!({"role": "tool", "content": "21C", "tool_call_id": id}), "{sent}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_reach_the_anthropic_upstream_and_come_back_unchanged() {
    let sim = Sim::start(SimConfig { api_key: Some(ANTHROPIC_KEY.to_owned()), ..SimConfig::default() }).await.unwrap();
    let opts: HubOptions = options().provider("anthropic", &sim.anthropic_base_url(), Some(ANTHROPIC_KEY));
    let hub = TestHub::launch(HUB_BIN, opts).await.unwrap_or_else(|e| panic!("start the hub: {e}"));
    let key = hub.create_key("e2e").await.unwrap().key;
    let body = ask("anthropic/claude-sonnet-4-5", json!({"system": [{"type": "text", "text": "Be brief."}], "top_k": 7, "stop_sequences": ["END"]}));
    let (_, reply) = expect_message(messages(&hub, &key, &body).await).await;
    assert_eq!(reply["content"], json!([{"type": "text", "text": reply_text(12)}]), "{reply}");
    assert_eq!(reply["stop_reason"], "end_turn");
    assert_eq!(reply["usage"]["output_tokens"], 12, "{reply}");
    assert!(u64_field(&reply["usage"], "input_tokens") > 0, "{reply}");
    let sent = sim.stats().last_messages_body.unwrap();
    assert_eq!(sent["model"], "claude-sonnet-4-5", "{sent}");
    assert_eq!(sent["system"], "Be brief.", "{sent}");
    assert_eq!(sent["top_k"], 7, "{sent}");
    assert_eq!(sent["max_tokens"], 12, "{sent}");
    assert_eq!(sent["stop_sequences"], json!(["END"]), "{sent}");

    let (text, _, delta) = assemble(&stream(&hub, &key, &ask("anthropic/claude-sonnet-4-5", json!({"max_tokens": 4}))).await);
    assert_eq!(text, reply_text(4));
    assert_eq!(delta["delta"]["stop_reason"], "max_tokens", "{delta}");
    assert_eq!(delta["usage"]["output_tokens"], 4, "{delta}");

    let tools = json!([{"name": "lookup", "input_schema": {"type": "object"}}]);
    let (_, tool_reply) = expect_message(messages(&hub, &key, &ask("anthropic/claude-sonnet-4-5", json!({"tools": tools, "tool_choice": {"type": "any"}}))).await).await;
    assert_eq!(tool_reply["stop_reason"], "tool_use", "{tool_reply}");
    assert!(tool_reply["content"].as_array().unwrap().iter().any(|b| b["type"] == "tool_use" && b["name"] == "lookup"), "{tool_reply}");
    let sent = sim.stats().last_messages_body.unwrap();
    assert_eq!(sent["tool_choice"]["type"], "any", "{sent}");
}
