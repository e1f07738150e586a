//! The `anthropic` provider end to end: OpenAI-shaped calls to the hub reach the simulator as
//! Anthropic Messages API requests, and its replies, streams, errors and usage come back in
//! the OpenAI shape.

use hub_testkit::{sse_content, sse_data, HubOptions, TestHub};
use serde_json::{json, Value};
use upstream_sim::{reply_text, Sim, SimConfig, Stats};

use crate::limits;
use crate::support::*;

/// The credential the hub holds for Anthropic; the simulator accepts only this `x-api-key`.
const ANTHROPIC_KEY: &str = "sk-ant-api03-e2e-provider-credential-0123456789abcdef";
const MODEL: &str = "anthropic/claude-sonnet-4-5";

struct Anthropic {
    sim: Sim,
    hub: TestHub,
    key: String,
}

async fn setup() -> Anthropic {
    let sim = Sim::start(SimConfig {
        api_key: Some(ANTHROPIC_KEY.to_owned()),
        ..SimConfig::default()
    })
    .await
    .expect("start the upstream simulator");
    let opts: HubOptions =
        options().provider("anthropic", &sim.anthropic_base_url(), Some(ANTHROPIC_KEY));
    let hub = TestHub::launch(HUB_BIN, opts)
        .await
        .unwrap_or_else(|e| panic!("start the hub: {e}"));
    let key = hub
        .create_key("e2e")
        .await
        .unwrap_or_else(|e| panic!("create a key: {e}\n{}", hub.logs()))
        .key;
    Anthropic { sim, hub, key }
}

fn body(extra: Value) -> Value {
    with(
        json!({"model": MODEL, "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello!"}]}),
        extra,
    )
}

/// What reached the simulator last.
fn upstream(stats: &Stats) -> Value {
    stats
        .last_messages_body
        .clone()
        .expect("a /v1/messages body reached the simulator")
}

async fn stream_events(env: &Anthropic, req: &Value) -> Vec<Value> {
    let resp = post_json(&env.hub, OPENAI_CHAT, Some(&env.key), req).await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    let events = sse_data(&text);
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"), "{text}");
    events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_streams_tools_images_and_json_through_the_messages_api() {
    let env = setup().await;

    // Non-streamed: exact content and usage. P = (3 + 2) + (3 + 1) + 3 with the system prompt
    // hoisted into `system`; C = 12 (the simulator's natural length, under the default cap).
    let (rid, reply) = expect_completion(chat(&env.hub, &env.key, &body(json!({}))).await).await;
    assert_eq!(reply["object"], "chat.completion");
    assert!(str_field(&reply, "id").starts_with("msg_"), "{reply}");
    assert_eq!(reply["choices"][0]["message"]["content"], reply_text(12));
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");
    assert_eq!(reply["usage"]["prompt_tokens"], 12);
    assert_eq!(reply["usage"]["completion_tokens"], 12);
    assert_eq!(reply["usage"]["total_tokens"], 24);
    let stats = env.sim.stats();
    let sent = upstream(&stats);
    assert_eq!(stats.last_x_api_key.as_deref(), Some(ANTHROPIC_KEY));
    assert_eq!(sent["model"], "claude-sonnet-4-5");
    assert_eq!(sent["system"], "Be brief.");
    assert_eq!(
        sent["messages"],
        json!([{"role": "user", "content": "Hello!"}])
    );
    assert_eq!(
        sent["max_tokens"], 8192,
        "the default output limit is sent: {sent}"
    );

    // Streamed: the same content, a finish reason, and usage when asked.
    let streamed = with(
        body(json!({"max_tokens": 5})),
        json!({"stream": true, "stream_options": {"include_usage": true}}),
    );
    let chunks = stream_events(&env, &streamed).await;
    let texts: Vec<String> = chunks.iter().map(Value::to_string).collect();
    assert_eq!(sse_content(&texts), reply_text(5));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let finishes: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"][0].get("finish_reason"))
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(
        finishes,
        [&json!("length")],
        "max_tokens cut the reply: {chunks:?}"
    );
    let last = chunks.last().unwrap();
    assert_eq!(last["choices"], json!([]));
    assert_eq!(
        (
            last["usage"]["prompt_tokens"].as_u64(),
            last["usage"]["completion_tokens"].as_u64()
        ),
        (Some(12), Some(5))
    );
    assert_eq!(upstream(&env.sim.stats())["stream"], true);

    // A tool call: OpenAI tool_calls with JSON-text arguments...
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]);
    let ask = body(json!({"tools": tools, "tool_choice": "required"}));
    let (_, reply) = expect_completion(chat(&env.hub, &env.key, &ask).await).await;
    let message = &reply["choices"][0]["message"];
    assert_eq!(reply["choices"][0]["finish_reason"], "tool_calls");
    let call = &message["tool_calls"][0];
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    assert_eq!(
        serde_json::from_str::<Value>(str_field(&call["function"], "arguments")).unwrap(),
        json!({"sim": true})
    );
    let sent = upstream(&env.sim.stats());
    assert_eq!(
        sent["tools"][0]["input_schema"]["required"],
        json!(["city"])
    );
    assert_eq!(sent["tool_choice"], json!({"type": "any"}));

    // ...and the follow-up turn with the result goes up as tool_use / tool_result blocks.
    let call_id = str_field(call, "id").to_owned();
    let follow_up = json!({"model": MODEL, "tools": tools, "messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": null, "tool_calls": [call.clone()]},
        {"role": "tool", "tool_call_id": call_id, "content": "fifteen degrees"}
    ]});
    let (_, reply) = expect_completion(chat(&env.hub, &env.key, &follow_up).await).await;
    assert_eq!(reply["choices"][0]["message"]["content"], reply_text(12));
    let sent = upstream(&env.sim.stats());
    assert_eq!(
        sent["messages"][1]["content"][0],
        json!({"type": "tool_use", "id": call_id, "name": "get_weather", "input": {"sim": true}})
    );
    assert_eq!(
        sent["messages"][2],
        json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id, "content": "fifteen degrees"}]})
    );
    // P = (3 + 3) + (3 + 0) + (3 + 2) + 3.
    assert_eq!(reply["usage"]["prompt_tokens"], 17);

    // A streamed tool call carries the id and name first, then argument fragments.
    let chunks = stream_events(&env, &with(ask.clone(), json!({"stream": true}))).await;
    let deltas: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c.pointer("/choices/0/delta/tool_calls/0"))
        .collect();
    assert_eq!(deltas[0]["function"]["name"], "get_weather");
    assert!(str_field(deltas[0], "id").starts_with("toolu_"));
    let arguments: String = deltas
        .iter()
        .filter_map(|d| d["function"]["arguments"].as_str())
        .collect();
    assert_eq!(arguments, r#"{"sim":true}"#);

    // Images: a data: URL goes up inline as base64, an http URL by reference.
    let image = body(json!({"messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}}
    ]}]}));
    expect_completion(chat(&env.hub, &env.key, &image).await).await;
    let sent = upstream(&env.sim.stats());
    assert_eq!(
        sent["messages"][0]["content"][1],
        json!({"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}})
    );
    assert_eq!(
        sent["messages"][0]["content"][2],
        json!({"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}})
    );

    // JSON output: a forced tool upstream, the JSON text as content here.
    let schema =
        json!({"type": "object", "properties": {"sim": {"type": "boolean"}}, "required": ["sim"]});
    let json_req = body(
        json!({"response_format": {"type": "json_schema", "json_schema": {"name": "flag", "schema": schema}}}),
    );
    let (_, reply) = expect_completion(chat(&env.hub, &env.key, &json_req).await).await;
    assert_eq!(reply["choices"][0]["finish_reason"], "stop");
    assert!(
        reply["choices"][0]["message"]
            .get("tool_calls")
            .is_none_or(Value::is_null),
        "{reply}"
    );
    let content = str_field(&reply["choices"][0]["message"], "content");
    assert_eq!(
        serde_json::from_str::<Value>(content).unwrap(),
        json!({"sim": true})
    );
    let sent = upstream(&env.sim.stats());
    assert_eq!(sent["tools"][0]["name"], "json_output");
    assert_eq!(sent["tools"][0]["input_schema"], schema);
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "tool", "name": "json_output"})
    );

    // The first call's usage record names the provider, the model and the exact tokens.
    let record = env
        .hub
        .wait_for_record(&rid, limits::USAGE_VISIBLE)
        .await
        .unwrap();
    assert_eq!(str_field(&record, "provider"), "anthropic", "{record}");
    assert!(
        str_field(&record, "model").contains("claude-sonnet-4-5"),
        "{record}"
    );
    assert_eq!(u64_field(&record, "tokens_in"), 12, "{record}");
    assert_eq!(u64_field(&record, "tokens_out"), 12, "{record}");
    assert_eq!(str_field(&record, "outcome"), "ok", "{record}");
    assert!(!bool_field(&record, "estimated"), "{record}");
    assert_eq!(env.sim.stats().messages_requests, 7);
    assert_eq!(env.sim.stats().unauthorized, 0);
}

/// A request whose last user turn carries a simulator marker: every attempt the hub makes
/// (it retries some failures) meets the same fault.
fn marked(marker: &str, extra: Value) -> Value {
    body(with(
        json!({"messages": [{"role": "user", "content": format!("Hello! {marker}")}]}),
        extra,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anthropic_rate_limit_is_a_429_with_retry_after() {
    let env = setup().await;
    let req = marked("[[sim:status=429,retry_after=7]]", json!({}));
    let reply = expect_error(chat(&env.hub, &env.key, &req).await, 429, "anthropic 429").await;
    assert_eq!(header(&reply.headers, "retry-after").as_deref(), Some("7"));
    assert!(env.sim.stats().messages_requests >= 1);
    let record = env
        .hub
        .wait_for_record(&request_id(&reply.headers), limits::USAGE_VISIBLE)
        .await
        .unwrap();
    assert_eq!(str_field(&record, "provider"), "anthropic", "{record}");
    assert_eq!(u64_field(&record, "status"), 429, "{record}");
    assert_eq!(str_field(&record, "outcome"), "error", "{record}");
    assert_eq!(u64_field(&record, "tokens_out"), 0, "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_overload_is_a_503() {
    let env = setup().await;
    for extra in [json!({"stream": true}), json!({})] {
        let req = marked("[[sim:status=529]]", extra);
        let reply = expect_error(chat(&env.hub, &env.key, &req).await, 503, "anthropic 529").await;
        assert!(
            header(&reply.headers, "retry-after").is_some(),
            "{}",
            reply.raw
        );
    }
    assert!(
        env.sim.stats().messages_requests >= 1,
        "the first 529 came from the simulator"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_refusing_the_credential_is_a_502_that_reveals_nothing() {
    let sim = Sim::start(SimConfig {
        api_key: Some("sk-ant-api03-the-simulator-expects-another".to_owned()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let hub = TestHub::launch(
        HUB_BIN,
        options().provider("anthropic", &sim.anthropic_base_url(), Some(ANTHROPIC_KEY)),
    )
    .await
    .unwrap();
    let key = hub.create_key("e2e").await.unwrap().key;
    for extra in [json!({}), json!({"stream": true})] {
        let reply = expect_error(chat(&hub, &key, &body(extra)).await, 502, "anthropic 401").await;
        for needle in [
            "x-api-key",
            ANTHROPIC_KEY,
            &ANTHROPIC_KEY[..16],
            &ANTHROPIC_KEY[ANTHROPIC_KEY.len() - 12..],
        ] {
            assert!(
                !reply.raw.contains(needle),
                "the 502 reveals {needle}: {}",
                reply.raw
            );
        }
    }
    assert!(sim.stats().unauthorized >= 1);
    assert_eq!(sim.stats().last_x_api_key.as_deref(), Some(ANTHROPIC_KEY));
    assert!(
        !hub.logs().contains(ANTHROPIC_KEY),
        "the provider credential is in the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anthropic_bad_requests_and_cut_streams() {
    let env = setup().await;
    // 400 invalid_request_error keeps Anthropic's message.
    let reply = expect_error(
        chat(&env.hub, &env.key, &marked("[[sim:status=400]]", json!({}))).await,
        400,
        "anthropic 400",
    )
    .await;
    assert!(reply.message.contains("simulated"), "{}", reply.raw);

    // A stream cut after two words is an error event the client sees, never a clean end.
    let resp = chat(
        &env.hub,
        &env.key,
        &marked("[[sim:cut=2]]", json!({"stream": true})),
    )
    .await;
    assert_eq!(resp.status(), 200, "the stream had started");
    let events = sse_data(&resp.text().await.unwrap_or_default());
    assert!(
        !events.iter().any(|e| e == "[DONE]"),
        "a cut stream must not look complete: {events:?}"
    );
    assert_eq!(sse_content(&events), "Hello from");
    let last: Value = serde_json::from_str(events.last().expect("events")).expect("JSON event");
    assert!(
        last["error"]["message"].is_string(),
        "the stream ends with an error event: {events:?}"
    );

    // What the hub cannot express to Anthropic is refused up front, not silently dropped.
    let audio = body(
        json!({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}]}]}),
    );
    expect_error(
        chat(&env.hub, &env.key, &audio).await,
        400,
        "audio for anthropic",
    )
    .await;
    assert_eq!(env.sim.stats().messages_requests, 2);
}
