//! The rate limiter's math, with time passed in (no clock, no I/O): an exact sliding-window
//! log. A key limited to N per minute gets N in any 60 s window, never N+1: each grant is
//! remembered with its time until it leaves the window, so there is no boundary burst as with
//! fixed windows and no rounding as with token buckets. Grants made in the same millisecond
//! leave the window together and share one entry, so memory per key is bounded both by the
//! limit and by the window's 60,000 milliseconds, however fast the key is called.
//!
//! The same structure meters tokens: a grant reserves an amount (estimated input + max output)
//! and [`SlidingWindow::correct`] replaces it with the actual amount when the call settles.

use std::collections::VecDeque;

/// The window every per-minute limit uses.
pub const WINDOW_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    at_ms: i64,
    amount: u64,
    /// The grants in this entry: tickets `first_ticket..=last_ticket`.
    first_ticket: u64,
    last_ticket: u64,
}

/// Grants still inside the window, oldest first.
#[derive(Debug, Default)]
pub struct SlidingWindow {
    entries: VecDeque<Entry>,
    total: u64,
    next_ticket: u64,
}

/// A grant: its ticket (for [`SlidingWindow::correct`]), what is left of the limit, and when the
/// oldest grant in the window leaves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Granted {
    pub ticket: u64,
    pub remaining: u64,
    pub reset_ms: u64,
}

/// A refusal: the earliest moment the same request would be granted (`None` when it never
/// can, because it asks for more than the whole limit), and the state for the headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after_ms: Option<u64>,
    pub remaining: u64,
    pub reset_ms: u64,
}

fn until(at_ms: i64, now_ms: i64) -> u64 {
    u64::try_from(at_ms + WINDOW_MS - now_ms).unwrap_or(0)
}

impl SlidingWindow {
    pub fn new() -> SlidingWindow {
        SlidingWindow::default()
    }

    fn expire(&mut self, now_ms: i64) {
        while let Some(front) = self.entries.front() {
            if front.at_ms + WINDOW_MS > now_ms {
                break;
            }
            self.total -= front.amount;
            self.entries.pop_front();
        }
    }

    fn reset_ms(&self, now_ms: i64) -> u64 {
        self.entries.front().map_or(0, |e| until(e.at_ms, now_ms))
    }

    /// Takes `amount` of `limit` at `now_ms`, or says when it could be taken.
    pub fn try_take(&mut self, now_ms: i64, limit: u64, amount: u64) -> Result<Granted, Refused> {
        self.expire(now_ms);
        if self.total.saturating_add(amount) <= limit {
            let ticket = self.next_ticket;
            self.next_ticket += 1;
            match self.entries.back_mut() {
                Some(last) if last.at_ms == now_ms => {
                    last.amount += amount;
                    last.last_ticket = ticket;
                }
                _ => self.entries.push_back(Entry { at_ms: now_ms, amount, first_ticket: ticket, last_ticket: ticket }),
            }
            self.total += amount;
            return Ok(Granted { ticket, remaining: limit - self.total, reset_ms: self.reset_ms(now_ms) });
        }
        let remaining = limit.saturating_sub(self.total);
        let reset_ms = self.reset_ms(now_ms);
        if amount > limit {
            return Err(Refused { retry_after_ms: None, remaining, reset_ms });
        }
        // The earliest time enough old grants have left the window.
        let mut left = self.total;
        let mut retry_after_ms = Some(WINDOW_MS as u64);
        for e in &self.entries {
            left -= e.amount;
            if left + amount <= limit {
                retry_after_ms = Some(until(e.at_ms, now_ms));
                break;
            }
        }
        Err(Refused { retry_after_ms, remaining, reset_ms })
    }

    /// Replaces a grant's amount, `granted` when it was taken, with `actual` (the use once
    /// known). A grant already out of the window no longer counts, so there is nothing to
    /// correct.
    pub fn correct(&mut self, ticket: u64, granted: u64, actual: u64) {
        let found = self.entries.binary_search_by(|e| {
            if e.last_ticket < ticket {
                std::cmp::Ordering::Less
            } else if e.first_ticket > ticket {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        });
        let Ok(i) = found else { return };
        if let Some(e) = self.entries.get_mut(i) {
            let amount = e.amount.saturating_sub(granted).saturating_add(actual);
            self.total = self.total - e.amount + amount;
            e.amount = amount;
        }
    }

    /// What is left of `limit` at `now_ms`, and when the oldest grant leaves the window.
    pub fn peek(&mut self, now_ms: i64, limit: u64) -> (u64, u64) {
        self.expire(now_ms);
        (limit.saturating_sub(self.total), self.reset_ms(now_ms))
    }

    pub fn total(&self) -> u64 {
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_the_limit_in_any_window() {
        let mut w = SlidingWindow::new();
        for i in 0..5 {
            let g = w.try_take(1000 + i * 10, 5, 1).unwrap();
            assert_eq!(g.remaining, 4 - i as u64);
        }
        let r = w.try_take(1100, 5, 1).unwrap_err();
        // The first grant (t = 1000) leaves the window at 61 000.
        assert_eq!(r.retry_after_ms, Some(61_000 - 1100));
        assert_eq!(r.remaining, 0);
        assert!(w.try_take(60_999, 5, 1).is_err(), "still inside the window");
        assert!(w.try_take(61_000, 5, 1).is_ok(), "one slot freed");
        assert!(w.try_take(61_000, 5, 1).is_err());
        assert!(w.try_take(61_010, 5, 1).is_ok());
    }

    #[test]
    fn a_sliding_window_has_no_boundary_burst() {
        let mut w = SlidingWindow::new();
        // N at the end of one minute, none allowed at the start of the next.
        for _ in 0..3 {
            w.try_take(59_000, 3, 1).unwrap();
        }
        assert!(w.try_take(60_001, 3, 1).is_err());
        assert!(w.try_take(119_000, 3, 1).is_ok());
    }

    #[test]
    fn tokens_are_reserved_then_corrected() {
        let mut w = SlidingWindow::new();
        let g = w.try_take(0, 1000, 800).unwrap();
        assert_eq!(g.remaining, 200);
        let r = w.try_take(10, 1000, 300).unwrap_err();
        assert_eq!(r.retry_after_ms, Some(WINDOW_MS as u64 - 10));
        w.correct(g.ticket, 800, 100);
        assert_eq!(w.total(), 100);
        assert_eq!(w.try_take(20, 1000, 300).unwrap().remaining, 600);
        // A request larger than the whole limit can never pass.
        assert_eq!(w.try_take(30, 1000, 1001).unwrap_err().retry_after_ms, None);
        // Correcting a grant that left the window changes nothing.
        let mut w = SlidingWindow::new();
        let g = w.try_take(0, 10, 5).unwrap();
        assert_eq!(w.peek(WINDOW_MS, 10), (10, 0));
        w.correct(g.ticket, 5, 9);
        assert_eq!(w.total(), 0);
    }

    #[test]
    fn grants_of_one_millisecond_share_an_entry_and_are_corrected_one_by_one() {
        let mut w = SlidingWindow::new();
        let a = w.try_take(5, 1000, 100).unwrap();
        let b = w.try_take(5, 1000, 200).unwrap();
        let c = w.try_take(6, 1000, 300).unwrap();
        assert_eq!(w.entries.len(), 2);
        w.correct(b.ticket, 200, 50);
        assert_eq!(w.total(), 450);
        w.correct(a.ticket, 100, 0);
        w.correct(c.ticket, 300, 310);
        assert_eq!(w.total(), 360);
        // The first millisecond's grants leave together.
        assert_eq!(w.peek(5 + WINDOW_MS, 1000), (690, 1));
        assert_eq!(w.peek(6 + WINDOW_MS, 1000), (1000, 0));
    }

    #[test]
    fn memory_is_bounded_by_the_milliseconds_of_the_window_however_fast_the_calls() {
        let mut w = SlidingWindow::new();
        for i in 0..200_000i64 {
            w.try_take(i / 1000, u64::MAX, 1).unwrap();
        }
        assert_eq!(w.entries.len(), 200);
        assert_eq!(w.total(), 200_000);
    }

    #[test]
    fn retry_after_waits_for_enough_old_grants() {
        let mut w = SlidingWindow::new();
        w.try_take(0, 10, 4).unwrap();
        w.try_take(1000, 10, 4).unwrap();
        w.try_take(2000, 10, 2).unwrap();
        // 7 needs the first two grants gone (8 freed), at 61 000.
        assert_eq!(w.try_take(3000, 10, 7).unwrap_err().retry_after_ms, Some(58_000));
        assert_eq!(w.try_take(3000, 10, 3).unwrap_err().retry_after_ms, Some(57_000));
    }
}
