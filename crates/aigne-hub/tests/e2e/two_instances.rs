//! Two instances serving one PostgreSQL database (`--database-url`), each with its own data
//! directory and the same pepper and master key: budgets and balances hold across both through
//! leases, a change made by the CLI reaches both, and a killed instance's leases come back.
//!
//! Every test creates its own database on the server named by `AIGNE_HUB_TEST_POSTGRES`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`) and drops it at the end; `off` skips
//! them with a notice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hub_testkit::TestHub;
use reqwest::StatusCode;
use sqlx::{Connection, Row};
use upstream_sim::{Sim, SimConfig};

use hub_testkit::pg::ThrowawayDatabase;

use crate::limits;
use crate::money::{self, admin_get, admin_key, call_cost, covered, priced_call, user_info};
use crate::support::*;

struct Pair {
    sim: Sim,
    a: Arc<TestHub>,
    b: Arc<TestHub>,
    db: ThrowawayDatabase,
}

/// A simulator and two hubs on one fresh database: `a` created the owner and the provider
/// through the CLI, `b` only starts on the same database.
async fn two_hubs(sim_config: SimConfig) -> Option<Pair> {
    let db = ThrowawayDatabase::create("hub_test", "two-instance tests").await.unwrap_or_else(|e| panic!("{e}"))?;
    let sim = Sim::start(sim_config).await.unwrap();
    let a = TestHub::launch(HUB_BIN, options().openai(&sim.base_url()).env("AIGNE_HUB_DATABASE_URL", db.url())).await.unwrap();
    let b = TestHub::launch(HUB_BIN, options().no_owner().env("AIGNE_HUB_DATABASE_URL", db.url())).await.unwrap_or_else(|e| panic!("second instance: {e}"));
    Some(Pair { sim, a: Arc::new(a), b: Arc::new(b), db })
}

impl Pair {
    async fn sql(&self) -> sqlx::PgConnection {
        sqlx::PgConnection::connect(self.db.url()).await.unwrap()
    }

    /// Fires `n` identical calls at once, alternately at each instance; answers (successes, 402s).
    async fn burst(&self, key: &str, n: usize) -> (usize, usize) {
        money::burst(&[&self.a, &self.b], key, n).await
    }

    /// Waits until `n` records of `key_id` are in the database; answers their credits' sum.
    async fn recorded(&self, key_id: &str, n: i64) -> i64 {
        let mut c = self.sql().await;
        let deadline = Instant::now() + limits::USAGE_VISIBLE;
        loop {
            let row = sqlx::query("SELECT COUNT(*) AS n, CAST(COALESCE(SUM(credits), 0) AS BIGINT) AS credits FROM usage_records WHERE key_id = $1")
                .bind(key_id)
                .fetch_one(&mut c)
                .await
                .unwrap();
            if row.get::<i64, _>("n") >= n {
                return row.get("credits");
            }
            assert!(Instant::now() < deadline, "{n} records of {key_id} not in the database in time");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until no instance holds any lease of the accounts named `prefix…`; answers the
    /// accounts' `spent`.
    async fn settled_account(&self, prefix: &str) -> i64 {
        let mut c = self.sql().await;
        let pattern = format!("{prefix}%");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let row = sqlx::query(
                "SELECT CAST(COALESCE(SUM(spent), 0) AS BIGINT) AS spent, CAST(COALESCE(SUM(leased), 0) AS BIGINT) AS leased, \
                 (SELECT COUNT(*) FROM credit_leases WHERE account LIKE $1) AS leases FROM credit_accounts WHERE account LIKE $1",
            )
            .bind(&pattern)
            .fetch_one(&mut c)
            .await
            .unwrap();
            let (spent, leased, leases) = (row.get::<i64, _>("spent"), row.get::<i64, _>("leased"), row.get::<i64, _>("leases"));
            if leased == 0 && leases == 0 {
                return spent;
            }
            assert!(Instant::now() < deadline, "{prefix}: still leased {leased} in {leases} leases");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_never_overspend_a_key_budget() {
    let Some(pair) = two_hubs(SimConfig::default()).await else { return };
    let started = Instant::now();
    let budget = covered().to_string();
    for round in 0..limits::MONEY_ROUNDS {
        let key = create_key_with(&pair.a, &format!("shared-{round}"), &["--budget", &budget, "--budget-period", "month"]).await;
        pair.b.wait_key_accepted(&key.key, limits::PROPAGATION).await.unwrap();
        pair.sim.reset_stats();
        let (ok, refused) = pair.burst(&key.key, limits::SIMULTANEOUS_CALLS).await;
        let upstream = pair.sim.stats().chat_requests;
        let spent = pair.recorded(&key.id, limits::SIMULTANEOUS_CALLS as i64).await;
        let account_spent = pair.settled_account(&format!("key:{}:", key.id)).await;
        eprintln!(
            "two instances, budget round {round}: budget {budget}, {ok} succeeded, {refused} got 402, upstream saw {upstream}, \
             recorded {}, account spent {}, nothing leased",
            hub_core::NanoCredits(spent),
            hub_core::NanoCredits(account_spent)
        );
        assert_eq!(ok, limits::COVERED_CALLS, "round {round}");
        assert_eq!(refused, limits::SIMULTANEOUS_CALLS - limits::COVERED_CALLS, "round {round}");
        assert_eq!(upstream, limits::COVERED_CALLS as u64, "round {round}: refused calls reached the upstream");
        assert_eq!(spent, covered().0, "round {round}: the records' credits are the budget");
        assert_eq!(account_spent, covered().0, "round {round}: the shared account agrees with the records");
    }
    // Each instance's own view: nothing reserved after the calls.
    let admin = admin_key(&pair.a).await;
    let probe = pair.b.url("/api/admin/keys");
    eventually(limits::PROPAGATION, "the admin key reaches b", || async {
        (pair.b.client().get(&probe).bearer_auth(&admin).send().await.unwrap().status() == StatusCode::OK).then_some(())
    })
    .await;
    for hub in [&pair.a, &pair.b] {
        let keys = hub.keys().await.unwrap();
        for k in keys.iter().filter(|k| k["name"].as_str().is_some_and(|n| n.starts_with("shared-"))) {
            let doc = admin_get(hub, &admin, &format!("/api/admin/keys/{}", k["kid"].as_str().unwrap())).await;
            assert_eq!(doc["budget_reserved"], "0", "{doc}");
        }
    }
    eprintln!("two instances, budget: {} rounds in {:?}", limits::MONEY_ROUNDS, started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_never_overspend_a_credit_balance() {
    let Some(pair) = two_hubs(SimConfig::default()).await else { return };
    let started = Instant::now();
    let key = create_key_with(&pair.a, "billed", &[]).await;
    pair.b.wait_key_accepted(&key.key, limits::PROPAGATION).await.unwrap();
    pair.a.cli_ok(&["billing", "enable"], None).await.unwrap();
    for hub in [&pair.a, &pair.b] {
        eventually(limits::PROPAGATION, "billing reaches both instances", || async { (user_info(hub, &key.key).await["enableCredit"] == true).then_some(()) }).await;
    }
    for round in 0..limits::MONEY_ROUNDS {
        pair.a.cli_ok(&["credit", "grant", hub_testkit::OWNER_EMAIL, &covered().to_string()], None).await.unwrap();
        let granted = hub_core::NanoCredits(covered().0 * (round as i64 + 1)).to_string();
        for hub in [&pair.a, &pair.b] {
            eventually(limits::PROPAGATION, "the grant reaches both instances", || async {
                (user_info(hub, &key.key).await["creditBalance"]["total"] == granted.as_str()).then_some(())
            })
            .await;
        }
        pair.sim.reset_stats();
        let (ok, refused) = pair.burst(&key.key, limits::SIMULTANEOUS_CALLS).await;
        let upstream = pair.sim.stats().chat_requests;
        let spent = pair.recorded(&key.id, (limits::SIMULTANEOUS_CALLS * (round + 1)) as i64).await;
        let account_spent = pair.settled_account("user:").await;
        eprintln!(
            "two instances, balance round {round}: granted {granted} in all, {ok} succeeded, {refused} got 402, upstream saw {upstream}, \
             recorded {}, account spent {}, nothing leased",
            hub_core::NanoCredits(spent),
            hub_core::NanoCredits(account_spent)
        );
        assert_eq!(ok, limits::COVERED_CALLS, "round {round}");
        assert_eq!(refused, limits::SIMULTANEOUS_CALLS - limits::COVERED_CALLS, "round {round}");
        assert_eq!(upstream, limits::COVERED_CALLS as u64, "round {round}");
        assert_eq!(spent, covered().0 * (round as i64 + 1), "round {round}: the billed records are the grants");
        assert_eq!(account_spent, spent, "round {round}");
    }
    for hub in [&pair.a, &pair.b] {
        let me = user_info(hub, &key.key).await;
        assert_eq!(me["creditBalance"]["pendingCredit"], "0", "{me}");
    }
    eprintln!("two instances, balance: {} rounds in {:?}", limits::MONEY_ROUNDS, started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cli_revocation_on_the_shared_database_reaches_both_instances_within_a_second() {
    let Some(pair) = two_hubs(SimConfig::default()).await else { return };
    let key = create_key_with(&pair.a, "to-revoke", &[]).await;
    pair.b.wait_key_accepted(&key.key, limits::PROPAGATION).await.unwrap();
    for hub in [&pair.a, &pair.b] {
        expect_completion(chat(hub, &key.key, &hello()).await).await;
    }
    // The CLI is a third process, with its own (empty) data directory: only the database and
    // the secrets are shared.
    let cli_dir = tempfile::tempdir().unwrap();
    let out = tokio::process::Command::new(HUB_BIN)
        .args(["key", "revoke", &key.kid, "--data-dir"])
        .arg(cli_dir.path())
        .env("AIGNE_HUB_DATABASE_URL", pair.db.url())
        .env("AIGNE_HUB_PEPPER", hub_testkit::TEST_PEPPER)
        .env("AIGNE_HUB_MASTER_KEY", hub_testkit::TEST_MASTER_KEY)
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let revoked = Instant::now();
    for hub in [&pair.a, &pair.b] {
        eventually(Duration::from_secs(1), "the revocation reaches the instance", || async {
            (chat(hub, &key.key, &hello()).await.status() == StatusCode::UNAUTHORIZED).then_some(())
        })
        .await;
    }
    eprintln!("revocation reached both instances after {:?}", revoked.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_secrets_are_refused_on_a_database_initialised_with_others() {
    let Some(pair) = two_hubs(SimConfig::default()).await else { return };
    let dir = tempfile::tempdir().unwrap();
    // Secrets of its own (generated in its data directory): not those the database knows.
    let out = tokio::process::Command::new(HUB_BIN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .env("AIGNE_HUB_DATABASE_URL", pair.db.url())
        .env_remove("AIGNE_HUB_PEPPER")
        .env_remove("AIGNE_HUB_MASTER_KEY")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with other secrets");
    assert!(stderr.contains("different pepper"), "{stderr}");
    assert!(!stderr.contains(pair.db.url()), "the database URL is not echoed: {stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_instance_settles_its_calls_and_releases_its_leases_on_restart() {
    let config = SimConfig { latency: Duration::from_millis(1500), ..SimConfig::default() };
    let Some(mut pair) = two_hubs(config).await else { return };
    let budget = covered().to_string();
    let key = create_key_with(&pair.a, "crash", &["--budget", &budget]).await;
    pair.b.wait_key_accepted(&key.key, limits::PROPAGATION).await.unwrap();
    // Two calls in flight on b, then b is killed.
    let calls: Vec<_> = (0..2)
        .map(|_| {
            let (client, url) = (pair.b.client().clone(), pair.b.url(OPENAI_CHAT));
            let key = key.key.clone();
            tokio::spawn(async move {
                let _ = client.post(url).bearer_auth(&key).json(&priced_call()).send().await;
            })
        })
        .collect();
    wait_upstream_requests(&pair.sim, 2).await;
    Arc::get_mut(&mut pair.b).expect("no other handle to b").kill9().await.unwrap();
    for c in calls {
        let _ = c.await;
    }
    let mut c = pair.sql().await;
    let held: i64 = sqlx::query("SELECT CAST(COALESCE(SUM(leased), 0) AS BIGINT) AS n FROM credit_accounts").fetch_one(&mut c).await.unwrap().get("n");
    assert!(held >= 2 * call_cost().0, "the killed instance's leases cover its calls: {held}");
    Arc::get_mut(&mut pair.b).expect("no other handle to b").restart().await.unwrap();
    // The replay records both calls at their reservation and the rest of the lease comes back.
    let spent = pair.recorded(&key.id, 2).await;
    let account_spent = pair.settled_account(&format!("key:{}:", key.id)).await;
    eprintln!("after kill -9 and restart: recorded {}, account spent {}", hub_core::NanoCredits(spent), hub_core::NanoCredits(account_spent));
    assert_eq!(spent, 2 * call_cost().0);
    assert_eq!(account_spent, spent);
    // The rest of the budget is usable from either instance.
    let (ok, refused) = pair.burst(&key.key, limits::SIMULTANEOUS_CALLS / 10).await;
    assert_eq!((ok, refused), (limits::COVERED_CALLS - 2, limits::SIMULTANEOUS_CALLS / 10 - (limits::COVERED_CALLS - 2)));
}

async fn leased(c: &mut sqlx::PgConnection) -> i64 {
    sqlx::query("SELECT CAST(COALESCE(SUM(leased), 0) AS BIGINT) AS n FROM credit_accounts").fetch_one(c).await.unwrap().get("n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_instance_gives_its_unused_lease_back() {
    let Some(mut pair) = two_hubs(SimConfig::default()).await else { return };
    let key = create_key_with(&pair.a, "stop", &["--budget", &covered().to_string()]).await;
    pair.b.wait_key_accepted(&key.key, limits::PROPAGATION).await.unwrap();
    expect_completion(chat(&pair.b, &key.key, &priced_call()).await).await;
    let mut c = pair.sql().await;
    let held = leased(&mut c).await;
    assert!(held > 0, "b leased more than its call needed: {held}");
    let b = Arc::get_mut(&mut pair.b).expect("no other handle to b");
    b.sigterm().await.unwrap();
    assert!(b.wait_exit(Duration::from_secs(10)).await.unwrap().success());
    // At once, not after the idle return: the stopping instance gave it back.
    assert_eq!(leased(&mut c).await, 0, "an instance that stopped holds nothing");
    let spent: i64 = sqlx::query("SELECT spent FROM credit_accounts").fetch_one(&mut c).await.unwrap().get("spent");
    assert_eq!(spent, call_cost().0);
}
