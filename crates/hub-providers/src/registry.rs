//! Which adapter speaks which protocol. The HTTP layer asks here; it never names an adapter.

use hub_core::provider::Protocol;

use crate::adapter::Adapter;
use crate::client::HttpClient;
use crate::openai::OpenAiAdapter;

pub struct Adapters {
    openai: OpenAiAdapter,
}

impl Adapters {
    pub fn new(client: HttpClient) -> Adapters {
        Adapters { openai: OpenAiAdapter::new(client) }
    }

    /// The adapter for a protocol, or `None` when this build does not speak it.
    pub fn for_protocol(&self, protocol: Protocol) -> Option<&dyn Adapter> {
        match protocol {
            Protocol::OpenAiChat => Some(&self.openai),
            Protocol::AnthropicMessages | Protocol::GeminiGenerateContent | Protocol::BedrockConverse | Protocol::IdeogramImages => None,
        }
    }
}
