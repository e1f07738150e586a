//! Model references as clients write them: `provider/model`, `aignehub/provider/model`, or a
//! bare model name.

/// A parsed model reference. `provider` is the text before the first `/` when it names a
/// provider the hub knows (`openai`, `custom:<label>`, …); otherwise the whole string is the model
/// (OpenRouter-style ids such as `meta-llama/llama-3-8b` stay intact for the catalog to resolve).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    pub provider: Option<String>,
    pub model: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelRefError {
    #[error("`model` is empty")]
    Empty,
    #[error("`model` is too long (at most 256 characters)")]
    TooLong,
    #[error("`model` contains control characters")]
    ControlCharacters,
}

pub const MAX_MODEL_LEN: usize = 256;

impl ModelRef {
    /// `is_provider` tells whether a prefix names a configured or known provider.
    pub fn parse(raw: &str, is_provider: impl Fn(&str) -> bool) -> Result<ModelRef, ModelRefError> {
        let trimmed = raw.trim();
        if trimmed.len() > MAX_MODEL_LEN {
            return Err(ModelRefError::TooLong);
        }
        if trimmed.chars().any(char::is_control) {
            return Err(ModelRefError::ControlCharacters);
        }
        let mut rest = trimmed;
        // `aignehub/` names the hub itself; the AIGNE CLI writes it, and may write it twice.
        while let Some(stripped) = strip_prefix_ignore_case(rest, "aignehub/") {
            rest = stripped;
        }
        if rest.is_empty() {
            return Err(ModelRefError::Empty);
        }
        if let Some((prefix, model)) = rest.split_once('/') {
            if !model.is_empty() && is_provider(prefix) {
                return Ok(ModelRef { provider: Some(prefix.to_ascii_lowercase()), model: model.to_owned() });
            }
        }
        Ok(ModelRef { provider: None, model: rest.to_owned() })
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &s[prefix.len()..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn known(p: &str) -> bool {
        matches!(p.to_ascii_lowercase().as_str(), "openai" | "anthropic" | "custom:lab")
    }

    #[test]
    fn the_seed_model_name_drops_the_hub_prefix() {
        let r = ModelRef::parse("aignehub/gpt-3.5-turbo", known);
        assert_eq!(r, Ok(ModelRef { provider: None, model: "gpt-3.5-turbo".into() }));
    }

    #[test]
    fn provider_prefixes_are_split() {
        let r = ModelRef::parse("aignehub/openai/gpt-4o-mini", known);
        assert_eq!(r, Ok(ModelRef { provider: Some("openai".into()), model: "gpt-4o-mini".into() }));
        let r = ModelRef::parse("custom:lab/llama3", known);
        assert_eq!(r, Ok(ModelRef { provider: Some("custom:lab".into()), model: "llama3".into() }));
    }

    #[test]
    fn unknown_prefixes_stay_in_the_model_id() {
        let r = ModelRef::parse("meta-llama/llama-3-8b", known);
        assert_eq!(r, Ok(ModelRef { provider: None, model: "meta-llama/llama-3-8b".into() }));
    }

    #[test]
    fn empty_and_hostile_names_are_refused() {
        assert_eq!(ModelRef::parse("", known), Err(ModelRefError::Empty));
        assert_eq!(ModelRef::parse("aignehub/", known), Err(ModelRefError::Empty));
        assert_eq!(ModelRef::parse("gpt\n4", known), Err(ModelRefError::ControlCharacters));
        assert_eq!(ModelRef::parse(&"x".repeat(300), known), Err(ModelRefError::TooLong));
    }

    proptest! {
        #[test]
        fn parse_never_panics(s in "\\PC{0,300}") {
            let _ = ModelRef::parse(&s, known);
        }
    }
}
