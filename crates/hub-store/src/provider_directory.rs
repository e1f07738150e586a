//! The providers the hub can call right now, in memory: configured ones (credentials decrypted
//! once) plus fallbacks from the environment (`OPENAI_API_KEY`, `OPENAI_BASE_URL`, …). Refreshed
//! when the change log says a provider changed; read without touching the database. Model
//! aliases (fallback chains) live here too: they are routing, read on the same path.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use hub_core::{ProviderKind, Secret};
use parking_lot::RwLock;

use crate::db::Store;
use crate::error::StoreError;
use crate::providers::OpenCredential;
use crate::secrets::ServerSecret;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderSource {
    Database,
    Environment,
}

#[derive(Debug)]
pub struct ProviderEntry {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub source: ProviderSource,
    pub credentials: Vec<OpenCredential>,
    next: AtomicUsize,
}

impl ProviderEntry {
    pub fn new(name: String, kind: ProviderKind, base_url: String, source: ProviderSource, credentials: Vec<OpenCredential>) -> ProviderEntry {
        ProviderEntry { name, kind, base_url, source, credentials, next: AtomicUsize::new(0) }
    }

    /// The next credential in weighted round-robin order; `None` when the provider needs none
    /// (Ollama) or has none.
    pub fn pick_credential(&self) -> Option<&OpenCredential> {
        let total: usize = self.credentials.iter().map(|c| c.weight as usize).sum();
        if total == 0 {
            return None;
        }
        let mut slot = self.next.fetch_add(1, Ordering::Relaxed) % total;
        for c in &self.credentials {
            if slot < c.weight as usize {
                return Some(c);
            }
            slot -= c.weight as usize;
        }
        self.credentials.first()
    }

    /// Every enabled credential, starting from the next one in weighted round-robin order: the
    /// first is the preferred attempt, the rest are where retries go.
    pub fn credential_order(&self) -> Vec<&OpenCredential> {
        let Some(first) = self.pick_credential() else { return Vec::new() };
        let mut out = vec![first];
        let start = self.credentials.iter().position(|c| c.id == first.id).unwrap_or(0);
        let n = self.credentials.len();
        out.extend((1..n).map(|i| &self.credentials[(start + i) % n]));
        out
    }

    /// Callable: has a credential, or needs none.
    pub fn usable(&self) -> bool {
        !self.credentials.is_empty() || !self.kind.needs_api_key()
    }
}

#[derive(Default)]
pub struct ProviderDirectory {
    entries: RwLock<Arc<HashMap<String, Arc<ProviderEntry>>>>,
    env: Vec<Arc<ProviderEntry>>,
    /// Alias name → its fallback chain (`provider/model`, first choice first).
    aliases: RwLock<Arc<HashMap<String, Arc<[String]>>>>,
}

/// Providers configured through the environment, read as the OpenAI SDK reads its variables:
/// `<P>_API_KEY` and an optional `<P>_BASE_URL` (for Ollama, `OLLAMA_BASE_URL` alone is enough,
/// given as the server root or its `/v1`).
pub fn env_fallbacks() -> Vec<Arc<ProviderEntry>> {
    let mut out = Vec::new();
    for kind in ProviderKind::ALL {
        let Some(prefix) = kind.env_prefix() else { continue };
        let key = std::env::var(format!("{prefix}_API_KEY")).ok().filter(|v| !v.trim().is_empty());
        let base = std::env::var(format!("{prefix}_BASE_URL")).ok().filter(|v| !v.trim().is_empty());
        if key.is_none() && !(kind == ProviderKind::Ollama && base.is_some()) {
            continue;
        }
        let mut base_url = match base.or_else(|| kind.default_base_url().map(str::to_owned)) {
            Some(b) => b,
            None => continue,
        };
        if kind == ProviderKind::Ollama && !base_url.trim_end_matches('/').ends_with("/v1") {
            base_url = format!("{}/v1", base_url.trim_end_matches('/'));
        }
        let Ok(base_url) = hub_core::provider::check_base_url(&base_url) else {
            tracing::warn!(provider = kind.name(), "ignoring {prefix}_BASE_URL: not a valid provider URL");
            continue;
        };
        let credentials = key
            .map(|k| vec![OpenCredential { id: format!("env:{}", kind.name()), secret: Secret::new(k.trim()), weight: 1 }])
            .unwrap_or_default();
        out.push(Arc::new(ProviderEntry::new(kind.name().to_owned(), kind, base_url, ProviderSource::Environment, credentials)));
    }
    out
}

impl ProviderDirectory {
    pub fn new(env: Vec<Arc<ProviderEntry>>) -> ProviderDirectory {
        ProviderDirectory { entries: RwLock::new(Arc::new(HashMap::new())), env, aliases: RwLock::default() }
    }

    /// Rebuilds the directory from the database; configured providers win over environment ones.
    pub async fn reload(&self, store: &Store, master_key: &ServerSecret) -> Result<(), StoreError> {
        let mut map: HashMap<String, Arc<ProviderEntry>> = self.env.iter().map(|e| (e.name.clone(), Arc::clone(e))).collect();
        for p in store.list_providers().await? {
            if !p.enabled {
                map.remove(&p.name);
                continue;
            }
            let kind = if p.name.starts_with("custom:") { Some(ProviderKind::Custom) } else { ProviderKind::parse(&p.kind) };
            let Some(kind) = kind else { continue };
            let credentials = match store.open_credentials(&p.id, master_key).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::error!(provider = %p.name, error = %e, "provider credentials could not be opened");
                    Vec::new()
                }
            };
            map.insert(p.name.clone(), Arc::new(ProviderEntry::new(p.name, kind, p.base_url, ProviderSource::Database, credentials)));
        }
        *self.entries.write() = Arc::new(map);
        let aliases = store.list_aliases().await?.into_iter().map(|a| (a.name, Arc::from(a.targets))).collect();
        *self.aliases.write() = Arc::new(aliases);
        Ok(())
    }

    /// The fallback chain of an alias.
    pub fn alias(&self, name: &str) -> Option<Arc<[String]>> {
        let aliases = self.aliases.read();
        if aliases.is_empty() {
            return None;
        }
        aliases.get(name).cloned()
    }

    /// Every alias and its chain, sorted by name.
    pub fn aliases(&self) -> Vec<(String, Arc<[String]>)> {
        let mut out: Vec<_> = self.aliases.read().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub fn get(&self, name: &str) -> Option<Arc<ProviderEntry>> {
        self.entries.read().get(name).cloned()
    }

    pub fn snapshot(&self) -> Arc<HashMap<String, Arc<ProviderEntry>>> {
        Arc::clone(&self.entries.read())
    }

    /// Whether `name` names a provider in a model reference (`openai/…`, `custom:lab/…`).
    pub fn is_provider_name(&self, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        lower.starts_with("custom:") || ProviderKind::parse(&lower).is_some() || self.entries.read().contains_key(&lower)
    }
}
