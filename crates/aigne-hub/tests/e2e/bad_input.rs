//! Requests that cannot be served: each gets a 4xx in the OpenAI envelope, never a 5xx, and
//! none reaches the provider.

use serde_json::json;

use crate::limits;
use crate::support::*;

fn nested(depth: usize) -> Vec<u8> {
    let mut body = br#"{"model":"aignehub/gpt-3.5-turbo","messages":[{"role":"user","content":"Hello!"}],"metadata":"#.to_vec();
    body.extend(std::iter::repeat_n(b'[', depth));
    body.extend(std::iter::repeat_n(b']', depth));
    body.push(b'}');
    body
}

/// A valid chat request whose body is `size` bytes long.
fn padded_request(size: usize) -> Vec<u8> {
    let head = br#"{"model":"aignehub/gpt-3.5-turbo","messages":[{"role":"user","content":""#;
    let tail = br#""}]}"#;
    let mut body = head.to_vec();
    body.extend(std::iter::repeat_n(b'a', size - head.len() - tail.len()));
    body.extend_from_slice(tail);
    assert_eq!(body.len(), size);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_400_and_oversized_ones_413() {
    let env = setup().await;
    let hub = &env.hub;
    let user = json!([{"role": "user", "content": "Hello!"}]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty body", Vec::new()),
        (
            "truncated JSON",
            br#"{"model":"aignehub/gpt-3.5-turbo","messages":["#.to_vec(),
        ),
        ("not JSON", b"Hello!".to_vec()),
        (
            "invalid UTF-8",
            b"{\"model\":\"\xff\xfe\",\"messages\":[]}".to_vec(),
        ),
        ("array at the top", b"[]".to_vec()),
        ("string at the top", b"\"hello\"".to_vec()),
        ("null at the top", b"null".to_vec()),
        (
            "missing model",
            json!({"messages": user}).to_string().into_bytes(),
        ),
        (
            "missing messages",
            json!({"model": SEED_MODEL}).to_string().into_bytes(),
        ),
        (
            "model is a number",
            json!({"model": 5, "messages": user})
                .to_string()
                .into_bytes(),
        ),
        (
            "messages is a string",
            json!({"model": SEED_MODEL, "messages": "Hello!"})
                .to_string()
                .into_bytes(),
        ),
        (
            "message is a string",
            json!({"model": SEED_MODEL, "messages": ["Hello!"]})
                .to_string()
                .into_bytes(),
        ),
        (
            "stream is a string",
            json!({"model": SEED_MODEL, "messages": user, "stream": "yes"})
                .to_string()
                .into_bytes(),
        ),
        (
            "max_tokens is a string",
            json!({"model": SEED_MODEL, "messages": user, "max_tokens": "ten"})
                .to_string()
                .into_bytes(),
        ),
        (
            "max_tokens is negative",
            json!({"model": SEED_MODEL, "messages": user, "max_tokens": -1})
                .to_string()
                .into_bytes(),
        ),
        ("deeply nested JSON", nested(limits::NESTING_DEPTH)),
    ];
    for (what, body) in cases {
        let resp = post_raw(hub, API_CHAT, Some(&env.key.key), body).await;
        assert!(
            !resp.status().is_server_error(),
            "{what}: {}",
            resp.status()
        );
        expect_error(resp, 400, what).await;
    }

    let oversized = padded_request(limits::DEFAULT_BODY_LIMIT + 1024);
    let reply = expect_error(
        post_raw(hub, API_CHAT, Some(&env.key.key), oversized).await,
        413,
        "body over 10 MiB",
    )
    .await;
    assert!(
        reply.message.contains("limit") || reply.message.contains("large"),
        "{}",
        reply.raw
    );

    // Still alive and serving, and nothing reached the provider.
    let health = hub.client().get(hub.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(
        env.sim.stats().chat_requests,
        0,
        "a rejected request reached the provider"
    );
    expect_completion(chat(hub, &env.key.key, &hello()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_limit_is_configurable() {
    let env = setup_with(upstream_sim::SimConfig::default(), |o| {
        o.serve_arg("--max-body-bytes")
            .serve_arg(limits::SMALL_BODY_LIMIT.to_string())
    })
    .await;
    let hub = &env.hub;
    let over = padded_request(limits::SMALL_BODY_LIMIT + 1);
    expect_error(
        post_raw(hub, API_CHAT, Some(&env.key.key), over).await,
        413,
        "one byte over the limit",
    )
    .await;
    let at = padded_request(limits::SMALL_BODY_LIMIT);
    let resp = post_raw(hub, API_CHAT, Some(&env.key.key), at).await;
    assert_eq!(
        resp.status(),
        200,
        "a body exactly at the limit is accepted"
    );
    assert_eq!(env.sim.stats().chat_requests, 1);
}
