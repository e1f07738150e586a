//! `POST /v1/images/generations` through the hub: upstream URLs and base64 pass through, base64
//! the client did not ask for becomes a signed, expiring URL on the hub that serves the exact
//! bytes, and the usual input and upstream errors.

use base64::Engine as _;
use serde_json::{json, Value};
use upstream_sim::{sim_png, Fault, SimConfig};

use crate::limits;
use crate::support::*;

const OPENAI_IMAGES: &str = "/v1/images/generations";
const API_IMAGES: &str = "/api/v1/images/generations";

fn url_of(reply: &Value, i: usize) -> String {
    reply["data"][i]["url"].as_str().unwrap_or_else(|| panic!("data[{i}].url missing: {reply}")).to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_pass_through_and_base64_becomes_a_signed_hub_url() {
    let env = setup().await;
    let (hub, key) = (&env.hub, env.key.key.as_str());

    // dall-e-3, URL: the provider's URL comes through unchanged.
    let body = json!({"model": "openai/dall-e-3", "prompt": "a watercolor fox", "n": 2, "response_format": "url"});
    let (rid, reply) = expect_completion(post_json(hub, OPENAI_IMAGES, Some(key), &body).await).await;
    assert_eq!(reply["data"].as_array().map(Vec::len), Some(2), "{reply}");
    let upstream = url_of(&reply, 0);
    assert!(upstream.starts_with(&format!("http://{}/__sim/files/", env.sim.addr())), "{upstream}");
    assert!(reply.get("usage").is_none(), "{reply}");
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "endpoint"), "images", "{record}");
    assert_eq!(str_field(&record, "model"), "dall-e-3", "{record}");
    assert_eq!(u64_field(&record, "tokens_in"), 0, "{record}");
    assert_eq!(u64_field(&record, "tokens_out"), 0, "{record}");
    assert!(!bool_field(&record, "estimated"), "{record}");
    assert_eq!(str_field(&record, "outcome"), "ok", "{record}");

    // b64_json asked and given: passed through.
    let body = json!({"model": "openai/dall-e-3", "prompt": "a fox", "response_format": "b64_json"});
    let (_, reply) = expect_completion(post_json(hub, API_IMAGES, Some(key), &body).await).await;
    let b64 = reply["data"][0]["b64_json"].as_str().unwrap_or_else(|| panic!("{reply}"));
    assert_eq!(base64::engine::general_purpose::STANDARD.decode(b64).unwrap(), sim_png());
    assert!(reply["data"][0].get("url").is_none(), "{reply}");

    // gpt-image-1 answers base64 only; the client wants a URL (the default): a hub URL.
    let body = json!({"model": "openai/gpt-image-1", "prompt": "a small red square"});
    let (rid, reply) = expect_completion(post_json(hub, OPENAI_IMAGES, Some(key), &body).await).await;
    let link = url_of(&reply, 0);
    assert!(link.starts_with(&format!("{}/files/", hub.base_url().trim_end_matches('/'))), "{link}");
    assert!(reply["data"][0].get("b64_json").is_none(), "{reply}");
    assert_eq!(reply["usage"]["output_tokens"], 272, "{reply}");
    let got = hub.client().get(&link).send().await.unwrap();
    assert_eq!(got.status(), 200);
    assert_eq!(header(got.headers(), "content-type").as_deref(), Some("image/png"));
    assert_eq!(header(got.headers(), "x-content-type-options").as_deref(), Some("nosniff"));
    assert!(header(got.headers(), "cache-control").unwrap_or_default().starts_with("private, max-age="), "{:?}", got.headers());
    assert_eq!(got.bytes().await.unwrap().to_vec(), sim_png());
    let record = hub.wait_for_record(&rid, limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "endpoint"), "images", "{record}");
    assert_eq!(u64_field(&record, "tokens_in"), 4, "{record}");
    assert_eq!(u64_field(&record, "tokens_out"), 272, "{record}");
    assert!(!bool_field(&record, "estimated"), "{record}");

    // A tampered signature, or none: 403.
    let (base, sig) = link.split_once("&sig=").unwrap();
    let flipped = if sig.starts_with('A') { sig.replacen('A', "B", 1) } else { format!("A{}", &sig[1..]) };
    let tampered = hub.client().get(format!("{base}&sig={flipped}")).send().await.unwrap();
    assert_eq!(tampered.status(), 403);
    let unsigned = hub.client().get(link.split_once('?').unwrap().0).send().await.unwrap();
    assert_eq!(unsigned.status(), 403);
    let longer = hub.client().get(link.replace("exp=", "exp=9")).send().await.unwrap();
    assert_eq!(longer.status(), 403, "extending the expiry breaks the signature");

    // Signed, but the file is gone (swept): 404.
    let id = link.split("/files/").nth(1).unwrap().split('?').next().unwrap();
    std::fs::remove_file(hub.data_dir().join("files").join(id)).unwrap();
    assert_eq!(hub.client().get(&link).send().await.unwrap().status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_image_requests_and_upstream_errors() {
    let env = setup().await;
    let (hub, key) = (&env.hub, env.key.key.as_str());

    for (body, what) in [
        (json!({"prompt": "x"}), "no model"),
        (json!({"model": "openai/dall-e-3"}), "no prompt"),
        (json!({"model": "openai/dall-e-3", "prompt": ""}), "empty prompt"),
        (json!({"model": "openai/dall-e-3", "prompt": "a".repeat(32_001)}), "long prompt"),
        (json!({"model": "openai/dall-e-3", "prompt": "x", "n": 0}), "n = 0"),
        (json!({"model": "openai/dall-e-3", "prompt": "x", "n": 11}), "n = 11"),
        (json!({"model": "openai/dall-e-3", "prompt": "x", "response_format": "png"}), "bad format"),
    ] {
        expect_error(post_json(hub, OPENAI_IMAGES, Some(key), &body).await, 400, what).await;
    }
    assert_eq!(env.sim.stats().unauthorized, 0);
    expect_error(post_json(hub, OPENAI_IMAGES, None, &json!({"model": "openai/dall-e-3", "prompt": "x"})).await, 401, "no key").await;

    env.sim.push_fault(Fault::Status { status: 429, retry_after: Some(limits::PROVIDER_RETRY_AFTER_SECS) });
    let reply = expect_error(post_json(hub, OPENAI_IMAGES, Some(key), &json!({"model": "openai/dall-e-3", "prompt": "x"})).await, 429, "upstream 429").await;
    assert!(header(&reply.headers, "retry-after").is_some(), "{:?}", reply.headers);
    let record = hub.wait_for_record(&request_id(&reply.headers), limits::USAGE_VISIBLE).await.unwrap();
    assert_eq!(str_field(&record, "endpoint"), "images", "{record}");
    assert_eq!(u64_field(&record, "status"), 429, "{record}");
    assert_eq!(str_field(&record, "outcome"), "error", "{record}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hub_image_urls_expire() {
    let env = setup_with(SimConfig::default(), |o| o.serve_arg("--file-url-ttl-secs=0")).await;
    let (hub, key) = (&env.hub, env.key.key.as_str());
    let body = json!({"model": "openai/gpt-image-1", "prompt": "a fox", "response_format": "url"});
    let (_, reply) = expect_completion(post_json(hub, OPENAI_IMAGES, Some(key), &body).await).await;
    let link = url_of(&reply, 0);
    let got = hub.client().get(&link).send().await.unwrap();
    assert_eq!(got.status(), 410);
    assert!(got.text().await.unwrap().contains("expired"));
}
