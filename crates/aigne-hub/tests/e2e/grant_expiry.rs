//! Grants expire fairly: calls consume the grant that expires soonest first, and an expiring
//! grant loses only what was left of it. The balance, the admin API's history and the user's
//! credit page show the expired remainder, and the ledger (grants − debits − expired) sums to
//! the balance.

use serde_json::Value;

use crate::limits;
use crate::support::*;
use crate::ui_client::Browser;

async fn balance(hub: &hub_testkit::TestHub, key: &str) -> Value {
    let resp = hub.client().get(hub.url("/api/user/info")).bearer_auth(key).send().await.unwrap();
    resp.json::<Value>().await.unwrap()["creditBalance"].clone()
}

fn credits(v: &Value) -> f64 {
    v.as_str().unwrap_or("0").parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_grant_loses_only_its_unspent_remainder() {
    let env = setup().await;
    let hub = &env.hub;
    let key = env.key.key.clone();
    // A model whose call costs exactly 6 credits: 20 output tokens at 0.3 each, free input.
    hub.cli_ok(&["rate", "set", "openai/house-model", "--input", "0", "--output", "0.3"], None).await.unwrap();
    hub.cli_ok(&["billing", "enable"], None).await.unwrap();
    hub.cli_ok(&["credit", "grant", hub_testkit::OWNER_EMAIL, "10"], None).await.unwrap();
    let expires_ms = hub_core::ids::now_ms() + 4_000;
    let expires = hub_core::scopes::format_rfc3339_ms(expires_ms);
    hub.cli_ok(&["credit", "grant", hub_testkit::OWNER_EMAIL, "10", "--expires", &expires, "--note", "trial"], None).await.unwrap();
    eventually(limits::PROPAGATION, "both grants reach the hub", || async { (balance(hub, &key).await["balance"] == "20").then_some(()) }).await;

    let call = serde_json::json!({"model": "openai/house-model", "messages": [{"role": "user", "content": "abc"}], "max_tokens": 20});
    let resp = chat(hub, &key, &call).await;
    let id = request_id(resp.headers());
    expect_completion(resp).await;
    assert!(hub_core::ids::now_ms() < expires_ms, "the call ran before the expiry");
    let record = hub.wait_for_record(&id, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(record["credits"], 6_000_000_000i64, "{record}");
    assert_eq!(balance(hub, &key).await["balance"], "14");

    // The trial grant paid the 6 (it expires first); at its expiry only its 4 left are lost.
    let after = eventually(std::time::Duration::from_secs(15), "the trial grant expires", || async {
        let b = balance(hub, &key).await;
        (b["balance"] == "10").then_some(b)
    })
    .await;
    eprintln!("after the expiry: {after}");
    let admin = create_key_with(hub, "ledger-admin", &["--type", "admin"]).await.key;
    let path = format!("/api/admin/users/{}/credit", hub_testkit::OWNER_EMAIL);
    let doc: Value = hub.client().get(hub.url(&path)).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!((doc["granted"].as_str(), doc["spent"].as_str(), doc["expired"].as_str(), doc["balance"].as_str()), (Some("20"), Some("6"), Some("4"), Some("10")), "{doc}");
    assert_eq!(credits(&doc["granted"]) - credits(&doc["spent"]) - credits(&doc["expired"]), credits(&doc["balance"]), "the ledger sums");
    let entries = doc["expired_entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{doc}");
    assert_eq!(entries[0]["amount"], "4", "{doc}");
    assert!(entries[0]["expired_at"].as_i64().is_some_and(|at| (at - expires_ms).abs() < 1_000), "{doc}");
    let trial = doc["grants"].as_array().unwrap().iter().find(|g| g["note"] == "trial").cloned().unwrap();
    assert_eq!((trial["consumed"].as_str(), trial["lost"].as_str(), trial["expired"].as_bool()), (Some("6"), Some("4"), Some(true)), "{trial}");
    let shown = hub.cli_json(&["credit", "show", hub_testkit::OWNER_EMAIL, "--json"]).await.unwrap();
    assert_eq!((shown["balance"].as_str(), shown["expired"].as_str()), (Some("10"), Some("4")), "{shown}");

    // The user's own page shows the expired entry.
    let ui = Browser::login(hub).await;
    let page = ui.get(hub, "/settings/credit").await;
    assert!(page.contains("Balance <strong>$10</strong>") && page.contains("lost to expiry $4"), "{page}");
    assert!(page.contains("<table id=\"expired\">") && !page.contains("Nothing has expired."), "the expired entry is listed");

    // The hot path reserves against the same 10: a call of 12 credits is refused.
    let dear = serde_json::json!({"model": "openai/house-model", "messages": [{"role": "user", "content": "abc"}], "max_tokens": 40});
    expect_error(chat(hub, &key, &dear).await, 402, "more than the balance").await;
}
