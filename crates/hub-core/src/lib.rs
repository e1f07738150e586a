//! The hub's vocabulary, with no I/O: canonical chat types, API key format and hashing,
//! model-name parsing and routing rules, money, and the usage record.
//!
//! Nothing here knows HTTP, SQL or a provider's wire format; every other crate builds on it.

pub mod aigne;
pub mod aliases;
pub mod alerts;
pub mod anthropic;
pub mod base62;
pub mod budget;
pub mod catalog;
pub mod chat;
pub mod embeddings;
pub mod fast_map;
pub mod grants;
pub mod ids;
pub mod images;
pub mod json_scan;
pub mod key;
pub mod latency;
pub mod model_name;
pub mod multipart;
pub mod money;
pub mod password;
pub mod price_options;
pub mod pricing;
pub mod provider;
pub mod rate;
pub mod scopes;
pub mod secret;
pub mod usage;
pub mod validate;
pub mod video;
pub mod wire;

pub use key::{ApiKey, KeyHash, KeyParseError, KeyType, Pepper};
pub use model_name::{ModelRef, ModelRefError};
pub use money::NanoCredits;
pub use provider::ProviderKind;
pub use secret::Secret;
