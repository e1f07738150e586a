//! Model status from real calls: `GET /api/ai/models` keeps its contract (`status.available`)
//! and adds the success rate, median latency and sample size of the hub's recent calls.

use serde_json::{json, Value};
use upstream_sim::SimConfig;

use crate::support::*;

async fn listed(env: &Env, key: &str) -> Value {
    let resp = env.hub.client().get(env.hub.url("/api/ai/models?type=chat")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let list: Vec<Value> = resp.json().await.unwrap();
    list.into_iter().find(|m| m["key"] == key).unwrap_or_else(|| panic!("{key} is not listed"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_model_list_reports_what_recent_calls_saw() {
    let env = setup_with(SimConfig::default(), |o| o).await;
    let untouched = listed(&env, "openai/gpt-4o").await;
    assert_eq!(untouched["status"], json!({"available": true}), "nothing observed, nothing claimed");

    let body = json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]});
    for _ in 0..3 {
        expect_completion(chat(&env.hub, &env.key.key, &body).await).await;
    }
    let status = &listed(&env, "openai/gpt-4o-mini").await["status"];
    assert_eq!(status["available"], true);
    assert_eq!(status["successRate"], 1.0);
    assert_eq!(status["sampleSize"], 3);
    assert!(status["latencyP50Ms"].is_u64(), "{status}");

    // Upstream failures count against the model (a 500 on both attempts the relay makes).
    for _ in 0..30 {
        env.sim.push_fault(upstream_sim::Fault::Status { status: 500, retry_after: None });
    }
    let mut failed = 0;
    for _ in 0..5 {
        if !chat(&env.hub, &env.key.key, &body).await.status().is_success() {
            failed += 1;
        }
    }
    assert!(failed > 0, "the scripted faults reached the client");
    let status = &listed(&env, "openai/gpt-4o-mini").await["status"];
    let rate = status["successRate"].as_f64().unwrap();
    assert!(rate < 1.0, "{status}");
}
