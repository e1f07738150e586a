//! "Test connection": each protocol's cheapest authenticated request, from the admin API, the
//! providers page and the CLI. A refused credential is set aside with the reason live traffic
//! would give; a passed test restores it. The credential never appears in an answer.

use hub_testkit::{CreatedKey, TestHub, PROVIDER_KEY};
use serde_json::Value;
use upstream_sim::{Sim, SimConfig};

use crate::support::*;
use crate::ui_client::Browser;

/// A second credential of `openai` the simulator does not accept (until told to).
pub const BAD_KEY: &str = "sk-test-refused-credential-9876543210fedcba";

pub async fn admin_key(hub: &TestHub) -> CreatedKey {
    create_key_with(hub, "operations", &["--type", "admin"]).await
}

pub async fn providers(hub: &TestHub, admin: &CreatedKey) -> Value {
    let resp = hub.client().get(hub.url("/api/admin/providers")).bearer_auth(&admin.key).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.json().await.unwrap()
}

/// The ids of `openai`'s credentials, in the order they were added (good, then bad).
pub async fn credential_ids(hub: &TestHub, admin: &CreatedKey) -> (String, String) {
    let list = providers(hub, admin).await;
    let openai = list["providers"].as_array().unwrap().iter().find(|p| p["name"] == "openai").unwrap_or_else(|| panic!("{list}"));
    let mut creds: Vec<(i64, String, String)> = openai["credentials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["created_at"].as_i64().unwrap_or(0), c["hint"].as_str().unwrap().to_owned(), c["id"].as_str().unwrap().to_owned()))
        .collect();
    creds.sort();
    let good = creds.iter().find(|c| PROVIDER_KEY.ends_with(c.1.trim_start_matches('…').trim_start_matches("..."))).map(|c| c.2.clone());
    let bad = creds.iter().find(|c| BAD_KEY.ends_with(c.1.trim_start_matches('…').trim_start_matches("..."))).map(|c| c.2.clone());
    (good.unwrap_or_else(|| panic!("{list}")), bad.unwrap_or_else(|| panic!("{list}")))
}

pub async fn test(hub: &TestHub, admin: &CreatedKey, credential: &str) -> Value {
    let resp = hub.client().post(hub.url(&format!("/api/admin/providers/openai/credentials/{credential}/test"))).bearer_auth(&admin.key).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(!text.contains(BAD_KEY) && !text.contains(PROVIDER_KEY), "a credential in the answer: {text}");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_from_the_api_the_page_and_the_cli() {
    let sim = Sim::start(SimConfig { api_key: Some(PROVIDER_KEY.to_owned()), ..SimConfig::default() }).await.unwrap();
    let hub = TestHub::launch(HUB_BIN, options().openai(&sim.base_url()).provider("openai", &sim.base_url(), Some(BAD_KEY))).await.unwrap_or_else(|e| panic!("{e}"));
    let admin = admin_key(&hub).await;
    let (good, bad) = credential_ids(&hub, &admin).await;

    // The good credential: ok, with a latency, by listing models (not a model call).
    let report = test(&hub, &admin, &good).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["status"], 200, "{report}");
    assert!(report["latency_ms"].is_u64(), "{report}");
    assert_eq!(report["error"], Value::Null, "{report}");
    assert_eq!(sim.stats().models_requests, 1);
    assert_eq!(sim.stats().chat_requests, 0);

    // The refused one: the provider's 401, classed, and set aside with live traffic's reason.
    let report = test(&hub, &admin, &bad).await;
    assert_eq!(report["ok"], false, "{report}");
    assert_eq!(report["status"], 401, "{report}");
    assert_eq!(report["error_class"], "upstream_auth", "{report}");
    assert_eq!(report["health"]["state"], "set_aside", "{report}");
    assert!(report["health"]["next_check_ms"].is_i64(), "{report}");
    assert!(report["health"]["reason"].as_str().unwrap().contains("refused the hub's credential"), "{report}");
    assert!(!report["error"].as_str().unwrap().contains("Incorrect API key"), "no provider auth text: {report}");
    let listed = providers(&hub, &admin).await;
    assert_eq!(listed["health"][&bad]["status"]["state"], "set_aside", "{listed}");
    assert!(listed["health"][&bad]["next_check_ms"].is_i64(), "{listed}");

    // Unknown provider or credential: 404. An inference key: refused.
    let resp = hub.client().post(hub.url("/api/admin/providers/openai/credentials/nope/test")).bearer_auth(&admin.key).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    let user = hub.create_key("user").await.unwrap();
    let resp = hub.client().post(hub.url(&format!("/api/admin/providers/openai/credentials/{good}/test"))).bearer_auth(&user.key).send().await.unwrap();
    assert!(resp.status().is_client_error(), "{}", resp.status());

    // The providers page: the set-aside credential shows its reason, last error and next check;
    // the button shows the result.
    let browser = Browser::login(&hub).await;
    let page = browser.get(&hub, "/settings/providers").await;
    assert!(page.contains("Test connection"), "{page}");
    assert!(page.contains("next check"), "{page}");
    let (status, page) = browser.submit_to(&hub, "/settings/providers", "/settings/providers/test", &[("provider", "openai"), ("credential", &good)]).await;
    assert_eq!(status, 200);
    assert!(page.contains("Connection test of openai passed"), "{page}");
    let (_, page) = browser.submit_to(&hub, "/settings/providers", "/settings/providers/test", &[("provider", "openai"), ("credential", &bad)]).await;
    assert!(page.contains("Connection test of openai failed"), "{page}");
    assert!(!page.contains(BAD_KEY));

    // The CLI, from another process: one passes, one fails (exit status 1), JSON on stdout.
    let out = hub.cli(&["provider", "test", "openai", "--json"], None).await.unwrap();
    assert!(!out.success(), "a failed credential fails the command");
    let reports: Value = serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    let oks: Vec<bool> = reports.as_array().unwrap().iter().map(|r| r["ok"].as_bool().unwrap()).collect();
    assert_eq!(oks.iter().filter(|o| **o).count(), 1, "{reports}");
    assert_eq!(oks.len(), 2, "{reports}");
    assert!(!out.stdout.contains(BAD_KEY) && !out.stderr.contains(BAD_KEY) && !out.stdout.contains(PROVIDER_KEY));

    // The provider accepts the key again: a passed test restores the credential.
    sim.accept_key(BAD_KEY);
    let report = test(&hub, &admin, &bad).await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["health"]["state"], "healthy", "{report}");
    let out = hub.cli_ok(&["provider", "test", "openai"], None).await.unwrap();
    assert_eq!(out.matches(" ok").count(), 2, "{out}");
    assert!(!hub.logs().contains(BAD_KEY) && !hub.logs().contains(PROVIDER_KEY), "a credential in the logs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_has_a_probe_the_simulator_answers() {
    const GEMINI_KEY: &str = "AIzaSyE2eSimulatedGeminiKey0123456789abc";
    const AKID: &str = "AKIAPROBETEST0000001";
    const AWS_SECRET: &str = "probe/Test+Secret00000000000000000000000";
    let aws = Some((AKID.to_owned(), AWS_SECRET.to_owned()));
    let sim = Sim::start(SimConfig { api_key: Some(GEMINI_KEY.to_owned()), aws_credentials: aws, ..SimConfig::default() }).await.unwrap();
    let base = sim.anthropic_base_url();
    let aws_key = format!("{AKID}:{AWS_SECRET}");
    let hub = TestHub::launch(
        HUB_BIN,
        options()
            .provider("anthropic", &base, Some(GEMINI_KEY))
            .provider("google", &sim.gemini_base_url(), Some(GEMINI_KEY))
            .provider("ideogram", &sim.ideogram_base_url(), Some(GEMINI_KEY))
            .provider("bedrock", &format!("http://{}", sim.addr()), Some(&aws_key))
            .provider("deepseek", &sim.base_url(), Some("sk-deepseek-refused-000000000000")),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
    for name in ["anthropic", "google", "ideogram", "bedrock"] {
        let out = hub.cli(&["provider", "test", name, "--json"], None).await.unwrap();
        assert!(out.success(), "{name}: {}\n{}", out.stdout, out.stderr);
        let reports: Value = serde_json::from_str(out.stdout.trim()).unwrap();
        assert_eq!(reports[0]["ok"], true, "{name}: {reports}");
    }
    assert_eq!(sim.stats().models_requests, 3, "Anthropic's, Gemini's and Bedrock's model lists");
    assert_eq!(sim.stats().ideogram_requests, 1, "Ideogram's prompt-less form");
    assert_eq!(sim.stats().file_downloads, 0, "nothing generated");
    let out = hub.cli(&["provider", "test", "deepseek", "--json"], None).await.unwrap();
    assert!(!out.success());
    let reports: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(reports[0]["status"], 401, "{reports}");
    assert_eq!(reports[0]["error_class"], "upstream_auth", "{reports}");
}
