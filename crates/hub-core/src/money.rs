//! Money as integers: amounts and rates are nano-credits (10⁻⁹ credit) in an `i64`, so prices
//! like $0.15 per million tokens (150 nano-credits per token) are exact. Floats never hold money.

use std::fmt;

use serde::{Deserialize, Serialize};

pub const NANOS_PER_CREDIT: i64 = 1_000_000_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NanoCredits(pub i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyParseError {
    #[error("not a decimal amount: {0:?}")]
    NotDecimal(String),
    #[error("more than 9 decimal places: {0:?}")]
    TooPrecise(String),
    #[error("amount out of range: {0:?}")]
    OutOfRange(String),
}

impl NanoCredits {
    pub const ZERO: NanoCredits = NanoCredits(0);

    /// Parses a decimal credit amount such as `"12.5"` or `"0.00000015"` exactly.
    pub fn parse_credits(text: &str) -> Result<NanoCredits, MoneyParseError> {
        let t = text.trim();
        let (neg, digits) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let valid = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && frac.is_empty()) || !valid(whole) || !valid(frac) {
            return Err(MoneyParseError::NotDecimal(text.to_owned()));
        }
        if frac.len() > 9 {
            return Err(MoneyParseError::TooPrecise(text.to_owned()));
        }
        let whole_n: i64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| MoneyParseError::OutOfRange(text.to_owned()))?
        };
        let frac_n: i64 = format!("{frac:0<9}").parse().map_err(|_| MoneyParseError::NotDecimal(text.to_owned()))?;
        let nanos = whole_n
            .checked_mul(NANOS_PER_CREDIT)
            .and_then(|w| w.checked_add(frac_n))
            .ok_or_else(|| MoneyParseError::OutOfRange(text.to_owned()))?;
        Ok(NanoCredits(if neg { -nanos } else { nanos }))
    }

    pub fn saturating_add(self, other: NanoCredits) -> NanoCredits {
        NanoCredits(self.0.saturating_add(other.0))
    }

    /// `rate × count`, saturating: a per-token rate times a token count.
    pub fn times(self, count: u64) -> NanoCredits {
        let c = i64::try_from(count).unwrap_or(i64::MAX);
        NanoCredits(self.0.saturating_mul(c))
    }
}

impl fmt::Display for NanoCredits {
    /// A decimal credit amount with trailing zeros trimmed (`1.5`, `0.00000015`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let whole = abs / NANOS_PER_CREDIT as u64;
        let frac = abs % NANOS_PER_CREDIT as u64;
        if frac == 0 {
            write!(f, "{sign}{whole}")
        } else {
            let frac = format!("{frac:09}");
            write!(f, "{sign}{whole}.{}", frac.trim_end_matches('0'))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_amounts_are_exact() {
        assert_eq!(NanoCredits::parse_credits("0.00000015"), Ok(NanoCredits(150)));
        assert_eq!(NanoCredits::parse_credits("12.5"), Ok(NanoCredits(12_500_000_000)));
        assert_eq!(NanoCredits::parse_credits("-1"), Ok(NanoCredits(-NANOS_PER_CREDIT)));
        assert!(NanoCredits::parse_credits("0.0000000001").is_err());
        assert!(NanoCredits::parse_credits("1e3").is_err());
        assert!(NanoCredits::parse_credits("99999999999999999").is_err());
        assert_eq!(NanoCredits(150).to_string(), "0.00000015");
        assert_eq!(NanoCredits(12_500_000_000).to_string(), "12.5");
    }
}
