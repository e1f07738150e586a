//! Stopping the server: a graceful stop finishes every call and records it; a crash loses no
//! record of a call the provider saw and never records one twice.

use std::collections::HashSet;

use futures::future::join_all;
use serde_json::Value;
use upstream_sim::SimConfig;

use crate::limits;
use crate::support::*;

fn unique_request_ids(records: &[Value]) -> HashSet<String> {
    records
        .iter()
        .map(|r| str_field(r, "request_id").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_calls_and_loses_no_record() {
    drain_on_sigterm(None).await;
}

/// A hub limited to one thread (pinned to one core) runs on the current-thread scheduler: the
/// same calls, the same drain, the same records.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_one_worker_thread_sigterm_drains_in_flight_calls_and_loses_no_record() {
    drain_on_sigterm(Some("1")).await;
}

async fn drain_on_sigterm(worker_threads: Option<&str>) {
    let mut env = setup_with(
        SimConfig {
            latency: limits::SLOW_UPSTREAM,
            ..SimConfig::default()
        },
        |o| match worker_threads {
            Some(n) => o.env("AIGNE_HUB_WORKER_THREADS", n),
            None => o,
        },
    )
    .await;
    let calls: Vec<_> = (0..limits::SHUTDOWN_CALLS)
        .map(|_| {
            let client = env.hub.client().clone();
            let url = env.hub.url(API_CHAT);
            let key = env.key.key.clone();
            tokio::spawn(async move {
                let resp = client
                    .post(url)
                    .bearer_auth(key)
                    .json(&hello())
                    .timeout(limits::REQUEST_TIMEOUT)
                    .send()
                    .await?;
                let status = resp.status();
                let body = resp.text().await?;
                Ok::<_, reqwest::Error>((status, body))
            })
        })
        .collect();

    wait_upstream_requests(&env.sim, limits::SHUTDOWN_CALLS as u64).await;
    env.hub.sigterm().await.unwrap();

    for (i, joined) in join_all(calls).await.into_iter().enumerate() {
        let (status, body) = joined
            .unwrap()
            .unwrap_or_else(|e| panic!("call {i} failed during shutdown: {e}"));
        assert_eq!(status, 200, "call {i}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["choices"][0]["message"]["content"], reply().as_str());
    }
    let exit = env.hub.wait_exit(limits::GRACEFUL_EXIT).await.unwrap();
    assert_eq!(
        exit.code(),
        Some(0),
        "graceful exit status: {exit}\n{}",
        env.hub.logs()
    );

    // Flushed before exit: the database already holds every record.
    let flushed = env.hub.usage().await.unwrap();
    assert_eq!(
        flushed.len(),
        limits::SHUTDOWN_CALLS,
        "records in the database after exit"
    );

    // And a restart replays nothing twice.
    env.hub.restart().await.unwrap();
    let records = env
        .hub
        .wait_for_usage(limits::SHUTDOWN_CALLS, limits::USAGE_VISIBLE)
        .await
        .unwrap();
    tokio::time::sleep(limits::SETTLE).await;
    let records_after = env.hub.usage().await.unwrap();
    assert_eq!(
        records_after.len(),
        limits::SHUTDOWN_CALLS,
        "records after restart"
    );
    assert_eq!(unique_request_ids(&records).len(), limits::SHUTDOWN_CALLS);
    for r in &records_after {
        assert_eq!(str_field(r, "outcome"), "ok", "{r}");
        assert_eq!(u64_field(r, "status"), 200, "{r}");
        assert_eq!(u64_field(r, "tokens_out"), 12, "{r}");
    }
    // The restarted hub serves.
    expect_completion(chat(&env.hub, &env.key.key, &hello()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_mid_call_then_restart_leaves_exactly_one_record_per_upstream_call() {
    let mut env = setup().await;
    let mut completed = HashSet::new();
    for _ in 0..limits::KILL_COMPLETED_CALLS {
        let (rid, _) = expect_completion(chat(&env.hub, &env.key.key, &hello()).await).await;
        completed.insert(rid);
    }

    env.sim.set_latency(limits::KILL_UPSTREAM_LATENCY);
    let in_flight: Vec<_> = (0..limits::KILL_INFLIGHT_CALLS)
        .map(|_| {
            let req = env
                .hub
                .client()
                .post(env.hub.url(API_CHAT))
                .bearer_auth(&env.key.key)
                .json(&hello())
                .timeout(limits::REQUEST_TIMEOUT);
            tokio::spawn(async move { req.send().await.map(|r| r.status()) })
        })
        .collect();
    let total = limits::KILL_COMPLETED_CALLS + limits::KILL_INFLIGHT_CALLS;
    wait_upstream_requests(&env.sim, total as u64).await;

    env.hub.kill9().await.unwrap();
    for joined in join_all(in_flight).await {
        let result = joined.unwrap();
        assert!(
            result.is_err(),
            "a call in flight at kill -9 cannot have succeeded: {result:?}"
        );
    }
    env.sim.set_latency(std::time::Duration::ZERO);

    env.hub.restart().await.unwrap();
    env.hub
        .wait_for_usage(total, limits::USAGE_VISIBLE)
        .await
        .unwrap();
    tokio::time::sleep(limits::SETTLE).await;
    let records = env.hub.usage().await.unwrap();
    assert_eq!(
        records.len(),
        total,
        "one record per call the provider saw: {}",
        Value::Array(records.clone())
    );
    assert_eq!(
        unique_request_ids(&records).len(),
        total,
        "no duplicate records"
    );
    assert_eq!(env.sim.stats().chat_requests as usize, total);

    for r in &records {
        let rid = str_field(r, "request_id");
        if completed.contains(rid) {
            assert_eq!(str_field(r, "outcome"), "ok", "{r}");
            assert_eq!(u64_field(r, "tokens_out"), 12, "{r}");
        } else {
            assert!(
                str_field(r, "outcome") == "interrupted" || bool_field(r, "estimated"),
                "a call cut by the crash is flagged: {r}"
            );
            assert_eq!(str_field(r, "key_id"), env.key.id, "{r}");
        }
    }
    // A second restart finds nothing more to replay.
    env.hub.restart().await.unwrap();
    tokio::time::sleep(limits::SETTLE).await;
    assert_eq!(
        env.hub.usage().await.unwrap().len(),
        total,
        "replay is idempotent"
    );
}
