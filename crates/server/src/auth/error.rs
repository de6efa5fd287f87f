//! Why token keys, secrets or lifetimes could not be used; each message names the key and the fix.
use std::path::PathBuf;

/// Setting up signing or verification failed.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// An algorithm name this server does not support.
    #[error("{key}: unsupported algorithm `{value}` (use HS256, HS384, HS512, RS256 or EdDSA)")]
    Algorithm {
        /// The config key.
        key: String,
        /// What it said.
        value: String,
    },
    /// A needed key is not configured (the message says which and how to make one).
    #[error("{0}")]
    Missing(String),
    /// A key or secret file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An HMAC secret shorter than HS256 allows (the message names its source and the fix).
    #[error("{0}")]
    ShortSecret(String),
    /// A secret file holds only whitespace.
    #[error("JWT secret file {0} is empty")]
    EmptySecret(PathBuf),
    /// Key material that is not what the algorithm needs.
    #[error("{what}: {reason}")]
    Invalid {
        /// Which key.
        what: String,
        /// Why.
        reason: String,
    },
    /// A generated secret could not be saved.
    #[error("cannot persist a generated JWT secret: {0}")]
    Persist(#[source] vibectl_fsutil::WriteError),
    /// Signing failed.
    #[error("cannot sign: {0}")]
    Sign(#[source] jsonwebtoken::errors::Error),
    /// The token registry could not be read.
    #[error(transparent)]
    Registry(#[from] super::RegistryError),
    /// The audit log could not be opened.
    #[error("cannot open the audit log {path}: {source}")]
    Audit {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Why a `--expires-in` text is not a lifetime.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifetimeError {
    /// Nothing given.
    #[error("empty duration; {EXAMPLES}")]
    Empty,
    /// A suffix other than h, d, w, m, y.
    #[error("unknown unit `{unit}` in `{text}`; {EXAMPLES}")]
    Unit {
        /// The suffix.
        unit: char,
        /// The whole text.
        text: String,
    },
    /// A minus sign.
    #[error("`{0}` is negative; {EXAMPLES}")]
    Negative(String),
    /// Not digits.
    #[error("`{0}` is not a duration; {EXAMPLES}")]
    NotANumber(String),
    /// Zero.
    #[error("`{0}` is zero; a token must live for some time ({EXAMPLES})")]
    Zero(String),
    /// More than 100 years.
    #[error("`{0}` is too large (at most 100 years)")]
    TooLarge(String),
}

const EXAMPLES: &str = "use N days or N with a suffix: 12h, 30d, 2w, 6m (30 days), 1y (365 days)";
