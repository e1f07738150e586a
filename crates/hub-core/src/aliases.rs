//! Model aliases: a short name admins choose (`fast`, `writer`) for an ordered fallback chain
//! of `provider/model` targets. A call to the alias goes to the first target whose provider is
//! healthy; when it is down (or fails before the first byte) the next one takes over.
//!
//! The rules, checked here once for the CLI, the admin API and the UI alike:
//! - a name is 1–64 characters of letters, digits and `. _ - :`, without `/` (so it can never be
//!   mistaken for `provider/model`) and not `aignehub`;
//! - a chain holds 1–[`MAX_TARGETS`] distinct targets, each `provider/model`; a target is never
//!   another alias (one level, so resolution cannot loop).

use serde::{Deserialize, Serialize};

pub const MAX_NAME_LEN: usize = 64;
/// Longer chains add latency for nothing: the relay makes at most three attempts per call.
pub const MAX_TARGETS: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelAlias {
    pub name: String,
    /// `provider/model`, first choice first.
    pub targets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    #[error("an alias name is 1 to {MAX_NAME_LEN} letters, digits, '.', '_', '-' or ':' (no '/'): {0:?}")]
    BadName(String),
    #[error("an alias needs 1 to {MAX_TARGETS} targets")]
    TargetCount,
    #[error("a target is written provider/model: {0:?}")]
    BadTarget(String),
    #[error("target {0:?} is listed twice")]
    Duplicate(String),
}

impl ModelAlias {
    /// Builds an alias from user input, trimming and checking every rule.
    pub fn new(name: &str, targets: &[String]) -> Result<ModelAlias, AliasError> {
        let name = name.trim();
        let name_ok = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && !name.eq_ignore_ascii_case("aignehub")
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'));
        if !name_ok {
            return Err(AliasError::BadName(name.to_owned()));
        }
        let targets: Vec<String> = targets.iter().map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect();
        if targets.is_empty() || targets.len() > MAX_TARGETS {
            return Err(AliasError::TargetCount);
        }
        for (i, t) in targets.iter().enumerate() {
            let well_formed = t.split_once('/').is_some_and(|(p, m)| !p.is_empty() && !m.is_empty())
                && t.len() <= crate::model_name::MAX_MODEL_LEN
                && !t.chars().any(|c| c.is_control() || c.is_whitespace());
            if !well_formed {
                return Err(AliasError::BadTarget(t.clone()));
            }
            if targets[..i].contains(t) {
                return Err(AliasError::Duplicate(t.clone()));
            }
        }
        Ok(ModelAlias { name: name.to_owned(), targets })
    }

    /// The chain as stored: targets separated by newlines (a target never holds whitespace).
    pub fn targets_text(&self) -> String {
        self.targets.join("\n")
    }

    /// Reads a stored chain back.
    pub fn parse_targets(text: &str) -> Vec<String> {
        text.split(['\n', ',']).map(str::trim).filter(|t| !t.is_empty()).map(str::to_owned).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn chain(ts: &[&str]) -> Vec<String> {
        ts.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn a_fallback_chain_is_kept_in_order() {
        let a = ModelAlias::new(" fast ", &chain(&["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku"])).unwrap();
        assert_eq!(a.name, "fast");
        assert_eq!(a.targets, chain(&["openai/gpt-4o-mini", "anthropic/claude-3-5-haiku"]));
        assert_eq!(ModelAlias::parse_targets(&a.targets_text()), a.targets);
    }

    #[test]
    fn bad_names_and_targets_are_refused() {
        let one = chain(&["openai/gpt-4o"]);
        for bad in ["", "a/b", "aignehub", "has space", &"x".repeat(65), "ünï"] {
            assert!(matches!(ModelAlias::new(bad, &one), Err(AliasError::BadName(_))), "{bad:?}");
        }
        assert_eq!(ModelAlias::new("x", &[]), Err(AliasError::TargetCount));
        assert_eq!(ModelAlias::new("x", &vec!["openai/gpt-4o".to_owned(); 6]), Err(AliasError::TargetCount));
        for bad in ["gpt-4o", "/gpt-4o", "openai/", "openai/gpt 4o"] {
            assert!(matches!(ModelAlias::new("x", &chain(&[bad])), Err(AliasError::BadTarget(_))), "{bad:?}");
        }
        assert!(matches!(ModelAlias::new("x", &chain(&["openai/a", "openai/a"])), Err(AliasError::Duplicate(_))));
    }

    proptest! {
        #[test]
        fn valid_aliases_survive_storage(name in "[A-Za-z0-9._:-]{1,64}", models in proptest::collection::vec("[a-z0-9.-]{1,20}", 1..=MAX_TARGETS)) {
            prop_assume!(!name.eq_ignore_ascii_case("aignehub"));
            let mut targets: Vec<String> = models.iter().enumerate().map(|(i, m)| format!("p{i}/{m}")).collect();
            targets.dedup();
            let a = ModelAlias::new(&name, &targets).unwrap();
            prop_assert_eq!(ModelAlias::parse_targets(&a.targets_text()), a.targets);
        }

        #[test]
        fn arbitrary_input_never_panics(name in ".{0,80}", targets in proptest::collection::vec(".{0,40}", 0..8)) {
            let _ = ModelAlias::new(&name, &targets);
        }
    }
}
