//! API key authentication: each way a key can be wrong has its own 401, except that an unknown
//! key and a known key id with the wrong secret are indistinguishable.

use std::collections::HashSet;
use std::time::Instant;

use hub_testkit::{base62_string, forge_key};

use crate::limits;
use crate::support::*;

/// `key` with one character of its secret part changed (the checksum no longer matches).
fn with_typo(key: &str) -> String {
    let mut bytes = key.as_bytes().to_vec();
    let i = 4 + 12 + 1 + 10;
    bytes[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
    String::from_utf8(bytes).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_401_says_what_is_wrong() {
    let env = setup().await;
    let hub = &env.hub;
    let mut messages = HashSet::new();

    let missing = expect_error(
        post_json(hub, API_CHAT, None, &hello()).await,
        401,
        "no Authorization header",
    )
    .await;
    assert!(
        missing.message.contains("Missing API key"),
        "{}",
        missing.raw
    );
    messages.insert(missing.message.clone());

    // The same on the OpenAI-compatible path.
    let missing_v1 = expect_error(
        post_json(hub, OPENAI_CHAT, None, &hello()).await,
        401,
        "no key on /v1",
    )
    .await;
    assert_eq!(missing_v1.message, missing.message);

    let malformed = expect_error(
        chat(hub, "sk-not-a-hub-key", &hello()).await,
        401,
        "malformed key",
    )
    .await;
    assert!(
        malformed.message.contains("Malformed API key"),
        "{}",
        malformed.raw
    );
    messages.insert(malformed.message.clone());

    let typo = with_typo(&env.key.key);
    let checksum = expect_error(chat(hub, &typo, &hello()).await, 401, "bad checksum").await;
    assert!(checksum.message.contains("checksum"), "{}", checksum.raw);
    messages.insert(checksum.message.clone());

    let unknown_key = forge_key(&base62_string(11, 12), &base62_string(12, 43));
    let unknown = expect_error(chat(hub, &unknown_key, &hello()).await, 401, "unknown key").await;
    assert!(
        unknown.message.contains("not recognised"),
        "{}",
        unknown.raw
    );
    messages.insert(unknown.message.clone());

    // A known kid with another secret (and a valid checksum) must not be told apart.
    let wrong_secret_key = forge_key(&env.key.kid, &base62_string(13, 43));
    assert_ne!(wrong_secret_key, env.key.key);
    let wrong_secret = expect_error(
        chat(hub, &wrong_secret_key, &hello()).await,
        401,
        "wrong secret",
    )
    .await;
    assert_eq!(
        wrong_secret.raw, unknown.raw,
        "unknown key and wrong secret for a known kid must give byte-identical bodies"
    );

    let revoked_key = hub.create_key("to-revoke").await.unwrap();
    hub.revoke(&revoked_key.kid).await.unwrap();
    let revoked = eventually(
        limits::PROPAGATION,
        "revocation reaches the server",
        || async {
            let resp = chat(hub, &revoked_key.key, &hello()).await;
            if resp.status() == 401 {
                Some(expect_error(resp, 401, "revoked key").await)
            } else {
                None
            }
        },
    )
    .await;
    assert!(revoked.message.contains("revoked"), "{}", revoked.raw);
    messages.insert(revoked.message.clone());

    assert_eq!(messages.len(), 5, "five distinct messages: {messages:?}");
    for reply in [
        &missing,
        &malformed,
        &checksum,
        &unknown,
        &wrong_secret,
        &revoked,
    ] {
        assert!(
            !reply.raw.contains(&env.key.key),
            "an error body echoes a key: {}",
            reply.raw
        );
        assert!(
            !reply.raw.contains(&env.key.secret_part()[..20]),
            "an error body echoes a secret: {}",
            reply.raw
        );
    }
    // The key that was never revoked still works.
    expect_completion(chat(hub, &env.key.key, &hello()).await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_calls_never_reach_the_provider() {
    let env = setup().await;
    let hub = &env.hub;
    let unknown = forge_key(&base62_string(21, 12), &base62_string(22, 43));
    let wrong_secret = forge_key(&env.key.kid, &base62_string(23, 43));
    let typo = with_typo(&env.key.key);
    for (key, what) in [
        (None, "missing"),
        (Some("garbage"), "malformed"),
        (Some(typo.as_str()), "checksum"),
        (Some(unknown.as_str()), "unknown"),
        (Some(wrong_secret.as_str()), "wrong secret"),
    ] {
        expect_error(post_json(hub, API_CHAT, key, &hello()).await, 401, what).await;
    }
    let resp = hub
        .client()
        .post(hub.url(API_CHAT))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .json(&hello())
        .send()
        .await
        .unwrap();
    expect_error(resp, 401, "non-bearer scheme").await;
    assert_eq!(
        env.sim.stats().chat_requests,
        0,
        "a refused call reached the provider"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_while_serving_takes_effect_within_a_second() {
    let env = setup().await;
    let hub = &env.hub;
    expect_completion(chat(hub, &env.key.key, &hello()).await).await;

    hub.revoke(&env.key.kid).await.unwrap();
    let revoked_at = Instant::now();
    let reply = eventually(limits::PROPAGATION, "revoked key refused", || async {
        let resp = chat(hub, &env.key.key, &hello()).await;
        if resp.status() == 401 {
            Some(expect_error(resp, 401, "revoked key").await)
        } else {
            assert_eq!(
                resp.status(),
                200,
                "before the revocation lands the key still works"
            );
            None
        }
    })
    .await;
    assert!(revoked_at.elapsed() <= limits::PROPAGATION);
    assert!(reply.message.contains("revoked"), "{}", reply.raw);

    // Another key of the same owner is unaffected.
    let other = hub.create_key("other").await.unwrap();
    expect_completion(chat(hub, &other.key, &hello()).await).await;
}
