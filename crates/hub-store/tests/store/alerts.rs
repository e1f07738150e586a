//! Alerts, known addresses and the sealed webhook secret (run on both engines).

use hub_core::alerts::{AlertDraft, AlertKind, Severity, SubjectType};
use hub_core::Secret;
use hub_store::alerts::DeliveryState;
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

/// The outbox: an alert raised while a webhook is set gets its pending delivery in the same
/// transaction (none without a webhook); an attempt is claimed (counted, next try set) before it
/// is made, only once while it is not due again; its end is recorded.
pub async fn outbox_round_trip(store: &Store) {
    let hour = 3_600_000;
    let without = store.raise_alert(&draft(AlertKind::UsageSpike, "key_x"), hour).await.unwrap().unwrap();
    assert!(store.alert_deliveries(std::slice::from_ref(&without.id)).await.unwrap().is_empty(), "no webhook, no delivery");
    let master = ServerSecret([3; 32]);
    store.set_alert_webhook("https://example.com/h", &Secret::new("whsec-store-test-0123456789"), &master).await.unwrap();
    let alert = store.raise_alert(&draft(AlertKind::UsageSpike, "key_y"), hour).await.unwrap().unwrap();
    let now = hub_core::ids::now_ms();
    let due = store.due_deliveries(now + 1, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    let (a, d) = &due[0];
    assert_eq!((a.id.as_str(), d.state, d.attempts), (alert.id.as_str(), DeliveryState::Pending, 0));
    assert_eq!(store.begin_delivery_attempt(&alert.id, now + 1, now + 1_000).await.unwrap(), Some(1));
    assert_eq!(store.begin_delivery_attempt(&alert.id, now + 2, now + 2_000).await.unwrap(), None, "not due again before its next try");
    assert!(store.due_deliveries(now + 2, 10).await.unwrap().is_empty());
    store.finish_delivery_attempt(&alert.id, DeliveryState::Pending, Some(503), Some("answered 503"), now + 3).await.unwrap();
    assert_eq!(store.next_delivery_at().await.unwrap(), Some(now + 1_000));
    assert_eq!(store.begin_delivery_attempt(&alert.id, now + 1_000, now + 3_000).await.unwrap(), Some(2));
    store.finish_delivery_attempt(&alert.id, DeliveryState::Delivered, Some(204), None, now + 1_001).await.unwrap();
    let shown = store.alert_deliveries(&[alert.id.clone(), without.id.clone()]).await.unwrap();
    assert_eq!(shown.len(), 1);
    assert_eq!((shown[0].state, shown[0].attempts, shown[0].last_status, shown[0].delivered_at), (DeliveryState::Delivered, 2, Some(204), Some(now + 1_001)));
    assert!(store.due_deliveries(now + 10_000_000, 10).await.unwrap().is_empty(), "delivered is done");
    assert_eq!(store.next_delivery_at().await.unwrap(), None);
}

/// The Playground key: made once per user, an inference key limited to chat, marked managed,
/// never rotated; revoking it lets the next use make a new one.
pub async fn playground_key_round_trip(store: &Store) {
    use hub_core::Pepper;
    use hub_store::keys::AuditActor;
    let user = store.create_user("pg@example.com", "$argon2id$placeholder", hub_store::users::Role::Member).await.unwrap();
    let pepper = Pepper::from_bytes([7; 32]);
    assert!(store.find_playground_key(&user.id).await.unwrap().is_none());
    let (a, b) = tokio::join!(store.playground_key(&pepper, &user.id), store.playground_key(&pepper, &user.id));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.id, b.id, "one key however many first uses");
    assert_eq!(a.managed.as_deref(), Some("playground"));
    assert_eq!(a.endpoints, vec!["chat"]);
    assert_eq!(a.key_type, "inference");
    assert_eq!(store.find_playground_key(&user.id).await.unwrap().map(|k| k.id), Some(a.id.clone()));
    let who = AuditActor { actor: "test", address: None };
    assert!(matches!(store.rotate_key(&pepper, &a.kid, 0, who).await, Err(hub_store::StoreError::Invalid(_))), "a managed key has no secret to show");
    store.revoke_key(&a.id).await.unwrap();
    let again = store.playground_key(&pepper, &user.id).await.unwrap();
    assert_ne!(again.id, a.id);
    assert_eq!(store.list_keys(Some(&user.id)).await.unwrap().iter().filter(|k| k.managed.is_some() && k.revoked_at.is_none()).count(), 1);
}

#[tokio::test]
async fn the_outbox_and_the_playground_key_work_on_sqlite() {
    let (_dir, store) = fresh_store().await;
    outbox_round_trip(&store).await;
    playground_key_round_trip(&store).await;
}

#[tokio::test]
async fn alerts_work_on_sqlite() {
    let (_dir, store) = fresh_store().await;
    alerts_round_trip(&store).await;
}
