#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The Bedrock adapter against the simulator over real HTTP: signatures verified by an
//! independent SigV4 implementation, embeddings through InvokeModel, and the credential kept
//! out of every error.

use futures::StreamExt;
use hub_core::chat::ChatRequest;
use hub_core::embeddings::EmbeddingsRequest;
use hub_core::{ProviderKind, Secret};
use hub_providers::bedrock::BedrockAdapter;
use hub_providers::error::FailureKind;
use hub_providers::{Adapter, HttpClient, ProviderError, Target, Timeouts};
use serde_json::json;
use upstream_sim::{reply_text, text_embedding, Sim, SimConfig};

const AKID: &str = "AKIAADAPTERTEST00001";
const SECRET: &str = "adapter/Test+Secret000000000000000000000";

async fn sim() -> Sim {
    Sim::start(SimConfig { aws_credentials: Some((AKID.to_owned(), SECRET.to_owned())), ..SimConfig::default() }).await.unwrap()
}

fn adapter() -> BedrockAdapter {
    BedrockAdapter::with_default_region(HttpClient::new(Timeouts::default()).unwrap(), "eu-central-1".to_owned())
}

fn target(sim: &Sim, model: &str, credential: &str) -> Target {
    Target {
        provider: "bedrock".to_owned(),
        kind: ProviderKind::Bedrock,
        base_url: format!("http://{}", sim.addr()),
        credential_id: None,
        api_key: Some(Secret::new(credential)),
        model: model.to_owned(),
    }
}

fn chat_request() -> ChatRequest {
    serde_json::from_value(json!({"model": "bedrock/m", "messages": [{"role": "user", "content": "Hello!"}]})).unwrap()
}

#[tokio::test]
async fn signed_chat_and_stream_reach_the_simulator() {
    let sim = sim().await;
    let t = target(&sim, "anthropic.claude-3-haiku-20240307-v1:0", &format!("{AKID}:{SECRET}:SESSIONTOKEN"));
    let reply = adapter().chat(&t, &chat_request()).await.unwrap();
    assert_eq!(reply.completion.usage().map(|u| u.total_tokens), Some(19));
    let completion = reply.completion.into_typed().unwrap();
    assert_eq!(completion.choices[0].message.content.as_deref(), Some(reply_text(12).as_str()));
    let auth = sim.stats().last_authorization.unwrap();
    assert!(auth.contains("/eu-central-1/bedrock/aws4_request"), "the default region signs non-AWS hosts: {auth}");
    assert!(auth.contains("x-amz-security-token"), "the session token is signed: {auth}");

    let stream = adapter().chat_stream(&t, &chat_request()).await.unwrap();
    let chunks: Vec<_> = stream.chunks.collect().await;
    let text: String = chunks
        .into_iter()
        .filter_map(|c| c.ok()?.into_typed().ok()?.choices.first()?.delta.content.clone())
        .collect();
    assert_eq!(text, reply_text(12));
    assert_eq!(sim.stats().unauthorized, 0);
}

#[tokio::test]
async fn a_wrong_secret_is_an_auth_failure_that_quotes_nothing() {
    let sim = sim().await;
    let t = target(&sim, "m.x", &format!("{AKID}:not/the+secret0000000000000000000"));
    match adapter().chat(&t, &chat_request()).await {
        Err(ProviderError::Upstream(f)) => {
            assert_eq!((f.status, f.kind), (403, FailureKind::Auth));
            assert_eq!(f.error_type.as_deref(), Some("InvalidSignatureException"));
            assert!(!f.message.contains("signature") && !f.message.contains(AKID));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn titan_embeds_one_string_per_call_and_cohere_all_at_once() {
    let sim = sim().await;
    let credential = format!("{AKID}:{SECRET}");
    let req: EmbeddingsRequest =
        serde_json::from_value(json!({"model": "bedrock/amazon.titan-embed-text-v2:0", "input": ["a b", "c"], "dimensions": 16})).unwrap();
    let out = adapter().embeddings(&target(&sim, "amazon.titan-embed-text-v2:0", &credential), &req).await.unwrap();
    assert_eq!(out.data.len(), 2);
    assert_eq!(out.data[1].index, 1);
    let first: Vec<f32> = serde_json::from_value(out.data[0].embedding.clone()).unwrap();
    assert_eq!(first, text_embedding("a b", 16));
    assert_eq!((out.usage.prompt_tokens, out.usage.total_tokens), (3, 3));
    assert_eq!(sim.stats().embedding_requests, 2);

    let req: EmbeddingsRequest = serde_json::from_value(json!({"model": "bedrock/cohere.embed-english-v3", "input": ["a b", "c"]})).unwrap();
    let out = adapter().embeddings(&target(&sim, "cohere.embed-english-v3", &credential), &req).await.unwrap();
    assert_eq!(out.data.len(), 2);
    assert_eq!(out.usage.prompt_tokens, 3, "from X-Amzn-Bedrock-Input-Token-Count");
    assert_eq!(sim.stats().embedding_requests, 3);
}

#[tokio::test]
async fn the_probe_is_a_signed_model_listing() {
    let sim = sim().await;
    let t = target(&sim, "", &format!("{AKID}:{SECRET}"));
    adapter().probe(&t).await.unwrap();
    assert_eq!(sim.stats().models_requests, 1);
    assert_eq!(sim.stats().chat_requests + sim.stats().embedding_requests, 0, "a probe is no model call");
    assert!(sim.stats().last_authorization.unwrap().contains("/bedrock/aws4_request"));

    let wrong = "adapter/Wrong+Secret00000000000000000000";
    let refused = adapter().probe(&target(&sim, "", &format!("{AKID}:{wrong}"))).await.unwrap_err();
    match &refused {
        ProviderError::Upstream(f) => assert_eq!(f.kind, FailureKind::Auth),
        other => panic!("{other:?}"),
    }
    assert!(!refused.to_string().contains(wrong));
}
