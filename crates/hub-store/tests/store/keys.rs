//! Keys: only the HMAC is stored; lookups, revocation and the change log.

use hub_core::{ApiKey, KeyType, Pepper};
use hub_store::key_directory::KeyDirectory;

use crate::{fresh_store, owner};

#[tokio::test]
async fn issued_keys_are_found_by_hash_and_never_stored() {
    let (dir, store) = fresh_store().await;
    let user = owner(&store).await;
    let pepper = Pepper::from_bytes([7; 32]);
    let issued = store.issue_key(&pepper, &user.id, "  dev-server-integration ", KeyType::Inference, &hub_core::scopes::KeyPolicy::default(), "test", None).await.unwrap();
    assert_eq!(issued.info.name, "dev-server-integration");
    assert_eq!(issued.info.hint, issued.key.hint());

    let dir_cache = KeyDirectory::new(store.clone(), pepper.clone());
    let found = dir_cache.lookup(&issued.key).await.unwrap().expect("found");
    assert_eq!(found.key_id, issued.info.id);

    // Same kid, different secret: not found.
    let other = ApiKey::generate(&mut rand::rngs::OsRng, KeyType::Inference);
    assert!(dir_cache.lookup(&other).await.unwrap().is_none());

    // The key text is nowhere in the database file (WAL included).
    store.close().await;
    let secret = issued.key.expose_secret().as_bytes().to_vec();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            assert!(!bytes.windows(secret.len()).any(|w| w == secret.as_slice()), "key found in {}", path.display());
        }
    }
}

#[tokio::test]
async fn names_are_unique_among_active_keys_and_revocation_is_logged() {
    let (_dir, store) = fresh_store().await;
    let user = owner(&store).await;
    let pepper = Pepper::from_bytes([7; 32]);
    let first = store.issue_key(&pepper, &user.id, "app", KeyType::Inference, &hub_core::scopes::KeyPolicy::default(), "test", None).await.unwrap();
    assert!(store.issue_key(&pepper, &user.id, "app", KeyType::Inference, &hub_core::scopes::KeyPolicy::default(), "test", None).await.is_err());
    assert!(store.issue_key(&pepper, &user.id, "", KeyType::Inference, &hub_core::scopes::KeyPolicy::default(), "test", None).await.is_err());
    assert!(store.issue_key(&pepper, &user.id, &"n".repeat(65), KeyType::Inference, &hub_core::scopes::KeyPolicy::default(), "test", None).await.is_err());

    let before = store.latest_change().await.unwrap();
    let revoked = store.revoke_key_audited(&first.info.kid, "test", Some("127.0.0.1")).await.unwrap();
    assert_eq!(revoked.status(), "revoked");
    let changes = store.changes_since(before).await.unwrap();
    assert!(changes.iter().any(|c| c.ref_id == first.info.id));

    // The directory sees the revocation after a refresh.
    let cache = KeyDirectory::new(store.clone(), pepper.clone());
    cache.refresh_key(&first.info.id).await.unwrap();
    let found = cache.lookup(&first.key).await.unwrap().expect("still listed");
    assert!(found.revoked_at.is_some());

    // A revoked name can be reused.
    store.issue_key(&pepper, &user.id, "app", KeyType::Inference, &hub_core::scopes::KeyPolicy::default(), "test", None).await.unwrap();
    let audit = store.audit_entries(10).await.unwrap();
    assert!(audit.iter().any(|a| a.action == "key.revoked" && a.address.as_deref() == Some("127.0.0.1")));
}

#[tokio::test]
async fn scopes_and_rotation_on_sqlite() {
    let (_dir, store) = crate::fresh_store().await;
    crate::scopes_and_rotation(&store).await;
}
