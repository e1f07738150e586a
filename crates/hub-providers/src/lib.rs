//! The only code that talks to upstream model providers or knows their wire formats.
//!
//! One [`Adapter`] trait, one module per protocol. Adapters take the hub's canonical request
//! (`hub_core::chat`) and a resolved [`Target`], and give back canonical replies or streams.

pub mod adapter;
pub mod anthropic;
pub mod bedrock;
pub mod client;
pub mod error;
pub mod gemini;
mod direct;
pub mod health;
pub mod ideogram;
pub mod openai;
mod openai_call;
pub mod openai_embeddings;
pub mod openai_images;
pub mod openai_video;
pub mod probe;
pub mod registry;
mod reply;
pub mod sse;
pub mod webhook;
pub mod video;

pub use adapter::{Adapter, ChatReply, ChunkStream, StreamReply, Target};
pub use client::{HttpClient, Timeouts};
pub use error::{ProviderError, UpstreamFailure};
pub use registry::Adapters;
pub use video::VideoPolling;
