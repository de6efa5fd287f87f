//! The LLM layer shared by `vibectl-server` and `vibectl`.
//!
//! Providers speak the real HTTP APIs (one module per wire format), the model catalog maps ids and
//! aliases to providers and prices, and usage is normalised so cost is computed one way for all.

pub mod anthropic;
pub mod catalog;
pub mod error;
pub mod http;
pub mod openai;
pub mod passthrough;
pub mod provider;
pub mod registry;
pub mod schema;
pub mod secret;
pub mod sse;
pub mod usage;
pub mod wire;

pub use catalog::{ModelCatalog, ModelSpec, Resolution};
pub use error::{ErrorCode, ProviderError};
pub use provider::{Completion, CompletionRequest, Provider, ProviderStream, StreamEvent};
pub use registry::{ProviderRegistry, ProviderSettings, WireFormat};
pub use secret::Secret;
pub use usage::{LongContextPrices, Prices, Usage};
