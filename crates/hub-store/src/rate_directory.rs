//! The rates the hot path prices calls with, in memory: admin overrides from `model_rates`, over
//! the built-in list prices (`hub_core::pricing`). Loaded at start and reloaded when the change
//! log says a rate changed; read without touching the database.

use std::collections::HashMap;
use std::sync::Arc;

use hub_core::pricing::{self, ModelRate};
use hub_core::ProviderKind;
use parking_lot::RwLock;

use crate::db::Store;
use crate::error::StoreError;

/// Where a model's rate comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateSource {
    /// Set by an admin.
    Override,
    /// The built-in public list price.
    ListPrice,
}

/// Overrides by provider name, then model id.
type Overrides = HashMap<String, HashMap<String, ModelRate>>;

#[derive(Default)]
pub struct RateDirectory {
    overrides: RwLock<Arc<Overrides>>,
}

impl RateDirectory {
    pub async fn reload(&self, store: &Store) -> Result<(), StoreError> {
        let mut map: Overrides = HashMap::new();
        for r in store.list_rates().await? {
            map.entry(r.provider).or_default().insert(r.model, r.rate);
        }
        *self.overrides.write() = Arc::new(map);
        Ok(())
    }

    /// The rate of `model` at the provider named `provider` (of protocol family `kind`): its
    /// override, else the list price of that model at that kind of provider.
    pub fn rate(&self, provider: &str, kind: ProviderKind, model: &str) -> Option<(ModelRate, RateSource)> {
        if let Some(r) = self.overrides.read().get(provider).and_then(|m| m.get(model)) {
            return Some((*r, RateSource::Override));
        }
        pricing::list_price(kind, model).map(|p| (p.rate, RateSource::ListPrice))
    }

    /// The overrides, for listing.
    pub fn overrides(&self) -> Arc<Overrides> {
        Arc::clone(&self.overrides.read())
    }
}

/// The most output tokens one reply of `model` may have, from the list prices.
pub fn max_output_tokens(kind: ProviderKind, model: &str) -> Option<u64> {
    pricing::list_price(kind, model).and_then(|p| p.max_output_tokens)
}

/// One model's effective rate, as the CLI, the admin API and the UI list it: amounts as exact
/// decimal credit strings (per token, and per million tokens for reading).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RateListing {
    pub provider: String,
    pub model: String,
    pub source: RateSource,
    pub input: String,
    pub output: String,
    pub cached_input: String,
    pub per_image: String,
    pub per_video_second: String,
    pub unit_cost_input: String,
    pub unit_cost_output: String,
    pub unit_cost_cached_input: String,
    pub unit_cost_per_image: String,
    pub input_per_million: String,
    pub output_per_million: String,
    pub cached_input_per_million: String,
    pub max_output_tokens: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

/// A per-token amount per million tokens, as a decimal credit string.
pub fn per_million(rate: hub_core::NanoCredits) -> String {
    hub_core::NanoCredits(rate.0.saturating_mul(1_000_000)).to_string()
}

fn listing_of(provider: String, model: String, source: RateSource, r: &ModelRate, max_output_tokens: Option<u64>) -> RateListing {
    RateListing {
        provider,
        model,
        source,
        input: r.input.to_string(),
        output: r.output.to_string(),
        cached_input: r.cached_input.to_string(),
        per_image: r.per_image.to_string(),
        per_video_second: r.per_video_second.to_string(),
        unit_cost_input: r.unit_cost.input.to_string(),
        unit_cost_output: r.unit_cost.output.to_string(),
        unit_cost_cached_input: r.unit_cost.cached_input.to_string(),
        unit_cost_per_image: r.unit_cost.per_image.to_string(),
        input_per_million: per_million(r.input),
        output_per_million: per_million(r.output),
        cached_input_per_million: per_million(r.cached_input),
        max_output_tokens,
        updated_at: None,
        updated_by: None,
    }
}

/// Every rate in force: the overrides, then the list prices no override replaces (a list price
/// is named by its provider kind, which is the provider's name for every built-in provider).
pub fn listing(overrides: Vec<crate::billing::RateOverride>) -> Vec<RateListing> {
    let mut out: Vec<RateListing> = overrides
        .iter()
        .map(|o| {
            let max = ProviderKind::parse(&o.provider).and_then(|k| max_output_tokens(k, &o.model));
            let mut l = listing_of(o.provider.clone(), o.model.clone(), RateSource::Override, &o.rate, max);
            l.updated_at = Some(o.updated_at);
            l.updated_by = Some(o.updated_by.clone());
            l
        })
        .collect();
    for p in pricing::LIST_PRICES {
        let name = p.provider.name();
        if !overrides.iter().any(|o| o.provider == name && o.model == p.model) {
            out.push(listing_of(name.to_owned(), p.model.to_owned(), RateSource::ListPrice, &p.rate, p.max_output_tokens));
        }
    }
    out.sort_by(|a, b| (&a.provider, &a.model).cmp(&(&b.provider, &b.model)));
    out
}
