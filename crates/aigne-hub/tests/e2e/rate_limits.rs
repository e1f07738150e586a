//! Per-key limits: requests per minute hold exactly within the sliding window, tokens per
//! minute reserve input + max output and settle the actual use, and a concurrency limit is
//! never exceeded at the upstream, whatever the load.

use std::sync::Arc;

use serde_json::json;
use upstream_sim::SimConfig;

use crate::limits;
use crate::support::*;

fn num(headers: &reqwest::header::HeaderMap, name: &str) -> u64 {
    header(headers, name).unwrap_or_else(|| panic!("no {name} header")).parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_per_minute_hold_exactly_then_the_window_frees_them() {
    let env = setup().await;
    let hub = &env.hub;
    let rpm = limits::TEST_RPM.to_string();
    let key = create_key_with(hub, "rpm", &["--rpm", &rpm]).await;
    for i in 0..limits::TEST_RPM {
        let resp = chat(hub, &key.key, &hello()).await;
        let h = resp.headers().clone();
        expect_completion(resp).await;
        assert_eq!(num(&h, "x-ratelimit-limit-requests"), limits::TEST_RPM as u64);
        assert_eq!(num(&h, "x-ratelimit-remaining-requests"), (limits::TEST_RPM - 1 - i) as u64);
        assert!(header(&h, "x-ratelimit-reset-requests").is_some());
    }
    let refused = expect_error(chat(hub, &key.key, &hello()).await, 429, "request N+1").await;
    let retry_after: u64 = header(&refused.headers, "retry-after").expect("Retry-After").parse().unwrap();
    assert!(retry_after >= 1 && retry_after <= limits::RATE_WINDOW.as_secs(), "{retry_after}");
    assert_eq!(num(&refused.headers, "x-ratelimit-remaining-requests"), 0);
    assert!(refused.message.contains("requests per minute"), "{}", refused.message);
    assert_eq!(env.sim.stats().chat_requests, limits::TEST_RPM as u64, "the refused call reached the upstream");
    // A key without limits sends no rate headers.
    let plain = chat(hub, &env.key.key, &hello()).await;
    assert!(header(plain.headers(), "x-ratelimit-limit-requests").is_none());

    tokio::time::sleep(std::time::Duration::from_secs(retry_after)).await;
    expect_completion(chat(hub, &key.key, &hello()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_per_minute_reserve_the_maximum_and_settle_the_actual_use() {
    let env = setup().await;
    let hub = &env.hub;
    let tpm = limits::TEST_TPM.to_string();
    let key = create_key_with(hub, "tpm", &["--tpm", &tpm]).await;
    let ask = |max_tokens: u64| with(hello(), json!({"max_tokens": max_tokens}));
    let first = chat(hub, &key.key, &ask(50)).await;
    let h = first.headers().clone();
    expect_completion(first).await;
    assert_eq!(num(&h, "x-ratelimit-limit-tokens"), limits::TEST_TPM);
    let remaining = num(&h, "x-ratelimit-remaining-tokens");
    assert!(remaining < limits::TEST_TPM - 50, "the reservation counts input and output: {remaining}");
    expect_completion(chat(hub, &key.key, &ask(100)).await).await;
    // ~150 used: another 60 do not fit in 200.
    let refused = expect_error(chat(hub, &key.key, &ask(60)).await, 429, "over the token limit").await;
    assert!(header(&refused.headers, "retry-after").is_some());
    assert!(refused.message.contains("tokens per minute"), "{}", refused.message);
    // A call larger than the whole limit can never pass: not worth a retry.
    let never = expect_error(chat(hub, &key.key, &ask(limits::TEST_TPM + 1)).await, 429, "larger than the limit").await;
    assert_eq!(header(&never.headers, "x-should-retry").as_deref(), Some("false"));
    assert_eq!(env.sim.stats().chat_requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_is_never_exceeded_and_every_slot_comes_back() {
    let config = SimConfig { latency: limits::CONCURRENCY_UPSTREAM_LATENCY, ..SimConfig::default() };
    let env = Arc::new(setup_with(config, |o| o).await);
    let hub = &env.hub;
    let max = limits::TEST_MAX_CONCURRENCY.to_string();
    let key = Arc::new(create_key_with(hub, "parallel", &["--max-concurrency", &max]).await);
    let mut calls = Vec::new();
    for i in 0..limits::CONCURRENT_CALLERS {
        let (env, key) = (Arc::clone(&env), Arc::clone(&key));
        calls.push(tokio::spawn(async move {
            // Every other call streams, so slots held by streams are released at their end too.
            let body = with(hello(), json!({"stream": i % 2 == 0}));
            let resp = chat(&env.hub, &key.key, &body).await;
            let status = resp.status().as_u16();
            let _ = resp.bytes().await;
            status
        }));
    }
    let mut ok = 0;
    let mut refused = 0;
    for c in calls {
        match c.await.unwrap() {
            200 => ok += 1,
            429 => refused += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    let stats = env.sim.stats();
    println!("concurrency: {ok} succeeded, {refused} refused, max in flight upstream {}", stats.max_in_flight);
    assert!(stats.max_in_flight <= limits::TEST_MAX_CONCURRENCY, "max in flight {}", stats.max_in_flight);
    assert!(ok >= limits::TEST_MAX_CONCURRENCY as usize, "{ok} succeeded");
    assert_eq!(ok + refused, limits::CONCURRENT_CALLERS);
    assert_eq!(stats.chat_requests, ok as u64, "refused calls never reach the upstream");
    // Every slot came back: a full set of parallel calls succeeds again.
    let mut again = Vec::new();
    for _ in 0..limits::TEST_MAX_CONCURRENCY {
        let (env, key) = (Arc::clone(&env), Arc::clone(&key));
        again.push(tokio::spawn(async move { chat(&env.hub, &key.key, &hello()).await.status().as_u16() }));
    }
    for c in again {
        assert_eq!(c.await.unwrap(), 200);
    }
}
