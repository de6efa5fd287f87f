//! The provider interface every wire format implements.
use std::sync::Arc;

use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::{ProviderError, Usage};

/// One LLM call, already resolved to a provider's upstream model name.
#[derive(Clone, Debug, Default)]
pub struct CompletionRequest {
    /// The provider's own model name (e.g. `claude-sonnet-4-0`).
    pub model: String,
    /// System prompt fragments, in order.
    pub system: Vec<String>,
    /// User turn fragments, in order; each becomes one content part.
    pub user: Vec<String>,
    /// JSON Schema the answer must satisfy, when structured output is wanted.
    pub schema: Option<Arc<serde_json::Value>>,
    /// Upper bound on output tokens.
    pub max_output_tokens: u32,
}

/// A finished, non-streamed answer.
#[derive(Clone, Debug, Default)]
pub struct Completion {
    /// The text (for structured output: the JSON document).
    pub text: String,
    /// Tokens the provider reported.
    pub usage: Usage,
    /// How many retries were needed.
    pub retry_count: u32,
}

/// One event of a streamed answer.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEvent {
    /// A piece of text, in order.
    Text(String),
    /// A cumulative usage snapshot; merge into the running total with [`Usage::merge`].
    Usage(Usage),
}

/// A streamed answer: the events, and how many retries it took to open it.
pub struct ProviderStream {
    /// Text and usage events; ends after the provider's end-of-message, or with one error.
    pub events: BoxStream<'static, Result<StreamEvent, ProviderError>>,
    /// Retries made before the first byte arrived.
    pub retry_count: u32,
}

impl std::fmt::Debug for ProviderStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderStream")
            .field("retry_count", &self.retry_count)
            .finish_non_exhaustive()
    }
}

/// A provider's API. Dropping a returned future or stream cancels the upstream HTTP request.
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// Asks for a whole answer, retrying transient failures.
    fn complete<'a>(
        &'a self,
        request: &'a CompletionRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>>;

    /// Opens a streamed answer; retries happen only before the first byte.
    fn stream<'a>(
        &'a self,
        request: &'a CompletionRequest,
    ) -> BoxFuture<'a, Result<ProviderStream, ProviderError>>;
}
