//! The Playground page: a signed-in user chats with a model through `POST /playground/chat`
//! (session + CSRF header), the answer streams as OpenAI chat chunks with the usage chunk, and
//! the call is recorded under the user's hub-managed Playground key like any API call: same
//! credit checks, same usage record, the key listed as the Playground's and never rotatable.

use std::time::Duration;

use hub_testkit::{sse_content, sse_data, TestHub};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::*;
use crate::ui_client::Browser;

const MODEL: &str = "openai/gpt-4o-mini";
const RECORD_WRITTEN: Duration = Duration::from_secs(10);

/// The page's CSRF token (its `data-csrf`, the same as the forms').
fn page_csrf(html: &str) -> String {
    let at = html.find(r#"data-csrf=""#).expect("the playground's csrf") + r#"data-csrf=""#.len();
    html[at..].split('"').next().unwrap().to_owned()
}

fn conversation(text: &str) -> Value {
    json!({"model": MODEL, "system": "Answer briefly.", "messages": [{"role": "user", "content": text}], "temperature": 0.5, "max_tokens": 40})
}

async fn send(hub: &TestHub, ui: &Browser, csrf: Option<&str>, body: &Value) -> reqwest::Response {
    let mut req = ui.client.post(hub.url("/playground/chat")).header("cookie", &ui.cookie).json(body);
    if let Some(c) = csrf {
        req = req.header("x-csrf-token", c);
    }
    req.send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playground_chat_streams_and_is_recorded_under_the_users_playground_key() {
    let env = setup().await;
    let hub = &env.hub;
    let ui = Browser::login(hub).await;
    let html = ui.get(hub, "/playground").await;
    assert!(html.contains(r#"href="/playground""#), "the Playground is in the navigation");
    assert!(html.contains(&format!(r#"<option value="{MODEL}">"#)), "the user's models are offered");
    assert!(html.contains(r#"src="/assets/playground.js""#));
    let csrf = page_csrf(&html);

    let resp = send(hub, &ui, Some(&csrf), &conversation("Say hello")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let request_id = resp.headers()["x-request-id"].to_str().unwrap().to_owned();
    let events = sse_data(&resp.text().await.unwrap());
    assert!(!sse_content(&events).is_empty(), "the answer streams: {events:?}");
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let usage = events.iter().filter_map(|e| serde_json::from_str::<Value>(e).ok()).find(|v| v["usage"].is_object()).expect("the usage chunk");
    assert!(usage["usage"]["completion_tokens"].as_u64().is_some_and(|n| n > 0), "{usage}");

    // One usage record, under the user's Playground key and the project `playground`.
    let record = hub.wait_for_record(&request_id, RECORD_WRITTEN).await.unwrap();
    let keys = hub.keys().await.unwrap();
    let playground: Vec<&Value> = keys.iter().filter(|k| k["managed"] == "playground").collect();
    assert_eq!(playground.len(), 1, "{keys:?}");
    let pkey = playground[0];
    assert_eq!(record["kid"], pkey["kid"], "{record}");
    assert_eq!(record["project"], "playground", "{record}");
    assert_eq!(record["endpoint"], "chat.completions");
    assert_eq!(record["status"], 200);
    assert_eq!(pkey["owner_email"], hub_testkit::OWNER_EMAIL);
    assert_eq!(pkey["endpoints"], json!(["chat"]), "the Playground key only chats");

    // The page's cost line reads the record.
    let (status, call) = ui.fetch(hub, &format!("/playground/calls/{request_id}")).await;
    assert_eq!(status, StatusCode::OK, "{call}");
    let call: Value = serde_json::from_str(&call).unwrap();
    assert_eq!(call["tokens_out"], usage["usage"]["completion_tokens"]);
    assert!(call["credits"].is_string(), "{call}");

    // A second turn reuses the same key; the key list shows it as the Playground's.
    let mut two = conversation("Again");
    two["messages"] = json!([{"role": "user", "content": "Say hello"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Again"}]);
    let resp = send(hub, &ui, Some(&csrf), &two).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let _ = resp.text().await.unwrap();
    assert_eq!(hub.keys().await.unwrap().iter().filter(|k| k["managed"] == "playground").count(), 1);
    let list = ui.get(hub, "/settings/api-keys").await;
    assert!(list.contains("Playground (managed by the hub)"), "the key list names the Playground key");
    let key_page = ui.get(hub, &format!("/settings/api-keys/{}", str_field(pkey, "kid"))).await;
    assert!(key_page.contains(r#"id="playground-key""#) && !key_page.contains(r#"id="rotate""#), "no rotation offered for the Playground key");
    let page = ui.get(hub, "/playground").await;
    assert!(page.contains(str_field(pkey, "kid")), "the page names the key it calls with");

    // Its secret was never shown, and no one can get one by rotating it.
    let rotated = hub.cli(&["key", "rotate", str_field(pkey, "kid")], None).await.unwrap();
    assert!(!rotated.success(), "a managed key is not rotated: {}", rotated.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_refuses_without_csrf_or_session_and_calls_nothing() {
    let env = setup().await;
    let hub = &env.hub;
    let ui = Browser::login(hub).await;
    let csrf = page_csrf(&ui.get(hub, "/playground").await);
    let missing = send(hub, &ui, None, &conversation("hi")).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], "csrf", "{body}");
    let wrong = send(hub, &ui, Some("not-the-token-0000000000000000000000000000"), &conversation("hi")).await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    let anonymous = hub.client().post(hub.url("/playground/chat")).header("x-csrf-token", &csrf).json(&conversation("hi")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    // Nothing reached the upstream, and no Playground key was made.
    assert_eq!(env.sim.stats().chat_requests, 0);
    assert!(!hub.keys().await.unwrap().iter().any(|k| k["managed"] == "playground"));
    // A bad conversation is the API's 400.
    let bad = send(hub, &ui, Some(&csrf), &json!({"model": MODEL, "messages": [{"role": "tool", "content": "x"}]})).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_without_credit_gets_the_hubs_402_message_in_the_playground() {
    let env = setup().await;
    let hub = &env.hub;
    hub.cli_ok(&["billing", "enable"], None).await.unwrap();
    eventually(Duration::from_secs(5), "billing reaches the hub", || async {
        let info: Value = hub.client().get(hub.url("/api/user/info")).bearer_auth(&env.key.key).send().await.ok()?.json().await.ok()?;
        (info["enableCredit"] == true).then_some(())
    })
    .await;
    let ui = Browser::login(hub).await;
    let csrf = page_csrf(&ui.get(hub, "/playground").await);
    let resp = send(hub, &ui, Some(&csrf), &conversation("hi")).await;
    assert_eq!(resp.status(), StatusCode::PAYMENT_REQUIRED);
    let body: Value = resp.json().await.unwrap();
    let message = str_field(&body["error"], "message");
    assert!(!message.is_empty(), "{body}");
    // The same words an API client of the same user gets for the same request.
    let same = json!({"model": MODEL, "messages": [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "hi"}], "temperature": 0.5, "max_tokens": 40});
    let api = expect_error(chat(hub, &env.key.key, &same).await, 402, "no credit").await;
    assert_eq!(message, api.message);
    assert_eq!(env.sim.stats().chat_requests, 0, "a call refused for credit never reaches the upstream");
}

/// Scopes and limits set on the Playground key apply to the Playground: a model outside its model
/// scope is refused with the hub's 403 naming the scope, a requests-per-minute limit with 429,
/// and the page's model list shrinks to what the key may call.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_playground_keys_scopes_and_limits_apply() {
    let env = setup().await;
    let hub = &env.hub;
    let ui = Browser::login(hub).await;
    let csrf = page_csrf(&ui.get(hub, "/playground").await);
    let first = send(hub, &ui, Some(&csrf), &conversation("hi")).await;
    assert_eq!(first.status(), StatusCode::OK);
    let _ = first.text().await.unwrap();
    let kid = hub.keys().await.unwrap().into_iter().find(|k| k["managed"] == "playground").map(|k| str_field(&k, "kid").to_owned()).unwrap();
    hub.cli_ok(&["key", "update", &kid, "--models", "openai/gpt-4o", "--rpm", "2"], None).await.unwrap();
    let refused = eventually(Duration::from_secs(5), "the scope reaches the Playground", || async {
        let resp = send(hub, &ui, Some(&csrf), &conversation("hi")).await;
        (resp.status() == StatusCode::FORBIDDEN).then_some(resp)
    })
    .await;
    let body: Value = refused.json().await.unwrap();
    assert!(str_field(&body["error"], "message").contains("model"), "{body}");
    let html = ui.get(hub, "/playground").await;
    assert!(html.contains(r#"<option value="openai/gpt-4o">"#) && !html.contains(&format!(r#"<option value="{MODEL}">"#)), "only the scoped models are offered");

    let mut allowed = conversation("hi");
    allowed["model"] = json!("openai/gpt-4o");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let resp = send(hub, &ui, Some(&csrf), &allowed).await;
        statuses.push(resp.status());
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            let body: Value = resp.json().await.unwrap();
            assert!(str_field(&body["error"], "message").contains("requests per minute"), "{body}");
        } else {
            let _ = resp.text().await.unwrap();
        }
    }
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "the key's rpm applies: {statuses:?}");
}
