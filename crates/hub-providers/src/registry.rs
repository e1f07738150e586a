//! Which adapter speaks which protocol. The HTTP layer asks here; it never names an adapter.

use hub_core::provider::Protocol;

use crate::adapter::Adapter;
use crate::anthropic::AnthropicAdapter;
use crate::bedrock::BedrockAdapter;
use crate::client::HttpClient;
use crate::gemini::GeminiAdapter;
use crate::ideogram::IdeogramAdapter;
use crate::openai::OpenAiAdapter;

pub struct Adapters {
    anthropic: AnthropicAdapter,
    bedrock: BedrockAdapter,
    gemini: GeminiAdapter,
    ideogram: IdeogramAdapter,
    openai: OpenAiAdapter,
}

impl Adapters {
    pub fn new(client: HttpClient) -> Adapters {
        Adapters { anthropic: AnthropicAdapter::new(client.clone()), bedrock: BedrockAdapter::new(client.clone()), gemini: GeminiAdapter::new(client.clone()), ideogram: IdeogramAdapter::new(client.clone()), openai: OpenAiAdapter::new(client) }
    }

    /// The adapter for a protocol, or `None` when this build does not speak it.
    pub fn for_protocol(&self, protocol: Protocol) -> Option<&dyn Adapter> {
        match protocol {
            Protocol::OpenAiChat => Some(&self.openai),
            Protocol::AnthropicMessages => Some(&self.anthropic),
            Protocol::GeminiGenerateContent => Some(&self.gemini),
            Protocol::BedrockConverse => Some(&self.bedrock),
            Protocol::IdeogramImages => Some(&self.ideogram),
        }
    }
}
