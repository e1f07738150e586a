//! hub-store against a real SQLite file in a fresh directory per test, and the same
//! repositories against a real PostgreSQL server (`postgres.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod files;
mod journal;
mod keys;
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
