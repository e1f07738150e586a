//! Verified-key cache: the hot path finds a known key in memory, with no database round trip.
//! A miss costs one indexed query. Entries are refreshed from the change log, so a revocation
//! made by the CLI or another instance is honoured within the watcher's interval.

use std::collections::HashMap;
use std::sync::Arc;

use hub_core::key::{ApiKey, KeyHash, Pepper};
use parking_lot::RwLock;

use crate::db::Store;
use crate::error::StoreError;
use crate::keys::StoredSecret;

pub struct KeyDirectory {
    store: Store,
    pepper: Pepper,
    by_hash: RwLock<HashMap<KeyHash, Arc<StoredSecret>>>,
}

impl KeyDirectory {
    pub fn new(store: Store, pepper: Pepper) -> KeyDirectory {
        KeyDirectory { store, pepper, by_hash: RwLock::new(HashMap::new()) }
    }

    pub fn pepper(&self) -> &Pepper {
        &self.pepper
    }

    /// Loads every secret; called once at start.
    pub async fn warm(&self) -> Result<usize, StoreError> {
        let all = self.store.all_secrets().await?;
        let n = all.len();
        let mut map = self.by_hash.write();
        for s in all {
            map.insert(s.hash, Arc::new(s));
        }
        Ok(n)
    }

    /// Finds the stored secret for a presented key. The map lookup compares the keyed hash with
    /// a constant-time equality, and so does the final check, whichever path found it.
    pub async fn lookup(&self, key: &ApiKey) -> Result<Option<Arc<StoredSecret>>, StoreError> {
        let hash = key.hash(&self.pepper);
        let cached = self.by_hash.read().get(&hash).cloned();
        let found = match cached {
            Some(s) => Some(s),
            None => match self.store.secret_by_hash(&hash).await? {
                Some(s) => {
                    let s = Arc::new(s);
                    self.by_hash.write().insert(s.hash, Arc::clone(&s));
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
        self.replace(|s| s.key_id == key_id, fresh);
        Ok(())
    }

    pub async fn refresh_user(&self, user_id: &str) -> Result<(), StoreError> {
        let fresh = self.store.secrets_of_user(user_id).await?;
        self.replace(|s| s.owner_id == user_id, fresh);
        Ok(())
    }

    fn replace(&self, stale: impl Fn(&StoredSecret) -> bool, fresh: Vec<StoredSecret>) {
        let mut map = self.by_hash.write();
        map.retain(|_, s| !stale(s));
        for s in fresh {
            map.insert(s.hash, Arc::new(s));
        }
    }

    pub fn len(&self) -> usize {
        self.by_hash.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
