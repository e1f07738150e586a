//! hub-store against a real SQLite file in a fresh directory per test, and the same
//! repositories against a real PostgreSQL server (`postgres.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod analytics;
mod bench_dashboard;
mod billing;
mod checkpoint;
mod alerts;
mod files;
mod journal;
mod keys;
mod leases;
mod postgres;
mod providers;

use hub_store::Store;

pub async fn fresh_store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_sqlite(dir.path()).await.unwrap();
    (dir, store)
}

pub async fn owner(store: &Store) -> hub_store::users::User {
    store.create_user("owner@example.com", "$argon2id$placeholder", hub_store::users::Role::Owner).await.unwrap()
}

/// Scopes round-trip through the database, a rotation keeps the key and its kid and leaves two
/// live secrets, and the audit log names every event without a secret. Run on both engines.
pub async fn scopes_and_rotation(store: &Store) {
    use hub_core::scopes::{parse_nets, Endpoint, KeyPolicy};
    use hub_core::{KeyType, Pepper};
    use hub_store::key_directory::KeyDirectory;
    use hub_store::keys::AuditActor;

    let user = store.create_user("scopes@example.com", "$argon2id$placeholder", hub_store::users::Role::Owner).await.unwrap();
    let pepper = Pepper::from_bytes([9; 32]);
    let who = AuditActor { actor: "test", address: Some("127.0.0.1") };
    let created = KeyPolicy { rpm: Some(3), ..KeyPolicy::default() };
    let issued = store.issue_key(&pepper, &user.id, "scoped", KeyType::Inference, &created, "test", None).await.unwrap();
    assert_eq!(issued.info.policy, created);
    let policy = KeyPolicy {
        models: vec!["openai/*".into(), "*/gpt-4o*".into()],
        endpoints: vec![Endpoint::Chat, Endpoint::Models],
        ips: parse_nets(&["10.0.0.0/8", "2001:db8::/32"]).unwrap(),
        rpm: Some(5),
        tpm: Some(10_000),
        max_concurrency: Some(2),
        expires_at: Some(4_102_444_800_000),
        budget: Some(hub_core::budget::Budget { limit: hub_core::NanoCredits(7_500_000_000), period: hub_core::budget::BudgetPeriod::Month, since_ms: 1_000 }),
    };
    let info = store.update_key_policy(&issued.info.kid, &policy, who).await.unwrap();
    assert_eq!(info.policy, policy);
    assert_eq!(info.previous_secret_until, None);

    let directory = KeyDirectory::new(store.clone(), pepper.clone());
    assert_eq!(directory.lookup(&issued.key).await.unwrap().unwrap().policy, policy);
    let rotated = store.rotate_key(&pepper, &issued.info.kid, 60_000, who).await.unwrap();
    // Same logical key, a new secret with its own kid; the key is listed under the new kid.
    assert_eq!(rotated.info.id, issued.info.id);
    assert_ne!(rotated.key.kid(), issued.info.kid);
    assert_eq!(rotated.info.kid, rotated.key.kid());
    assert_ne!(rotated.key.expose_secret(), issued.key.expose_secret());
    assert!(rotated.info.previous_secret_until.is_some());
    directory.refresh_key(&issued.info.id).await.unwrap();
    let old = directory.lookup(&issued.key).await.unwrap().unwrap();
    let new = directory.lookup(&rotated.key).await.unwrap().unwrap();
    assert!(old.expires_at.is_some() && new.expires_at.is_none());
    assert_eq!(new.policy, policy);
    // A second rotation ends the first grace at once: never more than two live secrets.
    let again = store.rotate_key(&pepper, &issued.info.kid, 60_000, who).await.unwrap();
    let live: Vec<_> = store.secrets_of_key(&issued.info.id).await.unwrap().into_iter().filter(|s| s.expires_at.is_none_or(|t| t > hub_core::ids::now_ms())).collect();
    assert_eq!(live.len(), 2);
    // Any kid the key has had still names it.
    assert_eq!(store.key_by_ref(&issued.info.kid).await.unwrap().unwrap().hint, again.key.hint());
    assert_eq!(store.key_by_ref(rotated.key.kid()).await.unwrap().unwrap().id, issued.info.id);

    let audit = store.key_audit(&issued.info.id, 10).await.unwrap();
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    for a in ["key.created", "key.updated", "key.rotated"] {
        assert!(actions.contains(&a), "{actions:?}");
    }
    let text = format!("{audit:?}");
    for k in [&issued.key, &rotated.key, &again.key] {
        assert!(!text.contains(k.expose_secret()), "the audit log holds a key");
    }
}
