//! Provider `bedrock`: the hub's OpenAI-compatible API in front of Amazon Bedrock's Converse API
//! (the simulator's `/model/{modelId}/converse` family), every request signed with SigV4 and
//! verified by the simulator.

use hub_testkit::{sse_content, sse_data, CreatedKey, TestHub};
use serde_json::{json, Value};
use upstream_sim::{Fault, Sim, SimConfig};

use crate::limits;
use crate::support::*;

const MODEL: &str = "bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0";
const ACCESS_KEY_ID: &str = "AKIAE2EBEDROCKSIM0001";
const SECRET_KEY: &str = "e2e/Bedrock+Secret0123456789abcdefghijklmn";
const WRONG_SECRET: &str = "e2e/Not+The+Secret0123456789abcdefghijklmn";

/// A simulator that checks signatures for `ACCESS_KEY_ID`/`SECRET_KEY`, and a hub whose
/// `bedrock` provider holds `ACCESS_KEY_ID:hub_secret`, added with `provider add bedrock
/// --base-url http://127.0.0.1:PORT --api-key-stdin`.
async fn bedrock_env(hub_secret: &str) -> (Sim, TestHub, CreatedKey) {
    let sim = Sim::start(SimConfig { aws_credentials: Some((ACCESS_KEY_ID.to_owned(), SECRET_KEY.to_owned())), ..SimConfig::default() })
        .await
        .expect("start the simulator");
    let base = format!("http://{}", sim.addr());
    let credential = format!("{ACCESS_KEY_ID}:{hub_secret}");
    let hub = TestHub::launch(HUB_BIN, options().provider("bedrock", &base, Some(&credential)))
        .await
        .unwrap_or_else(|e| panic!("start the hub: {e}"));
    let key = hub.create_key("e2e").await.unwrap_or_else(|e| panic!("create a key: {e}\n{}", hub.logs()));
    (sim, hub, key)
}

fn ask(extra: Value) -> Value {
    with(json!({"model": MODEL, "messages": [{"role": "user", "content": "Hello!"}]}), extra)
}

/// The Converse request the simulator received last.
fn upstream_body(sim: &Sim) -> Value {
    sim.stats().last_chat_body.expect("the simulator saw a JSON body")
}

fn weather_tool() -> Value {
    json!([{"type": "function", "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    }}])
}

async fn stream_text(hub: &TestHub, key: &str, body: &Value) -> String {
    let resp = post_json(hub, OPENAI_CHAT, Some(key), body).await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    assert_eq!(sse_data(&text).last().map(String::as_str), Some("[DONE]"), "{text}");
    text
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_bedrock_chat_stream_tools_images_json_and_usage() {
    let (sim, hub, key) = bedrock_env(SECRET_KEY).await;

    // Non-streamed: exactly the Converse request, signed, and the reply with exact usage.
    let (rid, body) = expect_completion(chat(&hub, &key.key, &ask(json!({}))).await).await;
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["message"]["content"], reply());
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert_eq!((body["usage"]["prompt_tokens"].as_u64(), body["usage"]["completion_tokens"].as_u64()), (Some(7), Some(12)));
    assert_eq!(body["usage"]["total_tokens"], 19);
    assert_eq!(upstream_body(&sim), json!({"messages": [{"role": "user", "content": [{"text": "Hello!"}]}]}));
    let auth = sim.stats().last_authorization.expect("a signed request");
    assert!(auth.starts_with(&format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/")), "{auth}");
    assert!(auth.contains("/bedrock/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="), "{auth}");

    // The usage record names the provider and model, with the provider's counts.
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "provider"), "bedrock", "{record}");
    assert!(str_field(&record, "model").contains("anthropic.claude-3-5-sonnet-20240620-v1:0"), "{record}");
    assert_eq!(u64_field(&record, "tokens_in"), 7, "{record}");
    assert_eq!(u64_field(&record, "tokens_out"), 12, "{record}");
    assert!(!bool_field(&record, "estimated"), "{record}");
    assert_eq!(str_field(&record, "outcome"), "ok", "{record}");

    // Streamed (event stream frames upstream): the same text, a finish reason, usage when asked.
    let text = stream_text(&hub, &key.key, &ask(json!({"stream": true, "stream_options": {"include_usage": true}}))).await;
    let events = sse_data(&text);
    assert_eq!(sse_content(&events), reply());
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant", "{text}");
    assert!(chunks.iter().any(|c| c["choices"][0]["finish_reason"] == "stop"), "{text}");
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]), "{text}");
    assert_eq!(last["usage"]["prompt_tokens"], 7);
    assert_eq!(last["usage"]["completion_tokens"], 12);

    // A tool call: tools reach Converse as toolSpecs, the call comes back as OpenAI tool_calls.
    let ask_tool = ask(json!({"tools": weather_tool(), "tool_choice": "required"}));
    let (_, body) = expect_completion(chat(&hub, &key.key, &ask_tool).await).await;
    assert_eq!(body["choices"][0]["finish_reason"], "tool_calls");
    let call = body["choices"][0]["message"]["tool_calls"][0].clone();
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(serde_json::from_str::<Value>(str_field(&call["function"], "arguments")).unwrap(), json!({"sim": true}));
    let sent = upstream_body(&sim);
    assert_eq!(sent["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"], json!(["city"]));
    assert_eq!(sent["toolConfig"]["toolChoice"], json!({"any": {}}));

    // The follow-up turn carries the call and its result as toolUse / toolResult blocks.
    let call_id = str_field(&call, "id").to_owned();
    let follow_up = json!({"model": MODEL, "tools": weather_tool(), "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call_id, "content": "fifteen degrees"}
    ]});
    let (_, body) = expect_completion(chat(&hub, &key.key, &follow_up).await).await;
    assert_eq!(body["choices"][0]["message"]["content"], reply());
    let sent = upstream_body(&sim);
    assert_eq!(sent["messages"][1]["content"][0], json!({"toolUse": {"toolUseId": call_id, "name": "get_weather", "input": {"sim": true}}}));
    assert_eq!(sent["messages"][2], json!({"role": "user", "content": [{"toolResult": {"toolUseId": call_id, "content": [{"text": "fifteen degrees"}]}}]}));
    // P = (3 + 3) + (3 + 0) + (3 + 2) + 3.
    assert_eq!(body["usage"]["prompt_tokens"], 17);

    // A streamed tool call: id and name first, then argument fragments that join to JSON.
    let text = stream_text(&hub, &key.key, &with(ask_tool.clone(), json!({"stream": true}))).await;
    let deltas: Vec<Value> = sse_data(&text)
        .iter()
        .filter_map(|e| serde_json::from_str::<Value>(e).ok())
        .filter_map(|c| c["choices"][0]["delta"]["tool_calls"].as_array().cloned())
        .flatten()
        .collect();
    assert_eq!(deltas[0]["function"]["name"], "get_weather", "{text}");
    assert!(str_field(&deltas[0], "id").starts_with("tooluse_"), "{text}");
    let args: String = deltas.iter().filter_map(|d| d["function"]["arguments"].as_str()).collect();
    assert_eq!(serde_json::from_str::<Value>(&args).unwrap(), json!({"sim": true}), "{text}");
    assert!(text.contains("\"finish_reason\":\"tool_calls\""), "{text}");

    // An image part reaches Converse as an inline image block.
    let image = ask(json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    ]}]}));
    expect_completion(chat(&hub, &key.key, &image).await).await;
    assert_eq!(upstream_body(&sim)["messages"][0]["content"][1], json!({"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}));

    // A linked image cannot be sent to Converse: a 400 that says why, and no upstream call.
    let calls = sim.stats().chat_requests;
    let linked = ask(json!({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}));
    let reply400 = expect_error(chat(&hub, &key.key, &linked).await, 400, "linked image").await;
    assert!(reply400.message.contains("data: URL"), "{}", reply400.raw);
    assert_eq!(sim.stats().chat_requests, calls);

    // JSON schema output: a forced tool upstream, JSON text in the reply.
    let schema = ask(json!({"response_format": {"type": "json_schema", "json_schema": {"name": "answer", "strict": true,
        "schema": {"type": "object", "properties": {"sim": {"type": "boolean"}}, "required": ["sim"]}}}}));
    let (_, body) = expect_completion(chat(&hub, &key.key, &schema).await).await;
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["choices"][0]["message"].get("tool_calls").is_none(), "{body}");
    assert_eq!(serde_json::from_str::<Value>(str_field(&body["choices"][0]["message"], "content")).unwrap(), json!({"sim": true}));
    let sent = upstream_body(&sim);
    assert_eq!(sent["toolConfig"]["toolChoice"], json!({"tool": {"name": "answer"}}));
    assert_eq!(sent["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"], json!(["sim"]));

    assert_eq!(sim.stats().unauthorized, 0, "every request carried a valid signature");
    assert!(!hub.logs().contains(SECRET_KEY), "the secret access key is in the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_bedrock_throttling_and_overload_map_to_429_and_503() {
    let (sim, hub, key) = bedrock_env(SECRET_KEY).await;

    sim.push_fault(Fault::Status { status: 429, retry_after: Some(limits::PROVIDER_RETRY_AFTER_SECS) });
    let reply = expect_error(chat(&hub, &key.key, &ask(json!({}))).await, 429, "ThrottlingException").await;
    assert_eq!(header(&reply.headers, "retry-after").as_deref(), Some(limits::PROVIDER_RETRY_AFTER_SECS.to_string().as_str()));
    assert!(reply.message.contains("Too many requests"), "{}", reply.raw);
    tokio::time::sleep(std::time::Duration::from_secs(limits::PROVIDER_RETRY_AFTER_SECS) + limits::SETTLE).await;

    // ServiceUnavailableException, however many retries the hub makes, ends as a 503.
    for _ in 0..5 {
        sim.push_fault(Fault::Status { status: 503, retry_after: None });
    }
    let reply = expect_error(chat(&hub, &key.key, &ask(json!({"stream": true}))).await, 503, "ServiceUnavailableException").await;
    assert!(header(&reply.headers, "retry-after").is_some(), "{:?}", reply.headers);
    sim.clear_faults();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_bedrock_refusing_the_signature_is_a_502_that_reveals_nothing() {
    let (sim, hub, key) = bedrock_env(WRONG_SECRET).await;
    let reply = expect_error(chat(&hub, &key.key, &ask(json!({}))).await, 502, "InvalidSignatureException").await;
    for needle in [WRONG_SECRET, SECRET_KEY, ACCESS_KEY_ID, "signature we calculated", "InvalidSignature"] {
        assert!(!reply.raw.contains(needle), "the 502 body reveals the provider's text ({needle}): {}", reply.raw);
    }
    assert_eq!(sim.stats().unauthorized, 1);
    let records = hub.wait_for_usage(1, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(u64_field(&records[0], "status"), 502, "{}", records[0]);
    assert_eq!(str_field(&records[0], "provider"), "bedrock", "{}", records[0]);
    assert!(!hub.logs().contains(WRONG_SECRET), "the secret access key is in the logs");
}
