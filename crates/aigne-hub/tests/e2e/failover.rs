//! Failover between credentials: one credential failing 30 % of calls beside a healthy one still
//! gives clients (almost) only successes, with few extra upstream attempts, each success billed
//! once.

use std::time::Duration;

use futures::future::join_all;
use hub_testkit::{TestHub, PROVIDER_KEY};
use upstream_sim::{Fault, Sim, SimConfig};

use crate::limits;
use crate::support::*;

/// The second, healthy credential of the same provider.
const HEALTHY_KEY: &str = "sk-test-provider-credential-healthy-98765";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_credential_beside_a_healthy_one_costs_clients_nothing() {
    // The simulator accepts any key; the faults follow the first credential only.
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let hub = TestHub::launch(HUB_BIN, options().openai(&sim.base_url())).await.unwrap();
    hub.add_provider("openai", &sim.base_url(), Some(HEALTHY_KEY)).await.unwrap();
    let key = hub.create_key("failover").await.unwrap();
    tokio::time::sleep(limits::PROPAGATION).await;

    // Half of the bad credential's failures are server errors, half rate limits.
    sim.set_key_fault_rate(PROVIDER_KEY, limits::FAILING_SHARE / 2.0, Fault::Status { status: 500, retry_after: None }, 7);
    let mut ok = 0usize;
    let mut failed = Vec::new();
    for round in 0..limits::FAILOVER_CALLS / limits::FAILOVER_CONCURRENCY {
        if round == limits::FAILOVER_CALLS / limits::FAILOVER_CONCURRENCY / 2 {
            sim.set_key_fault_rate(PROVIDER_KEY, limits::FAILING_SHARE, Fault::Status { status: 429, retry_after: Some(1) }, 11);
        }
        let body = hello();
        let calls = (0..limits::FAILOVER_CONCURRENCY).map(|_| chat(&hub, &key.key, &body));
        for resp in join_all(calls).await {
            let status = resp.status().as_u16();
            if status == 200 {
                ok += 1;
            } else {
                failed.push((status, resp.text().await.unwrap_or_default()));
            }
        }
    }
    let total = limits::FAILOVER_CALLS;
    let success = ok as f64 / total as f64;
    let attempts = sim.stats().chat_requests as f64 / total as f64;
    println!("failover: {ok}/{total} succeeded ({:.2} %), {attempts:.3} upstream attempts per call", success * 100.0);
    let faults = sim.stats().faults_served;
    println!("failover: the bad credential failed {faults} upstream attempts");
    assert!(faults >= limits::FAILOVER_MIN_FAULTS, "the failing credential was barely exercised: {faults} faults");
    assert!(success >= limits::FAILOVER_MIN_SUCCESS, "success {success}; failures: {failed:?}");
    assert!(attempts <= limits::FAILOVER_MAX_ATTEMPTS, "{attempts} upstream attempts per call");

    // Each success is billed once: one usage record per client call.
    let records = hub.wait_for_usage(total, limits::USAGE_VISIBLE + Duration::from_secs(5)).await.unwrap();
    assert_eq!(records.len(), total);
    let billed_ok = records.iter().filter(|r| str_field(r, "outcome") == "ok").count();
    assert_eq!(billed_ok, ok);
}
