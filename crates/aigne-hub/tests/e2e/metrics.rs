//! `GET /metrics`: off by default, guarded by a token when one is set, and a valid Prometheus
//! exposition whose counters follow the calls made, with no secret and no client-made label.

use std::collections::HashMap;

use hub_testkit::PROVIDER_KEY;
use serde_json::json;
use upstream_sim::SimConfig;

use crate::support::*;

const TOKEN: &str = "metrics-token-for-the-e2e-suite";

/// One sample line: metric name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: HashMap<String, String>,
    value: f64,
}

/// Parses the text exposition strictly enough to catch malformed output: every sample belongs to
/// a family declared by `# HELP` and `# TYPE` before it, labels are `k="v"` pairs.
fn parse(text: &str) -> Vec<Sample> {
    let mut types: HashMap<String, String> = HashMap::new();
    let mut helped = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP has a name and a text");
            assert!(!help.is_empty(), "{line}");
            helped.insert(name.to_owned());
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE has a name and a type");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(helped.contains(name), "TYPE before HELP: {line}");
            assert!(types.insert(name.to_owned(), kind.to_owned()).is_none(), "family declared twice: {line}");
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "unexpected line {line:?}");
        let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
        let value: f64 = value.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => (n, l.strip_suffix('}').expect("labels end with }")),
            None => (series, ""),
        };
        let mut map = HashMap::new();
        for pair in labels.split("\",").filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("label {pair:?} in {line}"));
            map.insert(k.to_owned(), v.trim_end_matches('"').to_owned());
        }
        let family = ["_bucket", "_sum", "_count"].iter().find_map(|s| name.strip_suffix(s)).filter(|f| types.get(*f).is_some_and(|t| t == "histogram")).unwrap_or(name);
        assert!(types.contains_key(family), "sample without a TYPE: {line}");
        samples.push(Sample { name: name.to_owned(), labels: map, value });
    }
    samples
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
}

async fn scrape(env: &Env, token: Option<&str>) -> reqwest::Response {
    let mut req = env.hub.client().get(env.hub.url("/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.expect("GET /metrics")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_off_unless_enabled() {
    let env = setup().await;
    assert_eq!(scrape(&env, None).await.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_token_when_one_is_set() {
    let env = setup_with(SimConfig::default(), |o| o.serve_arg("--metrics").env("AIGNE_HUB_METRICS_TOKEN", TOKEN)).await;
    assert_eq!(scrape(&env, None).await.status(), 401);
    assert_eq!(scrape(&env, Some("wrong-token")).await.status(), 401);
    assert_eq!(scrape(&env, Some(&env.key.key)).await.status(), 401, "an API key is not the metrics token");
    let ok = scrape(&env, Some(TOKEN)).await;
    assert_eq!(ok.status(), 200);
    assert_eq!(header(ok.headers(), "content-type").as_deref(), Some("text/plain; version=0.0.4; charset=utf-8"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_follow_the_calls_and_hold_no_secret() {
    let env = setup_with(SimConfig::default(), |o| o.env("AIGNE_HUB_METRICS", "1")).await;
    for _ in 0..3 {
        expect_completion(chat(&env.hub, &env.key.key, &hello()).await).await;
    }
    // Refused before routing: the model name the client made up must not become a label.
    let made_up = "no-such-family-zq7/made-up-model-name";
    let resp = chat(&env.hub, &env.key.key, &json!({"model": made_up, "messages": [{"role": "user", "content": "hi"}]})).await;
    assert!(resp.status().is_client_error());
    // A wrong secret for a real kid: refused at authentication, counted there.
    let forged = hub_testkit::forge_key(&env.key.kid, &hub_testkit::base62_string(7, 43));
    assert_eq!(chat(&env.hub, &forged, &hello()).await.status(), 401);

    let resp = scrape(&env, None).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    for secret in [env.key.key.as_str(), env.key.kid.as_str(), env.key.secret_part(), PROVIDER_KEY, forged.as_str(), made_up, "made-up-model-name"] {
        assert!(!text.contains(secret), "the exposition contains {secret:?}");
    }
    let s = parse(&text);
    let chat_ok = [("endpoint", "chat.completions"), ("status_class", "2xx")];
    assert_eq!(value(&s, "aigne_hub_requests_total", &chat_ok), 3.0);
    assert_eq!(value(&s, "aigne_hub_requests_total", &[("endpoint", "chat.completions"), ("status_class", "4xx")]), 1.0);
    assert_eq!(value(&s, "aigne_hub_errors_total", &[("class", "model_not_found")]), 1.0);
    assert_eq!(value(&s, "aigne_hub_auth_failures_total", &[]), 1.0);
    assert_eq!(value(&s, "aigne_hub_request_duration_seconds_count", &[("endpoint", "chat.completions")]), 4.0);
    assert_eq!(value(&s, "aigne_hub_request_duration_seconds_bucket", &[("endpoint", "chat.completions"), ("le", "+Inf")]), 4.0);
    assert_eq!(value(&s, "aigne_hub_tokens_total", &[("provider", "openai"), ("direction", "in")]), 21.0);
    assert_eq!(value(&s, "aigne_hub_tokens_total", &[("provider", "openai"), ("direction", "out")]), 36.0);
    // gpt-3.5-turbo at its list price ($0.50 / $1.50 per million tokens): 21 × 500 + 36 × 1500.
    assert_eq!(value(&s, "aigne_hub_credits_nano_total", &[("provider", "openai")]), 64_500.0);
    assert_eq!(value(&s, "aigne_hub_upstream_ttfb_seconds_count", &[("provider", "openai")]), 3.0);
    assert_eq!(value(&s, "aigne_hub_model_calls_total", &[("provider", "openai"), ("model", "gpt-3.5-turbo"), ("result", "success")]), 3.0);
    assert_eq!(value(&s, "aigne_hub_in_flight_calls", &[]), 0.0);
    assert!(value(&s, "aigne_hub_usage_journal_backlog", &[]) >= 0.0);
    let healthy: Vec<_> = s.iter().filter(|x| x.name == "aigne_hub_credential_state" && x.labels.get("state").map(String::as_str) == Some("healthy")).collect();
    assert_eq!(healthy.len(), 1, "one credential called");
    assert_eq!(healthy[0].value, 1.0);
    assert!(healthy[0].labels["credential"].starts_with("cred"), "labelled by credential id: {:?}", healthy[0].labels);
    // Histogram buckets are cumulative.
    let buckets: Vec<f64> = s.iter().filter(|x| x.name == "aigne_hub_request_duration_seconds_bucket" && x.labels["endpoint"] == "chat.completions").map(|x| x.value).collect();
    assert!(buckets.windows(2).all(|w| w[0] <= w[1]), "{buckets:?}");
}
