//! The Messages API's wire shapes are defined once, in `hub_core::anthropic::wire`: the hub sends
//! them to Anthropic here and reads them from clients on its own `POST /v1/messages`.

pub use hub_core::anthropic::wire::*;
