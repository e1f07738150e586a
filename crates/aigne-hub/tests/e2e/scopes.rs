//! Least privilege: key types × route families × model patterns, cell by cell, and the address
//! allow-list with and without a trusted proxy. A refused call never reaches the upstream and
//! still leaves a usage record.

use serde_json::{json, Value};
use upstream_sim::SimConfig;

use crate::limits;
use crate::support::*;

const CHAT: &str = "/v1/chat/completions";
const EMBEDDINGS: &str = "/v1/embeddings";
const IMAGES: &str = "/v1/images/generations";

fn chat_body(model: &str) -> Value {
    json!({"model": model, "messages": [{"role": "user", "content": "Hello!"}]})
}

fn embeddings_body(model: &str) -> Value {
    json!({"model": model, "input": "hello"})
}

fn images_body(model: &str) -> Value {
    json!({"model": model, "prompt": "a lighthouse"})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scope_matrix_cell_by_cell_and_denied_calls_never_reach_the_upstream() {
    let env = setup().await;
    let hub = &env.hub;
    let scoped = create_key_with(hub, "scoped", &["--models", "*/gpt-4o*", "--models", "openai/text-embedding-*", "--endpoints", "chat,embeddings"]).await;
    let analytics = create_key_with(hub, "reader", &["--type", "analytics"]).await;
    let admin = create_key_with(hub, "automation", &["--type", "admin"]).await;

    // (key, path, body, expected status, the scope the 403 names)
    let cells: Vec<(&str, &str, &str, Value, u16, &str)> = vec![
        ("unscoped", &env.key.key, CHAT, chat_body("openai/gpt-3.5-turbo"), 200, ""),
        ("unscoped", &env.key.key, EMBEDDINGS, embeddings_body("openai/text-embedding-3-small"), 200, ""),
        ("scoped", &scoped.key, CHAT, chat_body("openai/gpt-4o-mini"), 200, ""),
        ("scoped", &scoped.key, CHAT, chat_body("aignehub/gpt-4o"), 200, ""),
        ("scoped", &scoped.key, CHAT, chat_body("gpt-4o-mini"), 200, ""),
        ("scoped", &scoped.key, CHAT, chat_body("openai/gpt-3.5-turbo"), 403, "model \"openai/gpt-3.5-turbo\" is not allowed"),
        ("scoped", &scoped.key, CHAT, chat_body("aignehub/gpt-3.5-turbo"), 403, "model \"aignehub/gpt-3.5-turbo\" is not allowed"),
        ("scoped", &scoped.key, EMBEDDINGS, embeddings_body("openai/text-embedding-3-small"), 200, ""),
        ("scoped", &scoped.key, EMBEDDINGS, embeddings_body("openai/text-ada-002"), 403, "is not allowed for this key (allowed: */gpt-4o*, openai/text-embedding-*)"),
        ("scoped", &scoped.key, IMAGES, images_body("openai/gpt-4o-image"), 403, "endpoint \"images\" is not allowed for this key (allowed: chat, embeddings)"),
        ("analytics", &analytics.key, CHAT, chat_body("openai/gpt-4o-mini"), 403, "analytics key cannot call"),
        ("analytics", &analytics.key, EMBEDDINGS, embeddings_body("openai/text-embedding-3-small"), 403, "analytics key cannot call"),
        ("admin", &admin.key, CHAT, chat_body("openai/gpt-4o-mini"), 403, "admin key cannot call"),
        ("admin", &admin.key, IMAGES, images_body("openai/gpt-image-1"), 403, "admin key cannot call"),
    ];
    for (who, key, path, body, status, says) in cells {
        let what = format!("{who} {path} {body}");
        let before = upstream_total(&env.sim);
        let resp = post_json(hub, path, Some(key), &body).await;
        if status == 200 {
            let got = resp.status().as_u16();
            assert_eq!(got, 200, "{what}: {}", resp.text().await.unwrap_or_default());
            assert_eq!(upstream_total(&env.sim), before + 1, "{what}: one upstream call");
        } else {
            let err = expect_error(resp, status, &what).await;
            assert!(err.message.contains(says), "{what}: {}", err.message);
            assert_eq!(upstream_total(&env.sim), before, "{what}: a denied call reached the upstream");
        }
    }

    // The models list shows only what the key may call, and a key limited to chat cannot list.
    let list = hub.client().get(hub.url("/v1/models")).bearer_auth(&env.key.key).send().await.unwrap();
    assert_eq!(list.status(), 200);
    let chat_only = create_key_with(hub, "chat-only", &["--endpoints", "chat", "--models", "openai/gpt-4o*"]).await;
    let denied = hub.client().get(hub.url("/v1/models")).bearer_auth(&chat_only.key).send().await.unwrap();
    expect_error(denied, 403, "models listing outside the endpoint scope").await;
    let listing = create_key_with(hub, "lister", &["--models", "openai/gpt-4o*"]).await;
    let body: Value = hub.client().get(hub.url("/v1/models")).bearer_auth(&listing.key).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = body["data"].as_array().unwrap().iter().map(|m| str_field(m, "id")).collect();
    assert!(!ids.is_empty() && ids.iter().all(|id| id.starts_with("openai/gpt-4o")), "{ids:?}");

    // A refusal leaves a usage record with its status and class.
    let refused = post_json(hub, CHAT, Some(&scoped.key), &chat_body("openai/gpt-3.5-turbo")).await;
    let id = request_id(refused.headers());
    let record = hub.wait_for_record(&id, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(u64_field(&record, "status"), 403);
    assert_eq!(str_field(&record, "error_class"), "model_not_allowed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_allow_list_without_a_trusted_proxy_ignores_forwarded_for() {
    let env = setup().await;
    let hub = &env.hub;
    let office = create_key_with(hub, "office", &["--ips", "10.0.0.0/8"]).await;
    let local = create_key_with(hub, "local", &["--ips", "127.0.0.1", "--ips", "::1"]).await;
    let before = upstream_total(&env.sim);
    let err = expect_error(chat(hub, &office.key, &hello()).await, 403, "outside the allow-list").await;
    assert!(err.message.contains("address 127.0.0.1 is not allowed for this key"), "{}", err.message);
    // Without a trusted proxy the header is the client's word, and is ignored.
    let forged = hub
        .client()
        .post(hub.url(API_CHAT))
        .bearer_auth(&office.key)
        .header("x-forwarded-for", "10.1.2.3")
        .json(&hello())
        .send()
        .await
        .unwrap();
    expect_error(forged, 403, "a forged X-Forwarded-For").await;
    assert_eq!(upstream_total(&env.sim), before);
    expect_completion(chat(hub, &local.key, &hello()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() {
    let env = setup_with(SimConfig::default(), |o| o.serve_arg("--trusted-proxies").serve_arg("127.0.0.0/8,::1")).await;
    let hub = &env.hub;
    let office = create_key_with(hub, "office", &["--ips", "10.0.0.0/8", "--ips", "2001:db8::/32"]).await;
    let via = |xff: &'static str| {
        hub.client().post(hub.url(API_CHAT)).bearer_auth(&office.key).header("x-forwarded-for", xff).json(&hello()).send()
    };
    expect_completion(via("10.1.2.3").await.unwrap()).await;
    expect_completion(via("2001:db8::7").await.unwrap()).await;
    // A client that prepends an allowed address is still judged by the hop the proxy saw.
    let err = expect_error(via("10.1.2.3, 8.8.8.8").await.unwrap(), 403, "right-most untrusted hop").await;
    assert!(err.message.contains("address 8.8.8.8"), "{}", err.message);
    // Without the header, the proxy itself is the client.
    expect_error(chat(hub, &office.key, &hello()).await, 403, "no X-Forwarded-For").await;
    assert_eq!(env.sim.stats().chat_requests, 2);
}
