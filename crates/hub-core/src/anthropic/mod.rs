//! The Anthropic Messages API as clients speak it to the hub (`POST /v1/messages`), and the wire
//! shapes the hub shares with its Anthropic provider adapter. Pure code, no I/O: `hub-http` parses
//! a body into [`wire::MessagesRequest`], calls [`request::to_chat_request`], runs the canonical
//! request through the same path as every other route (to any provider), and shapes the reply
//! with [`reply::to_message`] or the stream with [`reply::StreamTranslator`].
//!
//! - [`wire`]: the request, reply, stream event and error shapes (one definition each, used in
//!   both directions).
//! - [`request`]: client request → canonical [`crate::chat::ChatRequest`].
//! - [`reply`]: canonical completion / chunks → the Anthropic message and its SSE events.

pub mod reply;
pub mod request;
pub mod wire;

#[cfg(test)]
mod tests;
