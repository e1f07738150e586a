//! Video generation through the hub: the AIGNE SDK's `POST /api/v2/video` (the hub submits the
//! job, polls it, downloads the file, stores it and answers a signed URL) for Sora and Veo, and
//! OpenAI clients' `/v1/videos` jobs; every call's record carries its seconds of video.

use std::time::Duration;

use hub_testkit::{TestHub, PROVIDER_KEY};
use serde_json::{json, Value};
use upstream_sim::{sim_mp4, Sim, SimConfig};

use crate::limits;
use crate::support::*;

const AIGNE_VIDEO: &str = "/api/v2/video";
/// Long enough to see a job in progress, short enough for a fast suite.
const RENDER: Duration = Duration::from_millis(200);
const JOB_ENDS: Duration = Duration::from_secs(10);

/// A simulator that checks the provider key on both sides, and a hub with `openai` and `google`.
async fn video_env() -> (Sim, TestHub, String) {
    let sim = Sim::start(SimConfig { api_key: Some(PROVIDER_KEY.to_owned()), video_render: RENDER, ..SimConfig::default() }).await.expect("start the simulator");
    let hub = TestHub::launch(HUB_BIN, options().openai(&sim.base_url()).provider("google", &sim.gemini_base_url(), Some(PROVIDER_KEY)))
        .await
        .unwrap_or_else(|e| panic!("start the hub: {e}"));
    let key = hub.create_key("e2e").await.unwrap_or_else(|e| panic!("create a key: {e}\n{}", hub.logs())).key;
    (sim, hub, key)
}

fn aigne(input: Value) -> Value {
    json!({"input": input, "options": {}})
}

async fn download(hub: &TestHub, url: &str) -> (String, Vec<u8>) {
    let got = hub.client().get(url).send().await.unwrap();
    assert_eq!(got.status(), 200, "{url}");
    let mime = header(got.headers(), "content-type").unwrap_or_default();
    (mime, got.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aigne_route_answers_a_signed_url_to_the_generated_video() {
    let (sim, hub, key) = video_env().await;
    let body = aigne(json!({"prompt": "a cat on a skateboard", "seconds": "8", "modelOptions": {"model": "openai/sora-2"}, "outputFileType": "url"}));
    let (rid, reply) = expect_completion(post_json(&hub, AIGNE_VIDEO, Some(&key), &body).await).await;
    assert_eq!(reply["videos"][0]["type"], "url", "{reply}");
    assert_eq!(reply["videos"][0]["mimeType"], "video/mp4", "{reply}");
    assert_eq!((reply["model"].as_str(), reply["seconds"].as_u64()), (Some("sora-2"), Some(8)), "{reply}");
    assert_eq!(reply["usage"], json!({"inputTokens": 0, "outputTokens": 0}), "{reply}");
    let url = reply["videos"][0]["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/files/", hub.base_url().trim_end_matches('/'))), "{url}");
    assert_eq!(download(&hub, url).await, ("video/mp4".to_owned(), sim_mp4()));

    let upstream = sim.stats();
    assert_eq!(upstream.video_requests, 1);
    assert!(upstream.video_polls >= 1 && upstream.video_downloads == 1, "{upstream:?}");
    let sent = upstream.last_video_body.unwrap();
    assert_eq!(sent, json!({"model": "sora-2", "prompt": "a cat on a skateboard", "seconds": "8", "size": "720x1280"}));

    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "endpoint"), "video", "{record}");
    assert_eq!(str_field(&record, "provider"), "openai", "{record}");
    assert_eq!(str_field(&record, "model"), "sora-2", "{record}");
    assert_eq!(str_field(&record, "outcome"), "ok", "{record}");
    assert_eq!(u64_field(&record, "video_seconds"), 8, "{record}");
    assert_eq!(u64_field(&record, "tokens_in") + u64_field(&record, "tokens_out"), 0, "{record}");
    // Billed per second at sora-2's list price, $0.10: 8 s.
    assert_eq!(record["credits"], json!(800_000_000), "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_before_the_provider_and_failed_jobs_are_errors() {
    let (sim, hub, key) = video_env().await;
    let empty = aigne(json!({"prompt": " ", "modelOptions": {"model": "openai/sora-2"}}));
    let e = expect_error(post_json(&hub, AIGNE_VIDEO, Some(&key), &empty).await, 400, "empty prompt").await;
    assert!(e.raw.contains("\"param\":\"prompt\""), "{}", e.raw);
    // Sora makes 4, 8 or 12 s: 6 is refused by the hub, with a record, before any job.
    let six = aigne(json!({"prompt": "a cat", "seconds": "6", "modelOptions": {"model": "openai/sora-2"}}));
    let resp = post_json(&hub, AIGNE_VIDEO, Some(&key), &six).await;
    let rid = request_id(resp.headers());
    let e = expect_error(resp, 400, "6 seconds").await;
    assert!(e.raw.contains("\"param\":\"seconds\""), "{}", e.raw);
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "outcome"), "error", "{record}");
    let missing_model = aigne(json!({"prompt": "a cat"}));
    expect_error(post_json(&hub, AIGNE_VIDEO, Some(&key), &missing_model).await, 400, "no model").await;
    // A key limited to chat may not make videos; keys without an endpoint list may.
    let chat_only = create_key_with(&hub, "chat-only", &["--endpoints", "chat"]).await.key;
    let fine = aigne(json!({"prompt": "a cat", "modelOptions": {"model": "openai/sora-2"}}));
    let e = expect_error(post_json(&hub, AIGNE_VIDEO, Some(&chat_only), &fine).await, 403, "endpoint scope").await;
    assert!(e.message.contains("video"), "{}", e.message);
    assert_eq!(sim.stats().video_requests, 0, "nothing reached the provider");

    // The provider accepts the job and it fails while rendering.
    let doomed = aigne(json!({"prompt": "a cat [[sim:video_fail]]", "modelOptions": {"model": "openai/sora-2"}}));
    let resp = post_json(&hub, AIGNE_VIDEO, Some(&key), &doomed).await;
    let rid = request_id(resp.headers());
    let e = expect_error(resp, 400, "failed job").await;
    assert!(e.message.contains("could not be generated"), "{}", e.message);
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "outcome"), "error", "{record}");
    assert_eq!(str_field(&record, "error_class"), "upstream_bad_request", "{record}");
    assert_eq!(u64_field(&record, "video_seconds"), 0, "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn veo_videos_come_through_the_same_route() {
    let (sim, hub, key) = video_env().await;
    let body = aigne(json!({"prompt": "waves at dusk", "seconds": "4", "size": "9:16", "modelOptions": {"model": "google/veo-3.0-fast-generate-001"}, "outputFileType": "url"}));
    let (rid, reply) = expect_completion(post_json(&hub, AIGNE_VIDEO, Some(&key), &body).await).await;
    assert_eq!(reply["seconds"], 4, "{reply}");
    let url = reply["videos"][0]["url"].as_str().unwrap();
    assert_eq!(download(&hub, url).await.1, sim_mp4());
    let sent = sim.stats().last_video_body.unwrap();
    assert_eq!(sent, json!({"instances": [{"prompt": "waves at dusk"}], "parameters": {"durationSeconds": 4, "aspectRatio": "9:16"}}));
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "provider"), "google", "{record}");
    assert_eq!(str_field(&record, "model"), "veo-3.0-fast-generate-001", "{record}");
    assert_eq!(u64_field(&record, "video_seconds"), 4, "{record}");
    // Veo 3 Fast at $0.15 per second: 4 s.
    assert_eq!(record["credits"], json!(600_000_000), "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_models_are_listed_for_both_sdks() {
    let (_sim, hub, key) = video_env().await;
    let (_, listed) = expect_completion(hub.client().get(format!("{}/api/ai/models?type=video", hub.base_url().trim_end_matches('/'))).send().await.unwrap()).await;
    let mut keys: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|m| m["key"].as_str()).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["google/veo-3.0-fast-generate-001", "google/veo-3.0-generate-001", "openai/sora-2", "openai/sora-2-pro"], "{listed}");
    assert!(listed.as_array().unwrap().iter().all(|m| m["type"] == "video"), "{listed}");
    let (_, models) = expect_completion(job(&hub, "/v1/models", &key).await).await;
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    for id in ["openai/sora-2", "openai/sora-2-pro", "google/veo-3.0-generate-001", "google/veo-3.0-fast-generate-001"] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_generation_past_the_deadline_is_a_gateway_timeout() {
    let sim = Sim::start(SimConfig { api_key: Some(PROVIDER_KEY.to_owned()), video_render: Duration::from_secs(60), ..SimConfig::default() }).await.expect("start the simulator");
    let hub = TestHub::launch(HUB_BIN, options().openai(&sim.base_url()).serve_arg("--video-deadline-secs").serve_arg("1"))
        .await
        .unwrap_or_else(|e| panic!("start the hub: {e}"));
    let key = hub.create_key("e2e").await.unwrap().key;
    let body = aigne(json!({"prompt": "a very long film", "modelOptions": {"model": "openai/sora-2"}}));
    let resp = post_json(&hub, AIGNE_VIDEO, Some(&key), &body).await;
    let rid = request_id(resp.headers());
    expect_error(resp, 504, "deadline").await;
    let upstream = sim.stats();
    assert!(upstream.video_polls >= 1, "the job was polled before the deadline");
    assert_eq!(upstream.video_requests, 1, "a job past its deadline is not submitted again");
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "error_class"), "upstream_timeout", "{record}");
    assert_eq!(u64_field(&record, "video_seconds"), 0, "{record}");
}

async fn job(hub: &TestHub, path: &str, key: &str) -> reqwest::Response {
    hub.client().get(format!("{}{path}", hub.base_url().trim_end_matches('/'))).bearer_auth(key).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_clients_get_a_job_that_only_their_key_reads() {
    let (_sim, hub, key) = video_env().await;
    let other = hub.create_key("other").await.unwrap().key;
    // The form OpenAI's SDKs send.
    let form = "--f0\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nopenai/sora-2\r\n--f0\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na cat\r\n--f0\r\nContent-Disposition: form-data; name=\"seconds\"\r\n\r\n4\r\n--f0--\r\n";
    let resp = hub
        .client()
        .post(format!("{}/v1/videos", hub.base_url().trim_end_matches('/')))
        .bearer_auth(&key)
        .header("content-type", "multipart/form-data; boundary=f0")
        .body(form)
        .send()
        .await
        .unwrap();
    let (rid, created) = expect_completion(resp).await;
    assert_eq!((created["object"].as_str(), created["status"].as_str(), created["seconds"].as_str()), (Some("video"), Some("queued"), Some("4")), "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("video_"), "{id}");

    expect_error(job(&hub, &format!("/v1/videos/{id}"), &other).await, 404, "another key reads the job").await;
    let done = eventually(JOB_ENDS, "the job ends", || async {
        let v: Value = job(&hub, &format!("/v1/videos/{id}"), &key).await.json().await.ok()?;
        (v["status"] == "completed" || v["status"] == "failed").then_some(v)
    })
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    expect_error(job(&hub, &format!("/v1/videos/{id}/content"), &other).await, 404, "another key downloads").await;
    let file = job(&hub, &format!("/api/v1/videos/{id}/content"), &key).await;
    assert_eq!(file.status(), 200);
    assert_eq!(header(file.headers(), "content-type").as_deref(), Some("video/mp4"));
    assert_eq!(file.bytes().await.unwrap().to_vec(), sim_mp4());
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "endpoint"), "video", "{record}");
    assert_eq!(u64_field(&record, "video_seconds"), 4, "{record}");
    assert_eq!(str_field(&record, "outcome"), "ok", "{record}");

    // A job that fails at the provider ends failed, with its reason and a failed record.
    let body = json!({"model": "openai/sora-2", "prompt": "x [[sim:video_fail]]"});
    let (rid, created) = expect_completion(post_json(&hub, "/api/v1/videos", Some(&key), &body).await).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let failed = eventually(JOB_ENDS, "the job fails", || async {
        let v: Value = job(&hub, &format!("/v1/videos/{id}"), &key).await.json().await.ok()?;
        (v["status"] == "failed").then_some(v)
    })
    .await;
    assert!(failed["error"]["message"].as_str().unwrap_or_default().contains("could not be generated"), "{failed}");
    expect_error(job(&hub, &format!("/v1/videos/{id}/content"), &key).await, 404, "no file for a failed job").await;
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "outcome"), "error", "{record}");

    // Refusals come at once, as errors, not as jobs.
    let bad = json!({"model": "openai/sora-2", "prompt": "a cat", "size": "640x480"});
    expect_error(post_json(&hub, "/v1/videos", Some(&key), &bad).await, 400, "unknown size").await;
    expect_error(job(&hub, "/v1/videos/video_unknown", &key).await, 404, "unknown job").await;
}
