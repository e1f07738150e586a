//! Provider credentials are sealed at rest and open only with the right master key.

use hub_core::Secret;
use hub_store::secrets::ServerSecret;

use crate::fresh_store;

#[tokio::test]
async fn credentials_are_sealed_and_masked() {
    let (dir, store) = fresh_store().await;
    let master = ServerSecret([9; 32]);
    let secret = Secret::new("sk-provider-credential-abcdef0123456789");
    let info = store.upsert_provider("openai", "http://127.0.0.1:9/v1/", Some(&secret), &master).await.unwrap();
    assert_eq!(info.base_url, "http://127.0.0.1:9/v1");
    assert_eq!(info.credentials.len(), 1);
    assert_eq!(info.credentials[0].hint, "…6789");
    assert!(!serde_json_like(&info).contains("sk-provider"));

    let open = store.open_credentials(&info.id, &master).await.unwrap();
    assert_eq!(open[0].secret.expose(), secret.expose());
    assert!(store.open_credentials(&info.id, &ServerSecret([8; 32])).await.is_err(), "wrong master key");

    store.close().await;
    let db = std::fs::read(dir.path().join("hub.db")).unwrap();
    let needle = secret.expose().as_bytes();
    assert!(!db.windows(needle.len()).any(|w| w == needle));
}

#[tokio::test]
async fn bad_names_and_urls_are_refused() {
    let (_dir, store) = fresh_store().await;
    let master = ServerSecret([9; 32]);
    assert!(store.upsert_provider("nonsense", "http://x/v1", None, &master).await.is_err());
    assert!(store.upsert_provider("custom:", "http://x/v1", None, &master).await.is_err());
    assert!(store.upsert_provider("openai", "http://169.254.169.254/v1", None, &master).await.is_err());
    assert!(store.upsert_provider("custom:lab", "file:///etc/passwd", None, &master).await.is_err());
    assert!(store.upsert_provider("custom:lab", "http://10.0.0.5:8000/v1", None, &master).await.is_ok());
}

fn serde_json_like(info: &hub_store::providers::ProviderInfo) -> String {
    format!("{info:?}")
}
