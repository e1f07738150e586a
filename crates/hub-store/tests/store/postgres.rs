//! The same repositories on PostgreSQL: a fresh database per test on the server named by
//! `AIGNE_HUB_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`, which CI
//! machines run). Set it to `off` to skip on a machine without PostgreSQL; an unreachable server
//! otherwise fails the test rather than passing silently.

use hub_core::money::NanoCredits;
use hub_core::usage::{CallHold, CallSettlement, UsageRecord};
use hub_core::{KeyType, Pepper, Secret};
use hub_store::key_directory::KeyDirectory;
use hub_store::secrets::ServerSecret;
use hub_store::usage::UsageFilter;
use hub_store::users::Role;
use hub_store::{Backend, Store};

use hub_testkit::pg::ThrowawayDatabase;

async fn fresh_pg() -> Option<(ThrowawayDatabase, Store)> {
    let db = ThrowawayDatabase::create("aigne_hub_test", "PostgreSQL tests").await.unwrap_or_else(|e| panic!("{e}"))?;
    let store = Store::connect(db.url()).await.unwrap();
    assert_eq!(store.backend(), Backend::Postgres);
    Some((db, store))
}

fn record(id: &str, key_id: &str, user_id: &str) -> UsageRecord {
    let hold = CallHold {
        request_id: id.to_owned(),
        started_at_ms: 1_000,
        key_id: key_id.to_owned(),
        kid: "kid".into(),
        user_id: user_id.to_owned(),
        project: Some("did:abt:app".into()),
        provider: "openai".into(),
        credential_id: None,
        model: "gpt-4o".into(),
        endpoint: "chat.completions".into(),
        stream: true,
        client_ip: Some("127.0.0.1".into()),
        est_input_tokens: 9,
        reserved: NanoCredits(500),
        billed: false,
        budget_window: None,
    };
    UsageRecord::settled(hold, CallSettlement { status: 200, tokens_in: 7, tokens_out: 12, ..CallSettlement::default() })
}

#[tokio::test]
async fn keys_providers_and_the_ledger_work_on_postgres() {
    let Some((_db, store)) = fresh_pg().await else { return };
    let user = store.create_user("owner@example.com", "$argon2id$placeholder", Role::Owner).await.unwrap();

    // Keys: issued, found by their HMAC through the directory, revoked, announced.
    let pepper = Pepper::from_bytes([3; 32]);
    let issued = store.issue_key(&pepper, &user.id, "pg-app", KeyType::Inference, &hub_core::scopes::KeyPolicy::default(), "test", None).await.unwrap();
    let directory = KeyDirectory::new(store.clone(), pepper.clone());
    assert_eq!(directory.lookup(&issued.key).await.unwrap().map(|s| s.key_id.clone()), Some(issued.info.id.clone()));
    let before = store.latest_change().await.unwrap();
    store.revoke_key_audited(&issued.info.kid, "test", None).await.unwrap();
    assert!(store.changes_since(before).await.unwrap().iter().any(|c| c.ref_id == issued.info.id));

    // Providers: the credential is sealed and opens with the master key only.
    let master = ServerSecret([4; 32]);
    let provider = store.upsert_provider("openai", "http://127.0.0.1:9/v1", Some(&Secret::new("sk-pg-credential-0123456789")), &master).await.unwrap();
    assert_eq!(store.open_credentials(&provider.id, &master).await.unwrap()[0].secret.expose(), "sk-pg-credential-0123456789");

    // The ledger: multi-row inserts, idempotent on replay, folded into the key's counters.
    let records: Vec<_> = (0..150).map(|i| record(&format!("req-{i}"), &issued.info.id, &user.id)).collect();
    assert_eq!(store.insert_usage(&records).await.unwrap(), 150);
    assert_eq!(store.insert_usage(&records[..70]).await.unwrap(), 0, "a replay inserts nothing twice");
    assert_eq!(store.count_usage().await.unwrap(), 150);
    let rows = store.list_usage(&UsageFilter { key_id: Some(issued.info.id.clone()), user_id: None, limit: 500 }).await.unwrap();
    assert_eq!(rows.len(), 150);
    assert!(rows.iter().all(|r| r.tokens_in == 7 && r.tokens_out == 12 && r.stream && r.project.as_deref() == Some("did:abt:app")));
    let key = store.key_info(&issued.info.id).await.unwrap().unwrap();
    assert_eq!((key.request_count, key.tokens_in, key.tokens_out), (150, 150 * 7, 150 * 12));
    assert_eq!(key.last_used_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(store.checkpoint_wal().await.unwrap(), None, "PostgreSQL checkpoints by itself");

    crate::scopes_and_rotation(&store).await;
}

/// The rollups and the dashboard's queries on PostgreSQL: the same checks as on SQLite, each
/// on a fresh database.
#[tokio::test]
async fn analytics_work_on_postgres() {
    use crate::analytics::*;
    let Some((_a, store)) = fresh_pg().await else { return };
    totals_match_the_raw_records_for_whole_and_partial_hours(&store).await;
    let Some((_b, store)) = fresh_pg().await else { return };
    a_replayed_journal_is_not_counted_twice(&store).await;
    let Some((_c, store)) = fresh_pg().await else { return };
    series_breakdowns_and_member_scoping(&store).await;
    let Some((_d, store)) = fresh_pg().await else { return };
    call_history_pages_cover_every_call_once_and_csv_is_safe(&store).await;
    let Some((_e, store)) = fresh_pg().await else { return };
    pruning_removes_old_records_and_keeps_the_rollups(&store).await;
    let Some((_g, store)) = fresh_pg().await else { return };
    pruning_keeps_what_balances_and_budgets_are_summed_from(&store).await;
    let Some((_f, store)) = fresh_pg().await else { return };
    days_hours_and_raw_edges_add_up(&store).await;
}

#[tokio::test]
async fn the_money_ledger_sums_on_postgres() {
    let Some((_db, store)) = fresh_pg().await else { return };
    crate::billing::money_ledger(&store).await;
    let Some((_f, store)) = fresh_pg().await else { return };
    crate::billing::grants_expire_fairly(&store).await;
}

#[tokio::test]
async fn alerts_work_on_postgres() {
    let Some((_db, store)) = fresh_pg().await else { return };
    crate::alerts::alerts_round_trip(&store).await;
}

#[tokio::test]
async fn the_outbox_and_the_playground_key_work_on_postgres() {
    let Some((_db, store)) = fresh_pg().await else { return };
    crate::alerts::outbox_round_trip(&store).await;
    crate::alerts::playground_key_round_trip(&store).await;
}

#[tokio::test]
async fn leases_hold_the_limit_on_postgres() {
    let Some((_db, store)) = fresh_pg().await else { return };
    crate::leases::leases_hold_the_limit(&store).await;
}
