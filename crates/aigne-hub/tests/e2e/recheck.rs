//! The background re-check of set-aside credentials: a credential the provider refused gets no
//! user traffic at all; the hub probes it (a model listing, not a user's call) when its back-off
//! passes, doubling the back-off while it still fails, and puts it back into rotation once the
//! provider accepts it again.

use std::time::Duration;

use hub_testkit::{TestHub, PROVIDER_KEY};
use upstream_sim::{Sim, SimConfig};

use crate::connection_test::{admin_key, credential_ids, providers, BAD_KEY};
use crate::support::*;

/// The shortened first back-off (the default is a minute).
const BACKOFF_MS: i64 = 1500;

fn calls_with(sim: &Sim, key: &str) -> u64 {
    sim.stats().calls_by_key.get(key).copied().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_credential_is_re_checked_in_the_background_and_restored() {
    let sim = Sim::start(SimConfig { api_key: Some(PROVIDER_KEY.to_owned()), ..SimConfig::default() }).await.unwrap();
    let hub = TestHub::launch(
        HUB_BIN,
        options()
            .openai(&sim.base_url())
            .provider("openai", &sim.base_url(), Some(BAD_KEY))
            .serve_arg("--set-aside-backoff-ms")
            .serve_arg(BACKOFF_MS.to_string()),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    let admin = admin_key(&hub).await;
    let key = hub.create_key("e2e").await.unwrap();
    let (_, bad) = credential_ids(&hub, &admin).await;

    // Round-robin reaches the refused credential within two calls; the call fails over to the
    // good one, so every user call succeeds.
    for _ in 0..2 {
        expect_completion(chat(&hub, &key.key, &hello()).await).await;
    }
    assert_eq!(calls_with(&sim, BAD_KEY), 1, "one user call met the bad credential before anyone knew");
    let listed = providers(&hub, &admin).await;
    let health = &listed["health"][&bad];
    assert_eq!(health["status"]["state"], "set_aside", "{listed}");
    assert!(health["reason"].as_str().unwrap_or("").contains("refused"), "{listed}");
    assert!(health["last_error"].is_string(), "{listed}");
    let first_check = health["next_check_ms"].as_i64().unwrap_or_else(|| panic!("{listed}"));

    // While it is set aside, and after its back-off passed too, user calls go to the good one only.
    for _ in 0..6 {
        expect_completion(chat(&hub, &key.key, &hello()).await).await;
    }
    tokio::time::sleep(Duration::from_millis(u64::try_from(BACKOFF_MS).unwrap() + 800)).await;
    for _ in 0..4 {
        expect_completion(chat(&hub, &key.key, &hello()).await).await;
    }
    assert_eq!(calls_with(&sim, BAD_KEY), 1, "no user call was the probe of a known-bad credential");

    // The background probe ran (a model listing) and failed: the back-off doubled.
    assert!(sim.stats().models_requests >= 1, "the re-check probed the credential");
    let listed = providers(&hub, &admin).await;
    let health = &listed["health"][&bad];
    assert_eq!(health["status"]["state"], "set_aside", "{listed}");
    let second_check = health["next_check_ms"].as_i64().unwrap();
    assert!(second_check - first_check >= 2 * BACKOFF_MS - 200, "the back-off doubled: {first_check} → {second_check}");

    // The provider accepts the key again: within the back-off the re-check restores it.
    sim.accept_key(BAD_KEY);
    eventually(Duration::from_secs(12), "the re-check restores the credential", || async {
        let listed = providers(&hub, &admin).await;
        (listed["health"][&bad]["status"]["state"] == "healthy").then_some(())
    })
    .await;

    // It takes traffic again.
    for _ in 0..4 {
        expect_completion(chat(&hub, &key.key, &hello()).await).await;
    }
    assert!(calls_with(&sim, BAD_KEY) >= 3, "the restored credential is used: {:?}", sim.stats().calls_by_key);
}
