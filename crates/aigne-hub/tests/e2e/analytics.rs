//! The analytics API: calls made through the simulator (including a failed one) show up in
//! totals, series, breakdowns, call history and the CSV export for an admin key; an analytics
//! key (`aihr_`) sees only its owner's usage; inference keys cannot read analytics and
//! analytics keys cannot call models.

use reqwest::StatusCode;
use serde_json::Value;
use upstream_sim::Fault;

use crate::limits;
use crate::support::*;

const PROJECT: &str = "=HYPERLINK(\"http://evil\")";
const OTHER_EMAIL: &str = "second-owner@example.test";

async fn key_of_type(env: &Env, name: &str, key_type: &str, owner: Option<&str>) -> String {
    let mut args = vec!["key", "create", "--name", name, "--type", key_type, "--json"];
    if let Some(o) = owner {
        args.extend(["--owner", o]);
    }
    let v = env.hub.cli_json(&args).await.unwrap();
    v["key"].as_str().unwrap().to_owned()
}

async fn get(env: &Env, path: &str, key: &str) -> reqwest::Response {
    env.hub.client().get(env.hub.url(path)).bearer_auth(key).timeout(limits::REQUEST_TIMEOUT).send().await.unwrap()
}

async fn get_json(env: &Env, path: &str, key: &str) -> Value {
    let resp = get(env, path, key).await;
    let status = resp.status();
    let text = resp.text().await.unwrap();
    assert_eq!(status, 200, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {text}"))
}

fn int(v: &Value, field: &str) -> i64 {
    v[field].as_i64().unwrap_or_else(|| panic!("{field} is not an integer in {v}"))
}

/// A decimal credit amount rendered as a string, never a JSON number.
fn assert_money(v: &Value, field: &str) {
    let s = v[field].as_str().unwrap_or_else(|| panic!("{field} is not a string in {v}"));
    assert!(!s.is_empty() && s.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-'), "{field} = {s:?}");
}

/// Four calls by the first owner (one with a project, one failing upstream) and one by a
/// second owner. Returns (the owner's request ids, the other's request id).
async fn make_calls(env: &Env) -> (Vec<String>, String) {
    let hub = &env.hub;
    hub.cli_ok(&["admin", "create", "--email", OTHER_EMAIL, "--password-stdin"], Some("another long password 42")).await.unwrap();
    let other = key_of_type(env, "other-app", "inference", Some(OTHER_EMAIL)).await;
    hub.wait_key_accepted(&other, limits::PROPAGATION * 5).await.unwrap();

    let mut mine = Vec::new();
    for _ in 0..2 {
        mine.push(expect_completion(chat(hub, &env.key.key, &hello()).await).await.0);
    }
    let resp = hub
        .client()
        .post(hub.url(API_CHAT))
        .bearer_auth(&env.key.key)
        .header(PROJECT_HEADER, PROJECT)
        .json(&hello())
        .timeout(limits::REQUEST_TIMEOUT)
        .send()
        .await
        .unwrap();
    mine.push(expect_completion(resp).await.0);
    env.sim.push_fault(Fault::Status { status: 400, retry_after: None });
    let failed = chat(hub, &env.key.key, &hello()).await;
    assert_eq!(failed.status(), 400);
    mine.push(request_id(failed.headers()));
    let theirs = expect_completion(chat(hub, &other, &hello()).await).await.0;
    hub.wait_for_usage(5, limits::USAGE_VISIBLE).await.unwrap();
    (mine, theirs)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_and_analytics_keys_read_the_usage_they_may_see() {
    let env = setup().await;
    let admin = key_of_type(&env, "ops", "admin", None).await;
    let reader = key_of_type(&env, "grafana", "analytics", None).await;
    env.hub.wait_key_accepted(&env.key.key, limits::PROPAGATION).await.unwrap();
    let (mine, theirs) = make_calls(&env).await;

    // Totals: everyone's for an admin key.
    let s = get_json(&env, "/api/admin/analytics/summary?range=1h", &admin).await;
    assert_eq!(int(&s, "calls"), 5, "{s}");
    assert_eq!(int(&s, "errors"), 1, "{s}");
    assert_eq!(int(&s, "tokens_in"), 4 * 7, "the failed call used no tokens: {s}");
    assert_eq!(int(&s, "tokens_out"), 4 * 12, "{s}");
    assert_eq!(s["error_rate"].as_f64(), Some(0.2), "{s}");
    assert_money(&s, "credits");
    assert_money(&s, "upstream_cost");
    assert!(s["latency_ms"]["p50"].as_i64().is_some() && s["latency_ms"]["p95"].as_i64() >= s["latency_ms"]["p50"].as_i64(), "{s}");
    assert!(s["ttfb_ms"]["p95"].as_i64().is_some(), "{s}");

    // The same through explicit bounds in ms.
    let now = hub_core::ids::now_ms();
    let bounded = get_json(&env, &format!("/api/admin/analytics/summary?from={}&to={}", now - 600_000, now + 60_000), &admin).await;
    assert_eq!(int(&bounded, "calls"), 5, "{bounded}");

    // Series: hourly over a day, the calls in the last points.
    let ts = get_json(&env, "/api/admin/analytics/timeseries?range=24h", &admin).await;
    assert_eq!(ts["bucket"], "hour", "{ts}");
    let points = ts["points"].as_array().unwrap();
    assert!((24..=25).contains(&points.len()), "{} points", points.len());
    assert_eq!(points.iter().map(|p| int(p, "calls")).sum::<i64>(), 5);
    assert!(points.windows(2).all(|w| int(&w[1], "t") - int(&w[0], "t") == 3_600_000));
    assert_eq!(get_json(&env, "/api/admin/analytics/timeseries?range=7d", &admin).await["bucket"], "day");

    // Breakdowns.
    let by_key = get_json(&env, "/api/admin/analytics/breakdown?by=key&range=24h", &admin).await;
    let rows = by_key["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{by_key}");
    assert_eq!(int(&rows[0], "calls"), 4);
    assert_eq!(int(&rows[0], "errors"), 1);
    assert!(rows[0]["label"].as_str().unwrap().contains(&env.key.kid), "{by_key}");
    let by_user = get_json(&env, "/api/admin/analytics/breakdown?by=user&range=24h", &admin).await;
    assert!(by_user["rows"].as_array().unwrap().iter().any(|r| r["label"] == OTHER_EMAIL), "{by_user}");
    let by_project = get_json(&env, "/api/admin/analytics/breakdown?by=project&range=24h", &admin).await;
    assert!(by_project["rows"].as_array().unwrap().iter().any(|r| r["value"] == PROJECT && int(r, "calls") == 1), "{by_project}");
    let by_status = get_json(&env, "/api/admin/analytics/breakdown?by=status&range=24h", &admin).await;
    assert!(by_status["rows"].as_array().unwrap().iter().any(|r| r["value"] == "4xx" && int(r, "calls") == 1), "{by_status}");
    let by_model = get_json(&env, "/api/admin/analytics/breakdown?by=model&provider=openai", &admin).await;
    assert_eq!(by_model["rows"].as_array().unwrap().iter().map(|r| int(r, "calls")).sum::<i64>(), 5, "{by_model}");
    let bad = get(&env, "/api/admin/analytics/breakdown?by=colour", &admin).await;
    assert_eq!(bad.status(), 400);

    // Call history: pages of two, newest first, each call once; filters.
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let path = match &next {
            Some(c) => format!("/api/admin/analytics/calls?range=1h&limit=2&cursor={c}"),
            None => "/api/admin/analytics/calls?range=1h&limit=2".to_owned(),
        };
        let page = get_json(&env, &path, &admin).await;
        let calls = page["calls"].as_array().unwrap();
        assert!(calls.len() <= 2);
        for c in calls {
            assert_money(c, "credits");
            seen.push(c["request_id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(c) => next = Some(c.to_owned()),
            None => break,
        }
    }
    let mut expected: Vec<String> = mine.iter().cloned().chain([theirs.clone()]).collect();
    expected.reverse();
    assert_eq!(seen, expected, "newest first, each once");
    let failed = get_json(&env, "/api/admin/analytics/calls?range=1h&status=4xx", &admin).await;
    let failed = failed["calls"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["request_id"], mine[3].as_str());
    let by_key = get_json(&env, &format!("/api/admin/analytics/calls?range=1h&key={}", env.key.kid), &admin).await;
    assert_eq!(by_key["calls"].as_array().unwrap().len(), 4);

    let one = get_json(&env, &format!("/api/admin/analytics/calls/{}", mine[2]), &admin).await;
    assert_eq!(one["project"], PROJECT);
    assert_eq!(one["status"], 200);
    assert_eq!(get(&env, "/api/admin/analytics/calls/req_nothing", &admin).await.status(), 404);

    // CSV: a header and one line per call, the project's formula defused.
    let resp = get(&env, "/api/admin/analytics/calls.csv?range=1h", &admin).await;
    assert_eq!(resp.status(), 200);
    assert!(header(resp.headers(), "content-type").unwrap().starts_with("text/csv"));
    assert!(header(resp.headers(), "content-disposition").unwrap().contains("attachment"));
    let csv = resp.text().await.unwrap();
    let lines: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), 6, "{csv}");
    assert!(lines[0].starts_with("time_utc,request_id,"));
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""), "the formula is quoted and defused: {csv}");

    // The analytics key: its owner's usage only.
    let s = get_json(&env, "/api/analytics/summary?range=1h", &reader).await;
    assert_eq!(int(&s, "calls"), 4, "{s}");
    let calls = get_json(&env, "/api/analytics/calls?range=1h", &reader).await;
    let ids: Vec<&str> = calls["calls"].as_array().unwrap().iter().map(|c| c["request_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4);
    assert!(!ids.contains(&theirs.as_str()), "another owner's call is visible");
    assert_eq!(get(&env, &format!("/api/analytics/calls/{theirs}"), &reader).await.status(), 404);
    let users = get_json(&env, "/api/analytics/breakdown?by=user&range=1h", &reader).await;
    assert_eq!(users["rows"].as_array().unwrap().len(), 1, "{users}");
    let series = get_json(&env, "/api/analytics/timeseries?range=1h", &reader).await;
    assert_eq!(series["points"].as_array().unwrap().iter().map(|p| int(p, "calls")).sum::<i64>(), 4);
    let csv = get(&env, "/api/analytics/calls.csv?range=1h", &reader).await.text().await.unwrap();
    assert!(!csv.contains(&theirs));
    // Asking for someone else's usage does not widen the view.
    let widened = get_json(&env, "/api/analytics/summary?range=1h&user=anyone", &reader).await;
    assert_eq!(int(&widened, "calls"), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_key_type_stays_on_its_own_routes() {
    let env = setup().await;
    let admin = key_of_type(&env, "ops", "admin", None).await;
    let reader = key_of_type(&env, "grafana", "analytics", None).await;
    env.hub.wait_key_accepted(&env.key.key, limits::PROPAGATION).await.unwrap();

    for (key, path, what) in [
        (&env.key.key, "/api/analytics/summary", "an inference key on the analytics API"),
        (&admin, "/api/analytics/summary", "an admin key on the analytics API"),
        (&env.key.key, "/api/admin/analytics/summary", "an inference key on the admin analytics API"),
        (&reader, "/api/admin/analytics/summary", "an analytics key on the admin API"),
    ] {
        let resp = get(&env, path, key).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{what}");
        assert!(resp.text().await.unwrap().contains("cannot call this API"), "{what}");
    }
    let refused = expect_error(chat(&env.hub, &reader, &hello()).await, 403, "an analytics key calling a model").await;
    assert!(refused.message.contains("analytics"), "{}", refused.message);
    let anonymous = env.hub.client().get(env.hub.url("/api/analytics/summary")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(env.sim.stats().chat_requests, 0, "no refused call reached the upstream");
    let bad_range = get(&env, "/api/analytics/summary?range=2w", &reader).await;
    assert_eq!(bad_range.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retention_keeps_records_younger_than_it() {
    let env = setup_with(upstream_sim::SimConfig::default(), |o| o.serve_arg("--usage-retention-days").serve_arg("1")).await;
    let admin = key_of_type(&env, "ops", "admin", None).await;
    let (rid, _) = expect_completion(chat(&env.hub, &env.key.key, &hello()).await).await;
    env.hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    // The pruner's first pass runs at start; a fresh record is inside the retention.
    tokio::time::sleep(limits::SETTLE).await;
    let calls = get_json(&env, "/api/admin/analytics/calls?range=1h", &admin).await;
    assert_eq!(calls["calls"].as_array().unwrap().len(), 1, "{calls}");
    assert_eq!(int(&get_json(&env, "/api/admin/analytics/summary?range=1h", &admin).await, "calls"), 1);
}
