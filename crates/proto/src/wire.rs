//! The wire vocabulary beside the generated messages, defined once for the server, the client
//! and the bench: `ExecuteError.error_code` values and the metadata keys (docs/wire-contract.md).
//! A test keeps these strings out of every other crate's source.

/// `ExecuteError.error_code` values (docs/wire-contract.md).
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

/// A string that is not one of the wire's error codes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownErrorCode(pub String);

impl std::fmt::Display for UnknownErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` is not an error code of the wire contract", self.0)
    }
}

impl std::error::Error for UnknownErrorCode {}

impl std::str::FromStr for ErrorCode {
    type Err = UnknownErrorCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownErrorCode(s.to_owned()))
    }
}

/// gRPC metadata keys of the contract.
pub mod metadata {
    /// Request: `Bearer <jwt>`.
    pub const AUTHORIZATION: &str = "authorization";
    /// Trailing metadata of a `RESOURCE_EXHAUSTED` refusal: which limit (`rpm`, `concurrency`,
    /// `tokens`, `budget`, `state-store`, or `overload` when the server sheds a call over its
    /// cap on calls in flight).
    pub const LIMIT_TYPE: &str = "limit-type";
    /// Trailing metadata of a refusal: milliseconds until a retry can succeed.
    pub const RETRY_AFTER_MS: &str = "retry-after-ms";
    /// `Execute` response: microseconds spent waiting for the provider.
    pub const PROVIDER_TIME_US: &str = "x-vibectl-provider-us";
    /// `Execute` response: microseconds the server itself added.
    pub const OVERHEAD_US: &str = "x-vibectl-overhead-us";
    /// `Execute` and `StreamExecute` response: the output tokens (`max_tokens`) asked of the
    /// provider, present only when a token limit or budget lowered them below the model's cap.
    pub const OUTPUT_TOKENS_CAP: &str = "x-vibectl-output-tokens-cap";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in ErrorCode::ALL {
            assert_eq!(c.as_str().parse::<ErrorCode>(), Ok(c));
        }
        assert!("NOPE".parse::<ErrorCode>().is_err());
    }

    /// The wire strings are written once, here: no other crate's source spells them.
    #[test]
    fn wire_strings_are_defined_once() {
        let mut needles: Vec<String> = ErrorCode::ALL
            .iter()
            .map(|c| format!("\"{}\"", c.as_str()))
            .collect();
        for k in [
            metadata::LIMIT_TYPE,
            metadata::PROVIDER_TIME_US,
            metadata::OVERHEAD_US,
            metadata::OUTPUT_TOKENS_CAP,
        ] {
            needles.push(format!("\"{k}\""));
        }
        let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut found = Vec::new();
        let mut stack = vec![crates];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let p = e.path();
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if p.is_dir() {
                    if !matches!(name, "target" | "tests" | "proto") {
                        stack.push(p);
                    }
                } else if name.ends_with(".rs") && !name.contains("test") {
                    let text = std::fs::read_to_string(&p).unwrap_or_default();
                    // Unit tests may spell the strings they check.
                    let code = text.split("#[cfg(test)]").next().unwrap_or("");
                    for n in &needles {
                        if code.contains(n.as_str()) {
                            found.push(format!("{}: {n}", p.display()));
                        }
                    }
                }
            }
        }
        assert!(
            found.is_empty(),
            "wire strings spelled outside crates/proto/src/wire.rs: {found:#?}"
        );
    }
}
