//! Rotation with a grace period, expiry, and scope changes made by the CLI while the server
//! runs.

use std::time::Duration;

use serde_json::json;

use crate::limits;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_secrets_work_during_the_grace_and_the_old_one_stops_after() {
    let env = setup().await;
    let hub = &env.hub;
    let old = &env.key;
    let grace = format!("{}s", limits::ROTATION_GRACE_SECS);
    let v = hub.cli_json(&["key", "rotate", &old.kid, "--grace", &grace, "--json"]).await.unwrap();
    let rotated_at = std::time::Instant::now();
    assert_eq!(str_field(&v, "id"), old.id);
    assert_eq!(str_field(&v, "name"), old.name);
    let new = str_field(&v, "key").to_owned();
    assert_ne!(new, old.key);
    // A kid names one secret: the new secret has its own, inside the new key text.
    let new_kid = str_field(&v, "kid").to_owned();
    assert_ne!(new_kid, old.kid);
    assert!(new.starts_with(&format!("aih_{new_kid}_")), "the key text carries its kid");
    hub.wait_key_accepted(&new, limits::PROPAGATION).await.unwrap();
    expect_completion(chat(hub, &new, &hello()).await).await;
    expect_completion(chat(hub, &old.key, &hello()).await).await;

    tokio::time::sleep(Duration::from_secs(limits::ROTATION_GRACE_SECS).saturating_sub(rotated_at.elapsed()) + Duration::from_millis(200)).await;
    let err = expect_error(chat(hub, &old.key, &hello()).await, 401, "the old secret after the grace").await;
    assert!(err.message.contains("rotation"), "{}", err.message);
    expect_completion(chat(hub, &new, &hello()).await).await;
    // One key, one history: every call is recorded under the same key id, and each record
    // names the secret that made it.
    let records = hub.wait_for_usage(3, limits::USAGE_VISIBLE).await.unwrap();
    assert!(records.iter().all(|r| str_field(r, "key_id") == old.id));
    let kids: Vec<&str> = records.iter().map(|r| str_field(r, "kid")).collect();
    assert!(kids.contains(&old.kid.as_str()) && kids.contains(&new_kid.as_str()), "{kids:?}");
    // Either kid names the key; its audit trail holds the events of both secrets.
    let admin = hub.cli_json(&["key", "create", "--name", "automation", "--type", "admin", "--json"]).await.unwrap();
    let admin_key = str_field(&admin, "key").to_owned();
    let http = reqwest::Client::new();
    let get = |path: String| http.get(hub.url(&path)).bearer_auth(&admin_key).send();
    let by_old: serde_json::Value = get(format!("/api/admin/keys/{}", old.kid)).await.unwrap().json().await.unwrap();
    assert_eq!(str_field(&by_old, "id"), old.id);
    assert_eq!(str_field(&by_old, "kid"), new_kid, "a key is shown under its current secret's kid");
    let audit = get(format!("/api/admin/keys/{new_kid}/audit")).await.unwrap().text().await.unwrap();
    assert!(audit.contains("key.created") && audit.contains("key.rotated"), "{audit}");
    assert!(!audit.contains(&new) && !audit.contains(&old.key), "the audit trail never holds a secret");

    // Grace 0: the previous secret dies at once; out-of-range graces are refused.
    let v = hub.cli_json(&["key", "rotate", &old.kid, "--grace", "0s", "--json"]).await.unwrap();
    let newest = str_field(&v, "key").to_owned();
    hub.wait_key_accepted(&newest, limits::PROPAGATION).await.unwrap();
    eventually(limits::PROPAGATION, "grace 0 ends the previous secret", || async {
        (chat(hub, &new, &hello()).await.status() == 401).then_some(())
    })
    .await;
    for bad in ["8d", "1w", "soon"] {
        let out = hub.cli(&["key", "rotate", &old.kid, "--grace", bad], None).await.unwrap();
        assert!(!out.success(), "--grace {bad} accepted");
    }
    let audit = hub.cli_json(&["key", "list", "--json"]).await.unwrap().to_string();
    assert!(!audit.contains(&newest));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_key_is_refused_like_a_revoked_one() {
    let env = setup().await;
    let hub = &env.hub;
    let expires_ms = hub_core::ids::now_ms() + i64::try_from(limits::EXPIRY_AFTER.as_millis()).unwrap();
    let expires = hub_core::scopes::format_rfc3339_ms(expires_ms + 1000 - expires_ms.rem_euclid(1000));
    let key = create_key_with(hub, "short-lived", &["--expires", &expires]).await;
    expect_completion(chat(hub, &key.key, &hello()).await).await;
    tokio::time::sleep(limits::EXPIRY_AFTER + Duration::from_millis(1100)).await;
    let err = expect_error(chat(hub, &key.key, &hello()).await, 401, "expired").await;
    assert!(err.message.contains("expired"), "{}", err.message);
    assert_eq!(str_field(&hub.key_entry(&key.kid).await.unwrap(), "status"), "expired");
    let bad = hub.cli(&["key", "create", "--name", "x", "--expires", "tomorrow"], None).await.unwrap();
    assert!(!bad.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_update_takes_effect_in_the_running_server() {
    let env = setup().await;
    let hub = &env.hub;
    expect_completion(chat(hub, &env.key.key, &hello()).await).await;
    hub.cli_ok(&["key", "update", &env.key.kid, "--models", "anthropic/*", "--rpm", "100"], None).await.unwrap();
    let before = env.sim.stats().chat_requests;
    let started = std::time::Instant::now();
    let message = eventually(limits::PROPAGATION, "the new model scope applies", || async {
        let resp = chat(hub, &env.key.key, &hello()).await;
        if resp.status() == 403 {
            Some(expect_error(resp, 403, "model scope").await.message)
        } else {
            None
        }
    })
    .await;
    println!("scope change applied after {:?}", started.elapsed());
    assert!(message.contains("allowed: anthropic/*"), "{message}");
    let entry = hub.key_entry(&env.key.kid).await.unwrap();
    assert_eq!(entry["models"], json!(["anthropic/*"]));
    assert_eq!(entry["rpm"], json!(100));
    // Clearing the scope restores access; other limits stay.
    hub.cli_ok(&["key", "update", &env.key.kid, "--models", "*"], None).await.unwrap();
    eventually(limits::PROPAGATION, "the cleared scope applies", || async {
        (chat(hub, &env.key.key, &hello()).await.status() == 200).then_some(())
    })
    .await;
    assert_eq!(hub.key_entry(&env.key.kid).await.unwrap()["rpm"], json!(100));
    assert!(env.sim.stats().chat_requests > before);
    let bad = hub.cli(&["key", "update", &env.key.kid, "--ips", "300.1.1.1"], None).await.unwrap();
    assert!(!bad.success() && bad.stderr.contains("300.1.1.1"), "{}", bad.stderr);
}
