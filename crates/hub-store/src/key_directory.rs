//! Verified-key cache: the hot path finds a known key in memory, with no database round trip.
//! A miss costs one indexed query. Entries are refreshed from the change log, so a revocation
//! made by the CLI or another instance is honoured within the watcher's interval.

use std::sync::Arc;

use hub_core::fast_map::{FastMap, FastSet};
use hub_core::key::{ApiKey, KeyHash, Pepper};
use parking_lot::RwLock;

use crate::db::Store;
use crate::error::StoreError;
use crate::keys::StoredSecret;

pub struct KeyDirectory {
    store: Store,
    pepper: Pepper,
    entries: RwLock<Entries>,
}

/// The cached secrets, indexed so that refreshing one key or one user touches only their own
/// entries: a change costs the same with ten keys or a million.
#[derive(Default)]
struct Entries {
    by_hash: FastMap<KeyHash, Arc<StoredSecret>>,
    /// Key id → the hashes of its secrets (several during a rotation's grace).
    by_key: FastMap<String, Vec<KeyHash>>,
    /// Owner id → their key ids.
    by_owner: FastMap<String, FastSet<String>>,
}

impl Entries {
    fn insert(&mut self, s: Arc<StoredSecret>) {
        let hashes = self.by_key.entry(s.key_id.clone()).or_default();
        if !hashes.contains(&s.hash) {
            hashes.push(s.hash);
        }
        self.by_owner.entry(s.owner_id.clone()).or_default().insert(s.key_id.clone());
        self.by_hash.insert(s.hash, s);
    }

    fn remove_key(&mut self, key_id: &str) {
        for hash in self.by_key.remove(key_id).unwrap_or_default() {
            let Some(s) = self.by_hash.remove(&hash) else { continue };
            if let Some(keys) = self.by_owner.get_mut(&s.owner_id) {
                keys.remove(key_id);
                if keys.is_empty() {
                    self.by_owner.remove(&s.owner_id);
                }
            }
        }
    }

    fn remove_owner(&mut self, owner_id: &str) {
        for key_id in self.by_owner.remove(owner_id).unwrap_or_default() {
            self.remove_key(&key_id);
        }
    }
}

impl KeyDirectory {
    pub fn new(store: Store, pepper: Pepper) -> KeyDirectory {
        KeyDirectory { store, pepper, entries: RwLock::new(Entries::default()) }
    }

    pub fn pepper(&self) -> &Pepper {
        &self.pepper
    }

    /// Loads every secret; called once at start.
    pub async fn warm(&self) -> Result<usize, StoreError> {
        let all = self.store.all_secrets().await?;
        let n = all.len();
        let mut entries = self.entries.write();
        for s in all {
            entries.insert(Arc::new(s));
        }
        Ok(n)
    }

    /// Finds the stored secret for a presented key. The map lookup compares the keyed hash with
    /// a constant-time equality, and so does the final check, whichever path found it.
    pub async fn lookup(&self, key: &ApiKey) -> Result<Option<Arc<StoredSecret>>, StoreError> {
        let hash = key.hash(&self.pepper);
        let cached = self.entries.read().by_hash.get(&hash).cloned();
        let found = match cached {
            Some(s) => Some(s),
            None => match self.store.secret_by_hash(&hash).await? {
                Some(s) => {
                    let s = Arc::new(s);
                    self.entries.write().insert(Arc::clone(&s));
                    Some(s)
                }
                None => None,
            },
        };
        Ok(found.filter(|s| s.hash.ct_eq(&hash) && s.kid == key.kid()))
    }

    /// Re-reads one key's secrets (after a revoke, a rotation, a change of owner status).
    pub async fn refresh_key(&self, key_id: &str) -> Result<(), StoreError> {
        let fresh = self.store.secrets_of_key(key_id).await?;
        let mut entries = self.entries.write();
        entries.remove_key(key_id);
        for s in fresh {
            entries.insert(Arc::new(s));
        }
        Ok(())
    }

    pub async fn refresh_user(&self, user_id: &str) -> Result<(), StoreError> {
        let fresh = self.store.secrets_of_user(user_id).await?;
        let mut entries = self.entries.write();
        entries.remove_owner(user_id);
        for s in fresh {
            entries.insert(Arc::new(s));
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.entries.read().by_hash.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
