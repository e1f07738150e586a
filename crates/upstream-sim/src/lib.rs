//! A real HTTP server that answers like an OpenAI-protocol model provider,
//! byte for byte, so the gateway can be tested and benchmarked against it.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use upstream_sim::{Fault, Sim, SimConfig};
//! let sim = Sim::start(SimConfig::default()).await?;
//! let base_url = sim.base_url(); // "http://127.0.0.1:PORT/v1"
//! sim.push_fault(Fault::Status { status: 429, retry_after: Some(1) });
//! // ... point a client at base_url ...
//! assert_eq!(sim.stats().chat_requests, 0);
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! # Endpoints
//!
//! - `POST /v1/chat/completions` (JSON or SSE with `"stream":true`)
//! - `POST /v1/embeddings`
//! - `GET /v1/models`, `GET /v1/models/{id}`
//! - `POST /v1/videos`, `GET /v1/videos/{id}`, `GET /v1/videos/{id}/content`: OpenAI's Videos
//!   API (Sora jobs); Veo's `POST /v1beta/models/{model}:predictLongRunning`,
//!   `GET /v1beta/models/{model}/operations/{id}` and `GET /v1beta/files/{id}:download`. Jobs
//!   render for [`SimConfig::video_render`]; see [`video`], [`openai::videos`], [`gemini::video`].
//! - `POST /v1/messages`: Anthropic's Messages API (JSON or SSE); see [`anthropic`] for its
//!   headers, validation, reply length and event sequence. Its base URL, as Anthropic's SDKs
//!   write it, is [`Sim::anthropic_base_url`].
//! - `POST /model/{modelId}/converse`, `/converse-stream` and `/invoke`: Amazon Bedrock Runtime
//!   (Converse JSON, ConverseStream event stream frames, Titan and Cohere embeddings), with
//!   SigV4 verification when [`SimConfig::aws_credentials`] is set; see [`bedrock`]. Its base
//!   URL is the server root, `http://IP:PORT`.
//! - `POST /v1beta/models/{model}:generateContent`, `:streamGenerateContent` (`?alt=sse`, or a
//!   JSON array without it) and `:batchEmbedContents`: the Gemini API, with Google's key check
//!   (`x-goog-api-key`), request validation and error bodies; see [`gemini`]. Its base URL, as
//!   Google's SDKs write it, is [`Sim::gemini_base_url`].
//! - `POST /v1beta/models/{model}:predict` (Imagen) and `generateContent` asking for an `IMAGE`
//!   response modality (Gemini image models): base64 PNGs; see [`gemini::images`].
//! - `POST /v1/ideogram-v3/generate`: Ideogram 3.0's multipart form (`Api-Key`), image URLs on
//!   the simulator (`GET /__sim/files/{id}.png`); see [`ideogram`].
//! - Connection probes: `GET /v1/models` (OpenAI; Anthropic's shape when the request carries
//!   `anthropic-version` or `x-api-key`), `GET /v1beta/models` (Gemini) and
//!   `GET /foundation-models` (Bedrock, signed), each with its provider's refusal of a bad key;
//!   they count in `models_requests`, never in `calls_by_key`.
//! - `POST /__sim/keys {"accept":[…],"refuse":[…]}`: keys accepted besides
//!   [`SimConfig::api_key`] from now on (also [`Sim::accept_key`]), for a credential the
//!   provider starts accepting again.
//! - anything else: 404 `Invalid URL (METHOD /path)`
//!
//! # Deterministic replies and usage
//!
//! Tokens are whitespace-separated words; nothing else is counted.
//!
//! - **Completion tokens per choice** `C` = `max_completion_tokens`, else
//!   `max_tokens`, else [`SimConfig::default_completion_tokens`] (12).
//! - **Reply text** = the first `C` words of [`tokens::REPLY_WORDS`], cycled,
//!   joined by single spaces ([`reply_text`]). With the default of 12:
//!   `"Hello from the upstream simulator. This reply is deterministic and repeats itself."`
//! - **Prompt tokens** `P` = Σ over messages of (3 + words in the message's
//!   text: string content, or the `text` of each content part; null content
//!   is 0 words) + 3. So `[{"role":"user","content":"Hello!"}]` gives 7.
//!   Markers such as `[[sim:tool]]` are words too.
//! - `n` choices each get the same `C`-token reply; `completion_tokens = n·C`,
//!   `total_tokens = P + n·C`. Tool-call replies report the same usage.
//! - `finish_reason` is `"stop"`, or `"tool_calls"` for a tool call.
//! - Streams send one content chunk per word: `"Hello"`, `" from"`, `" the"`…
//!   whose concatenation is exactly the non-streaming content.
//! - Embeddings: `prompt_tokens` = words of each string input (or the length of
//!   each token array), summed; vectors are unit-length, `dimensions` long
//!   (default 8), derived from a hash of the input ([`text_embedding`]).
//!
//! # Tool calls
//!
//! When `tools` is non-empty and `tool_choice` is `"required"` or names a
//! function, or the last user message holds `[[sim:tool]]` (and
//! `tool_choice` is not `"none"`), the reply is one call per choice to the
//! named function (else the first tool's) with arguments `{"sim":true}`.
//!
//! # Faults
//!
//! Queued with [`Sim::push_fault`] (FIFO; each request takes the first queued
//! fault that applies to it — stream cuts wait for a streaming request),
//! drawn with [`Sim::set_fault_rate`], or written into the last user
//! message: `[[sim:status=500]]`, `[[sim:status=429,retry_after=1]]`,
//! `[[sim:stall]]`, `[[sim:cut=3]]`, `[[sim:no_usage]]`, `[[sim:delay_ms=200]]`,
//! `[[sim:tool]]`.
//!
//! # Control API (for other processes)
//!
//! - `POST /__sim/faults` `{"status":429,"retry_after":2}` | `{"stall":true}` |
//!   `{"cut_stream_after":3}` | `{"no_usage":true}` | `{"delay_ms":500}`,
//!   optional `"count":N`; answers `{"queued":TOTAL}`.
//! - `POST /__sim/fault_rate` `{"probability":0.1,"seed":7,"status":503}`
//!   (probability 0 or absent turns it off).
//! - `GET /__sim/stats` → [`Stats`] as JSON.
//! - `POST /__sim/reset` zeroes stats and drops all faults.
//! - `POST /__sim/config` `{"latency_ms":..,"chunk_interval_ms":..,"default_completion_tokens":..,"video_render_ms":..}`.
//! - `GET /__sim/health` → `{"ok":true}`.

pub mod anthropic;
pub mod bedrock;
pub mod config;
mod control;
pub mod faults;
pub mod gemini;
pub mod ideogram;
mod ids;
pub mod openai;
pub mod server;
mod state;
pub mod stats;
pub mod tokens;
pub mod video;

pub use config::SimConfig;
pub use faults::Fault;
pub use openai::embeddings::text_embedding;
pub use openai::errors::mask_key;
pub use openai::images::sim_png;
pub use server::Sim;
pub use stats::Stats;
pub use tokens::reply_text;
pub use video::sim_mp4;
