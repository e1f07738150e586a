//! Usage metering: what one call leaves in the ledger and in the key's counters.

use serde_json::Value;

use crate::limits;
use crate::support::*;

const PROJECT: &str = "did:abt:zNKe2eTestProject";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_leaves_one_complete_record_and_updates_the_key_counters() {
    let env = setup().await;
    let hub = &env.hub;
    let resp = hub
        .client()
        .post(hub.url(API_CHAT))
        .bearer_auth(&env.key.key)
        .header(PROJECT_HEADER, PROJECT)
        .json(&hello())
        .timeout(limits::REQUEST_TIMEOUT)
        .send()
        .await
        .unwrap();
    let (rid, _) = expect_completion(resp).await;

    let r = hub
        .wait_for_record(&rid, limits::USAGE_VISIBLE)
        .await
        .unwrap();
    assert_eq!(str_field(&r, "request_id"), rid);
    assert_eq!(str_field(&r, "key_id"), env.key.id, "{r}");
    assert_eq!(str_field(&r, "kid"), env.key.kid, "{r}");
    assert!(!str_field(&r, "user_id").is_empty(), "{r}");
    assert_eq!(str_field(&r, "project"), PROJECT, "{r}");
    assert_eq!(str_field(&r, "provider"), "openai", "{r}");
    assert!(str_field(&r, "model").ends_with("gpt-3.5-turbo"), "{r}");
    assert!(str_field(&r, "endpoint").contains("chat"), "{r}");
    assert!(!bool_field(&r, "stream"), "{r}");
    assert_eq!(u64_field(&r, "status"), 200, "{r}");
    assert_eq!(str_field(&r, "outcome"), "ok", "{r}");
    assert!(r.get("error_class").is_none_or(Value::is_null), "{r}");
    assert_eq!(u64_field(&r, "tokens_in"), 7, "{r}");
    assert_eq!(u64_field(&r, "tokens_out"), 12, "{r}");
    assert!(!bool_field(&r, "estimated"), "{r}");
    assert!(!bool_field(&r, "cut_short"), "{r}");
    assert!(r.get("ts").is_some_and(|t| !t.is_null()), "{r}");
    u64_field(&r, "duration_ms");
    u64_field(&r, "ttfb_ms");
    assert!(
        u64_field(&r, "ttfb_ms") <= u64_field(&r, "duration_ms"),
        "{r}"
    );

    tokio::time::sleep(limits::SETTLE).await;
    assert_eq!(
        hub.usage().await.unwrap().len(),
        1,
        "exactly one record per call"
    );

    let entry = eventually(
        limits::USAGE_VISIBLE,
        "the key's counters update",
        || async {
            let e = hub.key_entry(&env.key.kid).await.unwrap();
            (e.get("request_count").and_then(Value::as_u64) == Some(1)).then_some(e)
        },
    )
    .await;
    assert_eq!(u64_field(&entry, "tokens_in"), 7, "{entry}");
    assert_eq!(u64_field(&entry, "tokens_out"), 12, "{entry}");
    assert!(
        entry.get("last_used_at").is_some_and(|t| !t.is_null()),
        "{entry}"
    );
    assert_eq!(str_field(&entry, "status"), "active", "{entry}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_per_key_and_newest_first() {
    let env = setup().await;
    let hub = &env.hub;
    let second = hub.create_key("second").await.unwrap();
    let mut ids = Vec::new();
    for key in [&env.key.key, &second.key, &env.key.key] {
        let (rid, _) = expect_completion(chat(hub, key, &hello()).await).await;
        ids.push(rid);
    }
    let records = hub.wait_for_usage(3, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(records.len(), 3);
    let listed: Vec<&str> = records.iter().map(|r| str_field(r, "request_id")).collect();
    let newest_first: Vec<&str> = ids.iter().rev().map(String::as_str).collect();
    assert_eq!(listed, newest_first, "usage list is newest first");
    assert_eq!(str_field(&records[1], "key_id"), second.id);
    assert_eq!(str_field(&records[0], "key_id"), env.key.id);
    assert!(
        records[0].get("project").is_none_or(Value::is_null),
        "no project header, no project"
    );

    let first_entry = eventually(
        limits::USAGE_VISIBLE,
        "counters of the first key",
        || async {
            let e = hub.key_entry(&env.key.kid).await.unwrap();
            (e.get("request_count").and_then(Value::as_u64) == Some(2)).then_some(e)
        },
    )
    .await;
    assert_eq!(u64_field(&first_entry, "tokens_out"), 24);
    let second_entry = hub.key_entry(&second.kid).await.unwrap();
    assert_eq!(
        u64_field(&second_entry, "request_count"),
        1,
        "{second_entry}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_without_upstream_usage_are_recorded_as_estimates() {
    let env = setup().await;
    let hub = &env.hub;
    env.sim.push_fault(upstream_sim::Fault::NoUsage);
    let (rid, body) = expect_completion(chat(hub, &env.key.key, &hello()).await).await;
    assert_eq!(body["choices"][0]["message"]["content"], reply().as_str());

    let r = hub
        .wait_for_record(&rid, limits::USAGE_VISIBLE)
        .await
        .unwrap();
    assert!(bool_field(&r, "estimated"), "{r}");
    assert_eq!(str_field(&r, "outcome"), "ok", "{r}");
    assert!(u64_field(&r, "tokens_in") > 0, "{r}");
    assert!(u64_field(&r, "tokens_out") > 0, "{r}");
}
