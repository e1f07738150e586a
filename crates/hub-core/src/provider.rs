//! The providers the hub knows by name, and what each one's defaults are.

use std::fmt;

/// A provider family. Each speaks one wire protocol; `Custom` is any OpenAI-compatible URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    OpenAi,
    Anthropic,
    Google,
    Bedrock,
    DeepSeek,
    XAi,
    OpenRouter,
    Ollama,
    Doubao,
    Poe,
    Ideogram,
    Custom,
}

/// The wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    OpenAiChat,
    AnthropicMessages,
    GeminiGenerateContent,
    BedrockConverse,
    IdeogramImages,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 12] = [
        ProviderKind::OpenAi,
        ProviderKind::Anthropic,
        ProviderKind::Google,
        ProviderKind::Bedrock,
        ProviderKind::DeepSeek,
        ProviderKind::XAi,
        ProviderKind::OpenRouter,
        ProviderKind::Ollama,
        ProviderKind::Doubao,
        ProviderKind::Poe,
        ProviderKind::Ideogram,
        ProviderKind::Custom,
    ];

    /// The name used in model references (`openai/gpt-4o`) and in the CLI.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Google => "google",
            ProviderKind::Bedrock => "bedrock",
            ProviderKind::DeepSeek => "deepseek",
            ProviderKind::XAi => "xai",
            ProviderKind::OpenRouter => "openrouter",
            ProviderKind::Ollama => "ollama",
            ProviderKind::Doubao => "doubao",
            ProviderKind::Poe => "poe",
            ProviderKind::Ideogram => "ideogram",
            ProviderKind::Custom => "custom",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "OpenAI",
            ProviderKind::Anthropic => "Anthropic",
            ProviderKind::Google => "Google Gemini",
            ProviderKind::Bedrock => "Amazon Bedrock",
            ProviderKind::DeepSeek => "DeepSeek",
            ProviderKind::XAi => "xAI",
            ProviderKind::OpenRouter => "OpenRouter",
            ProviderKind::Ollama => "Ollama",
            ProviderKind::Doubao => "Doubao",
            ProviderKind::Poe => "Poe",
            ProviderKind::Ideogram => "Ideogram",
            ProviderKind::Custom => "OpenAI-compatible",
        }
    }

    /// Accepts the canonical name and the spellings users commonly type.
    pub fn parse(s: &str) -> Option<ProviderKind> {
        // Case-insensitive without lowering a copy: every call names a provider.
        const NAMES: &[(&str, ProviderKind)] = &[
            ("openai", ProviderKind::OpenAi),
            ("anthropic", ProviderKind::Anthropic),
            ("claude", ProviderKind::Anthropic),
            ("google", ProviderKind::Google),
            ("gemini", ProviderKind::Google),
            ("bedrock", ProviderKind::Bedrock),
            ("aws", ProviderKind::Bedrock),
            ("deepseek", ProviderKind::DeepSeek),
            ("xai", ProviderKind::XAi),
            ("x-ai", ProviderKind::XAi),
            ("grok", ProviderKind::XAi),
            ("openrouter", ProviderKind::OpenRouter),
            ("ollama", ProviderKind::Ollama),
            ("doubao", ProviderKind::Doubao),
            ("volcengine", ProviderKind::Doubao),
            ("poe", ProviderKind::Poe),
            ("ideogram", ProviderKind::Ideogram),
            ("custom", ProviderKind::Custom),
        ];
        NAMES.iter().find(|(name, _)| name.eq_ignore_ascii_case(s)).map(|(_, kind)| *kind)
    }

    pub fn protocol(self) -> Protocol {
        match self {
            ProviderKind::Anthropic => Protocol::AnthropicMessages,
            ProviderKind::Google => Protocol::GeminiGenerateContent,
            ProviderKind::Bedrock => Protocol::BedrockConverse,
            ProviderKind::Ideogram => Protocol::IdeogramImages,
            _ => Protocol::OpenAiChat,
        }
    }

    /// The public API base URL, as an SDK's `base_url` would be written.
    pub fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some("https://api.openai.com/v1"),
            ProviderKind::Anthropic => Some("https://api.anthropic.com"),
            ProviderKind::Google => Some("https://generativelanguage.googleapis.com"),
            ProviderKind::DeepSeek => Some("https://api.deepseek.com/v1"),
            ProviderKind::XAi => Some("https://api.x.ai/v1"),
            ProviderKind::OpenRouter => Some("https://openrouter.ai/api/v1"),
            ProviderKind::Ollama => Some("http://127.0.0.1:11434/v1"),
            ProviderKind::Doubao => Some("https://ark.cn-beijing.volces.com/api/v3"),
            ProviderKind::Poe => Some("https://api.poe.com/v1"),
            ProviderKind::Ideogram => Some("https://api.ideogram.ai"),
            ProviderKind::Bedrock | ProviderKind::Custom => None,
        }
    }

    /// Whether calls need an API key (Ollama runs without one).
    pub fn needs_api_key(self) -> bool {
        !matches!(self, ProviderKind::Ollama)
    }

    /// Prefix of the environment variables read as a fallback configuration
    /// (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, …).
    pub fn env_prefix(self) -> Option<&'static str> {
        match self {
            ProviderKind::OpenAi => Some("OPENAI"),
            ProviderKind::Anthropic => Some("ANTHROPIC"),
            ProviderKind::Google => Some("GEMINI"),
            ProviderKind::DeepSeek => Some("DEEPSEEK"),
            ProviderKind::XAi => Some("XAI"),
            ProviderKind::OpenRouter => Some("OPENROUTER"),
            ProviderKind::Ollama => Some("OLLAMA"),
            ProviderKind::Doubao => Some("DOUBAO"),
            ProviderKind::Poe => Some("POE"),
            ProviderKind::Ideogram => Some("IDEOGRAM"),
            ProviderKind::Bedrock | ProviderKind::Custom => None,
        }
    }

    /// The provider a bare model name belongs to, from well-known naming patterns.
    pub fn for_bare_model(model: &str) -> Option<ProviderKind> {
        let m = model.to_ascii_lowercase();
        let starts = |p: &str| m.starts_with(p);
        // Google's embedding models (`text-embedding-004`, `text-embedding-005`) share OpenAI's
        // `text-embedding-` prefix; OpenAI's own are `text-embedding-3-*` and `-ada-002`.
        let kind = if starts("text-embedding-00") || starts("gemini-embedding") {
            ProviderKind::Google
        } else if starts("gpt-")
            || starts("o1")
            || starts("o3")
            || starts("o4")
            || starts("chatgpt-")
            || starts("text-embedding-")
            || starts("dall-e")
            || starts("gpt-image")
            || starts("sora")
            || starts("davinci")
            || starts("babbage")
        {
            ProviderKind::OpenAi
        } else if starts("claude-") {
            ProviderKind::Anthropic
        } else if starts("gemini-") || starts("imagen-") || starts("veo-") {
            ProviderKind::Google
        } else if starts("deepseek-") {
            ProviderKind::DeepSeek
        } else if starts("grok-") {
            ProviderKind::XAi
        } else if starts("doubao-") {
            ProviderKind::Doubao
        } else if starts("ideogram") {
            ProviderKind::Ideogram
        } else {
            return None;
        };
        Some(kind)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaseUrlError {
    #[error("the base URL must start with http:// or https://")]
    Scheme,
    #[error("the base URL must not contain credentials, spaces, a query or a fragment")]
    Shape,
    #[error("the base URL has no host")]
    NoHost,
    #[error("the base URL points at a link-local or cloud metadata address, which is refused")]
    Metadata,
}

/// Validates an admin-supplied provider base URL and returns it without a trailing slash.
/// Link-local and cloud metadata hosts are refused: a provider URL must never let the hub be
/// pointed at the machine's instance credentials.
pub fn check_base_url(url: &str) -> Result<String, BaseUrlError> {
    let url = url.trim();
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or(BaseUrlError::Scheme)?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) || url.contains(['?', '#']) {
        return Err(BaseUrlError::Shape);
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.contains('@') {
        return Err(BaseUrlError::Shape);
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next().unwrap_or_default().to_ascii_lowercase()
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, _)| h).to_ascii_lowercase()
    };
    if host.is_empty() {
        return Err(BaseUrlError::NoHost);
    }
    let metadata = host.starts_with("169.254.")
        || host.starts_with("fe80:")
        || host == "fd00:ec2::254"
        || host == "metadata.google.internal"
        || host == "metadata";
    if metadata {
        return Err(BaseUrlError::Metadata);
    }
    Ok(url.trim_end_matches('/').to_owned())
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(check_base_url("http://127.0.0.1:9000/v1/"), Ok("http://127.0.0.1:9000/v1".into()));
        assert_eq!(check_base_url("ftp://x"), Err(BaseUrlError::Scheme));
        assert_eq!(check_base_url("http://user:pw@host/v1"), Err(BaseUrlError::Shape));
        assert_eq!(check_base_url("http://169.254.169.254/latest"), Err(BaseUrlError::Metadata));
        assert_eq!(check_base_url("http://[fd00:ec2::254]/"), Err(BaseUrlError::Metadata));
        assert_eq!(check_base_url("http:///v1"), Err(BaseUrlError::NoHost));
    }

    #[test]
    fn names_round_trip() {
        for k in ProviderKind::ALL {
            assert_eq!(ProviderKind::parse(k.name()), Some(k));
        }
    }

    #[test]
    fn bare_names_follow_well_known_patterns() {
        assert_eq!(ProviderKind::for_bare_model("gpt-3.5-turbo"), Some(ProviderKind::OpenAi));
        assert_eq!(ProviderKind::for_bare_model("o1-mini"), Some(ProviderKind::OpenAi));
        assert_eq!(ProviderKind::for_bare_model("claude-sonnet-4-5"), Some(ProviderKind::Anthropic));
        assert_eq!(ProviderKind::for_bare_model("gemini-2.5-flash"), Some(ProviderKind::Google));
        assert_eq!(ProviderKind::for_bare_model("deepseek-chat"), Some(ProviderKind::DeepSeek));
        assert_eq!(ProviderKind::for_bare_model("grok-4"), Some(ProviderKind::XAi));
        assert_eq!(ProviderKind::for_bare_model("llama3"), None);
        assert_eq!(ProviderKind::for_bare_model("text-embedding-3-small"), Some(ProviderKind::OpenAi));
        assert_eq!(ProviderKind::for_bare_model("text-embedding-ada-002"), Some(ProviderKind::OpenAi));
        assert_eq!(ProviderKind::for_bare_model("text-embedding-004"), Some(ProviderKind::Google));
        assert_eq!(ProviderKind::for_bare_model("gemini-embedding-001"), Some(ProviderKind::Google));
    }
}
