//! A string that must never be printed: provider credentials, passwords, setup tokens.

use std::fmt;

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// A display hint: the last four characters, as `…abcd`.
    pub fn hint(&self) -> String {
        let n = self.0.chars().count();
        if n < 12 {
            return "…".to_owned();
        }
        let tail: String = self.0.chars().skip(n - 4).collect();
        format!("…{tail}")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
