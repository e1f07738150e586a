//! Which grant pays for which debit, and what an expiring grant takes with it. Debits consume a
//! user's grants in order of expiry: the grant that expires soonest first, grants without
//! expiry last, ties by creation time. A debit only draws on grants that exist and have not
//! expired when its call started; what no grant covers is a debt the next grant pays first.
//! When a grant expires only its unconsumed remainder is lost, so the ledger always sums:
//! `balance = grants − debits − expired remainders`.
//!
//! Debits are given summed per interval between the grants' creation and expiry times (the only
//! moments the set of usable grants changes), so the store never reads every debit.

/// One grant, as far as consumption needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    pub amount: i64,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
}

/// What became of one grant by `now`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GrantUse {
    /// Paid out to debits.
    pub consumed: i64,
    /// Lost at expiry (only an expired grant loses anything).
    pub lost: i64,
    /// Still usable (0 once expired).
    pub remaining: i64,
    pub expired: bool,
}

/// The grants' state, in the order they were given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allocation {
    pub grants: Vec<GrantUse>,
    /// Debits no grant covered.
    pub debt: i64,
}

impl Allocation {
    /// What expired grants took with them.
    pub fn lost(&self) -> i64 {
        self.grants.iter().fold(0i64, |sum, g| sum.saturating_add(g.lost))
    }
}

/// The times that split debits into intervals, ascending and distinct: every grant's creation
/// and expiry. Interval 0 is before the first time, interval `i` from time `i − 1` (inclusive)
/// to time `i`, the last from the last time on: `boundaries.len() + 1` intervals.
pub fn boundaries(grants: &[Grant]) -> Vec<i64> {
    let mut times: Vec<i64> = grants.iter().flat_map(|g| std::iter::once(g.created_ms).chain(g.expires_ms)).collect();
    times.sort_unstable();
    times.dedup();
    times
}

/// Consumes `grants` by the debits of each interval of [`boundaries`] (`debits[i]` is the sum
/// of interval `i`; missing intervals count as 0) and reports each grant's state at `now_ms`.
pub fn allocate(grants: &[Grant], debits: &[i64], now_ms: i64) -> Allocation {
    let times = boundaries(grants);
    let mut order: Vec<usize> = (0..grants.len()).collect();
    order.sort_by_key(|&i| (grants[i].expires_ms.unwrap_or(i64::MAX), grants[i].created_ms, i));
    let mut remaining: Vec<i64> = grants.iter().map(|g| g.amount.max(0)).collect();
    let mut debt = debits.first().copied().unwrap_or(0).max(0);
    for (k, &t) in times.iter().enumerate() {
        debt = debt.saturating_add(debits.get(k + 1).copied().unwrap_or(0).max(0));
        for &i in &order {
            if debt == 0 {
                break;
            }
            let g = &grants[i];
            if g.created_ms <= t && g.expires_ms.is_none_or(|e| e > t) {
                let take = remaining[i].min(debt);
                remaining[i] -= take;
                debt -= take;
            }
        }
    }
    let grants = grants
        .iter()
        .zip(remaining)
        .map(|(g, left)| {
            let expired = g.expires_ms.is_some_and(|e| e <= now_ms);
            let consumed = g.amount.max(0) - left;
            if expired {
                GrantUse { consumed, lost: left, remaining: 0, expired }
            } else {
                GrantUse { consumed, lost: 0, remaining: left, expired }
            }
        })
        .collect();
    Allocation { grants, debt }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn g(amount: i64, created_ms: i64, expires_ms: Option<i64>) -> Grant {
        Grant { amount, created_ms, expires_ms }
    }

    /// Debits as `(time, amount)` summed into the intervals of `grants`.
    fn bucket(grants: &[Grant], debits: &[(i64, i64)]) -> Vec<i64> {
        let times = boundaries(grants);
        let mut out = vec![0; times.len() + 1];
        for &(t, a) in debits {
            out[times.partition_point(|&b| b <= t)] += a;
        }
        out
    }

    #[test]
    fn a_spent_grant_loses_only_its_remainder() {
        // 10 expiring at 2 s, 10 without expiry; 6 spent at 1 s.
        let grants = [g(10, 0, Some(2_000)), g(10, 0, None)];
        let a = allocate(&grants, &bucket(&grants, &[(1_000, 6)]), 3_000);
        assert_eq!(a.grants[0], GrantUse { consumed: 6, lost: 4, remaining: 0, expired: true });
        assert_eq!(a.grants[1], GrantUse { consumed: 0, lost: 0, remaining: 10, expired: false });
        assert_eq!(20 - 6 - a.lost(), 10);
        // Before the expiry nothing is lost.
        assert_eq!(allocate(&grants, &bucket(&grants, &[(1_000, 6)]), 1_500).lost(), 0);
    }

    #[test]
    fn soonest_expiry_first_then_creation_and_debt_is_paid_by_the_next_grant() {
        let grants = [g(5, 0, None), g(5, 10, Some(100)), g(5, 20, Some(50)), g(5, 30, Some(50))];
        // 12 spent at 40: the two grants expiring at 50 (older first), then the one at 100.
        let a = allocate(&grants, &bucket(&grants, &[(40, 12)]), 60);
        let consumed: Vec<i64> = a.grants.iter().map(|u| u.consumed).collect();
        assert_eq!(consumed, vec![0, 2, 5, 5]);
        assert_eq!(a.lost(), 0);
        // A debit before any grant is a debt the first grant pays.
        let late = [g(10, 100, None)];
        let a = allocate(&late, &bucket(&late, &[(50, 3)]), 200);
        assert_eq!((a.grants[0].remaining, a.debt), (7, 0));
        // A grant that expired before the debit is not drawn on.
        let gone = [g(10, 0, Some(10))];
        let a = allocate(&gone, &bucket(&gone, &[(20, 3)]), 30);
        assert_eq!((a.grants[0].lost, a.debt), (10, 3));
    }

    proptest! {
        /// Whatever the grants and debits: grants − debits − lost = remaining − debt (the
        /// ledger sums), nothing is negative, and nothing live is lost.
        #[test]
        fn the_ledger_always_sums(
            raw in prop::collection::vec((1i64..1_000, 0i64..100, prop::option::of(1i64..100)), 0..6),
            debits in prop::collection::vec((0i64..200, 0i64..500), 0..10),
            now in 0i64..250,
        ) {
            let grants: Vec<Grant> = raw.iter().map(|&(a, c, e)| g(a, c, e.map(|d| c + d))).collect();
            let a = allocate(&grants, &bucket(&grants, &debits), now);
            let granted: i64 = grants.iter().map(|g| g.amount).sum();
            let spent: i64 = debits.iter().map(|d| d.1).sum();
            let remaining: i64 = a.grants.iter().map(|u| u.remaining).sum();
            prop_assert_eq!(granted - spent - a.lost(), remaining - a.debt);
            for (u, gr) in a.grants.iter().zip(&grants) {
                prop_assert!(u.consumed >= 0 && u.lost >= 0 && u.remaining >= 0);
                prop_assert_eq!(u.consumed + u.lost + u.remaining, gr.amount);
                prop_assert!(u.expired || u.lost == 0);
            }
        }
    }
}
