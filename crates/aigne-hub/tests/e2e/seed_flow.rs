//! The first thing a user does: the curl from the README, on both API paths.

use hub_testkit::PROVIDER_KEY;
use serde_json::{json, Value};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_curl_returns_the_upstream_reply_on_both_paths() {
    let env = setup().await;
    let mut request_ids = Vec::new();
    for path in [API_CHAT, OPENAI_CHAT] {
        let resp = post_json(&env.hub, path, Some(&env.key.key), &hello()).await;
        assert!(
            header(resp.headers(), "content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{path}: content-type {:?}",
            resp.headers().get("content-type")
        );
        assert!(
            resp.headers().contains_key("server-timing"),
            "{path}: no Server-Timing header"
        );
        let (rid, body) = expect_completion(resp).await;
        request_ids.push(rid);

        assert_eq!(body["object"], "chat.completion", "{path}: {body}");
        assert_eq!(
            body["choices"][0]["message"]["role"], "assistant",
            "{path}: {body}"
        );
        assert_eq!(
            body["choices"][0]["message"]["content"],
            reply().as_str(),
            "{path}: {body}"
        );
        assert_eq!(
            body["choices"][0]["finish_reason"], "stop",
            "{path}: {body}"
        );
        assert_eq!(body["usage"]["prompt_tokens"], 7, "{path}: {body}");
        assert_eq!(body["usage"]["completion_tokens"], 12, "{path}: {body}");
        assert_eq!(body["usage"]["total_tokens"], 19, "{path}: {body}");

        let stats = env.sim.stats();
        let upstream_body = stats.last_chat_body.expect("the simulator saw a JSON body");
        assert_eq!(
            upstream_body["model"], "gpt-3.5-turbo",
            "{path}: model sent upstream"
        );
        assert_eq!(
            stats.last_authorization.as_deref(),
            Some(format!("Bearer {PROVIDER_KEY}").as_str()),
            "{path}: the upstream must get the provider credential"
        );
        assert!(
            !upstream_body.to_string().contains(&env.key.key),
            "{path}: the hub key was forwarded upstream in the body"
        );
    }
    assert_eq!(env.sim.stats().chat_requests, 2);
    assert_ne!(request_ids[0], request_ids[1], "request ids must be unique");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_prefixed_and_bare_model_names_reach_openai_without_prefix() {
    let env = setup().await;
    for model in ["openai/gpt-4o-mini", "gpt-4o-mini"] {
        let body = with(hello(), json!({ "model": model }));
        let (_, reply_body) = expect_completion(chat(&env.hub, &env.key.key, &body).await).await;
        assert_eq!(
            reply_body["choices"][0]["message"]["content"],
            reply().as_str()
        );
        let sent: Value = env.sim.stats().last_chat_body.expect("a body upstream");
        assert_eq!(sent["model"], "gpt-4o-mini", "{model} upstream as");
    }
    // Request parameters reach the upstream: max_tokens decides the reply length there.
    let body = with(hello(), json!({ "max_tokens": 5 }));
    let (_, reply_body) = expect_completion(chat(&env.hub, &env.key.key, &body).await).await;
    assert_eq!(
        reply_body["choices"][0]["message"]["content"],
        upstream_sim::reply_text(5).as_str()
    );
    assert_eq!(reply_body["usage"]["completion_tokens"], 5);
}
