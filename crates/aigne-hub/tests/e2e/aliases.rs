//! Model aliases: an admin names a fallback chain (`fast` → openai, then deepseek); calls to the
//! alias go to the first healthy provider and fall back when it is down, within the key's scopes.

use serde_json::{json, Value};
use upstream_sim::{Fault, Sim, SimConfig};

use crate::limits;
use crate::support::*;

/// A hub whose `openai` provider is `primary` and whose `deepseek` provider is `backup`, with
/// the alias `fast` → openai/gpt-4o-mini, then deepseek/deepseek-chat.
async fn two_providers() -> (Env, Sim) {
    let env = setup().await;
    let backup = Sim::start(SimConfig::default()).await.unwrap();
    env.hub.add_provider("deepseek", &backup.base_url(), Some("sk-backup-provider-credential-0001")).await.unwrap();
    env.hub.cli_ok(&["alias", "set", "fast", "openai/gpt-4o-mini", "deepseek/deepseek-chat"], None).await.unwrap();
    tokio::time::sleep(limits::PROPAGATION).await;
    (env, backup)
}

fn ask(model: &str) -> Value {
    with(hello(), json!({"model": model}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alias_routes_to_its_first_target_and_falls_back_when_it_is_down() {
    let (env, backup) = two_providers().await;
    let (hub, key) = (&env.hub, &env.key.key);

    let (rid, _) = expect_completion(chat(hub, key, &ask("fast")).await).await;
    assert_eq!((env.sim.stats().chat_requests, backup.stats().chat_requests), (1, 0));
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!((str_field(&record, "provider"), str_field(&record, "model")), ("openai", "gpt-4o-mini"), "{record}");
    // `aignehub/fast` is the same alias, as the AIGNE CLI writes model names.
    expect_completion(chat(hub, key, &ask("aignehub/fast")).await).await;

    // The first provider goes down: every call still succeeds, on the backup.
    env.sim.set_fault_rate(1.0, Fault::Status { status: 500, retry_after: None }, 3);
    let primary_before = env.sim.stats().chat_requests;
    for _ in 0..limits::ALIAS_FALLBACK_CALLS {
        let (rid, body) = expect_completion(chat(hub, key, &ask("fast")).await).await;
        assert_eq!(str_field(&body, "model"), "deepseek-chat", "{body}");
        let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
        assert_eq!(str_field(&record, "provider"), "deepseek", "{record}");
    }
    assert_eq!(backup.stats().chat_requests, limits::ALIAS_FALLBACK_CALLS as u64);
    // Once the primary's circuit opens, calls go straight to the backup without trying it.
    let tried = env.sim.stats().chat_requests - primary_before;
    println!("aliases: the failing primary was tried {tried} times for {} calls", limits::ALIAS_FALLBACK_CALLS);
    assert!(tried < limits::ALIAS_FALLBACK_CALLS as u64, "an open circuit is skipped, not tried ({tried} attempts)");

    // A stream falls back the same way (before its first byte).
    let resp = chat(hub, key, &with(ask("fast"), json!({"stream": true}))).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert_eq!(hub_testkit::sse_content(&hub_testkit::sse_data(&text)), reply());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_scoped_to_one_provider_never_falls_back_outside_it() {
    let (env, backup) = two_providers().await;
    let hub = &env.hub;
    let scoped = create_key_with(hub, "openai-only", &["--models", "openai/*"]).await;
    expect_completion(chat(hub, &scoped.key, &ask("fast")).await).await;
    env.sim.set_fault_rate(1.0, Fault::Status { status: 500, retry_after: None }, 5);
    let resp = chat(hub, &scoped.key, &ask("fast")).await;
    assert!(resp.status().is_server_error(), "{}", resp.status());
    assert_eq!(backup.stats().chat_requests, 0, "the fallback is outside the key's scope");

    // A key granted only the backup's models reaches the alias through the backup alone.
    let backup_only = create_key_with(hub, "deepseek-only", &["--models", "deepseek/*"]).await;
    env.sim.clear_faults();
    let primary_before = env.sim.stats().chat_requests;
    expect_completion(chat(hub, &backup_only.key, &ask("fast")).await).await;
    assert_eq!(env.sim.stats().chat_requests, primary_before);
    assert_eq!(backup.stats().chat_requests, 1);
    // A key granted neither is refused before any upstream call, naming the scope.
    let other = create_key_with(hub, "anthropic-only", &["--models", "anthropic/*"]).await;
    let err = expect_error(chat(hub, &other.key, &ask("fast")).await, 403, "alias outside the scope").await;
    assert!(err.message.contains("fast"), "{}", err.message);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_are_managed_from_the_cli_and_the_admin_api_and_listed_as_models() {
    let (env, _backup) = two_providers().await;
    let (hub, key) = (&env.hub, &env.key.key);

    let models: Value = hub.client().get(hub.url("/v1/models")).bearer_auth(key).send().await.unwrap().json().await.unwrap();
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    assert!(ids.contains(&"fast"), "{ids:?}");
    let one: Value = hub.client().get(hub.url("/v1/models/fast")).bearer_auth(key).send().await.unwrap().json().await.unwrap();
    assert_eq!(one["owned_by"], "aignehub");

    let listed = hub.cli_json(&["alias", "list", "--json"]).await.unwrap();
    assert_eq!(listed, json!([{"name": "fast", "targets": ["openai/gpt-4o-mini", "deepseek/deepseek-chat"]}]));
    // Bad aliases are refused with the rule they break.
    for bad in [vec!["alias", "set", "a/b", "openai/gpt-4o"], vec!["alias", "set", "x", "gpt-4o"], vec!["alias", "set", "x", "openai/a", "openai/a"]] {
        let out = hub.cli(&bad, None).await.unwrap();
        assert!(!out.success(), "{bad:?} accepted");
    }

    // The admin API, with an admin key.
    let admin = hub.cli_json(&["key", "create", "--name", "automation", "--type", "admin", "--json"]).await.unwrap();
    let admin_key = str_field(&admin, "key").to_owned();
    let http = hub.client();
    let put = http
        .put(hub.url("/api/admin/aliases/writer"))
        .bearer_auth(&admin_key)
        .json(&json!({"targets": ["deepseek/deepseek-chat"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let (_, body) = expect_completion(chat(hub, key, &ask("writer")).await).await;
    assert_eq!(str_field(&body, "model"), "deepseek-chat");
    let bad = http.put(hub.url("/api/admin/aliases/writer")).bearer_auth(&admin_key).json(&json!({"targets": []})).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    let listed: Value = http.get(hub.url("/api/admin/aliases")).bearer_auth(&admin_key).send().await.unwrap().json().await.unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    // An inference key cannot manage aliases.
    let refused = http.put(hub.url("/api/admin/aliases/x")).bearer_auth(key).json(&json!({"targets": ["openai/gpt-4o"]})).send().await.unwrap();
    assert!(refused.status() == 401 || refused.status() == 403, "{}", refused.status());

    let del = http.delete(hub.url("/api/admin/aliases/writer")).bearer_auth(&admin_key).send().await.unwrap();
    assert_eq!(del.status(), 204);
    expect_error(chat(hub, key, &ask("writer")).await, 404, "a deleted alias").await;
    hub.cli_ok(&["alias", "delete", "fast"], None).await.unwrap();
    tokio::time::sleep(limits::PROPAGATION + limits::PROPAGATION).await;
    expect_error(chat(hub, key, &ask("fast")).await, 404, "an alias deleted from the CLI, in the running server").await;
    // The audit log has every change, with its actor.
    let audit = http.get(hub.url("/api/admin/audit")).bearer_auth(&admin_key).send().await.unwrap().text().await.unwrap();
    assert!(audit.contains("alias.set") && audit.contains("alias.deleted"), "{audit}");
}
