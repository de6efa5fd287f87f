//! Test-only helpers for vibectl-server: a mock OpenAI/Anthropic provider.
#![warn(missing_docs)]

pub mod mock_provider;

pub use mock_provider::{
    Disconnect, Fault, MockProvider, MockReply, MockUsage, RecordedRequest, MAX_RECORDED_REQUESTS,
};
