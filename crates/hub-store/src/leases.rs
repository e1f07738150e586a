//! Shared credit accounts and the leases instances take from them.
//!
//! An account is a key's budget window (`key:<key id>:<window start>`) or a billed user's balance
//! (`user:<user id>`). Its row holds what its usage records charged (`spent`, started from the
//! records' sum when the row is created and raised by the usage writer in the transaction that
//! inserts each record) and what instances hold (`leased`, the sum of its `credit_leases` rows).
//! Every change to `leased` runs in one short transaction holding the account's row lock, and
//! a lease is only granted when `spent + leased + lease <= limit`: the instances together can
//! never reserve more than the account has.

use sqlx::Row;

use crate::db::{Backend, Store};
use crate::error::StoreError;

/// The account of a key's budget in the window starting at `window_start_ms`.
pub fn key_account(key_id: &str, window_start_ms: i64) -> String {
    format!("key:{key_id}:{window_start_ms}")
}

/// The account of a user's credit balance.
pub fn user_account(user_id: &str) -> String {
    format!("user:{user_id}")
}

/// Whose usage records an account counts, to start its `spent` when its row is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AccountScope<'a> {
    /// A key's records that started at or after the window start.
    Key { key_id: &'a str, window_start_ms: i64 },
    /// A user's billed records.
    User { user_id: &'a str },
}

impl AccountScope<'_> {
    pub fn account(&self) -> String {
        match *self {
            AccountScope::Key { key_id, window_start_ms } => key_account(key_id, window_start_ms),
            AccountScope::User { user_id } => user_account(user_id),
        }
    }
}

/// One request for more of an account.
#[derive(Debug, Clone, Copy)]
pub struct LeaseAsk<'a> {
    pub scope: AccountScope<'a>,
    pub instance_id: &'a str,
    /// The least that is any use (what the call still misses).
    pub need: i64,
    /// The account's limit now (the key's budget, the user's unexpired grants).
    pub limit: i64,
    /// The most one lease takes.
    pub max_chunk: i64,
    pub now_ms: i64,
    pub ttl_ms: i64,
    /// When short, flag the account as wanted (the first ask of a call; its retries only look).
    pub want: bool,
}

/// What a lease request got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leased {
    /// `amount` (at least the need) now belongs to the instance; `spent` is the account's.
    Granted { amount: i64, spent: i64 },
    /// The account cannot cover the need: `available` is what no lease holds; `unanswered`
    /// other instances hold leases and have not yet given back their unused part since the
    /// account was found short.
    Short { available: i64, spent: i64, unanswered: i64 },
}

/// How big a lease is: a share of what is left, so that near the end idle instances hold little,
/// but never less than the need, nor more than what is left.
pub fn chunk(available: i64, need: i64, max_chunk: i64) -> i64 {
    need.max(max_chunk.min(available / 8)).min(available)
}

/// An account as stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccountRow {
    pub spent: i64,
    pub leased: i64,
}

impl Store {
    /// Locks the account's row for the transaction, creating it (its `spent` summed from the
    /// usage records) when it is missing.
    async fn lock_account(&self, tx: &mut sqlx::AnyConnection, scope: AccountScope<'_>) -> Result<AccountRow, StoreError> {
        let account = scope.account();
        let select = match self.backend {
            Backend::Postgres => "SELECT spent, leased FROM credit_accounts WHERE account = $1 FOR UPDATE",
            // The transaction began immediate: it holds the database's write lock already.
            Backend::Sqlite => "SELECT spent, leased FROM credit_accounts WHERE account = $1",
        };
        if let Some(row) = sqlx::query(select).bind(&account).fetch_optional(&mut *tx).await? {
            return Ok(AccountRow { spent: row.try_get("spent")?, leased: row.try_get("leased")? });
        }
        let spent: Option<i64> = match scope {
            AccountScope::Key { key_id, window_start_ms } => sqlx::query("SELECT CAST(SUM(credits) AS BIGINT) AS n FROM usage_records WHERE key_id = $1 AND ts >= $2")
                .bind(key_id)
                .bind(window_start_ms)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?,
            AccountScope::User { user_id } => sqlx::query("SELECT CAST(SUM(credits) AS BIGINT) AS n FROM usage_records WHERE user_id = $1 AND billed = 1")
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?
                .try_get("n")?,
        };
        sqlx::query("INSERT INTO credit_accounts (account, spent, leased, wanted_at) VALUES ($1, $2, 0, 0) ON CONFLICT (account) DO NOTHING")
            .bind(&account)
            .bind(spent.unwrap_or(0))
            .execute(&mut *tx)
            .await?;
        let row = sqlx::query(select).bind(&account).fetch_one(&mut *tx).await?;
        Ok(AccountRow { spent: row.try_get("spent")?, leased: row.try_get("leased")? })
    }

    /// Takes a lease of at least `ask.need` from the account, or says it is short (and flags the
    /// account as wanted, so other instances give back what they hold unused).
    pub async fn take_lease(&self, ask: LeaseAsk<'_>) -> Result<Leased, StoreError> {
        let account = ask.scope.account();
        let mut tx = self.begin_write().await?;
        let row = self.lock_account(&mut tx, ask.scope).await?;
        let available = ask.limit.saturating_sub(row.spent).saturating_sub(row.leased);
        if available < ask.need {
            if ask.want {
                sqlx::query("UPDATE credit_accounts SET wanted_at = $2 WHERE account = $1 AND wanted_at < $2").bind(&account).bind(ask.now_ms).execute(&mut *tx).await?;
            }
            let unanswered: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM credit_leases l JOIN credit_accounts a ON a.account = l.account \
                 WHERE l.account = $1 AND l.instance_id <> $2 AND l.answered_at < a.wanted_at",
            )
            .bind(&account)
            .bind(ask.instance_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
            tx.commit().await?;
            return Ok(Leased::Short { available: available.max(0), spent: row.spent, unanswered });
        }
        let amount = chunk(available, ask.need, ask.max_chunk);
        sqlx::query("UPDATE credit_accounts SET leased = leased + $2 WHERE account = $1").bind(&account).bind(amount).execute(&mut *tx).await?;
        sqlx::query(
            "INSERT INTO credit_leases (account, instance_id, amount, expires_at, answered_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account, instance_id) DO UPDATE SET amount = credit_leases.amount + excluded.amount, expires_at = excluded.expires_at",
        )
        .bind(&account)
        .bind(ask.instance_id)
        .bind(amount)
        .bind(ask.now_ms.saturating_add(ask.ttl_ms))
        // Taken after any earlier want: it was cut from what was left then.
        .bind(ask.now_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Leased::Granted { amount, spent: row.spent })
    }

    /// Gives `amount` of an instance's lease back to the account (at most what the lease holds)
    /// and, with `answered`, records that the instance answered the account's want of that time.
    /// Returns what was given back.
    pub async fn give_back_lease(&self, account: &str, instance_id: &str, amount: i64, answered: Option<i64>) -> Result<i64, StoreError> {
        let mut tx = self.begin_write().await?;
        // The account's row first, like every transaction here: none waits for another in a circle.
        lock_row(&mut tx, self.backend, account).await?;
        if let Some(wanted_at) = answered {
            sqlx::query("UPDATE credit_leases SET answered_at = $3 WHERE account = $1 AND instance_id = $2 AND answered_at < $3")
                .bind(account)
                .bind(instance_id)
                .bind(wanted_at)
                .execute(&mut *tx)
                .await?;
        }
        let given = if amount > 0 { release_in(&mut tx, self.backend, account, instance_id, Some(amount)).await? } else { 0 };
        tx.commit().await?;
        Ok(given)
    }

    /// Releases every lease `instance_id` holds (at start, after the journal replay settled its
    /// earlier calls: what is left of its leases is nobody's). Returns how many.
    pub async fn release_leases_of(&self, instance_id: &str) -> Result<usize, StoreError> {
        let rows = sqlx::query("SELECT account FROM credit_leases WHERE instance_id = $1").bind(instance_id).fetch_all(&self.pool).await?;
        let mut n = 0;
        for r in rows {
            let account: String = r.try_get("account")?;
            let mut tx = self.begin_write().await?;
            release_in(&mut tx, self.backend, &account, instance_id, None).await?;
            tx.commit().await?;
            n += 1;
        }
        Ok(n)
    }

    /// Releases leases whose instance stopped renewing them before `now_ms` (it died): their
    /// amount is the account's again. Returns how many.
    pub async fn expire_leases(&self, now_ms: i64) -> Result<usize, StoreError> {
        let rows = sqlx::query("SELECT account, instance_id FROM credit_leases WHERE expires_at < $1").bind(now_ms).fetch_all(&self.pool).await?;
        let mut n = 0;
        for r in rows {
            let account: String = r.try_get("account")?;
            let instance: String = r.try_get("instance_id")?;
            let mut tx = self.begin_write().await?;
            // Looked at again under the lock: the instance may have renewed it meanwhile.
            let still: Option<i64> = sqlx::query("SELECT expires_at FROM credit_leases WHERE account = $1 AND instance_id = $2")
                .bind(&account)
                .bind(&instance)
                .fetch_optional(&mut *tx)
                .await?
                .map(|row| row.try_get("expires_at"))
                .transpose()?;
            if still.is_some_and(|e| e < now_ms) {
                release_in(&mut tx, self.backend, &account, &instance, None).await?;
                n += 1;
            }
            tx.commit().await?;
        }
        Ok(n)
    }

    /// Keeps an instance's leases alive for another `ttl_ms`.
    pub async fn renew_leases(&self, instance_id: &str, now_ms: i64, ttl_ms: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE credit_leases SET expires_at = $2 WHERE instance_id = $1").bind(instance_id).bind(now_ms.saturating_add(ttl_ms)).execute(&self.pool).await?;
        Ok(())
    }

    /// The accounts `instance_id` holds a lease on that some instance found short since it
    /// last answered, with the time of that want.
    pub async fn wanted_accounts(&self, instance_id: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT l.account AS account, a.wanted_at AS wanted_at FROM credit_leases l JOIN credit_accounts a ON a.account = l.account \
             WHERE l.instance_id = $1 AND a.wanted_at > l.answered_at",
        )
        .bind(instance_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| Ok((r.try_get("account")?, r.try_get("wanted_at")?))).collect()
    }

    /// An account's row, if it exists.
    pub async fn credit_account(&self, account: &str) -> Result<Option<AccountRow>, StoreError> {
        let row = sqlx::query("SELECT spent, leased FROM credit_accounts WHERE account = $1").bind(account).fetch_optional(&self.pool).await?;
        row.map(|r| Ok(AccountRow { spent: r.try_get("spent")?, leased: r.try_get("leased")? })).transpose()
    }
}

/// Within a transaction: locks the account's row (on SQLite the transaction holds the write lock
/// already).
async fn lock_row(tx: &mut sqlx::AnyConnection, backend: Backend, account: &str) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT leased FROM credit_accounts WHERE account = $1 FOR UPDATE").bind(account).fetch_optional(&mut *tx).await?;
    }
    Ok(())
}

/// Within a transaction: takes `amount` (everything when `None`) out of an instance's lease and
/// gives it back to the account, deleting the lease when it is empty. The account's row is
/// locked first, as everywhere else, so transactions never wait for each other in a circle.
async fn release_in(tx: &mut sqlx::AnyConnection, backend: Backend, account: &str, instance_id: &str, amount: Option<i64>) -> Result<i64, StoreError> {
    lock_row(tx, backend, account).await?;
    let held: Option<i64> = sqlx::query("SELECT amount FROM credit_leases WHERE account = $1 AND instance_id = $2")
        .bind(account)
        .bind(instance_id)
        .fetch_optional(&mut *tx)
        .await?
        .map(|r| r.try_get("amount"))
        .transpose()?;
    let Some(held) = held else { return Ok(0) };
    let given = amount.map_or(held, |a| a.min(held)).max(0);
    if given >= held {
        sqlx::query("DELETE FROM credit_leases WHERE account = $1 AND instance_id = $2").bind(account).bind(instance_id).execute(&mut *tx).await?;
    } else {
        sqlx::query("UPDATE credit_leases SET amount = amount - $3 WHERE account = $1 AND instance_id = $2")
            .bind(account)
            .bind(instance_id)
            .bind(given)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query("UPDATE credit_accounts SET leased = leased - $2 WHERE account = $1").bind(account).bind(given).execute(&mut *tx).await?;
    Ok(given)
}

/// Within the usage writer's transaction: the inserted records' charges move from the writing
/// instance's lease (which covered them) to the account's `spent`, so `spent` is always the sum
/// of the account's records and `spent + leased` does not move. Accounts are locked in order.
pub(crate) async fn charge_in(tx: &mut sqlx::AnyConnection, backend: Backend, instance_id: Option<&str>, charges: &std::collections::BTreeMap<String, i64>) -> Result<(), StoreError> {
    for (account, &credits) in charges {
        let done = sqlx::query("UPDATE credit_accounts SET spent = spent + $2 WHERE account = $1").bind(account).bind(credits).execute(&mut *tx).await?.rows_affected();
        if done == 0 {
            // No instance ever leased from it: its row starts from the records when created.
            continue;
        }
        if let Some(instance) = instance_id {
            // The lease covered the charge: that much of it is spent now, not given back.
            release_in(tx, backend, account, instance, Some(credits)).await?;
        }
    }
    Ok(())
}

/// This instance's id, kept in the data directory (`instance-id`): a restart is the same
/// instance, which lets it release the leases it held before it was stopped.
pub fn instance_id(data_dir: &std::path::Path) -> Result<String, StoreError> {
    let path = data_dir.join("instance-id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let id = text.trim();
        if !id.is_empty() {
            return Ok(id.to_owned());
        }
    }
    std::fs::create_dir_all(data_dir)?;
    let id = format!("i_{}", hub_core::base62::random(&mut rand::rngs::OsRng, 16));
    std::fs::write(&path, format!("{id}\n"))?;
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::chunk;

    #[test]
    fn leases_shrink_with_what_is_left_but_cover_the_need() {
        assert_eq!(chunk(8_000, 10, 500), 500);
        assert_eq!(chunk(800, 10, 500), 100);
        assert_eq!(chunk(80, 30, 500), 30);
        assert_eq!(chunk(35, 30, 500), 30);
    }
}
