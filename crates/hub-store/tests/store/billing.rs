//! Money at rest: rate overrides, billing settings, grants, and the sums balances and budget
//! spending are rebuilt from. Run on both engines.

use hub_core::budget::BudgetPeriod;
use hub_core::money::NanoCredits;
use hub_core::pricing::ModelRate;
use hub_core::usage::{CallHold, CallSettlement, UsageRecord};
use hub_store::billing::BillingSettings;
use hub_store::credit_directory::CreditDirectory;
use hub_store::keys::AuditActor;
use hub_store::rate_directory::{RateDirectory, RateSource};
use hub_store::users::Role;
use hub_store::Store;

fn record(id: &str, key_id: &str, user_id: &str, ts: i64, credits: i64, billed: bool) -> UsageRecord {
    let hold = CallHold { request_id: id.into(), started_at_ms: ts, key_id: key_id.into(), user_id: user_id.into(), billed, ..CallHold::default() };
    UsageRecord::settled(hold, CallSettlement { status: 200, credits: NanoCredits(credits), ..CallSettlement::default() })
}

pub async fn money_ledger(store: &Store) {
    let who = AuditActor { actor: "test", address: None };
    let user = store.create_user("payer@example.com", "$argon2id$placeholder", Role::Member).await.unwrap();

    // Rates: an override replaces the list price, a reset brings it back; both are announced.
    let rates = RateDirectory::default();
    rates.reload(store).await.unwrap();
    let list = rates.rate("openai", hub_core::ProviderKind::OpenAi, "gpt-4o-mini").unwrap();
    assert_eq!((list.0.input, list.1), (NanoCredits(150), RateSource::ListPrice));
    let before = store.latest_change().await.unwrap();
    store.set_rate("openai", "gpt-4o-mini", &ModelRate::at_list_price(200, 800, 100, 0), who).await.unwrap();
    store.set_rate("openai", "gpt-4o-mini", &ModelRate::at_list_price(210, 800, 100, 0), who).await.unwrap();
    assert!(store.set_rate("openai", "bad", &ModelRate::at_list_price(1, 1, 2, 0), who).await.is_err(), "cached above input");
    rates.reload(store).await.unwrap();
    assert_eq!(rates.rate("openai", hub_core::ProviderKind::OpenAi, "gpt-4o-mini").map(|r| (r.0.input, r.1)), Some((NanoCredits(210), RateSource::Override)));
    assert!(store.changes_since(before).await.unwrap().iter().any(|c| c.ref_id == "openai/gpt-4o-mini"));
    assert!(store.delete_rate("openai", "gpt-4o-mini", who).await.unwrap());
    assert!(!store.delete_rate("openai", "gpt-4o-mini", who).await.unwrap());

    // Settings round-trip; the starter grant goes to accounts created while billing is on.
    let settings = BillingSettings { billing_enabled: true, starter_grant: NanoCredits(5), topup_link: Some("https://pay.example.com".into()) };
    store.set_billing_settings(&settings, who).await.unwrap();
    assert_eq!(store.billing_settings().await.unwrap(), settings);
    let newcomer = store.create_user("new@example.com", "$argon2id$placeholder", Role::Member).await.unwrap();
    assert_eq!(store.grants_of(&newcomer.id).await.unwrap().iter().map(|g| g.amount).collect::<Vec<_>>(), vec![NanoCredits(5)]);

    // Grants and billed records: the balance is grants minus billed credits.
    let now = hub_core::ids::now_ms();
    store.grant_credit(&user.id, NanoCredits(1_000), None, Some("welcome"), who).await.unwrap();
    store.grant_credit(&user.id, NanoCredits(500), Some(now + 60_000), None, who).await.unwrap();
    assert!(store.grant_credit(&user.id, NanoCredits(0), None, None, who).await.is_err());
    let records = [record("m1", "key_a", &user.id, now - 10, 300, true), record("m2", "key_a", &user.id, now - 5, 200, false), record("m3", "key_b", &user.id, 1, 50, true)];
    store.insert_usage(&records).await.unwrap();
    let b = store.stored_balance(&user.id, now).await.unwrap();
    assert_eq!((b.granted, b.spent, b.expired), (NanoCredits(1_500), NanoCredits(350), NanoCredits::ZERO));
    // The calls started before the grants: a debt the first grant paid (the one expiring in a
    // minute when both came in the same millisecond). Expiry takes only what was left of it.
    let later = store.stored_balance(&user.id, now + 60_000).await.unwrap();
    assert_eq!(later.granted, NanoCredits(1_500));
    assert!(later.expired == NanoCredits(500) || later.expired == NanoCredits(150), "{later:?}");
    assert_eq!(later.balance().0, 1_500 - 350 - later.expired.0);
    assert_eq!(store.billed_by_user().await.unwrap().get(&user.id), Some(&NanoCredits(350)));
    assert_eq!(store.key_spent_since("key_a", now - 7).await.unwrap(), NanoCredits(200));
    assert_eq!(store.key_spent_since("key_a", i64::MIN).await.unwrap(), NanoCredits(500));

    let credit = CreditDirectory::default();
    credit.load(store).await.unwrap();
    assert!(credit.billing_enabled());
    assert_eq!(credit.granted(&user.id, now), NanoCredits(1_500));

    // Budgets round-trip through the key's columns.
    let pepper = hub_core::Pepper::from_bytes([5; 32]);
    let patch: hub_core::scopes::PolicyPatch = serde_json::from_str(r#"{"budget":"0.25","budget_period":"day"}"#).unwrap();
    let policy = patch.apply(&hub_core::scopes::KeyPolicy::default()).unwrap();
    let issued = store.issue_key(&pepper, &user.id, "budgeted", hub_core::KeyType::Inference, &policy, "test", None).await.unwrap();
    let info = store.key_info(&issued.info.id).await.unwrap().unwrap();
    assert_eq!(info.policy.budget.map(|b| (b.limit, b.period)), Some((NanoCredits(250_000_000), BudgetPeriod::Day)));
    assert_eq!(store.budgeted_keys().await.unwrap().len(), 1);
}

/// Debits consume the grant that expires soonest first; an expiring grant loses only what was
/// left of it, and the ledger (grants − debits − expired remainders) sums to the balance, in
/// the database and in the in-memory directory alike.
pub async fn grants_expire_fairly(store: &Store) {
    let who = AuditActor { actor: "test", address: None };
    let user = store.create_user("fair@example.com", "$argon2id$placeholder", Role::Member).await.unwrap();
    let now = hub_core::ids::now_ms();
    let soon = store.grant_credit(&user.id, NanoCredits(10), Some(now + 2_000), Some("trial"), who).await.unwrap();
    store.grant_credit(&user.id, NanoCredits(10), None, None, who).await.unwrap();
    store.insert_usage(&[record("fair1", "key_f", &user.id, soon.ts + 500, 6, true), record("fair2", "key_f", &user.id, soon.ts + 600, 9, false)]).await.unwrap();
    let before = store.stored_balance(&user.id, now + 1_000).await.unwrap();
    assert_eq!((before.granted, before.spent, before.expired, before.balance()), (NanoCredits(20), NanoCredits(6), NanoCredits::ZERO, NanoCredits(14)));
    let after = store.stored_balance(&user.id, now + 3_000).await.unwrap();
    assert_eq!((after.expired, after.balance()), (NanoCredits(4), NanoCredits(10)), "6 of the expiring 10 were used: 4 lost, not 10");
    let ledger = store.grant_ledger(&user.id, now + 3_000).await.unwrap();
    let trial = ledger.grants.iter().find(|g| g.grant.id == soon.id).unwrap();
    assert_eq!((trial.consumed, trial.lost, trial.expired), (NanoCredits(6), NanoCredits(4), true));
    assert_eq!(ledger.granted().0 - after.spent.0 - ledger.lost().0, after.balance().0);

    let credit = CreditDirectory::default();
    credit.load(store).await.unwrap();
    assert_eq!(credit.granted(&user.id, now + 1_000), NanoCredits(20));
    // Expired since it was loaded: counted as losing what it had left when loaded (4).
    assert_eq!(credit.standing(&user.id, now + 3_000).expired, NanoCredits(4));
}

#[tokio::test]
async fn grants_expire_fairly_on_sqlite() {
    let (_dir, store) = crate::fresh_store().await;
    grants_expire_fairly(&store).await;
}

#[tokio::test]
async fn the_money_ledger_sums_on_sqlite() {
    let (_dir, store) = crate::fresh_store().await;
    money_ledger(&store).await;
}
