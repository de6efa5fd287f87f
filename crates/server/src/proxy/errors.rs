//! In-band call errors and their translation to `ExecuteError`.
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::{Code, Status};
use vibectl_llm::{ErrorCode, ProviderError};
use vibectl_proto::wire::metadata::{LIMIT_TYPE, RETRY_AFTER_MS};
use vibectl_proto::ExecuteError;

use crate::limits::LimitRefusal;

/// The gRPC status of a call the limiter refused: `RESOURCE_EXHAUSTED` (or `UNAVAILABLE` while
/// the store is down) with trailing `limit-type` and `retry-after-ms`.
pub fn refusal_status(r: &LimitRefusal) -> Status {
    let mut md = MetadataMap::new();
    md.insert(LIMIT_TYPE, MetadataValue::from_static(r.limit_type()));
    md.insert(RETRY_AFTER_MS, MetadataValue::from(r.retry_after_ms()));
    let code = match r {
        LimitRefusal::Limit { .. } => Code::ResourceExhausted,
        LimitRefusal::StoreDown => Code::Unavailable,
    };
    Status::with_metadata(code, r.to_string(), md)
}

/// A failed call, as the client will see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallError {
    /// Wire code.
    pub code: ErrorCode,
    /// One-line message for people.
    pub message: String,
    /// More detail, when there is any.
    pub details: Option<String>,
}

impl CallError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CallError {
            code,
            message: message.into(),
            details: None,
        }
    }

    /// The wire form.
    pub fn to_proto(&self) -> ExecuteError {
        ExecuteError {
            error_code: self.code.as_str().to_owned(),
            error_message: self.message.clone(),
            error_details: self.details.clone(),
        }
    }
}

impl From<ProviderError> for CallError {
    fn from(e: ProviderError) -> Self {
        let code = e.code();
        // The caller gets the safe text; the operator's log gets URLs and transport causes.
        tracing::warn!(code = %code.as_str(), detail = %e.log_detail(), "provider call failed");
        let message = match &e {
            ProviderError::Auth { .. } => {
                "the provider rejected the server's API key; the operator must fix the provider key"
                    .to_owned()
            }
            ProviderError::RateLimited { .. } => {
                "the provider is rate limiting this server and retries ran out; try again later"
                    .to_owned()
            }
            ProviderError::Unavailable { .. } => {
                "the provider is unavailable (connection failed or server error after retries)"
                    .to_owned()
            }
            ProviderError::ContextLength { .. } => {
                "the prompt is longer than the model's context window".to_owned()
            }
            ProviderError::Timeout(_) => "the provider did not answer in time".to_owned(),
            _ => e.to_string(),
        };
        CallError {
            code,
            message,
            details: Some(e.to_string()),
        }
    }
}
