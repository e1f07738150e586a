//! Money: calls are priced from model rates, reserved before the upstream is contacted against a
//! key's budget and (with credit billing on) the user's balance, and settled at their actual
//! cost. Concurrent calls can never spend more than is there; a restart keeps the books exact.
//!
//! A priced call asks `openai/gpt-4o-mini` (list price $0.15 / $0.60 per million tokens) with the
//! one-word prompt `abc` and `max_tokens`: the hub estimates 7 input tokens (3 bytes → 1, plus 3
//! per message and 3 for the reply) and the simulator reports exactly 7 (1 word + 3 + 3) and
//! `max_tokens` output tokens, so each call costs exactly its reservation.

use std::sync::Arc;

use hub_core::NanoCredits;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::limits;
use crate::support::*;
use crate::ui_client::Browser;

const PRICED_MODEL: &str = "openai/gpt-4o-mini";
/// gpt-4o-mini's list price in nano-credits per token.
const INPUT_RATE: i64 = 150;
const OUTPUT_RATE: i64 = 600;
/// Input tokens of the priced prompt, as the hub estimates and the simulator counts them.
const PROMPT_TOKENS: i64 = 7;

pub(crate) fn call_cost() -> NanoCredits {
    NanoCredits(PROMPT_TOKENS * INPUT_RATE + limits::PRICED_MAX_TOKENS as i64 * OUTPUT_RATE)
}

pub(crate) fn covered() -> NanoCredits {
    NanoCredits(call_cost().0 * limits::COVERED_CALLS as i64)
}

pub(crate) fn priced_call() -> Value {
    json!({"model": PRICED_MODEL, "messages": [{"role": "user", "content": "abc"}], "max_tokens": limits::PRICED_MAX_TOKENS})
}

pub(crate) async fn admin_key(hub: &hub_testkit::TestHub) -> String {
    create_key_with(hub, "money-admin", &["--type", "admin"]).await.key
}

pub(crate) async fn admin_get(hub: &hub_testkit::TestHub, admin: &str, path: &str) -> Value {
    let resp = hub.client().get(hub.url(path)).bearer_auth(admin).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
    resp.json().await.unwrap()
}

pub(crate) async fn user_info(hub: &hub_testkit::TestHub, key: &str) -> Value {
    let resp = hub.client().get(hub.url("/api/user/info")).bearer_auth(key).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

/// Fires `n` identical calls at once, taking the hubs in turn; answers (successes, 402s).
pub async fn burst(hubs: &[&Arc<hub_testkit::TestHub>], key: &str, n: usize) -> (usize, usize) {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let hub = Arc::clone(hubs[i % hubs.len()]);
            let key = key.to_owned();
            tokio::spawn(async move { chat(&hub, &key, &priced_call()).await.status() })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            StatusCode::OK => ok += 1,
            StatusCode::PAYMENT_REQUIRED => refused += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    (ok, refused)
}

fn json_of(raw: &str) -> Value {
    serde_json::from_str(raw).unwrap()
}

fn credits_of(records: &[Value], field: &str, value: &str) -> i64 {
    records.iter().filter(|r| r[field] == value).map(|r| r["credits"].as_i64().unwrap()).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_calls_never_overspend_a_key_budget() {
    let env = setup().await;
    let hub = Arc::new(env.hub);
    let admin = admin_key(&hub).await;
    let budget = covered().to_string();
    let mut keys = Vec::new();
    for round in 0..limits::MONEY_ROUNDS {
        keys.push(create_key_with(&hub, &format!("budget-{round}"), &["--budget", &budget, "--budget-period", "month"]).await);
    }
    for (round, key) in keys.iter().enumerate() {
        env.sim.reset_stats();
        let (ok, refused) = burst(&[&hub], &key.key, limits::SIMULTANEOUS_CALLS).await;
        let upstream = env.sim.stats().chat_requests;
        let doc = admin_get(&hub, &admin, &format!("/api/admin/keys/{}", key.kid)).await;
        eprintln!(
            "budget round {round}: budget {budget}, {ok} succeeded, {refused} got 402, upstream saw {upstream}, spent {}, reserved {}",
            doc["budget_spent"], doc["budget_reserved"]
        );
        assert_eq!(ok, limits::COVERED_CALLS, "round {round}");
        assert_eq!(refused, limits::SIMULTANEOUS_CALLS - limits::COVERED_CALLS, "round {round}");
        assert_eq!(upstream, limits::COVERED_CALLS as u64, "round {round}: refused calls reached the upstream");
        assert_eq!(doc["budget_spent"], budget, "round {round}");
        assert_eq!(doc["budget_reserved"], "0", "round {round}");
        assert_eq!(doc["budget_period"], "month");
    }
    // The ledger agrees: each key's records sum to its budget, refusals cost nothing.
    let total = limits::MONEY_ROUNDS * limits::SIMULTANEOUS_CALLS;
    let records = hub.wait_for_usage(total, limits::USAGE_VISIBLE).await.unwrap();
    for key in &keys {
        assert_eq!(credits_of(&records, "kid", &key.kid), covered().0, "{}", key.kid);
    }
    let refusals: Vec<_> = records.iter().filter(|r| r["status"] == 402).collect();
    assert_eq!(refusals.len(), total - limits::MONEY_ROUNDS * limits::COVERED_CALLS);
    assert!(refusals.iter().all(|r| r["credits"] == 0 && r["error_class"] == "key_budget_exceeded"));
}

/// Grants `amount` and waits until this hub counts it.
async fn grant_and_wait(hub: &hub_testkit::TestHub, key: &str, amount: NanoCredits, expect_balance: NanoCredits) {
    hub.cli_ok(&["credit", "grant", hub_testkit::OWNER_EMAIL, &amount.to_string()], None).await.unwrap();
    let want = expect_balance.to_string();
    eventually(limits::PROPAGATION, "the grant reaches the hub", || async {
        let me = user_info(hub, key).await;
        // The SDK's schema takes only these prefixes; an empty one breaks it.
        assert!(["$", "€", "¥"].contains(&me["creditPrefix"].as_str().unwrap_or("")), "{me}");
        (me["creditBalance"]["balance"] == want.as_str()).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_calls_never_overspend_a_credit_balance() {
    let env = setup().await;
    let hub = Arc::new(env.hub);
    let key = env.key.key.clone();
    hub.cli_ok(&["billing", "enable", "--topup-link", "https://pay.example.com/topup"], None).await.unwrap();
    eventually(limits::PROPAGATION, "billing reaches the hub", || async { (user_info(&hub, &key).await["enableCredit"] == true).then_some(()) }).await;

    // Without credit: 402, in the AIGNE SDK's shape on its route.
    let (_, status) = expect_completion(hub.client().get(hub.url("/api/v2/status")).bearer_auth(&key).send().await.unwrap()).await;
    assert_eq!((status["available"].as_bool(), status["code"].as_u64()), (Some(false), Some(402)), "{status}");
    let refused = post_json(&hub, "/api/v2/chat", Some(&key), &json!({"input": {"messages": [{"role": "user", "content": "abc"}], "modelOptions": {"model": PRICED_MODEL}}})).await;
    assert_eq!(refused.status(), StatusCode::PAYMENT_REQUIRED);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["type"], "NOT_ENOUGH", "{body}");
    assert_eq!(body["error"]["link"], "https://pay.example.com/topup", "{body}");
    let openai = expect_error(chat(&hub, &key, &priced_call()).await, 402, "no credit").await;
    let error = &json_of(&openai.raw)["error"];
    assert_eq!((error["type"].as_str(), error["code"].as_str()), (Some("insufficient_quota"), Some("insufficient_quota")), "{}", openai.raw);

    for round in 0..limits::MONEY_ROUNDS {
        grant_and_wait(&hub, &key, covered(), covered()).await;
        env.sim.reset_stats();
        let (ok, refused) = burst(&[&hub], &key, limits::SIMULTANEOUS_CALLS).await;
        let upstream = env.sim.stats().chat_requests;
        let me = user_info(&hub, &key).await;
        eprintln!("balance round {round}: granted {}, {ok} succeeded, {refused} got 402, upstream saw {upstream}, balance now {}", covered(), me["creditBalance"]);
        assert_eq!(ok, limits::COVERED_CALLS, "round {round}");
        assert_eq!(refused, limits::SIMULTANEOUS_CALLS - limits::COVERED_CALLS, "round {round}");
        assert_eq!(upstream, limits::COVERED_CALLS as u64, "round {round}");
        assert_eq!(me["creditBalance"]["balance"], "0", "round {round}: {me}");
        assert_eq!(me["creditBalance"]["pendingCredit"], "0", "round {round}: {me}");
    }
    let spent = NanoCredits(covered().0 * limits::MONEY_ROUNDS as i64);
    let records = hub.wait_for_usage(limits::MONEY_ROUNDS * limits::SIMULTANEOUS_CALLS + 2, limits::USAGE_VISIBLE).await.unwrap();
    let billed: i64 = records.iter().filter(|r| r["billed"] == true).map(|r| r["credits"].as_i64().unwrap()).sum();
    assert_eq!(billed, spent.0, "the billed records are the debits");
    let shown = hub.cli_json(&["credit", "show", hub_testkit::OWNER_EMAIL, "--json"]).await.unwrap();
    assert_eq!(shown["spent"], spent.to_string(), "{shown}");
    assert_eq!(shown["balance"], "0", "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_and_whole_replies_of_one_prompt_cost_the_same() {
    let env = setup().await;
    let hub = &env.hub;
    let whole = chat(hub, &env.key.key, &priced_call()).await;
    let whole_id = request_id(whole.headers());
    expect_completion(whole).await;
    let streamed = chat(hub, &env.key.key, &with(priced_call(), json!({"stream": true}))).await;
    assert_eq!(streamed.status(), StatusCode::OK);
    let streamed_id = request_id(streamed.headers());
    let _ = streamed.text().await.unwrap();
    let a = hub.wait_for_record(&whole_id, limits::USAGE_VISIBLE).await.unwrap();
    let b = hub.wait_for_record(&streamed_id, limits::USAGE_VISIBLE).await.unwrap();
    eprintln!("whole reply: {} nano-credits ({} upstream), streamed: {} nano-credits ({} upstream)", a["credits"], a["upstream_cost"], b["credits"], b["upstream_cost"]);
    assert_eq!(a["credits"], call_cost().0, "{a}");
    assert_eq!(b["credits"], a["credits"], "{b}");
    assert_eq!(b["upstream_cost"], a["upstream_cost"]);
    assert_eq!(b["estimated"], false, "{b}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_budget_refuses_unpriced_models_and_unbounded_calls() {
    let env = setup().await;
    let hub = &env.hub;
    let key = create_key_with(hub, "budgeted", &["--budget", "1"]).await;
    let unrated = with(priced_call(), json!({"model": "openai/house-model"}));
    let refused = expect_error(chat(hub, &key.key, &unrated).await, 402, "unpriced model").await;
    assert!(refused.message.contains("openai/house-model"), "{}", refused.message);
    // The same model is free to call without a budget (an internal hub meters it at 0).
    expect_completion(chat(hub, &env.key.key, &unrated).await).await;

    // Priced now, but its output limit is unknown: max_tokens is required under a budget.
    hub.cli_ok(&["rate", "set", "openai/house-model", "--input", "0.000001", "--output", "0.000002"], None).await.unwrap();
    let unbounded = json!({"model": "openai/house-model", "messages": [{"role": "user", "content": "abc"}]});
    let refused = eventually(limits::PROPAGATION, "the rate reaches the hub", || async {
        let resp = chat(hub, &key.key, &unbounded).await;
        (resp.status() == StatusCode::BAD_REQUEST).then_some(resp)
    })
    .await;
    let refused = expect_error(refused, 400, "no max_tokens").await;
    assert!(refused.message.contains("max_tokens"), "{}", refused.message);
    let bounded = with(unbounded.clone(), json!({"max_tokens": limits::PRICED_MAX_TOKENS}));
    let ok = chat(hub, &key.key, &bounded).await;
    let id = request_id(ok.headers());
    expect_completion(ok).await;
    let record = hub.wait_for_record(&id, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(record["credits"], PROMPT_TOKENS * 1000 + limits::PRICED_MAX_TOKENS as i64 * 2000, "{record}");

    // `n` multiplies the reservation: a budget of one call refuses two choices, takes one.
    let single = create_key_with(hub, "single", &["--budget", &call_cost().to_string()]).await;
    let refused = expect_error(chat(hub, &single.key, &with(priced_call(), json!({"n": 2}))).await, 402, "two choices").await;
    assert!(refused.message.contains(&call_cost().times(2).to_string()), "{}", refused.message);
    expect_completion(chat(hub, &single.key, &priced_call()).await).await;

    // A catalog model without max_tokens reserves its whole output limit (16384 tokens).
    let small = create_key_with(hub, "small", &["--budget", &covered().to_string()]).await;
    let no_max = json!({"model": PRICED_MODEL, "messages": [{"role": "user", "content": "abc"}]});
    let refused = expect_error(chat(hub, &small.key, &no_max).await, 402, "whole output limit").await;
    assert!(refused.message.contains("budget"), "{}", refused.message);
    assert_eq!(json_of(&refused.raw)["error"]["type"], "insufficient_quota");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn money_commands_keep_their_forms() {
    let env = setup().await;
    let hub = &env.hub;
    hub.cli_ok(&["rate", "set", "openai/gpt-4o-mini", "--input", "0.00000015", "--output", "0.0000006", "--cached-input", "0.000000075", "--unit-cost-input", "0.0000001", "--unit-cost-output", "0.0000004"], None)
        .await
        .unwrap();
    hub.cli_ok(&["rate", "set", "openai/gpt-image-1", "--input", "0.000005", "--output", "0", "--per-image", "0.04"], None).await.unwrap();
    let rates = hub.cli_json(&["rate", "list", "--json"]).await.unwrap();
    let find = |model: &str| rates.as_array().unwrap().iter().find(|r| r["provider"] == "openai" && r["model"] == model).cloned().unwrap();
    let mini = find("gpt-4o-mini");
    assert_eq!((mini["source"].as_str(), mini["input_per_million"].as_str(), mini["unit_cost_output"].as_str()), (Some("override"), Some("0.15"), Some("0.0000004")), "{mini}");
    assert_eq!(find("gpt-image-1")["per_image"], "0.04");
    assert_eq!(find("gpt-4o")["source"], "list_price");
    assert!(hub.cli(&["rate", "set", "gpt-4o", "--input", "1", "--output", "1"], None).await.unwrap().stderr.contains("PROVIDER/MODEL"));

    hub.cli_ok(&["billing", "enable"], None).await.unwrap();
    assert_eq!(hub.cli_json(&["billing", "show", "--json"]).await.unwrap()["billing_enabled"], true);
    hub.cli_ok(&["billing", "disable"], None).await.unwrap();
    assert_eq!(hub.cli_json(&["billing", "show", "--json"]).await.unwrap()["billing_enabled"], false);
    hub.cli_ok(&["credit", "grant", hub_testkit::OWNER_EMAIL, "2.5", "--expires", "2099-01-01T00:00:00Z"], None).await.unwrap();
    let shown = hub.cli_json(&["credit", "show", hub_testkit::OWNER_EMAIL, "--json"]).await.unwrap();
    assert_eq!(shown["balance"], "2.5", "{shown}");
    assert!(!hub.cli(&["credit", "grant", hub_testkit::OWNER_EMAIL, "1", "--expires", "2001-01-01T00:00:00Z"], None).await.unwrap().success());

    let key = create_key_with(hub, "cli-budget", &["--budget", "0.5", "--budget-period", "day"]).await;
    let entry = hub.key_entry(&key.kid).await.unwrap();
    assert_eq!((entry["budget"].as_str(), entry["budget_period"].as_str()), (Some("0.5"), Some("day")), "{entry}");
    hub.cli_ok(&["key", "update", &key.kid, "--budget", "none"], None).await.unwrap();
    assert!(hub.key_entry(&key.kid).await.unwrap()["budget"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_budget_spending_and_balances_exact() {
    let mut env = setup().await;
    let budgeted = create_key_with(&env.hub, "restart-budget", &["--budget", &covered().to_string()]).await;
    env.hub.cli_ok(&["billing", "enable"], None).await.unwrap();
    let owner_key = env.key.key.clone();
    grant_and_wait(&env.hub, &owner_key, covered().times(2), covered().times(2)).await;
    const BEFORE: usize = 4;
    for _ in 0..BEFORE {
        expect_completion(chat(&env.hub, &budgeted.key, &priced_call()).await).await;
    }
    env.hub.restart().await.unwrap();
    let admin = admin_key(&env.hub).await;
    let doc = admin_get(&env.hub, &admin, &format!("/api/admin/keys/{}", budgeted.kid)).await;
    let me = user_info(&env.hub, &owner_key).await;
    eprintln!("after restart: key spent {} of {}, user balance {}", doc["budget_spent"], covered(), me["creditBalance"]["balance"]);
    assert_eq!(doc["budget_spent"], call_cost().times(BEFORE as u64).to_string());
    assert_eq!(me["creditBalance"]["balance"], NanoCredits(covered().0 * 2 - call_cost().0 * BEFORE as i64).to_string(), "{me}");
    // The rest of the budget, exactly.
    let mut ok = 0;
    while chat(&env.hub, &budgeted.key, &priced_call()).await.status() == StatusCode::OK {
        ok += 1;
        assert!(ok <= limits::COVERED_CALLS, "the budget overspent after a restart");
    }
    assert_eq!(ok, limits::COVERED_CALLS - BEFORE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_ui_sets_rates_billing_grants_and_budgets() {
    let env = setup().await;
    let hub = &env.hub;
    let ui = Browser::login(hub).await;
    let rates = ui.get(hub, "/settings/rates").await;
    assert!(rates.contains("openai/gpt-4o-mini") && rates.contains("list price"), "the rates page lists the list prices");

    let set = [("action", "set"), ("provider", "openai"), ("model", "gpt-4o-mini"), ("input_per_million", "0.2"), ("output_per_million", "0.8")];
    assert!(ui.submit(hub, "/settings/rates", &set).await.is_redirection());
    let listed = hub.cli_json(&["rate", "list", "--json"]).await.unwrap();
    let mini = listed.as_array().unwrap().iter().find(|r| r["model"] == "gpt-4o-mini").unwrap().clone();
    assert_eq!((mini["input"].as_str(), mini["output"].as_str(), mini["source"].as_str()), (Some("0.0000002"), Some("0.0000008"), Some("override")), "{mini}");
    let reset = [("action", "reset"), ("provider", "openai"), ("model", "gpt-4o-mini")];
    assert!(ui.submit(hub, "/settings/rates", &reset).await.is_redirection());
    let listed = hub.cli_json(&["rate", "list", "--json"]).await.unwrap();
    assert!(listed.as_array().unwrap().iter().any(|r| r["model"] == "gpt-4o-mini" && r["source"] == "list_price"));

    let settings = [("action", "settings"), ("billing_enabled", "on"), ("starter_grant", "1"), ("topup_link", "https://pay.example.com")];
    assert!(ui.submit(hub, "/settings/billing", &settings).await.is_redirection());
    let grant = [("action", "grant"), ("email", hub_testkit::OWNER_EMAIL), ("amount", "3"), ("expires_at", ""), ("note", "welcome")];
    assert!(ui.submit(hub, "/settings/billing", &grant).await.is_redirection());
    let page = ui.get(hub, &format!("/settings/billing?email={}", hub_testkit::OWNER_EMAIL.replace('@', "%40"))).await;
    assert!(page.contains("balance $3 "), "the grant shows in the balance");
    assert_eq!(user_info(hub, &env.key.key).await["paymentLink"], "https://pay.example.com");

    assert!(ui.submit(hub, "/settings/api-keys", &[("name", "ui-budget"), ("budget", "2"), ("budget_period", "day")]).await == StatusCode::OK);
    let key = hub.keys().await.unwrap().into_iter().find(|k| k["name"] == "ui-budget").expect("the key");
    assert_eq!((key["budget"].as_str(), key["budget_period"].as_str()), (Some("2"), Some("day")), "{key}");
    let kid = key["kid"].as_str().unwrap();
    assert!(ui.get(hub, &format!("/settings/api-keys/{kid}")).await.contains("Budget consumed: 0 spent this period"));
    let admin = admin_key(hub).await;
    let audit = admin_get(hub, &admin, "/api/admin/audit").await.to_string();
    for action in ["rate.set", "rate.reset", "billing.updated", "credit.granted", "key.created"] {
        assert!(audit.contains(action), "{action} is audited");
    }
}

async fn admin_send(hub: &hub_testkit::TestHub, admin: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut req = hub.client().request(method, hub.url(path)).bearer_auth(admin);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_manages_money_and_failed_calls_release_their_reservation() {
    use reqwest::Method;
    let env = setup().await;
    let hub = &env.hub;
    let admin = admin_key(hub).await;

    // Rates: set, listed, back to the list price.
    let set = json!({"provider": "openai", "model": "gpt-4o-mini", "input": "0.0000002", "output": "0.0000008", "unit_cost_input": "0.00000015"});
    let (status, listed) = admin_send(hub, &admin, Method::POST, "/api/admin/rates", Some(set)).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let mini = listed.as_array().unwrap().iter().find(|r| r["model"] == "gpt-4o-mini").unwrap().clone();
    assert_eq!((mini["input_per_million"].as_str(), mini["unit_cost_input"].as_str(), mini["updated_by"].as_str()), (Some("0.2"), Some("0.00000015"), Some(hub_testkit::OWNER_EMAIL)));
    let (status, bad) = admin_send(hub, &admin, Method::POST, "/api/admin/rates", Some(json!({"provider": "openai", "model": "x", "input": "0.1.2", "output": "1"}))).await;
    assert_eq!((status, bad["error"]["param"].as_str()), (StatusCode::BAD_REQUEST, Some("input")), "{bad}");
    let (status, _) = admin_send(hub, &admin, Method::DELETE, "/api/admin/rates?provider=openai&model=gpt-4o-mini", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin_send(hub, &admin, Method::DELETE, "/api/admin/rates?provider=openai&model=gpt-4o-mini", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Billing settings and a grant; the user's credit shows both.
    let (status, billing) = admin_send(hub, &admin, Method::PUT, "/api/admin/billing", Some(json!({"billing_enabled": true, "topup_link": "https://pay.example.com"}))).await;
    assert_eq!((status, billing["billing_enabled"].as_bool()), (StatusCode::OK, Some(true)), "{billing}");
    let (status, grant) = admin_send(hub, &admin, Method::POST, "/api/admin/credits/grants", Some(json!({"email": hub_testkit::OWNER_EMAIL, "amount": "1.5", "note": "trial"}))).await;
    assert_eq!((status, grant["amount"].as_str()), (StatusCode::CREATED, Some("1.5")), "{grant}");
    let credit = admin_get(hub, &admin, &format!("/api/admin/users/{}/credit", hub_testkit::OWNER_EMAIL)).await;
    assert_eq!((credit["balance"].as_str(), credit["grants"].as_array().map(Vec::len)), (Some("1.5"), Some(1)), "{credit}");

    // A key's budget through PATCH; a call the provider fails costs nothing and holds nothing.
    let key = create_key_with(hub, "patched", &[]).await;
    let (status, patched) = admin_send(hub, &admin, Method::PATCH, &format!("/api/admin/keys/{}", key.kid), Some(json!({"budget": "0.01", "budget_period": "day"}))).await;
    assert_eq!((status, patched["budget"].as_str()), (StatusCode::OK, Some("0.01")), "{patched}");
    env.sim.push_fault(upstream_sim::Fault::Status { status: 400, retry_after: None });
    expect_error(chat(hub, &key.key, &priced_call()).await, 400, "the provider refuses").await;
    expect_completion(chat(hub, &key.key, &priced_call()).await).await;
    let doc = admin_get(hub, &admin, &format!("/api/admin/keys/{}", key.kid)).await;
    assert_eq!((doc["budget_spent"].as_str(), doc["budget_reserved"].as_str()), (Some(call_cost().to_string().as_str()), Some("0")), "{doc}");
    let path = format!("/api/admin/users/{}/credit", hub_testkit::OWNER_EMAIL);
    let credit = admin_get(hub, &admin, &path).await;
    assert_eq!(credit["spent"], call_cost().to_string(), "{credit}");
    // The debit is the call's usage record, once the writer has stored it.
    eventually(limits::USAGE_VISIBLE, "the billed record", || async {
        let credit = admin_get(hub, &admin, &path).await;
        (credit["debits"].as_array().map(Vec::len) == Some(1)).then_some(())
    })
    .await;
}
