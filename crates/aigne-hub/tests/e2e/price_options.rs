//! Request fields that change the upstream price enter the reservation and the charge: the
//! processing tier (`service_tier`: flex cheaper, priority dearer, charged as the upstream
//! reports it), a web search (a per-call fee), an image's size and quality, and reasoning (its
//! tokens are output, so an unbounded reasoning call is refused under a budget).
//!
//! Every call here asks with the one-word prompt `abc` (7 input tokens, as the hub estimates and
//! the simulator counts) and 20 output tokens, which the simulator reports exactly.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::limits;
use crate::support::*;

const OUTPUT: i64 = 20;
const PROMPT_TOKENS: i64 = 7;
const IMAGES: &str = "/v1/images/generations";

fn ask(model: &str, extra: Value) -> Value {
    with(json!({"model": model, "messages": [{"role": "user", "content": "abc"}], "max_completion_tokens": OUTPUT}), extra)
}

/// Makes the call, expects success, and answers its usage record.
async fn credits_of(hub: &hub_testkit::TestHub, key: &str, path: &str, body: &Value) -> Value {
    let resp = post_json(hub, path, Some(key), body).await;
    let id = request_id(resp.headers());
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{body}: {text}");
    hub.wait_for_record(&id, limits::USAGE_VISIBLE).await.unwrap()
}

fn param_of(e: &ErrorReply) -> Value {
    serde_json::from_str::<Value>(&e.raw).unwrap()["error"]["param"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiers_and_web_search_change_what_a_budgeted_call_costs() {
    let env = setup().await;
    let hub = &env.hub;
    let key = create_key_with(hub, "tiers", &["--budget", "10"]).await.key;

    // o4-mini: $1.10 / $4.40 per million tokens; flex $0.55 / $2.20; priority $2 / $8.
    let standard = credits_of(hub, &key, API_CHAT, &ask("openai/o4-mini", json!({}))).await;
    let flex = credits_of(hub, &key, API_CHAT, &ask("openai/o4-mini", json!({"service_tier": "flex"}))).await;
    let priority = credits_of(hub, &key, API_CHAT, &ask("openai/o4-mini", json!({"service_tier": "priority"}))).await;
    let auto = credits_of(hub, &key, API_CHAT, &ask("openai/o4-mini", json!({"service_tier": "auto"}))).await;
    eprintln!("o4-mini: default {}, flex {}, priority {}, auto {}", standard["credits"], flex["credits"], priority["credits"], auto["credits"]);
    assert_eq!(standard["credits"], PROMPT_TOKENS * 1_100 + OUTPUT * 4_400, "{standard}");
    assert_eq!(flex["credits"], PROMPT_TOKENS * 550 + OUTPUT * 2_200, "{flex}");
    assert_eq!(priority["credits"], PROMPT_TOKENS * 2_000 + OUTPUT * 8_000, "{priority}");
    assert_eq!(auto["credits"], standard["credits"]);
    assert_eq!(flex["upstream_cost"], flex["credits"], "list prices sell at cost");
    // A stream is charged the tier its chunks report.
    let streamed = chat(hub, &key, &ask("openai/o4-mini", json!({"service_tier": "flex", "stream": true}))).await;
    let id = request_id(streamed.headers());
    assert_eq!(streamed.status(), StatusCode::OK);
    let _ = streamed.text().await.unwrap();
    let record = hub.wait_for_record(&id, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(record["credits"], flex["credits"], "{record}");

    // A tier the model has no price for is refused under a budget, naming the field…
    let refused = expect_error(chat(hub, &key, &ask("openai/gpt-4o-mini", json!({"service_tier": "flex"}))).await, 400, "no flex price").await;
    assert_eq!(param_of(&refused), "service_tier", "{}", refused.raw);
    assert_eq!(serde_json::from_str::<Value>(&refused.raw).unwrap()["error"]["type"], "invalid_request_error");
    // …and passes (at the standard price) for a key without budget on an internal hub.
    expect_completion(chat(hub, &env.key.key, &ask("openai/gpt-4o-mini", json!({"service_tier": "flex"}))).await).await;

    // Web search: chat `web_search_options` on gpt-4o-mini $25 per 1,000 calls; a
    // `web_search` tool $10 per 1,000.
    let plain = credits_of(hub, &key, API_CHAT, &ask("openai/gpt-4o-mini", json!({}))).await;
    let searched = credits_of(hub, &key, API_CHAT, &ask("openai/gpt-4o-mini", json!({"web_search_options": {}}))).await;
    let tool = credits_of(hub, &key, API_CHAT, &ask("openai/o4-mini", json!({"tools": [{"type": "web_search"}]}))).await;
    eprintln!("gpt-4o-mini: {} plain, {} with web search; o4-mini with the web_search tool {}", plain["credits"], searched["credits"], tool["credits"]);
    assert_eq!(searched["credits"].as_i64().unwrap(), plain["credits"].as_i64().unwrap() + 25_000_000, "{searched}");
    assert_eq!(tool["credits"].as_i64().unwrap(), standard["credits"].as_i64().unwrap() + 10_000_000, "{tool}");
    // A tier name the hub does not know is refused the same way.
    let unknown = expect_error(chat(hub, &key, &ask("openai/gpt-4o-mini", json!({"service_tier": "scale"}))).await, 400, "unknown tier").await;
    assert_eq!(param_of(&unknown), "service_tier");

    // An admin override at twice the list price scales the tier prices by the same factor.
    hub.cli_ok(&["rate", "set", "openai/o4-mini", "--input", "0.0000022", "--output", "0.0000088"], None).await.unwrap();
    let doubled = eventually(limits::PROPAGATION, "the override reaches the hub", || async {
        let r = credits_of(hub, &key, API_CHAT, &ask("openai/o4-mini", json!({"service_tier": "flex"}))).await;
        (r["credits"] != flex["credits"]).then_some(r)
    })
    .await;
    assert_eq!(doubled["credits"].as_i64().unwrap(), 2 * flex["credits"].as_i64().unwrap(), "{doubled}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbounded_reasoning_call_is_refused_under_a_budget() {
    let env = setup().await;
    let hub = &env.hub;
    let key = create_key_with(hub, "reasoning", &["--budget", "10"]).await.key;
    hub.cli_ok(&["rate", "set", "openai/house-reasoner", "--input", "0.000001", "--output", "0.000004"], None).await.unwrap();
    let unbounded = json!({"model": "openai/house-reasoner", "messages": [{"role": "user", "content": "abc"}], "reasoning_effort": "high"});
    let refused = eventually(limits::PROPAGATION, "the rate reaches the hub", || async {
        let resp = chat(hub, &key, &unbounded).await;
        (resp.status() == StatusCode::BAD_REQUEST).then_some(resp)
    })
    .await;
    let refused = expect_error(refused, 400, "unbounded reasoning").await;
    assert_eq!(param_of(&refused), "max_completion_tokens", "{}", refused.raw);
    assert!(refused.message.contains("reasoning"), "{}", refused.message);
    // With a bound it is reserved and charged, reasoning included in the output tokens.
    let bounded = with(unbounded, json!({"max_completion_tokens": OUTPUT}));
    let record = credits_of(hub, &key, API_CHAT, &bounded).await;
    assert_eq!(record["credits"], PROMPT_TOKENS * 1_000 + OUTPUT * 4_000, "{record}");
    // o3 with reasoning_effort: its output tokens (reasoning included) at the output rate.
    let o3 = credits_of(hub, &key, API_CHAT, &json!({"model": "openai/o3", "messages": [{"role": "user", "content": "abc"}], "max_completion_tokens": OUTPUT, "reasoning_effort": "low"})).await;
    assert_eq!(o3["credits"], PROMPT_TOKENS * 2_000 + OUTPUT * 8_000, "{o3}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_sizes_and_qualities_are_priced_as_published() {
    let env = setup().await;
    let hub = &env.hub;
    let key = create_key_with(hub, "images", &["--budget", "10"]).await.key;
    let image = |extra: Value| with(json!({"model": "openai/dall-e-3", "prompt": "a fox", "response_format": "url"}), extra);

    let standard = credits_of(hub, &key, IMAGES, &image(json!({}))).await;
    let hd = credits_of(hub, &key, IMAGES, &image(json!({"quality": "hd"}))).await;
    let wide_hd = credits_of(hub, &key, IMAGES, &image(json!({"quality": "hd", "size": "1792x1024", "n": 2}))).await;
    eprintln!("dall-e-3: standard {}, hd {}, two wide hd {}", standard["credits"], hd["credits"], wide_hd["credits"]);
    assert_eq!(standard["credits"], 40_000_000, "{standard}");
    assert_eq!(hd["credits"], 80_000_000, "{hd}");
    assert_eq!(wide_hd["credits"], 240_000_000, "{wide_hd}");
    let refused = expect_error(post_json(hub, IMAGES, Some(&key), &image(json!({"size": "512x512"}))).await, 400, "unknown size").await;
    assert_eq!(param_of(&refused), "size", "{}", refused.raw);

    // gpt-image-1 "auto": the dearest image is reserved, the tokens it reports are charged
    // ($5 per million prompt tokens, $40 per million image tokens).
    let auto = credits_of(hub, &key, IMAGES, &json!({"model": "openai/gpt-image-1", "prompt": "a small red square"})).await;
    let (tokens_in, tokens_out) = (auto["tokens_in"].as_i64().unwrap(), auto["tokens_out"].as_i64().unwrap());
    assert_eq!(tokens_out, 272, "{auto}");
    assert_eq!(auto["credits"], tokens_in * 5_000 + tokens_out * 40_000, "{auto}");
    let high = credits_of(hub, &key, IMAGES, &json!({"model": "openai/gpt-image-1", "prompt": "a small red square", "quality": "high", "size": "1536x1024"})).await;
    assert_eq!(high["credits"], tokens_in * 5_000 + 6_240 * 40_000, "{high}");
}
