//! Images from the Gemini API through `POST /v1/images/generations`: Imagen's `:predict` and
//! Gemini's native image generation (`generateContent` with an `IMAGE` response modality).

use base64::Engine as _;
use hub_testkit::TestHub;
use serde_json::json;
use upstream_sim::{sim_png, Sim, SimConfig};

use crate::limits;
use crate::support::*;

const IMAGES: &str = "/v1/images/generations";
const GEMINI_KEY: &str = "AIzaSyE2eSimulatedGeminiKey0123456789abc";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn imagen_and_gemini_images_through_the_images_api() {
    let sim = Sim::start(SimConfig { api_key: Some(GEMINI_KEY.to_owned()), ..SimConfig::default() }).await.unwrap();
    let hub = TestHub::launch(HUB_BIN, options().provider("google", &sim.gemini_base_url(), Some(GEMINI_KEY))).await.unwrap_or_else(|e| panic!("{e}"));
    let key = hub.create_key("e2e").await.unwrap();

    // Imagen, two samples as base64.
    let body = json!({"model": "google/imagen-4.0-generate-001", "prompt": "Robot holding a red skateboard", "n": 2, "size": "1024x1792", "response_format": "b64_json"});
    let (rid, reply) = expect_completion(post_json(&hub, IMAGES, Some(&key.key), &body).await).await;
    assert_eq!(reply["data"].as_array().map(Vec::len), Some(2), "{reply}");
    for d in reply["data"].as_array().unwrap() {
        let bytes = base64::engine::general_purpose::STANDARD.decode(d["b64_json"].as_str().unwrap()).unwrap();
        assert_eq!(bytes, sim_png());
    }
    let sent = sim.stats().last_image_request.expect("the predict body");
    assert_eq!(sent, json!({"instances": [{"prompt": "Robot holding a red skateboard"}], "parameters": {"sampleCount": 2, "aspectRatio": "9:16"}}));
    assert_eq!(sim.stats().last_authorization, None, "the key travels only in x-goog-api-key");
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "provider"), "google", "{record}");
    assert_eq!(str_field(&record, "model"), "imagen-4.0-generate-001", "{record}");
    assert_eq!(str_field(&record, "endpoint"), "images", "{record}");

    // Gemini native image generation, as a hub URL (the default).
    let body = json!({"model": "google/gemini-2.5-flash-image", "prompt": "a nano banana dish in a fancy restaurant"});
    let (rid, reply) = expect_completion(post_json(&hub, IMAGES, Some(&key.key), &body).await).await;
    let link = reply["data"][0]["url"].as_str().unwrap_or_else(|| panic!("{reply}"));
    assert!(link.starts_with(&format!("{}/files/", hub.base_url().trim_end_matches('/'))), "{link}");
    assert_eq!(hub.client().get(link).send().await.unwrap().bytes().await.unwrap().to_vec(), sim_png());
    let sent = sim.stats().last_image_request.expect("the generateContent body");
    assert_eq!(sent["generationConfig"]["responseModalities"], json!(["TEXT", "IMAGE"]), "{sent}");
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "model"), "gemini-2.5-flash-image", "{record}");
    assert_eq!(u64_field(&record, "tokens_out"), 1290, "Gemini's image tokens are recorded: {record}");
    assert_eq!(u64_field(&record, "tokens_in"), 8, "{record}");

    // A prompt Gemini blocks: a 400 saying so, not an empty success.
    let body = json!({"model": "google/gemini-2.5-flash-image", "prompt": "[[sim:blocked]] x"});
    let reply = expect_error(post_json(&hub, IMAGES, Some(&key.key), &body).await, 400, "blocked prompt").await;
    assert!(reply.message.contains("SAFETY"), "{}", reply.raw);
    assert_eq!(sim.stats().gemini_image_requests, 3);
}
