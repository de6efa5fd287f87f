//! Error codes of the wire contract and the typed errors providers raise.
use std::time::Duration;

/// `ExecuteError.error_code` values (SPEC.md section 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No model in the request and no default configured.
    NoModel,
    /// The name is neither a model id nor an alias.
    ModelNotFound,
    /// No user fragment, malformed schema, input too long.
    InvalidRequest,
    /// The model's answer is not valid JSON for the requested schema.
    SchemaValidationFailed,
    /// The provider says the prompt is too long.
    ContextLengthExceeded,
    /// The provider rejected the server's key.
    ProviderAuthFailed,
    /// The provider throttled and retries ran out.
    ProviderRateLimited,
    /// Connect failure or 5xx after retries.
    ProviderUnavailable,
    /// The request timeout elapsed.
    Timeout,
    /// Anything else.
    ExecutionFailed,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::NoModel => "NO_MODEL",
            ErrorCode::ModelNotFound => "MODEL_NOT_FOUND",
            ErrorCode::InvalidRequest => "INVALID_REQUEST",
            ErrorCode::SchemaValidationFailed => "SCHEMA_VALIDATION_FAILED",
            ErrorCode::ContextLengthExceeded => "CONTEXT_LENGTH_EXCEEDED",
            ErrorCode::ProviderAuthFailed => "PROVIDER_AUTH_FAILED",
            ErrorCode::ProviderRateLimited => "PROVIDER_RATE_LIMITED",
            ErrorCode::ProviderUnavailable => "PROVIDER_UNAVAILABLE",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::ExecutionFailed => "EXECUTION_FAILED",
        }
    }

    /// Every code, for docs and tests.
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::NoModel,
        ErrorCode::ModelNotFound,
        ErrorCode::InvalidRequest,
        ErrorCode::SchemaValidationFailed,
        ErrorCode::ContextLengthExceeded,
        ErrorCode::ProviderAuthFailed,
        ErrorCode::ProviderRateLimited,
        ErrorCode::ProviderUnavailable,
        ErrorCode::Timeout,
        ErrorCode::ExecutionFailed,
    ];
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure talking to a provider, classified so it maps onto one [`ErrorCode`].
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// 401/403: the provider refused the key.
    #[error("provider rejected the API key (HTTP {status}): {message}")]
    Auth {
        /// HTTP status.
        status: u16,
        /// Provider's message.
        message: String,
    },
    /// 429: throttled.
    #[error("provider rate limited the request: {message}")]
    RateLimited {
        /// The provider's `retry-after`, when it sent one.
        retry_after: Option<Duration>,
        /// Provider's message.
        message: String,
    },
    /// Connect failure, 5xx, Anthropic 529, or a connection lost before any output.
    #[error("provider unavailable: {message}")]
    Unavailable {
        /// HTTP status, when there was a response.
        status: Option<u16>,
        /// What went wrong.
        message: String,
    },
    /// The prompt does not fit the model's context window.
    #[error("prompt exceeds the model's context window: {message}")]
    ContextLength {
        /// Provider's message.
        message: String,
    },
    /// Any other 4xx: the provider refused the request as malformed.
    #[error("provider refused the request (HTTP {status}): {message}")]
    BadRequest {
        /// HTTP status.
        status: u16,
        /// Provider's message.
        message: String,
    },
    /// The answer did not validate against the requested JSON schema.
    #[error("response does not match the requested schema: {message}")]
    SchemaValidation {
        /// What failed to validate.
        message: String,
    },
    /// The provider did not answer in time.
    #[error("provider did not answer within {0:?}")]
    Timeout(Duration),
    /// The provider's answer could not be understood (malformed JSON, unexpected shape, stream cut).
    #[error("unexpected provider response: {message}")]
    Protocol {
        /// What was wrong with it.
        message: String,
    },
}

impl ProviderError {
    /// The wire error code for this failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            ProviderError::Auth { .. } => ErrorCode::ProviderAuthFailed,
            ProviderError::RateLimited { .. } => ErrorCode::ProviderRateLimited,
            ProviderError::Unavailable { .. } => ErrorCode::ProviderUnavailable,
            ProviderError::ContextLength { .. } => ErrorCode::ContextLengthExceeded,
            ProviderError::BadRequest { .. } => ErrorCode::InvalidRequest,
            ProviderError::SchemaValidation { .. } => ErrorCode::SchemaValidationFailed,
            ProviderError::Timeout(_) => ErrorCode::Timeout,
            ProviderError::Protocol { .. } => ErrorCode::ExecutionFailed,
        }
    }

    /// Whether retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ProviderError::RateLimited { .. } | ProviderError::Unavailable { .. }
        )
    }
}
