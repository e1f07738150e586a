#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The simulator's video APIs over real HTTP: OpenAI's `/v1/videos` jobs and Veo's long-running
//! operations, from submission to the downloaded MP4.

use std::time::Duration;

use serde_json::{json, Value};
use upstream_sim::{sim_mp4, Fault, Sim, SimConfig};

const KEY: &str = "sk-sim-video-key-0123456789";

async fn sim() -> Sim {
    Sim::start(SimConfig { api_key: Some(KEY.to_owned()), video_render: Duration::from_millis(150), ..SimConfig::default() }).await.unwrap()
}

async fn poll_until_done(url: &str, headers: &[(&str, &str)], done: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let mut req = reqwest::Client::new().get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let body: Value = req.send().await.unwrap().json().await.unwrap();
        if done(&body) {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the job never ended");
}

#[tokio::test]
async fn an_openai_job_goes_from_queued_to_a_downloadable_mp4() {
    let sim = sim().await;
    let client = reqwest::Client::new();
    let form = "--b0\r\nContent-Disposition: form-data; name=\"model\"\r\n\r\nsora-2\r\n--b0\r\nContent-Disposition: form-data; name=\"prompt\"\r\n\r\na cat\r\n--b0\r\nContent-Disposition: form-data; name=\"seconds\"\r\n\r\n8\r\n--b0--\r\n";
    let created: Value = client
        .post(format!("{}/videos", sim.base_url()))
        .bearer_auth(KEY)
        .header("content-type", "multipart/form-data; boundary=b0")
        .body(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(created["object"], "video");
    assert_eq!(created["status"], "queued");
    assert_eq!(created["progress"], 0);
    assert_eq!(created["seconds"], "8");
    assert_eq!(created["size"], "720x1280");
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("video_"));

    let url = format!("{}/videos/{id}", sim.base_url());
    let auth = format!("Bearer {KEY}");
    let early = client.get(format!("{url}/content")).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(early.status(), 404);
    let done = poll_until_done(&url, &[("authorization", &auth)], |b| b["status"] == "completed" || b["status"] == "failed").await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["progress"], 100);
    let file = client.get(format!("{url}/content")).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(file.headers()["content-type"], "video/mp4");
    assert_eq!(file.bytes().await.unwrap().to_vec(), sim_mp4());
    let stats = sim.stats();
    assert_eq!(stats.video_requests, 1);
    assert!(stats.video_polls >= 1);
    assert_eq!(stats.video_downloads, 2);
    assert_eq!(stats.last_video_body.unwrap()["prompt"], "a cat");
}

#[tokio::test]
async fn openai_refuses_bad_fields_and_fails_marked_jobs() {
    let sim = sim().await;
    let client = reqwest::Client::new();
    let post = |body: Value, key: &'static str| client.post(format!("{}/videos", sim.base_url())).bearer_auth(key).json(&body).send();
    let bad = post(json!({"model": "sora-2", "prompt": "x", "seconds": "5"}), KEY).await.unwrap();
    assert_eq!(bad.status(), 400);
    let err: Value = bad.json().await.unwrap();
    assert_eq!(err["error"]["type"], "invalid_request_error");
    assert_eq!(post(json!({"model": "sora-2", "prompt": "x", "size": "1792x1024"}), KEY).await.unwrap().status(), 400);
    assert_eq!(post(json!({"model": "sora-2"}), KEY).await.unwrap().status(), 400);
    assert_eq!(post(json!({"model": "sora-2", "prompt": "x"}), "sk-wrong").await.unwrap().status(), 401);
    sim.push_fault(Fault::Status { status: 503, retry_after: None });
    assert_eq!(post(json!({"model": "sora-2", "prompt": "x"}), KEY).await.unwrap().status(), 503);

    let created: Value = post(json!({"model": "sora-2-pro", "prompt": "x [[sim:video_fail]]", "size": "1792x1024"}), KEY).await.unwrap().json().await.unwrap();
    let url = format!("{}/videos/{}", sim.base_url(), created["id"].as_str().unwrap());
    let auth = format!("Bearer {KEY}");
    let done = poll_until_done(&url, &[("authorization", &auth)], |b| b["status"] == "completed" || b["status"] == "failed").await;
    assert_eq!(done["status"], "failed");
    assert!(done["error"]["message"].is_string());
}

#[tokio::test]
async fn a_veo_operation_ends_with_a_download_uri_that_needs_the_key() {
    let sim = sim().await;
    let client = reqwest::Client::new();
    let model = "veo-3.0-generate-001";
    let submitted = client
        .post(format!("{}/v1beta/models/{model}:predictLongRunning", sim.gemini_base_url()))
        .header("x-goog-api-key", KEY)
        .json(&json!({"instances": [{"prompt": "a cat"}], "parameters": {"durationSeconds": 4, "aspectRatio": "9:16"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(submitted.status(), 200);
    let op: Value = submitted.json().await.unwrap();
    let name = op["name"].as_str().unwrap();
    assert!(name.starts_with(&format!("models/{model}/operations/")), "{name}");
    let url = format!("{}/v1beta/{name}", sim.gemini_base_url());
    let done = poll_until_done(&url, &[("x-goog-api-key", KEY)], |b| b["done"] == true).await;
    let uri = done["response"]["generateVideoResponse"]["generatedSamples"][0]["video"]["uri"].as_str().unwrap();
    assert_eq!(client.get(uri).send().await.unwrap().status(), 403);
    let file = client.get(uri).header("x-goog-api-key", KEY).send().await.unwrap();
    assert_eq!(file.status(), 200);
    assert_eq!(file.bytes().await.unwrap().to_vec(), sim_mp4());

    let bad = client
        .post(format!("{}/v1beta/models/{model}:predictLongRunning", sim.gemini_base_url()))
        .header("x-goog-api-key", KEY)
        .json(&json!({"instances": [{"prompt": "a cat"}], "parameters": {"durationSeconds": 5}}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let err: Value = bad.json().await.unwrap();
    assert_eq!(err["error"]["status"], "INVALID_ARGUMENT");
}
