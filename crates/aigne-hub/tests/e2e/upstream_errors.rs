//! Failures on the provider's side and models nobody serves.

use hub_testkit::{TestHub, PROVIDER_KEY};
use serde_json::json;
use upstream_sim::{mask_key, Fault, Sim, SimConfig};

use crate::limits;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_rate_limit_reaches_the_client_with_retry_after() {
    let env = setup().await;
    env.sim.push_fault(Fault::Status {
        status: 429,
        retry_after: Some(limits::PROVIDER_RETRY_AFTER_SECS),
    });
    let reply = expect_error(
        chat(&env.hub, &env.key.key, &hello()).await,
        429,
        "upstream 429",
    )
    .await;
    assert_eq!(
        header(&reply.headers, "retry-after").as_deref(),
        Some(limits::PROVIDER_RETRY_AFTER_SECS.to_string().as_str()),
        "Retry-After is passed on"
    );
    let rid = request_id(&reply.headers);

    let record = env
        .hub
        .wait_for_record(&rid, limits::USAGE_VISIBLE)
        .await
        .unwrap();
    assert_eq!(u64_field(&record, "status"), 429, "{record}");
    assert_eq!(str_field(&record, "outcome"), "error", "{record}");
    assert_eq!(u64_field(&record, "tokens_out"), 0, "{record}");

    // While the credential cools down, the hub answers 429 itself instead of hammering the
    // provider again.
    let seen = env.sim.stats().chat_requests;
    let held = expect_error(chat(&env.hub, &env.key.key, &hello()).await, 429, "cooling down").await;
    assert!(header(&held.headers, "retry-after").is_some(), "Retry-After while cooling down");
    assert_eq!(env.sim.stats().chat_requests, seen, "no upstream call during the cool-down");

    // After the provider's Retry-After the credential is back.
    tokio::time::sleep(std::time::Duration::from_secs(limits::PROVIDER_RETRY_AFTER_SECS) + limits::SETTLE).await;
    expect_completion(chat(&env.hub, &env.key.key, &hello()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_refusing_the_hub_credential_is_a_502_that_reveals_nothing() {
    let sim = Sim::start(SimConfig {
        api_key: Some("sk-upstream-expects-another-credential-42".to_owned()),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let hub = TestHub::launch(HUB_BIN, options().openai(&sim.base_url()))
        .await
        .unwrap();
    let key = hub.create_key("e2e").await.unwrap();

    for body in [hello(), with(hello(), json!({"stream": true}))] {
        let reply = expect_error(chat(&hub, &key.key, &body).await, 502, "provider 401").await;
        let masked = mask_key(PROVIDER_KEY);
        for needle in [
            PROVIDER_KEY,
            masked.as_str(),
            &PROVIDER_KEY[..12],
            &PROVIDER_KEY[PROVIDER_KEY.len() - 12..],
        ] {
            assert!(
                !reply.raw.contains(needle),
                "the 502 body reveals the provider credential ({needle}): {}",
                reply.raw
            );
        }
    }
    assert_eq!(
        sim.stats().unauthorized,
        1,
        "after one refusal the credential is set aside: the next call does not reach the provider"
    );
    let records = hub.wait_for_usage(2, limits::USAGE_VISIBLE).await.unwrap();
    for r in &records {
        assert_eq!(u64_field(r, "status"), 502, "{r}");
        assert_eq!(str_field(r, "outcome"), "error", "{r}");
    }
    assert!(
        !hub.logs().contains(PROVIDER_KEY),
        "the provider credential is in the logs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_models_get_404_explaining_model_names() {
    let env = setup().await;
    let models = [
        "no-such-model",
        "aignehub/no-such-model",
        "deepseek/deepseek-chat",
        "custom:nolab/anything",
    ];
    for model in models {
        let body = with(hello(), json!({ "model": model }));
        let reply = expect_error(chat(&env.hub, &env.key.key, &body).await, 404, model).await;
        assert!(
            reply.message.to_lowercase().contains("provider"),
            "{model}: {}",
            reply.raw
        );
    }
    let bare = expect_error(
        chat(
            &env.hub,
            &env.key.key,
            &with(hello(), json!({"model": "no-such-model"})),
        )
        .await,
        404,
        "bare unknown model",
    )
    .await;
    assert!(
        bare.message.contains("provider/model"),
        "explains provider/model naming: {}",
        bare.raw
    );
    assert_eq!(env.sim.stats().chat_requests, 0);

    // An unknown model is an admitted call: it is recorded.
    let records = env
        .hub
        .wait_for_usage(models.len() + 1, limits::USAGE_VISIBLE)
        .await
        .unwrap();
    for r in &records {
        assert_eq!(u64_field(r, "status"), 404, "{r}");
        assert_eq!(str_field(r, "outcome"), "error", "{r}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_server_errors_are_gateway_errors_and_recorded() {
    let env = setup().await;
    // Enough failures that a hub retrying on its own still ends with a failure.
    for _ in 0..5 {
        env.sim.push_fault(Fault::Status {
            status: 500,
            retry_after: None,
        });
    }
    let resp = chat(&env.hub, &env.key.key, &hello()).await;
    let status = resp.status().as_u16();
    assert!(
        status == 502 || status == 503,
        "upstream 500 becomes 502/503, got {status}"
    );
    let reply = expect_error(resp, status, "upstream 500").await;
    env.sim.clear_faults();
    let record = env
        .hub
        .wait_for_record(&request_id(&reply.headers), limits::USAGE_VISIBLE)
        .await
        .unwrap();
    assert_eq!(str_field(&record, "outcome"), "error", "{record}");
    assert_eq!(u64_field(&record, "status"), u64::from(status), "{record}");
}
