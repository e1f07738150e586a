//! The operator's CLI, used against the data directory of a running server.

use std::time::Instant;

use hub_testkit::{HubOptions, TestHub};
use serde_json::{json, Value};
use upstream_sim::{Sim, SimConfig};

use crate::limits;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_create_list_and_revoke() {
    let env = setup().await;
    let hub = &env.hub;
    assert!(
        env.key.key.starts_with(&format!("aih_{}_", env.key.kid)),
        "{:?}",
        env.key
    );
    assert_eq!(env.key.key.len(), 4 + 12 + 1 + 49);

    // A key made while the server runs works within the propagation time.
    let created = hub.create_key_unchecked("fresh").await.unwrap();
    let took = hub
        .wait_key_accepted(&created.key, limits::PROPAGATION)
        .await
        .unwrap();
    assert!(took <= limits::PROPAGATION);
    expect_completion(chat(hub, &created.key, &hello()).await).await;

    let entry = hub.key_entry(&created.kid).await.unwrap();
    assert_eq!(str_field(&entry, "id"), created.id);
    assert_eq!(str_field(&entry, "name"), "fresh");
    assert_eq!(str_field(&entry, "status"), "active");
    assert!(
        entry.get("created_at").is_some_and(|v| !v.is_null()),
        "{entry}"
    );
    let hint = str_field(&entry, "hint");
    assert!(
        hint.contains(&created.kid),
        "the hint shows the kid: {hint}"
    );
    let listed = Value::Array(hub.keys().await.unwrap()).to_string();
    assert!(!listed.contains(&created.key), "key list shows a full key");
    assert!(
        !listed.contains(created.secret_part()),
        "key list shows a secret"
    );
    assert!(hub.keys().await.unwrap().len() >= 2);

    hub.revoke(&created.kid).await.unwrap();
    let entry = hub.key_entry(&created.kid).await.unwrap();
    assert_eq!(str_field(&entry, "status"), "revoked");
    assert_eq!(
        str_field(&hub.key_entry(&env.key.kid).await.unwrap(), "status"),
        "active"
    );

    let unknown = hub
        .cli(&["key", "revoke", "zzzzzzzzzzzz"], None)
        .await
        .unwrap();
    assert!(
        !unknown.success(),
        "revoking an unknown kid fails: {}",
        unknown.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_create_checks_its_input() {
    let env = setup().await;
    let hub = &env.hub;
    let short = hub
        .cli(
            &[
                "admin",
                "create",
                "--email",
                "second@example.test",
                "--password-stdin",
            ],
            Some("short"),
        )
        .await
        .unwrap();
    assert!(
        !short.success(),
        "a password under 10 characters is refused"
    );
    let again = hub
        .cli(
            &[
                "admin",
                "create",
                "--email",
                hub_testkit::OWNER_EMAIL,
                "--password-stdin",
            ],
            Some("another long password"),
        )
        .await
        .unwrap();
    assert!(!again.success(), "the same email cannot be created twice");
    let bad_provider = hub
        .cli(
            &[
                "provider",
                "add",
                "nosuchkind",
                "--base-url",
                "http://127.0.0.1:9/v1",
            ],
            None,
        )
        .await
        .unwrap();
    assert!(
        !bad_provider.success(),
        "an unknown provider name is refused"
    );
    for out in [&short, &again, &bad_provider] {
        assert!(!out.stderr.trim().is_empty(), "a failing command says why");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_added_while_serving_takes_effect_within_a_second() {
    let env = setup().await;
    let hub = &env.hub;
    let lab = Sim::start(SimConfig::default()).await.unwrap();
    let body = with(hello(), json!({"model": "custom:lab/anything"}));
    expect_error(
        chat(hub, &env.key.key, &body).await,
        404,
        "before the provider exists",
    )
    .await;

    let lab_key = "sk-lab-credential-00000000000000000000";
    hub.add_provider("custom:lab", &lab.base_url(), Some(lab_key))
        .await
        .unwrap();
    let added = Instant::now();
    let served = eventually(limits::PROPAGATION, "the new provider serves", || async {
        let resp = chat(hub, &env.key.key, &body).await;
        (resp.status() == 200).then_some(resp)
    })
    .await;
    assert!(added.elapsed() <= limits::PROPAGATION);
    let (_, v) = expect_completion(served).await;
    assert_eq!(v["choices"][0]["message"]["content"], reply().as_str());
    let stats = lab.stats();
    assert_eq!(stats.last_chat_body.unwrap()["model"], "anything");
    assert_eq!(
        stats.last_authorization.as_deref(),
        Some(format!("Bearer {lab_key}").as_str())
    );
    assert_eq!(
        env.sim.stats().chat_requests,
        0,
        "the openai provider was not used"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_without_owner_prints_a_setup_url_and_reports_health() {
    let hub = TestHub::launch(HUB_BIN, HubOptions::default().no_owner())
        .await
        .unwrap();
    let url = eventually(limits::PROPAGATION, "a setup URL on stdout", || async {
        hub.setup_url()
    })
    .await;
    let port = hub.base_url().rsplit(':').next().unwrap().to_owned();
    assert!(
        url.contains(&format!(":{port}/")),
        "the setup URL points at this server: {url}"
    );
    let token = url.split("token=").nth(1).unwrap_or("");
    assert!(token.len() >= 16, "a real one-time token: {url}");

    for path in ["/healthz", "/readyz"] {
        let resp = hub.client().get(hub.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        request_id(resp.headers());
    }
}
