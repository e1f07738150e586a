//! Step 3: admission. Refuses new calls while shutting down, applies backpressure when the
//! usage writer lags, and opens the call's [`CallGuard`], which guarantees exactly one usage
//! record per admitted call whatever happens next (success, error, client gone, panic unwinding).
//! The guard also holds the call's credit reservation (`credit.rs`): settling charges the
//! actual cost from the model's rate and releases the rest; any other end releases it.

use std::time::{Duration, Instant};

use hub_core::money::NanoCredits;
use hub_core::price_options::{self, PriceAsk};
use hub_core::pricing::{self, CallBounds, Metered, ModelRate};
use hub_core::usage::{CallHold, CallSettlement, UsageRecord};
use hub_core::ProviderKind;
use hub_store::journal::HoldTicket;

use hub_core::scopes::Endpoint;

use crate::context::RequestCtx;
use crate::error::ApiError;
use crate::inference::authenticate::Caller;
use crate::inference::credit::{self, Accounts, Reservation};
use crate::inference::limits::{self, Permit, RateSnapshot};
use crate::inference::resolve::Plan;
use crate::inference::authorize;
use crate::state::AppState;

/// How long a caller may wait for the usage writer to catch up before getting 503.
const BACKPRESSURE_WAIT: Duration = Duration::from_secs(5);

pub struct CallGuard {
    state: AppState,
    pub hold: CallHold,
    pub started: Instant,
    /// Set once the hold is journaled (the upstream may then see the call).
    hold_ticket: Option<HoldTicket>,
    settled: bool,
    /// The call's hold on its key's rate and concurrency limits; dropped with the guard.
    permit: Option<Permit>,
    /// Tokens this call may use at most (estimated input + maximum output).
    reserve_tokens: u64,
    scope: Endpoint,
    /// Told the settled status, when a layer asked (see `RequestCtx::call_status`).
    status_out: Option<std::sync::Arc<std::sync::atomic::AtomicU16>>,
    /// What the call asked for, as far as its price depends on it.
    asked: Asked,
    /// The call's hold on its key's budget and its user's balance, when either applies.
    reservation: Option<Reservation>,
    /// The model's rate the call was reserved at, before its options (it is also charged at
    /// it, with the options the upstream reports it applied).
    rate: Option<ModelRate>,
    /// The protocol family of the target, which picks the list price.
    kind: Option<ProviderKind>,
    /// Images the upstream delivered (image calls), priced per image.
    images_delivered: u64,
    /// Who called and from where, for the monitor (a shared pointer, no copy per call).
    caller: std::sync::Arc<hub_store::keys::StoredSecret>,
    client_ip: Option<std::net::IpAddr>,
}

#[derive(Debug, Clone)]
struct Asked {
    max_output_tokens: Option<u64>,
    choices: u64,
    images: u64,
    /// Seconds of video the call may produce (video calls; set once the model is known).
    video_seconds: u64,
    /// The fields that change the price (tier, web search, image size and quality); the tier,
    /// size and quality the upstream reports replace the asked ones at settlement.
    price: PriceAsk,
}

/// What the caller asks for, as far as admission needs to know.
pub struct CallIntent<'a> {
    /// `x-aigne-hub-client-did`, the caller's application.
    pub project: Option<String>,
    pub endpoint: &'static str,
    /// The route family the key's endpoint scope names.
    pub scope: Endpoint,
    pub model: &'a str,
    pub stream: bool,
    pub est_input_tokens: u64,
    /// The most output per choice the call asked for (`max_tokens`), when it says.
    pub max_output_tokens: Option<u64>,
    /// Choices asked for (`n`), at least 1.
    pub choices: u64,
    /// Images asked for (image calls).
    pub images: u64,
    /// The request's price-changing fields (`hub_core::price_options`).
    pub price: PriceAsk,
}

pub async fn admit(state: &AppState, caller: &Caller, ctx: &RequestCtx, intent: CallIntent<'_>) -> Result<CallGuard, ApiError> {
    if !state.is_ready() {
        return Err(ApiError::ShuttingDown);
    }
    if state.journal.backlog() > state.config.max_usage_backlog
        && !state.journal.wait_for_backlog_below(state.config.max_usage_backlog, BACKPRESSURE_WAIT).await
    {
        return Err(ApiError::Backpressure);
    }
    let s = &caller.secret;
    let choices = intent.choices.max(1);
    let max_output_total = intent.max_output_tokens.map(|m| m.saturating_mul(choices));
    let reserve_tokens = limits::reservation(&s.policy, intent.est_input_tokens, max_output_total);
    let asked = Asked { max_output_tokens: intent.max_output_tokens, choices, images: intent.images, video_seconds: 0, price: intent.price };
    let scope = intent.scope;
    let hold = CallHold {
        request_id: ctx.request_id.clone(),
        started_at_ms: hub_core::ids::now_ms(),
        key_id: s.key_id.clone(),
        kid: s.kid.clone(),
        user_id: s.owner_id.clone(),
        project: intent.project,
        provider: String::new(),
        credential_id: None,
        model: intent.model.to_owned(),
        endpoint: intent.endpoint.to_owned(),
        stream: intent.stream,
        client_ip: ctx.client_ip.map(ip_text),
        est_input_tokens: intent.est_input_tokens,
        reserved: NanoCredits::ZERO,
        billed: false,
        budget_window: None,
    };
    state.monitor.on_admit();
    let caller = std::sync::Arc::clone(&caller.secret);
    Ok(CallGuard {
        state: state.clone(),
        hold,
        started: ctx.started,
        hold_ticket: None,
        settled: false,
        permit: None,
        reserve_tokens,
        scope,
        status_out: ctx.call_status.clone(),
        asked,
        reservation: None,
        rate: None,
        kind: None,
        images_delivered: 0,
        caller,
        client_ip: ctx.client_ip,
    })
}

/// An address as text; IPv4 (nearly every caller) without the formatting machinery.
fn ip_text(ip: std::net::IpAddr) -> String {
    match ip {
        std::net::IpAddr::V4(v4) => {
            let mut s = String::with_capacity(15);
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                push_decimal(&mut s, octet);
            }
            s
        }
        std::net::IpAddr::V6(_) => ip.to_string(),
    }
}

fn push_decimal(s: &mut String, n: u8) {
    if n >= 100 {
        s.push(char::from(b'0' + n / 100));
    }
    if n >= 10 {
        s.push(char::from(b'0' + (n / 10) % 10));
    }
    s.push(char::from(b'0' + n % 10));
}

impl CallGuard {
    /// The key's scopes (address, endpoint, model as sent and as resolved), its budget and its
    /// user's balance (the call's maximum cost is reserved), and its limits (requests and tokens
    /// per minute, concurrency), from memory. Called after the model is resolved and before the
    /// hold is journaled: a refused call never reaches an upstream, and the caller records the
    /// refusal with [`CallGuard::fail`]. The plan keeps only the targets the key's model scope
    /// allows (an alias's fallback never leads a key where it may not go).
    pub async fn enforce(&mut self, caller: &Caller, ctx: &RequestCtx, sent_model: &str, plan: &mut Plan<'_>) -> Result<(), ApiError> {
        let policy = &caller.secret.policy;
        authorize::scopes(policy, self.scope, ctx.client_ip)?;
        authorize::models(policy, sent_model, &mut plan.candidates)?;
        self.reserve_credit(caller, plan).await?;
        self.permit = limits::acquire(&self.state.limiters, &caller.secret.key_id, policy, hub_core::ids::now_ms(), self.reserve_tokens)?;
        Ok(())
    }

    /// Reserves the call's maximum cost when the key has a budget or credit billing is on; a
    /// key without budget on an internal hub costs nothing here (no lock, no lookup). An alias
    /// may fall back to another model: the dearest target of the plan is reserved, so no
    /// fallback can cost more than was held, and every target must have a rate.
    async fn reserve_credit(&mut self, caller: &Caller, plan: &Plan<'_>) -> Result<(), ApiError> {
        let budget = caller.secret.policy.budget;
        let billing = self.state.credit.billing_enabled();
        if budget.is_none() && !billing {
            return Ok(());
        }
        let mut dearest: Option<credit::Quote> = None;
        let mut models = 0usize;
        let mut last: Option<(&str, &str)> = None;
        for target in plan.candidates.iter().map(|c| &c.target) {
            // Credentials of one model follow each other in a plan: price each model once.
            if last == Some((target.provider.as_str(), target.model.as_str())) {
                continue;
            }
            last = Some((target.provider.as_str(), target.model.as_str()));
            models += 1;
            let base = self.state.rates.rate(&target.provider, target.kind, &target.model).map(|(r, _)| r);
            // The call's options (tier, search, image size and quality) priced for this model.
            let rate = match base {
                Some(b) => Some(
                    price_options::rate_for(&b, target.kind, &target.model, &self.asked.price)
                        .map_err(|e| ApiError::bad_request(Some(e.param), e.message))?,
                ),
                None => None,
            };
            let output = credit::output_bound(self.asked.max_output_tokens, target.kind, &target.model);
            if rate.is_some() && output.is_none() && (self.asked.price.reasoning || price_options::is_reasoning_model(target.kind, &target.model)) {
                // Reasoning tokens are billed as output: without a bound the price has none.
                return Err(ApiError::bad_request(
                    Some("max_completion_tokens"),
                    format!("The output limit of '{}/{}' is unknown to this hub and reasoning tokens are billed as output; set max_completion_tokens so the call's cost can be reserved", target.provider, target.model),
                ));
            }
            let bounds = CallBounds {
                input_tokens: self.hold.est_input_tokens,
                output_tokens: output.unwrap_or(0),
                choices: self.asked.choices,
                images: self.asked.images,
                video_seconds: self.asked.video_seconds,
            };
            let named = format_args!("{}/{}", target.provider, target.model);
            let quote = credit::quote(rate, named, bounds, output.is_some())?;
            if dearest.as_ref().is_none_or(|d| quote.amount > d.amount) {
                dearest = Some(credit::Quote { rate: base, amount: quote.amount });
            }
        }
        let Some(quote) = dearest else { return Ok(()) };
        let now = self.hold.started_at_ms;
        let user = billing.then(|| (caller.secret.owner_id.as_str(), self.state.credit.granted(&caller.secret.owner_id, now)));
        let who = Accounts { key_id: &caller.secret.key_id, budget, user };
        let reservation = self.state.accountant.reserve(&who, quote.amount, now).await.map_err(|e| match e {
            credit::ReserveError::Short(shortfall) => ApiError::NoCredit { shortfall, topup_link: self.state.credit.settings().topup_link.clone() },
            credit::ReserveError::Store(e) => ApiError::Storage(e),
        })?;
        self.hold.reserved = reservation.amount;
        self.hold.billed = reservation.billed();
        self.hold.budget_window = reservation.budget_window();
        // One model: charged at the rate it was reserved at. Several (an alias): charged at the
        // current rate of the model that answered.
        self.rate = if models == 1 { quote.rate } else { None };
        self.reservation = Some(reservation);
        Ok(())
    }

    /// The seconds of video a video call asks for (its price is reserved per second); called
    /// after the model is resolved, before [`CallGuard::enforce`].
    pub fn ask_video_seconds(&mut self, seconds: u64) {
        self.asked.video_seconds = seconds;
    }

    /// Counts the images an image call delivered (they are priced per image).
    pub fn count_images(&mut self, n: usize) {
        self.images_delivered = n as u64;
    }

    /// The processing tier the upstream reports it ran the call in (`service_tier` of the
    /// reply): charged instead of the asked one.
    pub fn report_service_tier(&mut self, tier: Option<String>) {
        if tier.is_some() {
            self.asked.price.service_tier = tier;
        }
    }

    /// The image `size` and `quality` the upstream reports it produced (charged instead of the
    /// asked ones, which may be "auto").
    pub fn report_image_options(&mut self, size: Option<String>, quality: Option<String>) {
        if size.is_some() {
            self.asked.price.image_size = size;
        }
        if quality.is_some() {
            self.asked.price.image_quality = quality;
        }
    }

    /// What the `x-ratelimit-*` headers of a successful reply report (keys with limits only).
    pub fn rate_snapshot(&self) -> Option<RateSnapshot> {
        self.permit.as_ref().map(|p| p.snapshot)
    }

    /// Names the provider, credential and upstream model the call goes to (updated if a retry
    /// moves it to another credential).
    pub fn name_target(&mut self, target: &hub_providers::Target) {
        self.hold.provider.clone_from(&target.provider);
        self.hold.credential_id.clone_from(&target.credential_id);
        self.hold.model.clone_from(&target.model);
        self.kind = Some(target.kind);
    }

    /// Journals the hold. Called after the target is resolved and before the upstream is
    /// contacted: a call the upstream may have seen always has a hold on disk.
    pub fn journal_hold(&mut self) -> Result<(), ApiError> {
        self.hold_ticket = Some(self.state.journal.hold(&self.hold).map_err(ApiError::Storage)?);
        Ok(())
    }

    /// Writes the call's one record.
    pub fn settle(mut self, settlement: CallSettlement) {
        self.write(settlement);
    }

    /// Records a failure that ended the call (before or after the upstream was contacted).
    pub fn fail(mut self, error: &ApiError) {
        self.write_failure(error);
    }

    /// Passes `result` on; an error first ends the call with its record. For the steps between
    /// admission and the upstream call (resolve, scopes, journaling the hold).
    pub fn check<T>(&mut self, result: Result<T, ApiError>) -> Result<T, ApiError> {
        if let Err(e) = &result {
            self.write_failure(e);
        }
        result
    }

    fn write_failure(&mut self, error: &ApiError) {
        let settlement = CallSettlement {
            status: error.status().as_u16(),
            error_class: Some(error.class().to_owned()),
            tokens_in: 0,
            duration_ms: self.elapsed_ms(),
            ..CallSettlement::default()
        };
        self.write(settlement);
    }

    /// Records the relay's final failure, naming the last target it tried, and hands the
    /// error back for the response.
    pub fn fail_relay(mut self, failed: crate::inference::relay::Failed) -> ApiError {
        if let Some(t) = &failed.target {
            self.name_target(t);
        }
        self.fail(&failed.error);
        failed.error
    }

    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn write(&mut self, mut settlement: CallSettlement) {
        if self.settled {
            return;
        }
        self.settled = true;
        self.price(&mut settlement);
        if let Some(out) = &self.status_out {
            out.store(settlement.status, std::sync::atomic::Ordering::Release);
        }
        if let Some(p) = self.permit.as_mut() {
            p.settle(settlement.tokens_in.saturating_add(settlement.tokens_out));
        }
        // The guard is done with its hold: the record takes it over.
        let record = UsageRecord::settled(std::mem::take(&mut self.hold), settlement);
        self.state.monitor.on_settle(&record, &self.caller, self.client_ip);
        // A failed journal write is logged there; the record still reaches the database.
        let _ = self.state.journal.settle(record, self.hold_ticket);
    }
}

impl CallGuard {
    /// Charges the settled usage at the call's rate (the one it was reserved at, else the
    /// model's current one) and releases the reservation.
    fn price(&mut self, settlement: &mut CallSettlement) {
        let rate = self.rate.or_else(|| {
            let kind = self.kind?;
            self.state.rates.rate(&self.hold.provider, kind, &self.hold.model).map(|(r, _)| r)
        });
        if let Some(base) = rate {
            let rate = self.call_rate(&base, settlement.tokens_out);
            let succeeded = (200..300).contains(&settlement.status);
            let used = Metered {
                input_tokens: settlement.tokens_in,
                output_tokens: settlement.tokens_out,
                cached_tokens: settlement.tokens_cached,
                images: self.images_delivered,
                video_seconds: settlement.video_seconds,
                web_searches: u64::from(succeeded && self.asked.price.web_search.is_some()),
            };
            settlement.credits = pricing::charge(&rate, used);
            settlement.upstream_cost = pricing::upstream_cost(&rate, used);
        }
        if let Some(r) = self.reservation.take() {
            if settlement.credits > r.amount {
                // The upstream reported more than the call's bounds: billed, and said so.
                tracing::warn!(request_id = %self.hold.request_id, reserved = r.amount.0, charged = settlement.credits.0, "call cost more than its reservation");
            }
            let spent = self.state.accountant.settle(r, settlement.credits);
            if let (Some((before, after)), Some(budget)) = (spent.key_spent, self.caller.policy.budget.as_ref()) {
                self.state.monitor.on_budget_spent(hub_core::alerts::SubjectType::Key, &self.hold.key_id, before.0, after.0, budget.limit.0);
            }
            // A balance's "budget" is what was granted: 50, 80 and 100 % of it spent are alerts too.
            if let Some((user_id, before, after)) = spent.user_spent {
                self.state.credit.note_debit(&user_id, self.hold.started_at_ms, hub_core::ids::now_ms());
                let granted = self.state.credit.granted(&user_id, self.hold.started_at_ms);
                self.state.monitor.on_budget_spent(hub_core::alerts::SubjectType::User, &user_id, before.0, after.0, granted.0);
            }
        }
    }
}

impl CallGuard {
    /// The rate the settled call is charged at: the model's rate with the options asked, or
    /// reported by the upstream (a tier or size it cannot price falls back to the model's
    /// standard rate, with its search fee). An image model that reports its output tokens
    /// (gpt-image-1) is charged by those tokens instead of per image.
    fn call_rate(&self, base: &ModelRate, tokens_out: u64) -> ModelRate {
        let Some(kind) = self.kind else { return *base };
        let model = self.hold.model.as_str();
        let ask = &self.asked.price;
        if self.images_delivered == 0 && ask.service_tier.is_none() && ask.web_search.is_none() {
            // Most calls: nothing changes the model's rate.
            return *base;
        }
        let mut rate = price_options::rate_for(base, kind, model, ask).unwrap_or_else(|_| {
            let plain = PriceAsk { web_search: ask.web_search, ..PriceAsk::default() };
            price_options::rate_for(base, kind, model, &plain).unwrap_or(*base)
        });
        if self.images_delivered > 0 && tokens_out > 0 {
            if let Some(per_token) = price_options::image_output_token_rate(base, kind, model) {
                rate.output = per_token;
                rate.unit_cost.output = per_token;
                rate.per_image = NanoCredits::ZERO;
                rate.unit_cost.per_image = NanoCredits::ZERO;
            }
        }
        rate
    }
}

impl Drop for CallGuard {
    /// The handler was dropped before settling: the client went away while the hub waited for
    /// the upstream. Bill what is known (the input estimate, if the upstream was contacted).
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let contacted = self.hold_ticket.is_some();
        let settlement = CallSettlement {
            status: 499,
            error_class: Some("client_closed".to_owned()),
            tokens_in: if contacted { self.hold.est_input_tokens } else { 0 },
            duration_ms: self.elapsed_ms(),
            cut_short: true,
            estimated: contacted,
            ..CallSettlement::default()
        };
        self.write(settlement);
    }
}

#[cfg(test)]
mod tests {
    use super::ip_text;

    #[test]
    fn addresses_read_as_the_formatter_writes_them() {
        for ip in ["0.0.0.0", "127.0.0.1", "10.20.30.40", "255.255.255.255", "192.168.100.9", "::1", "2001:db8::8a2e:370:7334"] {
            let parsed: std::net::IpAddr = ip.parse().unwrap_or(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED));
            assert_eq!(ip_text(parsed), parsed.to_string());
        }
    }
}
