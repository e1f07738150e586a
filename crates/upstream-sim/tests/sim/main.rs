//! The simulator over HTTP, one module per wire protocol it speaks.

mod anthropic;
mod bedrock;
mod gemini;
mod openai;
mod video;
