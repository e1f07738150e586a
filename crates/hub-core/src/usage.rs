//! The usage record: one per call that reached admission, written through the usage journal.

use serde::{Deserialize, Serialize};

use crate::money::NanoCredits;

/// How a call ended, for the ledger and the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The upstream answered and the client received the whole reply.
    Ok,
    /// The hub or the upstream answered with an error.
    Error,
    /// The client went away before the reply ended.
    CutShort,
    /// The hub stopped before the call settled; billed at its reservation on restart.
    Interrupted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Error => "error",
            Outcome::CutShort => "cut_short",
            Outcome::Interrupted => "interrupted",
        }
    }
}

/// What is known about a call before the upstream is contacted; journaled as its hold.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CallHold {
    pub request_id: String,
    pub started_at_ms: i64,
    pub key_id: String,
    pub kid: String,
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<String>,
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential_id: Option<String>,
    pub model: String,
    pub endpoint: String,
    pub stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<String>,
    /// Estimated input tokens and the reserved maximum cost.
    pub est_input_tokens: u64,
    pub reserved: NanoCredits,
    /// Debited from the user's credit balance (credit billing was on when it was admitted).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub billed: bool,
    /// The start of the key's budget window the call was reserved in (keys with a budget).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_window: Option<i64>,
}

/// How a call settled; journaled after the reply ends.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct CallSettlement {
    pub status: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_class: Option<String>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub tokens_cached: u64,
    pub credits: NanoCredits,
    pub upstream_cost: NanoCredits,
    pub duration_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttfb_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream_ttfb_ms: Option<u64>,
    pub cut_short: bool,
    /// Usage was estimated (missing or absurd upstream usage, cut stream, interrupted call).
    pub estimated: bool,
    /// Seconds of video generated (video calls only; billed per second).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub video_seconds: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A complete usage record: the hold plus its settlement.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UsageRecord {
    pub hold: CallHold,
    pub settlement: CallSettlement,
    pub outcome: Outcome,
}

impl UsageRecord {
    /// A hold that never settled (the process stopped): billed at its reservation and flagged.
    pub fn interrupted(hold: CallHold) -> UsageRecord {
        let settlement = CallSettlement {
            status: 0,
            error_class: Some("interrupted".to_owned()),
            tokens_in: hold.est_input_tokens,
            credits: hold.reserved,
            estimated: true,
            ..CallSettlement::default()
        };
        UsageRecord { hold, settlement, outcome: Outcome::Interrupted }
    }

    pub fn settled(hold: CallHold, settlement: CallSettlement) -> UsageRecord {
        let outcome = if settlement.cut_short {
            Outcome::CutShort
        } else if (200..300).contains(&settlement.status) {
            Outcome::Ok
        } else {
            Outcome::Error
        };
        UsageRecord { hold, settlement, outcome }
    }
}

/// A rough input-token estimate (about 4 bytes a token, plus per-message overhead), used for
/// reservations and for calls whose upstream usage never arrived.
pub fn estimate_tokens_from_bytes(bytes: usize, messages: usize) -> u64 {
    (bytes as u64).div_ceil(4) + 3 * messages as u64 + 3
}

/// The class of a record's status for the dashboard: `2xx`, `3xx`, `4xx`, `5xx`, or `none`
/// for a call that never got one (interrupted). The SQL twin is in `hub-store`'s rollups.
pub fn status_class(status: u16) -> &'static str {
    match status {
        500.. => "5xx",
        400..=499 => "4xx",
        300..=399 => "3xx",
        200..=299 => "2xx",
        _ => "none",
    }
}

/// The status classes a filter may name.
pub const STATUS_CLASSES: [&str; 5] = ["2xx", "3xx", "4xx", "5xx", "none"];

impl Outcome {
    /// Counted as an error on the dashboard: the hub or the upstream answered with an error,
    /// or the call never settled. A stream the client cut is not an error.
    pub fn is_error(self) -> bool {
        matches!(self, Outcome::Error | Outcome::Interrupted)
    }
}
