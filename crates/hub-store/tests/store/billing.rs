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
    assert_eq!((b.granted, b.spent), (NanoCredits(1_500), NanoCredits(350)));
    assert_eq!(store.stored_balance(&user.id, now + 60_000).await.unwrap().granted, NanoCredits(1_000), "an expired grant stops counting");
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

#[tokio::test]
async fn the_money_ledger_sums_on_sqlite() {
    let (_dir, store) = crate::fresh_store().await;
    money_ledger(&store).await;
}
