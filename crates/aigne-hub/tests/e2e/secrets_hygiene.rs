//! Secrets at rest: after real traffic, no API key, provider credential or server secret is in
//! any file of the data directory (database, journal, anything else) or in the logs.

use hub_testkit::{
    files_containing, forge_key, read_tree, HubOptions, TestHub, PROVIDER_KEY, TEST_MASTER_KEY,
    TEST_PEPPER,
};
use serde_json::json;
use upstream_sim::{Fault, Sim, SimConfig};

use crate::limits;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_and_credentials_never_reach_disk_or_logs() {
    // Most verbose logging of the hub's own crates, in the JSON format production uses.
    let mut env = setup_with(SimConfig::default(), |o| {
        o.env("AIGNE_HUB_LOG", "info,aigne_hub=debug,hub_http=debug,hub_store=debug,hub_providers=debug,hub_core=debug")
            .env("AIGNE_HUB_LOG_FORMAT", "json")
    })
    .await;
    let hub = &env.hub;
    let second = hub.create_key("second").await.unwrap();

    // A session of calls through every path that handles a key or the credential.
    expect_completion(chat(hub, &env.key.key, &hello()).await).await;
    let streamed = with(
        hello(),
        json!({"stream": true, "stream_options": {"include_usage": true}}),
    );
    let resp = chat(hub, &second.key, &streamed).await;
    assert_eq!(resp.status(), 200);
    resp.text().await.unwrap();
    let wrong_secret = forge_key(&env.key.kid, &hub_testkit::base62_string(99, 43));
    expect_error(
        chat(hub, &wrong_secret, &hello()).await,
        401,
        "wrong secret",
    )
    .await;
    let mut typo = env.key.key.clone().into_bytes();
    typo[30] = if typo[30] == b'Q' { b'R' } else { b'Q' };
    expect_error(
        chat(hub, &String::from_utf8(typo).unwrap(), &hello()).await,
        401,
        "typo",
    )
    .await;
    env.sim.push_fault(Fault::Status {
        status: 429,
        retry_after: Some(1),
    });
    expect_error(chat(hub, &env.key.key, &hello()).await, 429, "upstream 429").await;
    let unknown_model = with(hello(), json!({"model": "no-such-model"}));
    expect_error(
        chat(hub, &env.key.key, &unknown_model).await,
        404,
        "unknown model",
    )
    .await;
    hub.revoke(&second.kid).await.unwrap();
    eventually(limits::PROPAGATION, "revocation", || async {
        (chat(hub, &second.key, &hello()).await.status() == 401).then_some(())
    })
    .await;
    hub.wait_for_usage(4, limits::USAGE_VISIBLE).await.unwrap();

    // Stop cleanly so everything buffered is on disk.
    env.hub.sigterm().await.unwrap();
    let exit = env.hub.wait_exit(limits::GRACEFUL_EXIT).await.unwrap();
    assert_eq!(exit.code(), Some(0));

    let files = read_tree(env.hub.data_dir()).unwrap();
    assert!(!files.is_empty(), "the data directory holds the database");
    let logs = env.hub.logs();
    assert!(!logs.is_empty(), "the server logged something");

    let needles: Vec<(&str, String)> = vec![
        ("hub key", env.key.key.clone()),
        ("hub key secret", env.key.secret_part().to_owned()),
        ("revoked key", second.key.clone()),
        ("revoked key secret", second.secret_part().to_owned()),
        ("provider credential", PROVIDER_KEY.to_owned()),
        (
            "provider credential body",
            PROVIDER_KEY["sk-".len()..].to_owned(),
        ),
        ("pepper", TEST_PEPPER.to_owned()),
        ("master key", TEST_MASTER_KEY.to_owned()),
        ("raw pepper", "aigne-hub-test-pepper-0123456789".to_owned()),
        (
            "raw master key",
            "aigne-hub-test-master-key-012345".to_owned(),
        ),
    ];
    for (what, needle) in &needles {
        assert!(
            needle.len() >= 20,
            "{what}: needle too short to mean anything"
        );
        let found = files_containing(env.hub.data_dir(), needle.as_bytes()).unwrap();
        assert!(
            found.is_empty(),
            "the {what} is stored in plain text in {found:?}"
        );
        assert!(
            !logs.contains(needle.as_str()),
            "the {what} appears in the logs"
        );
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_server_secrets_are_private_files_that_survive_restarts() {
    use std::os::unix::fs::PermissionsExt;

    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let opts: HubOptions = options().generated_secrets().openai(&sim.base_url());
    let mut hub = TestHub::launch(HUB_BIN, opts).await.unwrap();
    let key = hub.create_key("e2e").await.unwrap();
    expect_completion(chat(&hub, &key.key, &hello()).await).await;

    let secrets_dir = hub.data_dir().join("secrets");
    let files =
        read_tree(&secrets_dir).unwrap_or_else(|e| panic!("{}: {e}", secrets_dir.display()));
    assert!(
        files.len() >= 2,
        "a pepper and a master key file: {files:?}"
    );
    for (path, _) in &files {
        let mode = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{} has mode {mode:o}", path.display());
    }

    // SIGINT stops the server as cleanly as SIGTERM.
    hub.sigint().await.unwrap();
    let exit = hub.wait_exit(limits::GRACEFUL_EXIT).await.unwrap();
    assert_eq!(exit.code(), Some(0), "exit status after SIGINT");

    // The same secrets are used after a restart: the key and the stored credential still work.
    hub.restart().await.unwrap();
    expect_completion(chat(&hub, &key.key, &hello()).await).await;
    assert_eq!(
        sim.stats().last_authorization.as_deref(),
        Some(format!("Bearer {PROVIDER_KEY}").as_str())
    );
}
