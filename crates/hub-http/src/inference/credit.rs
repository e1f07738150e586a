//! Credit admission: the call's maximum cost is reserved against its key's budget and its user's
//! balance (when credit billing is on) before the hold is journaled and before any upstream call;
//! settlement charges the actual cost and releases the rest.
//!
//! The [`Accountant`] keeps, in memory, per budgeted key the spending of the current window plus
//! what is reserved, and per billed user what was debited plus what is reserved. It is loaded at
//! start from the database (after the journal replay, so every earlier call is counted) and kept
//! exact afterwards by settlement: the numbers it adds are the `credits` of the usage records the
//! same settlement writes. Reserving takes one short mutex for both accounts, all or nothing, and
//! never across an await: concurrent calls can never reserve more than is there.
//!
//! Each process keeps its own books: with several instances on one database, budgets hold per
//! instance (leasing budget in chunks from the shared store is the step after this one).
//!
//! A call of a key without budget while billing is off takes no lock here.

use std::collections::HashMap;

use hub_core::budget::Budget;
use hub_core::money::NanoCredits;
use hub_core::pricing::{self, CallBounds, ModelRate};
use hub_core::ProviderKind;
use parking_lot::Mutex;

use crate::error::{ApiError, CreditShortfall};

#[derive(Default)]
pub struct Accountant {
    books: Mutex<Books>,
}

#[derive(Default)]
struct Books {
    keys: HashMap<String, KeyBook>,
    users: HashMap<String, UserBook>,
}

/// One budgeted key: what the calls that started in the current window cost, and what calls in
/// flight have reserved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct KeyBook {
    window_start: i64,
    spent: NanoCredits,
    reserved: NanoCredits,
}

/// One billed user: credits debited by settled calls and reserved by calls in flight.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct UserBook {
    debited: NanoCredits,
    reserved: NanoCredits,
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
    /// The key and the budget window the call was reserved in.
    key: Option<(String, i64)>,
    /// The user whose balance the call is debited from.
    user: Option<String>,
    started_at_ms: i64,
}

impl Reservation {
    pub fn billed(&self) -> bool {
        self.user.is_some()
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

impl Accountant {
    /// Rebuilds the books from the database's sums: per budgeted key, its spending since the
    /// window start; per user, the credits of their billed records.
    pub fn load(&self, keys: Vec<(String, i64, NanoCredits)>, users: HashMap<String, NanoCredits>) {
        let mut books = self.books.lock();
        books.keys = keys.into_iter().map(|(k, window_start, spent)| (k, KeyBook { window_start, spent, reserved: NanoCredits::ZERO })).collect();
        books.users = users.into_iter().map(|(u, debited)| (u, UserBook { debited, reserved: NanoCredits::ZERO })).collect();
    }

    /// Loads the books from the database; called at start, after the usage journal was replayed
    /// into it (so every earlier call is counted) and before the first call is admitted.
    pub async fn load_from(&self, store: &hub_store::Store, now_ms: i64) -> Result<(), hub_store::StoreError> {
        let mut keys = Vec::new();
        for (key_id, budget) in store.budgeted_keys().await? {
            let window = budget.window_start(now_ms);
            let spent = store.key_spent_since(&key_id, window).await?;
            keys.push((key_id, window, spent));
        }
        self.load(keys, store.billed_by_user().await?);
        Ok(())
    }

    /// Reserves `amount` against the key's budget and the user's balance, all or nothing.
    /// `started_at_ms` (the call's record time) decides the budget window, as the database does.
    pub fn reserve(&self, who: &Accounts<'_>, amount: NanoCredits, started_at_ms: i64) -> Result<Reservation, CreditShortfall> {
        let mut books = self.books.lock();
        let Books { keys, users } = &mut *books;
        let key = match who.budget {
            Some(budget) => {
                let window = budget.window_start(started_at_ms);
                let book = keys.entry(who.key_id.to_owned()).or_insert(KeyBook { window_start: window, ..KeyBook::default() });
                if window > book.window_start {
                    // A new day or month (or a new budget): spending starts again from zero.
                    book.window_start = window;
                    book.spent = NanoCredits::ZERO;
                }
                let left = NanoCredits(budget.limit.0.saturating_sub(book.spent.0).saturating_sub(book.reserved.0));
                if amount > left {
                    return Err(CreditShortfall::Budget { needed: amount, left: left.max(NanoCredits::ZERO) });
                }
                Some((book, window))
            }
            None => None,
        };
        let user = match who.user {
            Some((user_id, granted)) => {
                let book = users.entry(user_id.to_owned()).or_default();
                let left = NanoCredits(granted.0.saturating_sub(book.debited.0).saturating_sub(book.reserved.0));
                if amount > left {
                    return Err(CreditShortfall::Balance { needed: amount, left: left.max(NanoCredits::ZERO) });
                }
                book.reserved = book.reserved.saturating_add(amount);
                Some(user_id.to_owned())
            }
            None => None,
        };
        let key = key.map(|(book, window)| {
            book.reserved = book.reserved.saturating_add(amount);
            (who.key_id.to_owned(), window)
        });
        Ok(Reservation { amount, key, user, started_at_ms })
    }

    /// Charges `charged` (the record's credits; it may exceed the reservation when the upstream
    /// reported more than the bounds) and releases the reservation. Returns what was spent
    /// before and after the charge — the key's in its budget window, the user's from their
    /// balance — for the threshold alerts.
    pub fn settle(&self, r: Reservation, charged: NanoCredits) -> Settled {
        let mut books = self.books.lock();
        let mut key_spent = None;
        let mut user_spent = None;
        if let Some((key_id, window)) = &r.key {
            if let Some(book) = books.keys.get_mut(key_id) {
                book.reserved = NanoCredits(book.reserved.0.saturating_sub(r.amount.0));
                // Counted where the database counts it: in the window the call started in.
                if *window == book.window_start && r.started_at_ms >= book.window_start {
                    let before = book.spent;
                    book.spent = book.spent.saturating_add(charged);
                    key_spent = Some((before, book.spent));
                }
            }
        }
        if let Some(user_id) = &r.user {
            if let Some(book) = books.users.get_mut(user_id) {
                book.reserved = NanoCredits(book.reserved.0.saturating_sub(r.amount.0));
                let before = book.debited;
                book.debited = book.debited.saturating_add(charged);
                user_spent = Some((user_id.clone(), before, book.debited));
            }
        }
        Settled { key_spent, user_spent }
    }

    /// A budgeted key's spending in the window containing `now_ms`, and its reservations.
    pub fn key_standing(&self, key_id: &str, budget: &Budget, now_ms: i64) -> Standing {
        let books = self.books.lock();
        books.keys.get(key_id).map_or_else(Standing::default, |b| Standing {
            spent: if b.window_start >= budget.window_start(now_ms) { b.spent } else { NanoCredits::ZERO },
            reserved: b.reserved,
        })
    }

    /// What a user's calls have debited, and what calls in flight reserve.
    pub fn user_standing(&self, user_id: &str) -> Standing {
        let books = self.books.lock();
        books.users.get(user_id).map_or_else(Standing::default, |b| Standing { spent: b.debited, reserved: b.reserved })
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
    use hub_core::budget::BudgetPeriod;

    const DAY_MS: i64 = 86_400_000;

    fn budget(limit: i64, period: BudgetPeriod) -> Budget {
        Budget { limit: NanoCredits(limit), period, since_ms: 0 }
    }

    #[test]
    fn reservations_never_exceed_the_budget_and_settle_exactly() {
        let a = Accountant::default();
        let who = Accounts { key_id: "k", budget: Some(budget(100, BudgetPeriod::Total)), user: None };
        let r1 = a.reserve(&who, NanoCredits(60), 1).unwrap();
        assert!(matches!(a.reserve(&who, NanoCredits(41), 2), Err(CreditShortfall::Budget { left: NanoCredits(40), .. })));
        let r2 = a.reserve(&who, NanoCredits(40), 3).unwrap();
        a.settle(r1, NanoCredits(25));
        a.settle(r2, NanoCredits(40));
        let b = budget(100, BudgetPeriod::Total);
        assert_eq!(a.key_standing("k", &b, 4), Standing { spent: NanoCredits(65), reserved: NanoCredits::ZERO });
        assert!(a.reserve(&who, NanoCredits(36), 5).is_err());
        assert!(a.reserve(&who, NanoCredits(35), 5).is_ok());
    }

    #[test]
    fn both_accounts_or_neither() {
        let a = Accountant::default();
        let who = Accounts { key_id: "k", budget: Some(budget(1000, BudgetPeriod::Total)), user: Some(("u", NanoCredits(50))) };
        assert!(matches!(a.reserve(&who, NanoCredits(60), 1), Err(CreditShortfall::Balance { .. })));
        // The refused call left nothing reserved on the key.
        assert_eq!(a.key_standing("k", &budget(1000, BudgetPeriod::Total), 1).reserved, NanoCredits::ZERO);
        let r = a.reserve(&who, NanoCredits(50), 2).unwrap();
        assert!(r.billed());
        a.settle(r, NanoCredits(10));
        assert_eq!(a.user_standing("u"), Standing { spent: NanoCredits(10), reserved: NanoCredits::ZERO });
    }

    #[test]
    fn a_day_budget_starts_again_at_midnight_and_late_settlements_stay_in_their_day() {
        let a = Accountant::default();
        let b = budget(100, BudgetPeriod::Day);
        let who = Accounts { key_id: "k", budget: Some(b), user: None };
        let late = a.reserve(&who, NanoCredits(30), DAY_MS - 10).unwrap();
        let done = a.reserve(&who, NanoCredits(70), DAY_MS - 5).unwrap();
        a.settle(done, NanoCredits(70));
        assert!(a.reserve(&who, NanoCredits(1), DAY_MS - 1).is_err());
        // The next day: the earlier spending is gone; the call still in flight keeps its hold.
        let next = a.reserve(&who, NanoCredits(70), DAY_MS + 1).unwrap();
        assert!(a.reserve(&who, NanoCredits(1), DAY_MS + 2).is_err());
        a.settle(late, NanoCredits(30));
        a.settle(next, NanoCredits(70));
        assert_eq!(a.key_standing("k", &b, DAY_MS + 3).spent, NanoCredits(70));
        assert_eq!(a.key_standing("k", &b, 2 * DAY_MS + 3).spent, NanoCredits::ZERO);
    }

    #[test]
    fn unpriced_and_unbounded_calls_are_refused() {
        let b = CallBounds { input_tokens: 1, output_tokens: 1, choices: 1, images: 0, video_seconds: 0 };
        assert!(matches!(quote(None, "m", b, true), Err(ApiError::Unpriced(m)) if m.contains("'m'")));
        let rate = ModelRate::at_list_price(1, 1, 1, 0);
        assert!(matches!(quote(Some(rate), "m", b, false), Err(ApiError::BadRequest { param: Some("max_tokens"), .. })));
        assert_eq!(quote(Some(rate), "m", b, true).map(|q| q.amount).ok(), Some(NanoCredits(2)));
    }
}
