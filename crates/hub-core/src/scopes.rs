//! A key's scopes and limits (least privilege), as pure values: which models, endpoints and
//! addresses it may use, its request/token rates, its concurrency and its expiry. Parsing and
//! matching live here; the hot path in `hub-http` only calls [`KeyPolicy`]'s methods on a
//! policy parsed once when the key was loaded into memory.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use crate::budget::{Budget, BudgetPeriod};
use crate::money::NanoCredits;

/// Longest model pattern accepted.
pub const MAX_PATTERN_LEN: usize = 128;
/// Most entries in one allow-list (models or addresses).
pub const MAX_LIST_LEN: usize = 64;
/// Longest grace period a rotation may give the old secret.
pub const MAX_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// A bad scope or limit, naming the parameter at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ScopeError {
    pub param: &'static str,
    pub message: String,
}

fn bad(param: &'static str, message: impl Into<String>) -> ScopeError {
    ScopeError { param, message: message.into() }
}

/// The route families a key may be limited to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Chat,
    Embeddings,
    Images,
    Models,
    /// Video generation (`/api/v2/video`, `/v1/videos`).
    Video,
}

impl Endpoint {
    pub const ALL: [Endpoint; 5] = [Endpoint::Chat, Endpoint::Embeddings, Endpoint::Images, Endpoint::Models, Endpoint::Video];

    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Chat => "chat",
            Endpoint::Embeddings => "embeddings",
            Endpoint::Images => "images",
            Endpoint::Models => "models",
            Endpoint::Video => "video",
        }
    }

    pub fn parse(s: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// An IPv4 or IPv6 network (`10.0.0.0/8`, `2001:db8::/32`, or one address). Host bits are
/// cleared when parsed, so `10.1.2.3/8` reads as `10.0.0.0/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(s: &str) -> Result<IpNet, ScopeError> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad("ips", format!("{s:?} is not an IP address or CIDR range")))?;
        let addr = addr.to_canonical();
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(n) if n <= max => n,
                _ => return Err(bad("ips", format!("{s:?}: the prefix length must be 0–{max}"))),
            },
        };
        Ok(IpNet { addr: mask(addr, prefix), prefix })
    }

    /// Whether `ip` lies in this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        ip.is_ipv4() == self.addr.is_ipv4() && mask(ip, self.prefix) == self.addr
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u32::from(v4);
            let m = if prefix == 0 { 0 } else { u32::MAX << (32 - u32::from(prefix)) };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            let m = if prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(prefix)) };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// Parses a list of networks (one entry each; commas also separate).
pub fn parse_nets<S: AsRef<str>>(items: &[S]) -> Result<Vec<IpNet>, ScopeError> {
    let mut out = Vec::new();
    for item in items {
        for part in item.as_ref().split(',').map(str::trim).filter(|p| !p.is_empty()) {
            out.push(IpNet::parse(part)?);
        }
    }
    if out.len() > MAX_LIST_LEN {
        return Err(bad("ips", format!("at most {MAX_LIST_LEN} address ranges")));
    }
    Ok(out)
}

/// The caller's address: the peer's, unless the peer is a trusted proxy, in which case the
/// right-most `X-Forwarded-For` hop that is not itself a trusted proxy. Hops left of it can be
/// forged by the client and are never read. An unreadable hop ends the walk at the last
/// trusted address seen.
pub fn client_address(peer: IpAddr, forwarded_for: &[&str], trusted: &[IpNet]) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.iter().any(|n| n.contains(peer)) {
        return peer;
    }
    let mut last = peer;
    for header in forwarded_for.iter().rev() {
        for hop in header.rsplit(',') {
            let Ok(ip) = hop.trim().parse::<IpAddr>() else { return last };
            let ip = ip.to_canonical();
            if !trusted.iter().any(|n| n.contains(ip)) {
                return ip;
            }
            last = ip;
        }
    }
    last
}

/// A model pattern: `*` matches any run of characters (including `/`), `?` one character;
/// ASCII letters match regardless of case.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p = pattern.as_bytes();
    let t = text.as_bytes();
    let (mut pi, mut ti) = (0usize, 0usize);
    // Where the last `*` was and the text position it currently swallows up to.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == b'?' || c.eq_ignore_ascii_case(&t[ti]) => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Checks and normalizes model patterns (trimmed, 1–128 printable characters without spaces).
pub fn parse_model_patterns<S: AsRef<str>>(items: &[S]) -> Result<Vec<String>, ScopeError> {
    let mut out = Vec::new();
    for item in items {
        for p in item.as_ref().split(',').map(str::trim).filter(|p| !p.is_empty()) {
            if p.len() > MAX_PATTERN_LEN || p.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(bad("models", format!("model pattern {p:?} must be 1–{MAX_PATTERN_LEN} characters without spaces")));
            }
            out.push(p.to_owned());
        }
    }
    if out.len() > MAX_LIST_LEN {
        return Err(bad("models", format!("at most {MAX_LIST_LEN} model patterns")));
    }
    Ok(out)
}

/// Parses `chat,embeddings` (or several items) into endpoints, naming the unknown one.
pub fn parse_endpoints<S: AsRef<str>>(items: &[S]) -> Result<Vec<Endpoint>, ScopeError> {
    let mut out = Vec::new();
    for item in items {
        for p in item.as_ref().split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let e = Endpoint::parse(p).ok_or_else(|| {
                bad("endpoints", format!("unknown endpoint {p:?}; choose from chat, embeddings, images, video, models"))
            })?;
            if !out.contains(&e) {
                out.push(e);
            }
        }
    }
    Ok(out)
}

/// `0s`, `90s`, `30m`, `1h`, `7d`: a whole number and one unit.
pub fn parse_duration(s: &str) -> Result<Duration, ScopeError> {
    let s = s.trim();
    let err = || bad("grace", format!("{s:?} is not a duration like 0s, 90s, 30m, 1h or 7d"));
    let split = s.find(|c: char| !c.is_ascii_digit()).ok_or_else(err)?;
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits.parse().map_err(|_| err())?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(err()),
    };
    n.checked_mul(unit_secs).map(Duration::from_secs).ok_or_else(err)
}

/// A rotation's grace period: a duration of at most 7 days.
pub fn parse_grace(s: &str) -> Result<Duration, ScopeError> {
    let d = parse_duration(s)?;
    if d > MAX_GRACE {
        return Err(bad("grace", "the grace period is at most 7 days (7d)"));
    }
    Ok(d)
}

/// An RFC 3339 time (`2026-01-31T00:00:00Z`) as Unix milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Result<i64, ScopeError> {
    chrono::DateTime::parse_from_rfc3339(s.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|_| bad("expires", format!("{s:?} is not an RFC 3339 time like 2026-01-31T00:00:00Z")))
}

/// Unix milliseconds as RFC 3339 in UTC.
pub fn format_rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// Everything a key may do and how much. Empty lists and `None` mean "no restriction".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPolicy {
    pub models: Vec<String>,
    pub endpoints: Vec<Endpoint>,
    pub ips: Vec<IpNet>,
    /// Requests per minute (sliding 60 s window).
    pub rpm: Option<u32>,
    /// Tokens per minute (estimated input + max output reserved at admission, corrected after).
    pub tpm: Option<u64>,
    pub max_concurrency: Option<u32>,
    /// Unix milliseconds after which the key is refused as expired.
    pub expires_at: Option<i64>,
    /// Credit the key may spend per period (`crate::budget`).
    pub budget: Option<Budget>,
}

impl KeyPolicy {
    /// Whether the key has any rate or concurrency limit (they need per-key state).
    pub fn has_limits(&self) -> bool {
        self.rpm.is_some() || self.tpm.is_some() || self.max_concurrency.is_some()
    }

    pub fn endpoint_allowed(&self, e: Endpoint) -> bool {
        self.endpoints.is_empty() || self.endpoints.contains(&e)
    }

    pub fn address_allowed(&self, ip: Option<IpAddr>) -> bool {
        if self.ips.is_empty() {
            return true;
        }
        ip.is_some_and(|ip| self.ips.iter().any(|n| n.contains(ip)))
    }

    /// A model is allowed when a pattern matches the name the client sent (without a leading
    /// `aignehub/`) or the resolved `provider/model`.
    pub fn model_allowed(&self, sent: &str, provider: &str, model: &str) -> bool {
        if self.models.is_empty() {
            return true;
        }
        let sent = strip_hub_prefix(sent);
        self.models.iter().any(|p| glob_match(p, sent) || matches_resolved(p, provider, model))
    }

    pub fn models_text(&self) -> String {
        self.models.join(", ")
    }

    pub fn endpoints_text(&self) -> String {
        self.endpoints.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")
    }

    pub fn ips_text(&self) -> String {
        self.ips.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }

    /// Checks the limits' ranges (each at least 1).
    pub fn validate(&self) -> Result<(), ScopeError> {
        if self.rpm == Some(0) {
            return Err(bad("rpm", "rpm must be at least 1"));
        }
        if self.tpm == Some(0) {
            return Err(bad("tpm", "tpm must be at least 1"));
        }
        if self.max_concurrency == Some(0) {
            return Err(bad("max_concurrency", "max_concurrency must be at least 1"));
        }
        if self.budget.is_some_and(|b| b.limit.0 < 0) {
            return Err(bad("budget", "budget must not be negative"));
        }
        Ok(())
    }
}

/// A change to a policy, as the admin API, the UI and the CLI express it: an absent field
/// keeps its value, `null` clears it, a value replaces it.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPatch {
    #[serde(default, deserialize_with = "present")]
    pub models: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub endpoints: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub ips: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub rpm: Option<Option<u32>>,
    #[serde(default, deserialize_with = "present")]
    pub tpm: Option<Option<u64>>,
    #[serde(default, deserialize_with = "present")]
    pub max_concurrency: Option<Option<u32>>,
    /// RFC 3339.
    #[serde(default, deserialize_with = "present")]
    pub expires_at: Option<Option<String>>,
    /// Credits as a decimal string (`"12.5"`); `null` removes the budget.
    #[serde(default, deserialize_with = "present")]
    pub budget: Option<Option<String>>,
    /// `day`, `month` or `total` (the default for a new budget).
    #[serde(default)]
    pub budget_period: Option<String>,
}

fn present<'de, T: serde::Deserialize<'de>, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

impl PolicyPatch {
    /// `base` with this patch applied, checked.
    pub fn apply(&self, base: &KeyPolicy) -> Result<KeyPolicy, ScopeError> {
        self.apply_at(base, crate::ids::now_ms())
    }

    /// [`PolicyPatch::apply`] at `now_ms`: a budget set where there was none counts spending
    /// from now; changing an existing budget's amount or period keeps what was spent.
    pub fn apply_at(&self, base: &KeyPolicy, now_ms: i64) -> Result<KeyPolicy, ScopeError> {
        let mut p = base.clone();
        let period = self.budget_period.as_deref().map(BudgetPeriod::parse).transpose().map_err(|e| bad("budget_period", e.to_string()))?;
        match &self.budget {
            Some(Some(text)) => {
                let limit = NanoCredits::parse_credits(text).map_err(|e| bad("budget", e.to_string()))?;
                let kept = base.budget;
                let period = period.or(kept.map(|b| b.period)).unwrap_or(BudgetPeriod::Total);
                p.budget = Some(Budget { limit, period, since_ms: kept.map_or(now_ms, |b| b.since_ms) });
            }
            Some(None) => p.budget = None,
            None => {
                if let Some(period) = period {
                    let b = p.budget.as_mut().ok_or_else(|| bad("budget_period", "set a budget along with its period"))?;
                    b.period = period;
                }
            }
        }
        if let Some(v) = &self.models {
            p.models = parse_model_patterns(v.as_deref().unwrap_or_default())?;
        }
        if let Some(v) = &self.endpoints {
            p.endpoints = parse_endpoints(v.as_deref().unwrap_or_default())?;
        }
        if let Some(v) = &self.ips {
            p.ips = parse_nets(v.as_deref().unwrap_or_default())?;
        }
        if let Some(v) = self.rpm {
            p.rpm = v;
        }
        if let Some(v) = self.tpm {
            p.tpm = v;
        }
        if let Some(v) = self.max_concurrency {
            p.max_concurrency = v;
        }
        if let Some(v) = &self.expires_at {
            p.expires_at = v.as_deref().map(parse_rfc3339_ms).transpose()?;
        }
        p.validate()?;
        Ok(p)
    }
}

fn strip_hub_prefix(mut s: &str) -> &str {
    while s.len() >= 9 && s.as_bytes()[..9].eq_ignore_ascii_case(b"aignehub/") {
        s = &s[9..];
    }
    s
}

/// `pattern` against `provider/model` without building the string.
fn matches_resolved(pattern: &str, provider: &str, model: &str) -> bool {
    if provider.is_empty() {
        return false;
    }
    let mut joined = String::with_capacity(provider.len() + 1 + model.len());
    joined.push_str(provider);
    joined.push('/');
    joined.push_str(model);
    glob_match(pattern, &joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_match("openai/*", "openai/gpt-4o"));
        assert!(glob_match("*/gpt-4o*", "openai/gpt-4o-mini"));
        assert!(glob_match("*/gpt-4o*", "azure/gpt-4o"));
        assert!(!glob_match("*/gpt-4o*", "openai/gpt-4"));
        assert!(glob_match("gpt-?o", "gpt-4o"));
        assert!(glob_match("*", ""));
        assert!(glob_match("GPT-4O", "gpt-4o"));
        assert!(!glob_match("openai/*", "anthropic/claude"));
        assert!(!glob_match("gpt", "gpt-4o"));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("**x", "abx"));
    }

    #[test]
    fn model_scope_checks_the_sent_and_the_resolved_name() {
        let p = KeyPolicy { models: vec!["openai/*".into()], ..KeyPolicy::default() };
        assert!(p.model_allowed("aignehub/gpt-4o", "openai", "gpt-4o"));
        assert!(p.model_allowed("openai/gpt-4o", "", ""));
        assert!(!p.model_allowed("claude-3", "anthropic", "claude-3"));
        let p = KeyPolicy { models: vec!["gpt-4o-mini".into()], ..KeyPolicy::default() };
        assert!(p.model_allowed("aignehub/gpt-4o-mini", "openai", "gpt-4o-mini"));
        assert!(!p.model_allowed("gpt-4o", "openai", "gpt-4o"));
        assert!(KeyPolicy::default().model_allowed("anything", "", ""));
    }

    #[test]
    fn cidrs_parse_and_contain() {
        let n = IpNet::parse("10.1.2.3/8").unwrap();
        assert_eq!(n.to_string(), "10.0.0.0/8");
        assert!(n.contains(ip("10.255.0.1")));
        assert!(!n.contains(ip("11.0.0.1")));
        assert!(n.contains(ip("::ffff:10.0.0.7")), "IPv4-mapped IPv6 is IPv4");
        let one = IpNet::parse("127.0.0.1").unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6 = IpNet::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")));
        assert!(!v6.contains(ip("2001:db9::1")));
        assert!(!v6.contains(ip("10.0.0.1")));
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(IpNet::parse("::/0").unwrap().contains(ip("::1")));
        for bad in ["", "10.0.0.0/33", "::/129", "x", "10.0.0.0/-1", "10.0.0/8", "1.2.3.4/"] {
            assert_eq!(IpNet::parse(bad).map_err(|e| e.param), Err("ips"), "{bad}");
        }
        assert_eq!(parse_nets(&["10.0.0.0/8, ::1"]).unwrap().len(), 2);
    }

    #[test]
    fn forwarded_for_is_read_only_behind_a_trusted_proxy() {
        let trusted = parse_nets(&["10.0.0.0/8"]).unwrap();
        // Not from a proxy: the header is ignored.
        assert_eq!(client_address(ip("1.2.3.4"), &["9.9.9.9"], &trusted), ip("1.2.3.4"));
        // From the proxy: the right-most untrusted hop; forged left hops are ignored.
        assert_eq!(client_address(ip("10.0.0.1"), &["6.6.6.6, 5.5.5.5, 10.0.0.2"], &trusted), ip("5.5.5.5"));
        assert_eq!(client_address(ip("10.0.0.1"), &["6.6.6.6", "5.5.5.5"], &trusted), ip("5.5.5.5"));
        assert_eq!(client_address(ip("10.0.0.1"), &[], &trusted), ip("10.0.0.1"));
        assert_eq!(client_address(ip("10.0.0.1"), &["garbage, 10.0.0.3"], &trusted), ip("10.0.0.3"));
        assert_eq!(client_address(ip("10.0.0.1"), &["2001:db8::1"], &trusted), ip("2001:db8::1"));
        assert_eq!(client_address(ip("10.0.0.1"), &["5.5.5.5"], &[]), ip("10.0.0.1"));
    }

    #[test]
    fn durations_and_grace() {
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("30m").unwrap(), Duration::from_secs(1800));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_grace("7d").unwrap(), MAX_GRACE);
        for bad in ["", "7", "d", "1w", "-1s", "1.5h", "1h30m", "99999999999999999999d", "8d"] {
            assert!(parse_grace(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patches_keep_clear_and_replace() {
        let base = KeyPolicy { rpm: Some(5), models: vec!["a".into()], ..KeyPolicy::default() };
        let patch: PolicyPatch = serde_json::from_str(r#"{"rpm":null,"tpm":100,"ips":["10.0.0.0/8"]}"#).unwrap();
        let p = patch.apply(&base).unwrap();
        assert_eq!((p.rpm, p.tpm, p.models.len(), p.ips.len()), (None, Some(100), 1, 1));
        let zero: PolicyPatch = serde_json::from_str(r#"{"max_concurrency":0}"#).unwrap();
        assert_eq!(zero.apply(&base).map_err(|e| e.param), Err("max_concurrency"));
        let bad: PolicyPatch = serde_json::from_str(r#"{"expires_at":"soon"}"#).unwrap();
        assert_eq!(bad.apply(&base).map_err(|e| e.param), Err("expires"));
        assert!(serde_json::from_str::<PolicyPatch>(r#"{"budget":1}"#).is_err());
        let budget: PolicyPatch = serde_json::from_str(r#"{"budget":"2.5","budget_period":"day"}"#).unwrap();
        let b = budget.apply_at(&base, 1000).unwrap().budget.unwrap();
        assert_eq!((b.limit, b.period, b.since_ms), (NanoCredits(2_500_000_000), BudgetPeriod::Day, 1000));
        let raised: PolicyPatch = serde_json::from_str(r#"{"budget":"3"}"#).unwrap();
        let with = KeyPolicy { budget: Some(b), ..base.clone() };
        let r = raised.apply_at(&with, 5000).unwrap().budget.unwrap();
        assert_eq!((r.limit, r.period, r.since_ms), (NanoCredits(3_000_000_000), BudgetPeriod::Day, 1000));
        let orphan: PolicyPatch = serde_json::from_str(r#"{"budget_period":"day"}"#).unwrap();
        assert_eq!(orphan.apply(&base).map_err(|e| e.param), Err("budget_period"));
    }

    #[test]
    fn lists_and_times_parse() {
        assert_eq!(parse_endpoints(&["chat, embeddings", "chat"]).unwrap(), vec![Endpoint::Chat, Endpoint::Embeddings]);
        assert_eq!(parse_endpoints(&["audio"]).map_err(|e| e.param), Err("endpoints"));
        assert_eq!(parse_model_patterns(&["openai/*,*/gpt-4o*"]).unwrap().len(), 2);
        assert!(parse_model_patterns(&["a b"]).is_err());
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:01Z").unwrap(), 1000);
        assert_eq!(parse_rfc3339_ms("1970-01-01T01:00:01+01:00").unwrap(), 1000);
        assert!(parse_rfc3339_ms("tomorrow").is_err());
        assert_eq!(format_rfc3339_ms(1000), "1970-01-01T00:00:01Z");
    }
}
