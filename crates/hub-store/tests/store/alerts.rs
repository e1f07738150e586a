//! Alerts, known addresses and the sealed webhook secret (run on both engines).

use hub_core::alerts::{AlertDraft, AlertKind, Severity, SubjectType};
use hub_core::Secret;
use hub_store::secrets::ServerSecret;
use hub_store::Store;

use crate::fresh_store;

fn draft(kind: AlertKind, subject: &str) -> AlertDraft {
    AlertDraft {
        kind,
        severity: Severity::Warning,
        subject_type: SubjectType::Key,
        subject_id: subject.to_owned(),
        message: format!("{} about {subject}", kind.as_str()),
        detail: serde_json::json!({"n": 1}),
    }
}

/// One alert per kind and subject per cool-down; unread first; read marks; addresses; the
/// webhook secret sealed, opened only with the master key, never in the info.
pub async fn alerts_round_trip(store: &Store) {
    let hour = 3_600_000;
    let first = store.raise_alert(&draft(AlertKind::UsageSpike, "key_a"), hour).await.unwrap().expect("stored");
    assert!(store.raise_alert(&draft(AlertKind::UsageSpike, "key_a"), hour).await.unwrap().is_none(), "a duplicate within the cool-down");
    let other = store.raise_alert(&draft(AlertKind::NewAddress, "key_a"), hour).await.unwrap().expect("another kind");
    assert!(store.raise_alert(&draft(AlertKind::UsageSpike, "key_b"), hour).await.unwrap().is_some(), "another subject");
    assert!(store.raise_alert(&draft(AlertKind::UsageSpike, "key_a"), 0).await.unwrap().is_some(), "no cool-down");
    assert_eq!(store.unread_alert_count().await.unwrap(), 4);

    store.mark_alert_read(&first.id).await.unwrap();
    assert!(matches!(store.mark_alert_read("alr_missing").await, Err(hub_store::StoreError::NotFound(_))));
    let listed = store.list_alerts(10).await.unwrap();
    assert_eq!(listed.len(), 4);
    assert_eq!(listed.last().map(|a| a.id.as_str()), Some(first.id.as_str()), "read alerts come last");
    assert!(listed[..3].iter().all(|a| a.read_at.is_none()));
    assert_eq!(listed.iter().find(|a| a.id == other.id).map(|a| a.detail.clone()), Some(serde_json::json!({"n": 1})));
    assert_eq!(store.mark_all_alerts_read().await.unwrap(), 3);
    assert_eq!(store.unread_alert_count().await.unwrap(), 0);

    store.add_known_address("key_a", "10.0.0.1").await.unwrap();
    store.add_known_address("key_a", "10.0.0.1").await.unwrap();
    store.add_known_address("key_b", "10.0.0.2").await.unwrap();
    let mut known = store.known_addresses().await.unwrap();
    known.sort();
    assert_eq!(known, vec![("key_a".to_owned(), "10.0.0.1".to_owned()), ("key_b".to_owned(), "10.0.0.2".to_owned())]);

    let master = ServerSecret([3; 32]);
    let secret = Secret::new("whsec-store-test-0123456789");
    assert!(store.set_alert_webhook("ftp://example.com", &secret, &master).await.is_err());
    assert!(store.set_alert_webhook("https://example.com/h", &Secret::new("short"), &master).await.is_err());
    let info = store.set_alert_webhook("https://example.com/h", &secret, &master).await.unwrap();
    assert!(!format!("{info:?}").contains(secret.expose()));
    let hook = store.alert_webhook(&master).await.unwrap().unwrap();
    assert_eq!((hook.url.as_str(), hook.secret.expose()), ("https://example.com/h", secret.expose()));
    assert!(store.alert_webhook(&ServerSecret([4; 32])).await.is_err(), "another master key cannot open it");
    store.set_alert_webhook("https://example.com/other", &secret, &master).await.unwrap();
    assert_eq!(store.alert_webhook_info().await.unwrap().unwrap().url, "https://example.com/other");
    store.clear_alert_webhook().await.unwrap();
    assert!(store.alert_webhook_info().await.unwrap().is_none());
}

#[tokio::test]
async fn alerts_work_on_sqlite() {
    let (_dir, store) = fresh_store().await;
    alerts_round_trip(&store).await;
}
