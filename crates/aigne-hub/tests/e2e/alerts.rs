//! Alerts on unusual activity, seen through the admin API: a spike against the key's baseline,
//! repeated failed attempts with a real kid, a new client address (remembered across restarts),
//! a provider credential set aside after a 401, and the signed webhook.

use std::time::Duration;

use hmac::{Hmac, Mac};
use hub_testkit::{CreatedKey, TestHub, PROVIDER_KEY};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use upstream_sim::SimConfig;

use crate::limits::SETTLE;
use crate::support::*;

/// The detector works off the request path: alerts show up within this time.
const ALERT_VISIBLE: Duration = Duration::from_secs(5);
const WEBHOOK_SECRET: &str = "whsec-e2e-0123456789abcdef";

async fn admin_key(hub: &TestHub) -> CreatedKey {
    create_key_with(hub, "operations", &["--type", "admin"]).await
}

async fn alerts(hub: &TestHub, admin: &CreatedKey) -> Vec<Value> {
    let resp = hub.client().get(hub.url("/api/admin/alerts")).bearer_auth(&admin.key).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    body["alerts"].as_array().cloned().unwrap_or_default()
}

fn of_kind<'a>(all: &'a [Value], kind: &str) -> Vec<&'a Value> {
    all.iter().filter(|a| a["kind"] == kind).collect()
}

/// Waits until at least one alert of `kind` exists, then answers all of that kind.
async fn wait_for_kind(hub: &TestHub, admin: &CreatedKey, kind: &str) -> Vec<Value> {
    eventually(ALERT_VISIBLE, &format!("a {kind} alert"), || async {
        let all = alerts(hub, admin).await;
        let found: Vec<Value> = of_kind(&all, kind).into_iter().cloned().collect();
        (!found.is_empty()).then_some(found)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spike_of_calls_raises_exactly_one_alert() {
    let env = setup_with(SimConfig::default(), |o| o.serve_arg("--alert-spike-min-calls").serve_arg("10")).await;
    let admin = admin_key(&env.hub).await;
    for _ in 0..9 {
        expect_completion(chat(&env.hub, &env.key.key, &hello()).await).await;
    }
    tokio::time::sleep(SETTLE).await;
    assert!(of_kind(&alerts(&env.hub, &admin).await, "usage_spike").is_empty(), "9 calls are below the minimum");
    for _ in 0..11 {
        expect_completion(chat(&env.hub, &env.key.key, &hello()).await).await;
    }
    let spikes = wait_for_kind(&env.hub, &admin, "usage_spike").await;
    tokio::time::sleep(SETTLE).await;
    let all = alerts(&env.hub, &admin).await;
    let spikes_after = of_kind(&all, "usage_spike");
    assert_eq!(spikes_after.len(), 1, "one alert per key and cool-down: {all:?}");
    let a = &spikes[0];
    assert_eq!(a["subject_type"], "key");
    assert_eq!(a["subject_id"], env.key.id.as_str());
    assert_eq!(a["severity"], "warning");
    assert!(a["read_at"].is_null());
    assert!(u64_field(&a["detail"], "recent_calls") >= 10);
    assert!(of_kind(&all, "new_address").is_empty(), "one address is not a new address");

    // Marking it read moves it below unread ones and lowers the count.
    let id = str_field(a, "id");
    let resp = env.hub.client().post(env.hub.url(&format!("/api/admin/alerts/{id}/read"))).bearer_auth(&admin.key).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["unread"], 0);
    let listed = alerts(&env.hub, &admin).await;
    assert!(listed.iter().find(|x| x["id"] == id).is_some_and(|x| x["read_at"].is_i64()));
    // Inference keys never reach the admin API.
    let resp = env.hub.client().get(env.hub.url("/api/admin/alerts")).bearer_auth(&env.key.key).send().await.unwrap();
    assert_eq!(resp.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_attempts_against_a_kid_raise_one_alert_and_the_client_sees_the_usual_401() {
    let env = setup_with(SimConfig::default(), |o| o.serve_arg("--alert-failed-attempts").serve_arg("5")).await;
    let admin = admin_key(&env.hub).await;
    let unknown_kid = hub_testkit::base62_string(99, 12);
    let mut bodies = Vec::new();
    for i in 0..7 {
        for kid in [env.key.kid.as_str(), unknown_kid.as_str()] {
            let forged = hub_testkit::forge_key(kid, &hub_testkit::base62_string(i, 43));
            let err = expect_error(chat(&env.hub, &forged, &hello()).await, 401, "forged key").await;
            bodies.push(err.raw);
        }
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "a real kid and an unknown one get the same answer");
    let found = wait_for_kind(&env.hub, &admin, "failed_attempts").await;
    tokio::time::sleep(SETTLE).await;
    let all = alerts(&env.hub, &admin).await;
    let failed = of_kind(&all, "failed_attempts");
    assert_eq!(failed.len(), 1, "{all:?}");
    assert_eq!(found[0]["subject_type"], "kid");
    assert_eq!(found[0]["subject_id"], env.key.kid.as_str());
    assert_eq!(found[0]["detail"]["key_id"], env.key.id.as_str());
    assert!(!all.iter().any(|a| a.to_string().contains(&unknown_kid)), "guessed kids raise nothing");
    // The real key still works.
    expect_completion(chat(&env.hub, &env.key.key, &hello()).await).await;
}

async fn chat_from(hub: &TestHub, key: &str, address: &str) {
    let resp = hub
        .client()
        .post(hub.url(API_CHAT))
        .bearer_auth(key)
        .header("x-forwarded-for", address)
        .json(&hello())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "{}", resp.text().await.unwrap_or_default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_client_address_raises_an_alert_and_known_ones_survive_a_restart() {
    let mut env = setup_with(SimConfig::default(), |o| {
        o.serve_arg("--trusted-proxies").serve_arg("127.0.0.1/32").serve_arg("--alert-cooldown-secs").serve_arg("0")
    })
    .await;
    let admin = admin_key(&env.hub).await;
    chat_from(&env.hub, &env.key.key, "198.51.100.7").await;
    chat_from(&env.hub, &env.key.key, "198.51.100.7").await;
    chat_from(&env.hub, &env.key.key, "203.0.113.9").await;
    let found = wait_for_kind(&env.hub, &admin, "new_address").await;
    assert_eq!(found.len(), 1, "the key's first address is not news: {found:?}");
    assert_eq!(found[0]["subject_id"], env.key.id.as_str());
    assert_eq!(found[0]["detail"]["address"], "203.0.113.9");

    env.hub.restart().await.unwrap();
    chat_from(&env.hub, &env.key.key, "198.51.100.7").await;
    chat_from(&env.hub, &env.key.key, "203.0.113.9").await;
    chat_from(&env.hub, &env.key.key, "192.0.2.44").await;
    let after = eventually(ALERT_VISIBLE, "the third address's alert", || async {
        let all = alerts(&env.hub, &admin).await;
        let found: Vec<Value> = of_kind(&all, "new_address").into_iter().cloned().collect();
        (found.len() >= 2).then_some(found)
    })
    .await;
    tokio::time::sleep(SETTLE).await;
    let all = alerts(&env.hub, &admin).await;
    let addresses: Vec<&str> = of_kind(&all, "new_address").iter().map(|a| a["detail"]["address"].as_str().unwrap_or("")).collect();
    assert_eq!(addresses.len(), 2, "known addresses are remembered across the restart: {addresses:?}");
    assert_eq!(after[0]["detail"]["address"], "192.0.2.44", "newest first");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_the_provider_refuses_is_set_aside_with_an_alert() {
    let sim = SimConfig { api_key: Some("sk-the-provider-wants-another-key-000".into()), ..SimConfig::default() };
    let env = setup_with(sim, |o| o).await;
    let admin = admin_key(&env.hub).await;
    let resp = chat(&env.hub, &env.key.key, &hello()).await;
    assert!(resp.status().is_server_error(), "status {}", resp.status());
    let found = wait_for_kind(&env.hub, &admin, "credential_set_aside").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["subject_type"], "credential");
    assert!(str_field(&found[0], "subject_id").starts_with("cred"));
    assert_eq!(found[0]["detail"]["provider"], "openai");
    assert_eq!(found[0]["severity"], "critical");
    let text = alerts(&env.hub, &admin).await.iter().map(Value::to_string).collect::<String>();
    assert!(!text.contains(PROVIDER_KEY), "the credential must not appear in an alert");
}

/// A one-route HTTP server that hands every request's signature header and body to the test.
async fn webhook_receiver() -> (String, mpsc::Receiver<(String, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/aigne", listener.local_addr().unwrap());
    let mut full = serve_webhook(listener);
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Some((head, body)) = full.recv().await {
            let _ = tx.send((header_of(&head, "x-aigne-hub-signature"), body)).await;
        }
    });
    (url, rx)
}

/// The value of one header in a request head ("" when absent).
fn header_of(head: &str, name: &str) -> String {
    head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_owned())).unwrap_or_default()
}

/// Answers 200 to every request on `listener`, handing its head and body to the test.
fn serve_webhook(listener: TcpListener) -> mpsc::Receiver<(String, String)> {
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let (head_end, length) = loop {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                        let length = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok()).unwrap_or(0);
                        break (end + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    let n = sock.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
                let _ = sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").await;
                let _ = tx.send((head, body)).await;
            });
        }
    });
    rx
}

/// Checks `t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` independently of the hub.
fn assert_signed(signature: &str, body: &str) {
    let (t, v1) = signature.split_once(",v1=").unwrap_or_else(|| panic!("signature {signature:?}"));
    let t = t.strip_prefix("t=").unwrap_or_else(|| panic!("signature {signature:?}"));
    let unix: i64 = t.parse().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    assert!((now - unix).abs() < 300, "timestamp {unix} vs now {now}");
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    let expected: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(v1, expected, "signature of {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_reach_the_webhook_signed() {
    let env = setup_with(SimConfig::default(), |o| o.serve_arg("--alert-failed-attempts").serve_arg("3")).await;
    let admin = admin_key(&env.hub).await;
    let (url, mut received) = webhook_receiver().await;
    let client = env.hub.client();
    let hook = env.hub.url("/api/admin/alerts/webhook");
    let bad = client.put(&hook).bearer_auth(&admin.key).json(&json!({"url": "file:///etc/passwd", "secret": WEBHOOK_SECRET})).send().await.unwrap();
    assert_eq!(bad.status(), 400, "only http(s) webhooks");
    let set = client.put(&hook).bearer_auth(&admin.key).json(&json!({"url": url, "secret": WEBHOOK_SECRET})).send().await.unwrap();
    assert_eq!(set.status(), 200);
    let shown: Value = client.get(&hook).bearer_auth(&admin.key).send().await.unwrap().json().await.unwrap();
    assert_eq!(shown["url"], url.as_str());
    assert!(!shown.to_string().contains(WEBHOOK_SECRET), "the secret is never shown again: {shown}");

    let test = client.post(env.hub.url("/api/admin/alerts/webhook/test")).bearer_auth(&admin.key).send().await.unwrap();
    assert_eq!(test.status(), 200, "{}", test.text().await.unwrap_or_default());
    let (signature, body) = tokio::time::timeout(ALERT_VISIBLE, received.recv()).await.expect("the test event arrives").unwrap();
    assert_signed(&signature, &body);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["kind"], "test");

    for i in 0..3 {
        let forged = hub_testkit::forge_key(&env.key.kid, &hub_testkit::base62_string(i, 43));
        assert_eq!(chat(&env.hub, &forged, &hello()).await.status(), 401);
    }
    let (signature, body) = tokio::time::timeout(ALERT_VISIBLE, received.recv()).await.expect("the alert arrives").unwrap();
    assert_signed(&signature, &body);
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["kind"], "failed_attempts");
    assert_eq!(event["subject"], json!({"type": "kid", "id": env.key.kid}));
    for secret in [env.key.key.as_str(), env.key.secret_part(), WEBHOOK_SECRET, PROVIDER_KEY] {
        assert!(!body.contains(secret), "the webhook body holds a secret");
    }

    let cleared = client.delete(&hook).bearer_auth(&admin.key).send().await.unwrap();
    assert_eq!(cleared.status(), 204);
    let shown: Value = client.get(&hook).bearer_auth(&admin.key).send().await.unwrap().json().await.unwrap();
    assert!(shown["url"].is_null());
}

/// A key's spending crossing 50 % and then 100 % of its budget raises budget alerts naming the
/// key. The priced call (gpt-4o-mini at its list price, 7 input and 20 output tokens) costs
/// 0.00001305 credits; the budget covers exactly two.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spending_a_budget_raises_threshold_alerts() {
    let env = setup().await;
    let admin = admin_key(&env.hub).await;
    let key = create_key_with(&env.hub, "budgeted", &["--budget", "0.0000261", "--budget-period", "month"]).await;
    let call = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "abc"}], "max_tokens": 20});
    expect_completion(chat(&env.hub, &key.key, &call).await).await;
    let half = wait_for_kind(&env.hub, &admin, "budget_threshold").await;
    assert_eq!(half[0]["subject_id"], key.id, "{half:?}");
    assert!(half[0]["message"].as_str().is_some_and(|m| m.starts_with("50%")), "{half:?}");
    expect_completion(chat(&env.hub, &key.key, &call).await).await;
    eventually(ALERT_VISIBLE, "the 100 % alert", || async {
        let all = alerts(&env.hub, &admin).await;
        of_kind(&all, "budget_threshold").iter().any(|a| a["message"].as_str().is_some_and(|m| m.starts_with("100%"))).then_some(())
    })
    .await;
    // The budget is spent: the next call is refused before the upstream.
    expect_error(chat(&env.hub, &key.key, &call).await, 402, "budget spent").await;
}

/// With credit billing on, a user's debits crossing 50 % and 100 % of what they were granted
/// raise budget alerts about the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spending_a_balance_raises_threshold_alerts_about_the_user() {
    let env = setup().await;
    let admin = admin_key(&env.hub).await;
    env.hub.cli_ok(&["billing", "enable"], None).await.unwrap();
    env.hub.cli_ok(&["credit", "grant", hub_testkit::OWNER_EMAIL, "0.0000261"], None).await.unwrap();
    let call = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "abc"}], "max_tokens": 20});
    // Billing and the grant reach the running hub through the change log.
    eventually(ALERT_VISIBLE, "billing and the grant reach the hub", || async {
        let info: Value = env.hub.client().get(env.hub.url("/api/user/info")).bearer_auth(&env.key.key).send().await.ok()?.json().await.ok()?;
        (info["enableCredit"] == true && info["creditBalance"]["balance"] == "0.0000261").then_some(())
    })
    .await;
    expect_completion(chat(&env.hub, &env.key.key, &call).await).await;
    expect_completion(chat(&env.hub, &env.key.key, &call).await).await;
    let found = eventually(ALERT_VISIBLE, "the user's 100 % alert", || async {
        let all = alerts(&env.hub, &admin).await;
        let user: Vec<Value> = of_kind(&all, "budget_threshold").into_iter().filter(|a| a["subject_type"] == "user").cloned().collect();
        user.iter().any(|a| a["message"].as_str().is_some_and(|m| m.starts_with("100%"))).then_some(user)
    })
    .await;
    assert!(found.iter().any(|a| a["message"].as_str().is_some_and(|m| m.starts_with("50%"))), "{found:?}");
    expect_error(chat(&env.hub, &env.key.key, &call).await, 402, "the balance is spent").await;
}

/// The webhook is down when an alert is raised and the hub is killed while the delivery waits:
/// after a restart, with the receiver up, the delivery arrives once, signed, naming its alert and
/// the attempt number the hub counted (the attempts made before the kill plus this one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_delivery_survives_a_kill_and_arrives_after_the_restart() {
    let mut env = setup_with(SimConfig::default(), |o| o.serve_arg("--alert-failed-attempts").serve_arg("3")).await;
    let admin = admin_key(&env.hub).await;
    // A free port with nobody listening yet: the receiver is down.
    let reserved = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = reserved.local_addr().unwrap();
    drop(reserved);
    let url = format!("http://{address}/hooks/aigne");
    let set = env.hub.client().put(env.hub.url("/api/admin/alerts/webhook")).bearer_auth(&admin.key).json(&json!({"url": url, "secret": WEBHOOK_SECRET})).send().await.unwrap();
    assert_eq!(set.status(), 200);
    for i in 0..3 {
        let forged = hub_testkit::forge_key(&env.key.kid, &hub_testkit::base62_string(i, 43));
        assert_eq!(chat(&env.hub, &forged, &hello()).await.status(), 401);
    }
    let alert = wait_for_kind(&env.hub, &admin, "failed_attempts").await.remove(0);
    let alert_id = str_field(&alert, "id").to_owned();
    let failing = eventually(Duration::from_secs(10), "a failed attempt recorded", || async {
        let all = alerts(&env.hub, &admin).await;
        let d = all.iter().find(|a| a["id"] == alert_id.as_str())?["delivery"].clone();
        (d["state"] == "pending" && d["attempts"].as_i64().is_some_and(|n| n >= 1) && d["last_error"].is_string()).then_some(d)
    })
    .await;
    assert!(failing["last_status"].is_null(), "nothing answered: {failing}");
    assert!(!failing.to_string().contains(WEBHOOK_SECRET) && !failing.to_string().contains(&url), "a delivery shows neither the secret nor the URL: {failing}");

    env.hub.kill9().await.unwrap();
    let before_restart = failing["attempts"].as_i64().unwrap_or(0);
    let mut received = serve_webhook(TcpListener::bind(address).await.unwrap());
    env.hub.restart().await.unwrap();

    let (head, body) = tokio::time::timeout(Duration::from_secs(30), received.recv()).await.expect("the delivery arrives after the restart").unwrap();
    assert_signed(&header_of(&head, "x-aigne-hub-signature"), &body);
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(event["id"], alert_id.as_str(), "the payload carries the alert's id");
    assert_eq!(event["kind"], "failed_attempts");
    assert_eq!(header_of(&head, "x-aigne-hub-alert-id"), alert_id);
    let attempt: i64 = header_of(&head, "x-aigne-hub-delivery-attempt").parse().unwrap();
    assert!(attempt > before_restart, "attempt {attempt} follows the {before_restart} made before the kill");

    let delivered = eventually(Duration::from_secs(5), "the delivery marked delivered", || async {
        let all = alerts(&env.hub, &admin).await;
        let d = all.iter().find(|a| a["id"] == alert_id.as_str())?["delivery"].clone();
        (d["state"] == "delivered").then_some(d)
    })
    .await;
    assert_eq!(delivered["attempts"], attempt, "every POST is counted once: {delivered}");
    assert_eq!(delivered["last_status"], 200);
    // The Alerts page shows it delivered, and neither the URL nor the secret.
    let ui = crate::ui_client::Browser::login(&env.hub).await;
    let page = ui.get(&env.hub, "/alerts").await;
    assert!(page.contains(r#"data-delivery="delivered""#), "the page shows the delivery");
    assert!(!page.contains(WEBHOOK_SECRET));
    // Delivered means done: nothing more arrives.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(received.try_recv().is_err(), "a delivered alert is not sent again");
}
