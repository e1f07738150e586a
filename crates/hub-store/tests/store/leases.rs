//! Shared credit accounts and leases: a lease is cut from what is left, never past the limit;
//! the usage writer moves a written record's charge from its instance's lease to `spent`; unused
//! lease goes back; an expired lease is released. Run on both engines.

use hub_core::money::NanoCredits;
use hub_core::usage::{CallHold, CallSettlement, UsageRecord};
use hub_store::leases::{self, AccountScope, LeaseAsk, Leased};
use hub_store::Store;

fn ask<'a>(scope: AccountScope<'a>, instance_id: &'a str, need: i64, limit: i64, now_ms: i64) -> LeaseAsk<'a> {
    LeaseAsk { scope, instance_id, need, limit, max_chunk: 1_000, now_ms, ttl_ms: 10_000, want: true }
}

fn charged(id: &str, key_id: &str, window: i64, credits: i64) -> UsageRecord {
    let hold = CallHold { request_id: id.into(), started_at_ms: window + 5, key_id: key_id.into(), user_id: "u".into(), budget_window: Some(window), ..CallHold::default() };
    UsageRecord::settled(hold, CallSettlement { status: 200, credits: NanoCredits(credits), ..CallSettlement::default() })
}

pub async fn leases_hold_the_limit(store: &Store) {
    let a = store.clone().for_instance("i_a");
    let window = 1_000;
    let scope = AccountScope::Key { key_id: "k1", window_start_ms: window };
    let account = leases::key_account("k1", window);
    // An earlier record of the window counts from the start.
    store.insert_usage(&[charged("r0", "k1", window, 80)]).await.unwrap();

    // 800 left: a lease is an eighth of it (at least the need).
    assert_eq!(a.take_lease(ask(scope, "i_a", 10, 880, 2_000)).await.unwrap(), Leased::Granted { amount: 100, spent: 80 });
    assert_eq!(store.take_lease(ask(scope, "i_b", 600, 880, 2_000)).await.unwrap(), Leased::Granted { amount: 600, spent: 80 });
    // 100 left: b asks 150, is short; a holds a lease it has not yet answered for.
    assert_eq!(store.take_lease(ask(scope, "i_b", 150, 880, 2_001)).await.unwrap(), Leased::Short { available: 100, spent: 80, unanswered: 1 });
    assert_eq!(a.wanted_accounts("i_a").await.unwrap(), vec![(account.clone(), 2_001)]);
    // a spent 40 of its lease (written by its usage writer) and gives back the 60 unused.
    a.insert_new_usage(&[charged("r1", "k1", window, 40)]).await.unwrap();
    assert_eq!(a.give_back_lease(&account, "i_a", 60, Some(2_001)).await.unwrap(), 60);
    assert!(a.wanted_accounts("i_a").await.unwrap().is_empty());
    let row = store.credit_account(&account).await.unwrap().unwrap();
    assert_eq!((row.spent, row.leased), (120, 600), "the charge moved from the lease to spent");
    assert_eq!(store.take_lease(ask(scope, "i_b", 150, 880, 2_002)).await.unwrap(), Leased::Granted { amount: 150, spent: 120 });
    assert!(matches!(store.take_lease(ask(scope, "i_b", 20, 880, 2_003)).await.unwrap(), Leased::Short { available: 10, unanswered: 0, .. }));

    // b dies: its lease expires and what it held is the account's again.
    assert_eq!(store.expire_leases(2_002 + 10_001).await.unwrap(), 1);
    let row = store.credit_account(&account).await.unwrap().unwrap();
    assert_eq!((row.spent, row.leased), (120, 0));
    // A restart releases whatever an instance still holds.
    a.take_lease(ask(scope, "i_a", 5, 880, 30_000)).await.unwrap();
    assert_eq!(store.release_leases_of("i_a").await.unwrap(), 1);
    assert_eq!(store.credit_account(&account).await.unwrap().unwrap().leased, 0);

    // A user's balance counts their billed records.
    let hold = CallHold { request_id: "r2".into(), key_id: "k2".into(), user_id: "payer".into(), billed: true, ..CallHold::default() };
    store.insert_usage(&[UsageRecord::settled(hold, CallSettlement { status: 200, credits: NanoCredits(7), ..CallSettlement::default() })]).await.unwrap();
    let user = AccountScope::User { user_id: "payer" };
    assert_eq!(store.take_lease(ask(user, "i_a", 3, 10, 1)).await.unwrap(), Leased::Granted { amount: 3, spent: 7 });
    assert!(matches!(store.take_lease(ask(user, "i_a", 1, 10, 2)).await.unwrap(), Leased::Short { available: 0, .. }));
}

#[tokio::test]
async fn leases_hold_the_limit_on_sqlite() {
    let (_dir, store) = crate::fresh_store().await;
    leases_hold_the_limit(&store).await;
}
