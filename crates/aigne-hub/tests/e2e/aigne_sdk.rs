//! The AIGNE SDK's routes, on the wire: discovery, `POST /api/v2/chat` (reply object, `delta`
//! events, tool calls with object arguments, errors), `/api/v2/embeddings`, `/api/v2/image`,
//! `/api/v2/status`, `GET /api/ai/models` and `GET /api/user/info`. The published SDK itself
//! runs against the hub in `tests-js/`.

use serde_json::{json, Value};
use upstream_sim::{sim_png, text_embedding, Fault};

use crate::limits;
use crate::support::*;

const CHAT: &str = "/api/v2/chat";
const DID: &str = "z8ia3xzq2tMq8CRHfaXj1BTYJyYnEcHbqP8cJ";
const PROMPT_TOKENS: u64 = 7;
const COMPLETION_TOKENS: u64 = 12;

/// A chat body as the SDK posts it.
fn chat_body(input: Value, streaming: bool) -> Value {
    json!({"input": input, "agent": "$CHAT_MODEL", "options": {"streaming": streaming, "userContext": {}, "memories": []}})
}

fn hello_input(model: &str) -> Value {
    json!({"messages": [{"role": "user", "content": "Hello!"}], "modelOptions": {"model": model, "parallelToolCalls": true}, "outputFileType": "url"})
}

async fn get(hub: &hub_testkit::TestHub, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = hub.client().get(hub.url(path)).timeout(limits::REQUEST_TIMEOUT);
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    req.send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
}

/// POSTs with the SDK's caller header.
async fn post_as_app(hub: &hub_testkit::TestHub, path: &str, key: &str, app: &str, body: &Value) -> reqwest::Response {
    hub.client()
        .post(hub.url(path))
        .bearer_auth(key)
        .header(PROJECT_HEADER, app)
        .json(body)
        .timeout(limits::REQUEST_TIMEOUT)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"))
}

/// The `data:` payloads of an SSE body, parsed; panics on `[DONE]` or any non-JSON data line.
fn data_events(raw: &str) -> Vec<Value> {
    assert!(!raw.contains("[DONE]"), "the AIGNE stream never ends with [DONE]: {raw}");
    raw.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("non-JSON data line ({e}): {d}\n{raw}")))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_models_status_and_user_info() {
    let env = setup().await;
    let (hub, key) = (&env.hub, env.key.key.as_str());

    let (_, info) = expect_completion(get(hub, "/__blocklet__.js?type=json", None).await).await;
    assert_eq!(info["componentMountPoints"][0]["did"], DID, "{info}");
    assert_eq!(info["componentMountPoints"][0]["mountPoint"], "/", "{info}");
    assert_eq!(info["appUrl"], hub.url(""), "{info}");
    let script = get(hub, "/__blocklet__.js", None).await;
    assert_eq!(script.status(), 200);
    assert!(script.text().await.unwrap().starts_with("window.blocklet = {"));

    // Public, filtered by type, credit rates as strings.
    let (_, all) = expect_completion(get(hub, "/api/ai/models", None).await).await;
    let all = all.as_array().unwrap().clone();
    for kind in ["chat", "image", "embedding"] {
        assert!(all.iter().any(|m| m["type"] == kind), "no {kind} model in {all:?}");
    }
    let (_, chat) = expect_completion(get(hub, "/api/ai/models?type=chat", None).await).await;
    let chat = chat.as_array().unwrap();
    assert!(!chat.is_empty() && chat.iter().all(|m| m["type"] == "chat"), "{chat:?}");
    let mini = chat.iter().find(|m| m["model"] == "gpt-4o-mini").unwrap_or_else(|| panic!("{chat:?}"));
    assert_eq!(mini["key"], "openai/gpt-4o-mini");
    assert_eq!(mini["provider"], "openai");
    assert_eq!(mini["providerDisplayName"], "OpenAI");
    assert!(mini["input_credits_per_token"].is_string() && mini["output_credits_per_token"].is_string(), "{mini}");
    assert_eq!((mini["input_credits_per_token"].as_str(), mini["output_credits_per_token"].as_str()), (Some("0.00000015"), Some("0.0000006")), "{mini}");
    assert_eq!(mini["status"], json!({"available": true}));
    let (_, video) = expect_completion(get(hub, "/api/ai/models?type=video", None).await).await;
    let keys: Vec<&str> = video.as_array().unwrap().iter().filter_map(|m| m["key"].as_str()).collect();
    assert_eq!(keys, ["openai/sora-2", "openai/sora-2-pro"], "{video}");
    let bad = expect_error(get(hub, "/api/ai/models?type=sound", None).await, 400, "unknown model type").await;
    assert!(bad.message.contains("sound"), "{}", bad.raw);

    let (_, status) = expect_completion(get(hub, "/api/v2/status", Some(key)).await).await;
    assert_eq!(status, json!({"available": true}));
    expect_error(get(hub, "/api/v2/status", None).await, 401, "status without a key").await;

    let (_, me) = expect_completion(get(hub, "/api/user/info", Some(key)).await).await;
    assert_eq!(me["user"]["email"], hub_testkit::OWNER_EMAIL, "{me}");
    assert_eq!(me["key"]["kid"], env.key.kid, "{me}");
    assert_eq!(me["enableCredit"], false, "{me}");
    assert_eq!(me["creditBalance"]["balance"], "0", "no credit granted: {me}");
    assert!(!me.to_string().contains(key), "the key never comes back");
    expect_error(get(hub, "/api/user/info", Some("aih_not_a_key")).await, 401, "user info with a bad key").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_reply_object_usage_and_project_attribution() {
    let env = setup().await;
    let (hub, key) = (&env.hub, env.key.key.as_str());

    for model in ["aignehub/openai/gpt-4o-mini", "openai/gpt-4o-mini", "gpt-4o-mini"] {
        let resp = post_as_app(hub, CHAT, key, "zApp1", &chat_body(hello_input(model), false)).await;
        let (rid, reply) = expect_completion(resp).await;
        assert_eq!(
            reply,
            json!({"text": crate::support::reply(), "model": "gpt-4o-mini", "usage": {"inputTokens": PROMPT_TOKENS, "outputTokens": COMPLETION_TOKENS}}),
            "{model}"
        );
        let sent = env.sim.stats().last_chat_body.unwrap();
        assert_eq!(sent["model"], "gpt-4o-mini", "{model}");
        assert!(sent.get("parallel_tool_calls").is_none(), "not sent without tools: {sent}");
        let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
        assert_eq!(str_field(&record, "project"), "zApp1", "{record}");
        assert_eq!(str_field(&record, "endpoint"), "chat.completions", "{record}");
        assert_eq!(str_field(&record, "provider"), "openai", "{record}");
        assert_eq!(u64_field(&record, "tokens_in"), PROMPT_TOKENS, "{record}");
        assert_eq!(u64_field(&record, "tokens_out"), COMPLETION_TOKENS, "{record}");
        assert_eq!(str_field(&record, "outcome"), "ok", "{record}");
    }

    // Model options reach the upstream under their OpenAI names.
    let input = json!({"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": [{"type": "text", "text": "Hello!"}]}],
        "modelOptions": {"model": "openai/gpt-4o-mini", "temperature": 0.5, "topP": 0.8, "presencePenalty": 0.1}});
    expect_completion(post_json(hub, CHAT, Some(key), &chat_body(input, false)).await).await;
    let sent = env.sim.stats().last_chat_body.unwrap();
    assert_eq!((sent["temperature"].as_f64(), sent["top_p"].as_f64(), sent["presence_penalty"].as_f64()), (Some(0.5), Some(0.8), Some(0.1)), "{sent}");
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(sent["messages"][1]["content"][0]["text"], "Hello!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_stream_is_delta_events_without_done() {
    let env = setup().await;
    let (hub, key) = (&env.hub, env.key.key.as_str());

    let resp = post_as_app(hub, CHAT, key, "zStreamApp", &chat_body(hello_input("aignehub/openai/gpt-4o-mini"), true)).await;
    assert_eq!(resp.status(), 200);
    assert!(header(resp.headers(), "content-type").is_some_and(|c| c.starts_with("text/event-stream")));
    let rid = request_id(resp.headers());
    let raw = resp.text().await.unwrap();
    assert!(!raw.contains("event:"), "no error events: {raw}");
    let events = data_events(&raw);
    let (last, texts) = events.split_last().unwrap();
    let text: String = texts.iter().map(|e| e["delta"]["text"]["text"].as_str().unwrap_or_else(|| panic!("not a text delta: {e}"))).collect();
    assert_eq!(text, crate::support::reply());
    assert_eq!(
        last,
        &json!({"delta": {"json": {"model": "gpt-4o-mini", "usage": {"inputTokens": PROMPT_TOKENS, "outputTokens": COMPLETION_TOKENS}}}})
    );
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert!(bool_field(&record, "stream"), "{record}");
    assert_eq!(str_field(&record, "project"), "zStreamApp", "{record}");
    assert_eq!(u64_field(&record, "tokens_out"), COMPLETION_TOKENS, "{record}");
    assert_eq!(str_field(&record, "outcome"), "ok", "{record}");

    // An upstream cut after the first byte: an `event: error` with a message, still no [DONE].
    env.sim.push_fault(Fault::CutStreamAfter(3));
    let resp = post_json(hub, CHAT, Some(key), &chat_body(hello_input("openai/gpt-4o-mini"), true)).await;
    assert_eq!(resp.status(), 200);
    let raw = resp.text().await.unwrap();
    let events = data_events(&raw);
    assert!(raw.contains("event: error\ndata: {\"message\":"), "{raw}");
    assert!(events.last().and_then(|e| e["message"].as_str()).is_some_and(|m| !m.is_empty()), "{raw}");
    assert!(!raw.contains(hub_testkit::PROVIDER_KEY));

    // A failure before the first byte is a plain HTTP error in the one envelope.
    env.sim.push_fault(Fault::Status { status: 400, retry_after: None });
    expect_error(post_json(hub, CHAT, Some(key), &chat_body(hello_input("openai/gpt-4o-mini"), true)).await, 400, "upstream 400 before the stream").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_calls_round_trip_with_object_arguments() {
    let env = setup().await;
    let (hub, key) = (&env.hub, env.key.key.as_str());
    let tools = json!([{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}}]);
    let input = json!({"messages": [{"role": "user", "content": "Weather in Paris?"}], "modelOptions": {"model": "openai/gpt-4o-mini", "parallelToolCalls": false},
        "tools": tools, "toolChoice": {"type": "function", "function": {"name": "get_weather"}}});

    let (_, reply) = expect_completion(post_json(hub, CHAT, Some(key), &chat_body(input.clone(), false)).await).await;
    let call = reply["toolCalls"][0].clone();
    assert_eq!(call["type"], "function", "{reply}");
    assert_eq!(call["function"]["name"], "get_weather", "{reply}");
    assert_eq!(call["function"]["arguments"], json!({"sim": true}), "arguments are an object: {reply}");
    let sent = env.sim.stats().last_chat_body.unwrap();
    assert_eq!(sent["tool_choice"], json!({"type": "function", "function": {"name": "get_weather"}}), "{sent}");
    assert_eq!(sent["parallel_tool_calls"], false, "{sent}");
    assert_eq!(sent["tools"][0]["function"]["parameters"]["properties"]["city"]["type"], "string", "{sent}");

    // Streamed, the call arrives whole in the final event.
    let resp = post_json(hub, CHAT, Some(key), &chat_body(input, true)).await;
    let events = data_events(&resp.text().await.unwrap());
    let last = &events.last().unwrap()["delta"]["json"];
    assert_eq!(last["toolCalls"][0]["function"]["arguments"], json!({"sim": true}), "{last}");
    assert!(last["toolCalls"][0]["id"].as_str().is_some_and(|id| !id.is_empty()), "{last}");
    assert!(last["usage"]["outputTokens"].is_u64(), "{last}");

    // The call and its result go back up: arguments as JSON text, the tool message linked by id.
    let input = json!({"messages": [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "agent", "content": "", "toolCalls": [{"id": "call_abc", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris", "opts": {"days": [1, 2]}}}}]},
        {"role": "tool", "toolCallId": "call_abc", "content": "{\"temp\":21}"}
    ], "modelOptions": {"model": "openai/gpt-4o-mini"}, "tools": tools});
    let (_, reply) = expect_completion(post_json(hub, CHAT, Some(key), &chat_body(input, false)).await).await;
    assert_eq!(reply["text"], crate::support::reply(), "{reply}");
    let sent = env.sim.stats().last_chat_body.unwrap();
    let replayed = &sent["messages"][1];
    assert_eq!(replayed["role"], "assistant", "{sent}");
    let args: Value = serde_json::from_str(replayed["tool_calls"][0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"city": "Paris", "opts": {"days": [1, 2]}}));
    assert_eq!(sent["messages"][2]["role"], "tool");
    assert_eq!(sent["messages"][2]["tool_call_id"], "call_abc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_keys_and_bad_bodies_get_typed_errors() {
    let env = setup().await;
    let (hub, key) = (&env.hub, env.key.key.as_str());
    let good = chat_body(hello_input("openai/gpt-4o-mini"), false);

    for bad_key in [None, Some("sk-not-a-hub-key"), Some("aih_AAAAAAAAAAAA_BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBCCCCCC")] {
        for path in [CHAT, "/api/v2/embeddings", "/api/v2/image"] {
            let e = expect_error(post_json(hub, path, bad_key, &good).await, 401, path).await;
            assert!(e.message.contains("API key"), "{}", e.raw);
        }
    }

    for (body, what) in [
        ("{\"input\":".to_owned(), "truncated JSON"),
        (String::new(), "empty body"),
        ("[]".to_owned(), "not an object"),
        (json!({"agent": "$CHAT_MODEL"}).to_string(), "no input"),
        (json!({"input": {"messages": "Hello!", "modelOptions": {"model": "m"}}}).to_string(), "messages not a list"),
        (json!({"input": {"messages": [{"role": "assistant", "content": "x"}], "modelOptions": {"model": "m"}}}).to_string(), "OpenAI role name"),
        (chat_body(json!({"messages": [{"role": "user", "content": "hi"}]}), false).to_string(), "no model"),
        (chat_body(json!({"messages": [], "modelOptions": {"model": "openai/gpt-4o-mini"}}), false).to_string(), "no messages"),
        (chat_body(json!({"messages": [{"role": "tool", "content": "x"}], "modelOptions": {"model": "openai/gpt-4o-mini"}}), false).to_string(), "tool without id"),
    ] {
        let e = expect_error(post_raw(hub, CHAT, Some(key), body).await, 400, what).await;
        assert_eq!(header(&e.headers, "x-should-retry").as_deref(), Some("false"), "{what}");
    }
    let e = expect_error(post_json(hub, CHAT, Some(key), &chat_body(hello_input("aignehub/no-such-model"), false)).await, 404, "unknown model").await;
    assert!(e.message.contains("no-such-model"), "{}", e.raw);
    assert_eq!(env.sim.stats().chat_requests, 0, "no bad request reached the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embeddings_and_images_in_aigne_shapes() {
    let env = setup().await;
    let (hub, key) = (&env.hub, env.key.key.as_str());

    let body = json!({"input": {"input": ["hello world", "the quick brown fox"], "modelOptions": {"model": "openai/text-embedding-3-small"}}});
    let resp = post_as_app(hub, "/api/v2/embeddings", key, "zEmbedApp", &body).await;
    let (rid, reply) = expect_completion(resp).await;
    assert_eq!(reply["usage"], json!({"inputTokens": 6, "outputTokens": 0}), "{reply}");
    assert_eq!(reply["model"], "text-embedding-3-small", "{reply}");
    let first: Vec<f32> = reply["data"][0]["embedding"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    assert_eq!(first, text_embedding("hello world", 8));
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "endpoint"), "embeddings", "{record}");
    assert_eq!(str_field(&record, "project"), "zEmbedApp", "{record}");
    expect_error(post_json(hub, "/api/v2/embeddings", Some(key), &json!({"input": {"input": "x"}})).await, 400, "embeddings without a model").await;

    // gpt-image-1 answers base64: stored, answered as a signed hub URL that serves the PNG.
    let body = json!({"input": {"prompt": "a watercolor fox", "modelOptions": {"model": "openai/gpt-image-1"}, "outputFileType": "url"}, "agent": "$IMAGE_MODEL", "options": {"streaming": false}});
    let resp = post_as_app(hub, "/api/v2/image", key, "zImageApp", &body).await;
    let (rid, reply) = expect_completion(resp).await;
    assert_eq!(reply["model"], "gpt-image-1", "{reply}");
    assert_eq!(reply["images"][0]["type"], "url", "{reply}");
    let url = reply["images"][0]["url"].as_str().unwrap();
    assert!(url.starts_with(&hub.url("/files/")), "{url}");
    let got = hub.client().get(url).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(got.bytes().await.unwrap().as_ref(), sim_png().as_slice());
    assert!(reply["usage"]["outputTokens"].as_u64().is_some_and(|n| n > 0), "{reply}");
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "endpoint"), "images", "{record}");
    assert_eq!(str_field(&record, "project"), "zImageApp", "{record}");

    // `file` asks for base64 back, typed by its bytes.
    let body = json!({"input": {"prompt": "a fox", "n": 2, "modelOptions": {"model": "openai/dall-e-3"}, "outputFileType": "file"}});
    let (_, reply) = expect_completion(post_json(hub, "/api/v2/image", Some(key), &body).await).await;
    let images = reply["images"].as_array().unwrap();
    assert_eq!(images.len(), 2, "{reply}");
    assert!(images.iter().all(|i| i["type"] == "file" && i["mimeType"] == "image/png" && i["data"].is_string()), "{reply}");

    for (body, what) in [
        (json!({"input": {"prompt": "x"}}), "no model"),
        (json!({"input": {"prompt": "", "modelOptions": {"model": "openai/dall-e-3"}}}), "empty prompt"),
        (json!({"input": {"prompt": "x", "modelOptions": {"model": "openai/dall-e-3"}, "image": [{"type": "url", "url": "http://x"}]}}), "editing"),
        (json!({"input": {"prompt": "x", "modelOptions": {"model": "openai/dall-e-3"}, "outputFileType": "local"}}), "local output"),
    ] {
        expect_error(post_json(hub, "/api/v2/image", Some(key), &body).await, 400, what).await;
    }
}
