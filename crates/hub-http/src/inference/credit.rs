//! Credit admission: the call's maximum cost is reserved against its key's budget and its user's
//! balance (when credit billing is on) before the hold is journaled and before any upstream call;
//! settlement charges the actual cost and releases the rest.
//!
//! Budgets hold across every instance on one database. Each key budget window and each billed
//! user's balance is a shared account in the database (`hub_store::leases`): its usage records'
//! charges (`spent`) plus what instances hold as leases never exceed its limit. The [`Accountant`]
//! reserves calls in memory against this instance's lease, under one short mutex for both
//! accounts, all or nothing, never across an await: while the lease covers a call no database is
//! touched. When it runs short, the accountant takes more in one short transaction holding the
//! account's row lock — a chunk that shrinks with what is left (an eighth of it, at most
//! [`MAX_CHUNK`], at least what the call misses). When the account cannot cover the call, it is
//! flagged as wanted: every other instance holding a lease gives back its unused part at its
//! keeper's next tick ([`run_keeper`]) and marks its lease answered, and the call asks again
//! until every live holder has answered (at most [`RECLAIM_WAIT`]) before it is refused, so a
//! `402` means that the budget, less what calls in flight everywhere reserve, really cannot pay
//! for it.
//!
//! Unused lease goes back when an account has had no call in flight for [`IDLE_RETURN`], when
//! another instance wants it, and at shutdown. Leases are renewed every second; those of an
//! instance that stopped renewing them (killed) are released by the others after [`LEASE_TTL`],
//! and by the instance itself when it starts again, after its journal replay has recorded the
//! calls it had in flight. Settled spending stays exact: the usage writer moves each record's
//! charge from the instance's lease to the account's `spent` in the transaction that inserts it.
//!
//! A call of a key without budget while billing is off takes no lock here.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hub_core::budget::Budget;
use hub_core::fast_map::FastMap;
use hub_core::money::NanoCredits;
use hub_core::pricing::{self, CallBounds, ModelRate};
use hub_core::ProviderKind;
use hub_store::leases::{self, AccountScope, LeaseAsk, Leased};
use hub_store::{Store, StoreError};
use parking_lot::Mutex;

use crate::error::{ApiError, CreditShortfall};
use crate::keyed::with_entry;

/// The most one lease takes from an account (10 credits).
pub const MAX_CHUNK: NanoCredits = NanoCredits(10 * hub_core::money::NANOS_PER_CREDIT);
/// How long a lease lives without being renewed.
pub const LEASE_TTL: Duration = Duration::from_secs(10);
/// Unused lease of an account without a call in flight for this long goes back (a key called
/// more often than this keeps its lease between calls and touches no database).
pub const IDLE_RETURN: Duration = Duration::from_secs(1);
/// How often the keeper looks for wanted accounts and idle leases.
const KEEPER_TICK: Duration = Duration::from_millis(50);
/// How long a call the account cannot cover waits at most for other instances to give back
/// their unused leases. A live instance answers within a tick of its keeper; the margin is for a
/// loaded machine. An instance that died does not answer: its lease expires instead.
pub const RECLAIM_WAIT: Duration = Duration::from_secs(3);
/// Rounds of asking for more before a call gives up (each round's lease may be taken by the
/// instance's other calls before this one gets to it).
const ATTEMPTS: usize = 64;

pub struct Accountant {
    books: Mutex<FastMap<String, Book>>,
    store: Store,
    instance_id: String,
    /// Give-backs under way: their amount is, for the moment, neither in a book nor free in the
    /// database. A call is refused only when none is: otherwise it might be refused money that
    /// is on its way back.
    in_transit: AtomicUsize,
}

/// Counts one lease transaction as under way while it lives.
struct InTransit<'a>(&'a AtomicUsize);

impl<'a> InTransit<'a> {
    fn start(counter: &'a AtomicUsize) -> InTransit<'a> {
        counter.fetch_add(1, Ordering::SeqCst);
        InTransit(counter)
    }
}

impl Drop for InTransit<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// How long a call that found its accounts short waits for lease transactions under way.
const TRANSIT_WAIT: Duration = Duration::from_millis(2);

/// This instance's view of one account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Book {
    /// The unused part of this instance's lease.
    lease: i64,
    /// What calls in flight here reserve (also part of the lease in the database).
    reserved: i64,
    /// What the account's calls have been charged, as far as this instance knows (the
    /// database's sum at the last lease, plus this instance's settlements since).
    spent: i64,
    last_used_ms: i64,
}

/// Spending before and after one settlement.
#[derive(Debug, Default)]
pub struct Settled {
    /// The key's spending in its budget window, when the key has a budget.
    pub key_spent: Option<(NanoCredits, NanoCredits)>,
    /// The user's debits from their balance, when the call was billed.
    pub user_spent: Option<(String, NanoCredits, NanoCredits)>,
}

/// What one call holds; given back to [`Accountant::settle`] exactly once (by the `CallGuard`).
#[derive(Debug)]
pub struct Reservation {
    pub amount: NanoCredits,
    /// The key's budget account and the start of its window.
    key: Option<(String, i64)>,
    /// The user's balance account, and the user.
    user: Option<(String, String)>,
}

impl Reservation {
    pub fn billed(&self) -> bool {
        self.user.is_some()
    }

    /// The start of the key's budget window the call was reserved in.
    pub fn budget_window(&self) -> Option<i64> {
        self.key.as_ref().map(|(_, w)| *w)
    }
}

/// Whose money a call needs.
pub struct Accounts<'a> {
    pub key_id: &'a str,
    pub budget: Option<Budget>,
    /// The user, and their unexpired grants now, when credit billing is on.
    pub user: Option<(&'a str, NanoCredits)>,
}

/// How much of a key's budget or a user's balance is left.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Standing {
    pub spent: NanoCredits,
    pub reserved: NanoCredits,
}

/// Why a reservation failed.
#[derive(Debug)]
pub enum ReserveError {
    Short(CreditShortfall),
    Store(StoreError),
}

/// What the leases alone could do for a call.
enum Local {
    Reserved,
    /// Account `.0` cannot cover the call whatever is leased; `.1` is what it has left.
    Refused(usize, i64),
    /// These accounts miss this much.
    Short(Vec<(usize, i64)>),
}

/// One account a call needs: its scope, its name, its limit.
struct Need<'a> {
    scope: AccountScope<'a>,
    account: String,
    limit: i64,
    budget: bool,
}

impl Accountant {
    /// The books of the instance `instance_id`, leasing from `store`'s accounts.
    pub fn new(store: Store, instance_id: impl Into<String>) -> Accountant {
        Accountant { books: Mutex::new(FastMap::default()), store, instance_id: instance_id.into(), in_transit: AtomicUsize::new(0) }
    }

    /// Loads what each budgeted key spent in its current window and what each user's billed
    /// calls debited, for the pages and the threshold alerts; called at start, after the usage
    /// journal was replayed.
    pub async fn load_from(&self, store: &Store, now_ms: i64) -> Result<(), StoreError> {
        let mut loaded = FastMap::default();
        for (key_id, budget) in store.budgeted_keys().await? {
            let window = budget.window_start(now_ms);
            let spent = store.key_spent_since(&key_id, window).await?;
            loaded.insert(leases::key_account(&key_id, window), Book { spent: spent.0, ..Book::default() });
        }
        for (user_id, debited) in store.billed_by_user().await? {
            loaded.insert(leases::user_account(&user_id), Book { spent: debited.0, ..Book::default() });
        }
        *self.books.lock() = loaded;
        Ok(())
    }

    /// Reserves `amount` against the key's budget and the user's balance, all or nothing.
    /// `started_at_ms` (the call's record time) decides the budget window, as the database does.
    /// Waits for the database only when this instance's lease does not cover the call.
    pub async fn reserve(&self, who: &Accounts<'_>, amount: NanoCredits, started_at_ms: i64) -> Result<Reservation, ReserveError> {
        let mut needs: Vec<Need<'_>> = Vec::with_capacity(2);
        let mut key = None;
        if let Some(budget) = who.budget {
            let window = budget.window_start(started_at_ms);
            let scope = AccountScope::Key { key_id: who.key_id, window_start_ms: window };
            let account = scope.account();
            key = Some((account.clone(), window));
            needs.push(Need { account, scope, limit: budget.limit.0, budget: true });
        }
        let mut user = None;
        if let Some((user_id, granted)) = who.user {
            let scope = AccountScope::User { user_id };
            let account = scope.account();
            user = Some((account.clone(), user_id.to_owned()));
            needs.push(Need { account, scope, limit: granted.0, budget: false });
        }
        let mut want = true;
        let mut found_short: Option<std::time::Instant> = None;
        'attempts: for _ in 0..ATTEMPTS {
            let short = match self.try_reserve(&needs, amount.0, started_at_ms) {
                Local::Reserved => return Ok(Reservation { amount, key, user }),
                Local::Refused(i, left) => return Err(ReserveError::Short(shortfall(needs[i].budget, amount, NanoCredits(left)))),
                Local::Short(short) => short,
            };
            for (i, missing) in short {
                let need = &needs[i];
                let ask = LeaseAsk {
                    scope: need.scope,
                    instance_id: &self.instance_id,
                    need: missing,
                    limit: need.limit,
                    max_chunk: MAX_CHUNK.0,
                    now_ms: hub_core::ids::now_ms(),
                    ttl_ms: ttl_ms(),
                    want,
                };
                match self.store.take_lease(ask).await.map_err(ReserveError::Store)? {
                    Leased::Granted { amount: got, spent } => {
                        let mut books = self.books.lock();
                        let book = books.entry(need.account.clone()).or_default();
                        book.lease = book.lease.saturating_add(got);
                        book.spent = book.spent.max(spent);
                    }
                    Leased::Short { available, spent, unanswered } => {
                        want = false;
                        let since = *found_short.get_or_insert_with(std::time::Instant::now);
                        if unanswered > 0 && since.elapsed() < RECLAIM_WAIT {
                            // Other instances give their unused leases back within a tick of
                            // their keeper; ask again once they have.
                            tokio::time::sleep(KEEPER_TICK).await;
                            continue 'attempts;
                        }
                        let left = {
                            let mut books = self.books.lock();
                            let book = books.entry(need.account.clone()).or_default();
                            book.spent = book.spent.max(spent);
                            NanoCredits(available.saturating_add(book.lease))
                        };
                        if left.0 >= amount.0 {
                            // Leases other calls took while this one waited are unreserved here
                            // now: with them, what is missing is less than asked. Ask again.
                            continue 'attempts;
                        }
                        if self.in_transit.load(Ordering::SeqCst) > 0 {
                            // A give-back is between the books and the database.
                            tokio::time::sleep(TRANSIT_WAIT).await;
                            continue 'attempts;
                        }
                        return Err(ReserveError::Short(shortfall(need.budget, amount, left)));
                    }
                }
            }
        }
        let budget = needs.first().is_some_and(|n| n.budget);
        Err(ReserveError::Short(shortfall(budget, amount, NanoCredits::ZERO)))
    }

    /// Reserves from the leases alone, all or nothing; otherwise says which accounts miss how
    /// much. An account whose known spending leaves less than the call refuses it at once
    /// (what this instance knows was spent is never more than what was).
    fn try_reserve(&self, needs: &[Need<'_>], amount: i64, now_ms: i64) -> Local {
        let mut books = self.books.lock();
        let mut short = Vec::new();
        for (i, need) in needs.iter().enumerate() {
            let book = books.get(need.account.as_str()).copied().unwrap_or_default();
            let unspent = need.limit.saturating_sub(book.spent);
            if unspent < amount {
                return Local::Refused(i, unspent.saturating_sub(book.reserved));
            }
            if book.lease < amount {
                short.push((i, amount - book.lease));
            }
        }
        if !short.is_empty() {
            return Local::Short(short);
        }
        for need in needs {
            with_entry(&mut books, &need.account, Book::default, |book| {
                book.lease -= amount;
                book.reserved = book.reserved.saturating_add(amount);
                book.last_used_ms = now_ms;
            });
        }
        Local::Reserved
    }

    /// Charges `charged` (the record's credits; it may exceed the reservation when the upstream
    /// reported more than the bounds) and releases the rest of the reservation into the lease.
    /// Returns what was spent before and after the charge — the key's in its budget window,
    /// the user's from their balance — for the threshold alerts.
    pub fn settle(&self, r: Reservation, charged: NanoCredits) -> Settled {
        let mut books = self.books.lock();
        let now = hub_core::ids::now_ms();
        let mut one = |account: &str| {
            with_entry(&mut books, account, Book::default, |book| {
                book.reserved = book.reserved.saturating_sub(r.amount.0).max(0);
                // The charge stays in the lease until the usage writer moves it to `spent`.
                book.lease = book.lease.saturating_add(r.amount.0).saturating_sub(charged.0).max(0);
                book.last_used_ms = now;
                let before = book.spent;
                book.spent = book.spent.saturating_add(charged.0);
                (NanoCredits(before), NanoCredits(book.spent))
            })
        };
        let key_spent = r.key.as_ref().map(|(account, _)| one(account));
        let user_spent = r.user.as_ref().map(|(account, user_id)| {
            let (before, after) = one(account);
            (user_id.clone(), before, after)
        });
        Settled { key_spent, user_spent }
    }

    /// A budgeted key's spending in the window containing `now_ms`, and what its calls in
    /// flight on this instance reserve.
    pub fn key_standing(&self, key_id: &str, budget: &Budget, now_ms: i64) -> Standing {
        self.standing(&leases::key_account(key_id, budget.window_start(now_ms)))
    }

    /// What a user's calls have debited, and what calls in flight on this instance reserve.
    pub fn user_standing(&self, user_id: &str) -> Standing {
        self.standing(&leases::user_account(user_id))
    }

    fn standing(&self, account: &str) -> Standing {
        let books = self.books.lock();
        books.get(account).map_or_else(Standing::default, |b| Standing { spent: NanoCredits(b.spent), reserved: NanoCredits(b.reserved) })
    }

    /// Gives the unused part of an account's lease back to the database; `answered` records
    /// the want it answers.
    async fn give_back(&self, account: &str, answered: Option<i64>) -> Result<(), StoreError> {
        let _transit = InTransit::start(&self.in_transit);
        let unused = {
            let mut books = self.books.lock();
            match books.get_mut(account) {
                Some(book) if book.lease > 0 => std::mem::take(&mut book.lease),
                _ if answered.is_some() => 0,
                _ => return Ok(()),
            }
        };
        if let Err(e) = self.store.give_back_lease(account, &self.instance_id, unused, answered).await {
            if let Some(book) = self.books.lock().get_mut(account) {
                book.lease = book.lease.saturating_add(unused);
            }
            return Err(e);
        }
        Ok(())
    }

    /// Gives back every unused lease (at shutdown, once the usage writer has stopped). What
    /// calls still in flight reserve stays leased until this instance starts again or the
    /// lease expires.
    pub async fn give_back_all(&self) -> Result<(), StoreError> {
        let accounts: Vec<String> = self.books.lock().iter().filter(|(_, b)| b.lease > 0).map(|(a, _)| a.clone()).collect();
        for account in accounts {
            self.give_back(&account, None).await?;
        }
        Ok(())
    }

    /// One round of the keeper: gives back the leases other instances want and those idle.
    async fn keep(&self, now_ms: i64) -> Result<(), StoreError> {
        let idle_before = now_ms - i64::try_from(IDLE_RETURN.as_millis()).unwrap_or(i64::MAX);
        let idle: Vec<String> = self
            .books
            .lock()
            .iter()
            .filter(|(_, b)| b.lease > 0 && b.reserved == 0 && b.last_used_ms <= idle_before)
            .map(|(a, _)| a.clone())
            .collect();
        for (account, wanted_at) in self.store.wanted_accounts(&self.instance_id).await? {
            self.give_back(&account, Some(wanted_at)).await?;
        }
        for account in idle {
            self.give_back(&account, None).await?;
        }
        Ok(())
    }
}

fn ttl_ms() -> i64 {
    i64::try_from(LEASE_TTL.as_millis()).unwrap_or(i64::MAX)
}

fn shortfall(budget: bool, needed: NanoCredits, left: NanoCredits) -> CreditShortfall {
    let left = left.max(NanoCredits::ZERO);
    if budget {
        CreditShortfall::Budget { needed, left }
    } else {
        CreditShortfall::Balance { needed, left }
    }
}

/// Keeps this instance's leases: every tick gives back what other instances want and what is
/// idle; every second renews its leases and releases those of instances that stopped renewing.
pub async fn run_keeper(state: crate::AppState) {
    let accountant = &state.accountant;
    let mut tick = tokio::time::interval(KEEPER_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_renewal = 0i64;
    loop {
        tick.tick().await;
        let now = hub_core::ids::now_ms();
        if let Err(e) = accountant.keep(now).await {
            tracing::warn!(error = %e, "giving back unused budget leases failed; trying again");
        }
        if now - last_renewal >= 1000 {
            last_renewal = now;
            let renewed = accountant.store.renew_leases(&accountant.instance_id, now, ttl_ms()).await;
            let expired = accountant.store.expire_leases(now).await;
            match (renewed, expired) {
                (Err(e), _) | (_, Err(e)) => tracing::warn!(error = %e, "renewing budget leases failed; trying again"),
                (Ok(()), Ok(n)) if n > 0 => tracing::info!(released = n, "released the budget leases of instances that stopped"),
                _ => {}
            }
        }
    }
}

/// What admission knows about a call's price.
pub struct Quote {
    pub rate: Option<ModelRate>,
    pub amount: NanoCredits,
}

/// The most a call may cost at `rate`. A chat call that names no output maximum reserves the
/// model's output limit; when that is unknown too, the call cannot be bounded and is refused.
/// `model` names the model in a refusal (`provider/model`).
pub fn quote(rate: Option<ModelRate>, model: impl std::fmt::Display, bounds: CallBounds, max_output_known: bool) -> Result<Quote, ApiError> {
    let Some(rate) = rate else {
        return Err(ApiError::Unpriced(format!(
            "The model '{model}' has no rate on this hub, so its cost cannot be reserved; an admin must set one (aigne-hub rate set)"
        )));
    };
    if !max_output_known {
        return Err(ApiError::bad_request(
            Some("max_tokens"),
            format!("The output limit of '{model}' is unknown to this hub; set max_tokens so the call's cost can be reserved"),
        ));
    }
    Ok(Quote { rate: Some(rate), amount: pricing::reservation(&rate, bounds) })
}

/// The output tokens a chat call may produce per choice: what it asked for, else the model's
/// limit from the list prices.
pub fn output_bound(asked: Option<u64>, kind: ProviderKind, model: &str) -> Option<u64> {
    asked.or_else(|| hub_store::rate_directory::max_output_tokens(kind, model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpriced_and_unbounded_calls_are_refused() {
        let b = CallBounds { input_tokens: 1, output_tokens: 1, choices: 1, images: 0, video_seconds: 0 };
        assert!(matches!(quote(None, "m", b, true), Err(ApiError::Unpriced(m)) if m.contains("'m'")));
        let rate = ModelRate::at_list_price(1, 1, 1, 0);
        assert!(matches!(quote(Some(rate), "m", b, false), Err(ApiError::BadRequest { param: Some("max_tokens"), .. })));
        assert_eq!(quote(Some(rate), "m", b, true).map(|q| q.amount).ok(), Some(NanoCredits(2)));
    }
}
