//! Provider `ideogram`: `POST /v1/images/generations` in front of Ideogram 3.0's multipart
//! `POST /v1/ideogram-v3/generate`. Ideogram's URLs are ephemeral, so the hub downloads the
//! images: `url` clients get the hub's own signed URL, `b64_json` clients the bytes.

use base64::Engine as _;
use hub_testkit::{CreatedKey, TestHub};
use serde_json::json;
use upstream_sim::{sim_png, Fault, Sim, SimConfig};

use crate::limits;
use crate::support::*;

const IMAGES: &str = "/v1/images/generations";
/// The key the simulated Ideogram API accepts.
const IDEOGRAM_KEY: &str = "ideo-e2e-simulated-key-0123456789abcdef";

async fn ideogram_env(hub_key: &str) -> (Sim, TestHub, CreatedKey) {
    let sim = Sim::start(SimConfig { api_key: Some(IDEOGRAM_KEY.to_owned()), ..SimConfig::default() }).await.expect("start the simulator");
    let hub = TestHub::launch(HUB_BIN, options().provider("ideogram", &sim.ideogram_base_url(), Some(hub_key)))
        .await
        .unwrap_or_else(|e| panic!("start the hub: {e}"));
    let key = hub.create_key("e2e").await.unwrap_or_else(|e| panic!("create a key: {e}\n{}", hub.logs()));
    (sim, hub, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ideogram_images_come_back_as_hub_urls_or_base64() {
    let (sim, hub, key) = ideogram_env(IDEOGRAM_KEY).await;

    // url (the default): the hub fetched Ideogram's ephemeral files and serves its own copies.
    let body = json!({"model": "ideogram/V_3_TURBO", "prompt": "a lighthouse at dusk", "n": 2, "size": "1792x1024"});
    let (rid, reply) = expect_completion(post_json(&hub, IMAGES, Some(&key.key), &body).await).await;
    let data = reply["data"].as_array().unwrap_or_else(|| panic!("{reply}"));
    assert_eq!(data.len(), 2, "{reply}");
    for d in data {
        let link = d["url"].as_str().unwrap_or_else(|| panic!("{reply}"));
        assert!(link.starts_with(&format!("{}/files/", hub.base_url().trim_end_matches('/'))), "{link}");
        assert!(!link.contains(&sim.addr().to_string()), "never the provider's ephemeral URL: {link}");
        assert!(d.get("b64_json").is_none(), "{reply}");
        assert_eq!(d["revised_prompt"], "a lighthouse at dusk", "{reply}");
        let got = hub.client().get(link).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.bytes().await.unwrap().to_vec(), sim_png());
    }
    let stats = sim.stats();
    assert_eq!(stats.ideogram_requests, 1);
    assert_eq!(stats.file_downloads, 2, "both images downloaded once by the hub");
    let form = stats.last_image_request.expect("the form Ideogram received");
    assert_eq!(form["prompt"], "a lighthouse at dusk", "{form}");
    assert_eq!(form["rendering_speed"], "TURBO", "{form}");
    assert_eq!(form["num_images"], "2", "{form}");
    assert_eq!(form["aspect_ratio"], "16x9", "{form}");
    assert!(form.get("model").is_none(), "Ideogram 3.0 takes no model field: {form}");
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "endpoint"), "images", "{record}");
    assert_eq!(str_field(&record, "provider"), "ideogram", "{record}");
    assert_eq!(str_field(&record, "model"), "V_3_TURBO", "{record}");
    assert_eq!(str_field(&record, "outcome"), "ok", "{record}");

    // b64_json: the image bytes themselves.
    let body = json!({"model": "ideogram/V_3", "prompt": "a lighthouse", "response_format": "b64_json"});
    let (_, reply) = expect_completion(post_json(&hub, IMAGES, Some(&key.key), &body).await).await;
    let b64 = reply["data"][0]["b64_json"].as_str().unwrap_or_else(|| panic!("{reply}"));
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(b64).unwrap(), sim_png());
    assert!(reply["data"][0].get("url").is_none(), "{reply}");
    assert_eq!(sim.stats().last_image_request.unwrap()["rendering_speed"], "DEFAULT");

    // The catalog lists the models.
    let models = hub.client().get(hub.url("/v1/models")).bearer_auth(&key.key).send().await.unwrap().json::<serde_json::Value>().await.unwrap();
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().filter_map(|m| m["id"].as_str()).collect();
    for id in ["ideogram/V_3", "ideogram/V_3_TURBO", "ideogram/V_3_QUALITY"] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ideogram_errors_get_openai_shapes() {
    let (sim, hub, key) = ideogram_env(IDEOGRAM_KEY).await;

    // 429 at Ideogram: 429 with Retry-After.
    sim.push_fault(Fault::Status { status: 429, retry_after: Some(limits::PROVIDER_RETRY_AFTER_SECS) });
    let body = json!({"model": "ideogram/V_3", "prompt": "a cat"});
    let reply = expect_error(post_json(&hub, IMAGES, Some(&key.key), &body).await, 429, "ideogram 429").await;
    assert_eq!(header(&reply.headers, "retry-after").as_deref(), Some(limits::PROVIDER_RETRY_AFTER_SECS.to_string().as_str()));
    tokio::time::sleep(std::time::Duration::from_secs(limits::PROVIDER_RETRY_AFTER_SECS + 1)).await;

    // Ideogram's safety refusal (422) is the client's problem: passed on, not retried.
    let body = json!({"model": "ideogram/V_3", "prompt": "[[sim:unsafe]] something"});
    let reply = expect_error(post_json(&hub, IMAGES, Some(&key.key), &body).await, 422, "ideogram 422").await;
    assert!(reply.message.contains("safety"), "{}", reply.raw);

    // More images than Ideogram makes in one call: the hub's 400 naming `n`, nothing sent.
    let before = sim.stats().ideogram_requests;
    let body = json!({"model": "ideogram/V_3", "prompt": "cats", "n": 9});
    let reply = expect_error(post_json(&hub, IMAGES, Some(&key.key), &body).await, 400, "n above 8").await;
    assert!(reply.raw.contains("\"n\""), "{}", reply.raw);
    assert_eq!(sim.stats().ideogram_requests, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_ideogram_key_is_a_502_that_never_shows_the_key() {
    let wrong = "ideo-wrong-credential-fedcba9876543210";
    let (sim, hub, key) = ideogram_env(wrong).await;
    let body = json!({"model": "ideogram/V_3", "prompt": "a cat"});
    let reply = expect_error(post_json(&hub, IMAGES, Some(&key.key), &body).await, 502, "ideogram 401").await;
    assert!(!reply.raw.contains(wrong), "{}", reply.raw);
    assert!(!reply.raw.contains("Unauthorized"), "the provider's auth text never reaches a client: {}", reply.raw);
    assert_eq!(sim.stats().unauthorized, 1);
    assert!(!hub.logs().contains(wrong), "the credential is in the logs");
}
