//! `http:`: the OpenAI- and Anthropic-compatible HTTP APIs on the gRPC listener.
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The default and the largest allowed `http.max_body_bytes` (Anthropic's own request limit is
/// 32 MB; images travel base64 in the body).
pub const DEFAULT_MAX_BODY_BYTES: usize = 32 * 1024 * 1024;
const MAX_MAX_BODY_BYTES: usize = 256 * 1024 * 1024;

/// `http:`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    /// Serve `/v1/chat/completions`, `/v1/messages`, `/v1/models` and `/health` beside gRPC.
    pub enabled: bool,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
}

impl Default for HttpSection {
    fn default() -> Self {
        HttpSection {
            enabled: true,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
        }
    }
}

impl HttpSection {
    /// Problems with these settings.
    pub fn validate(&self) -> Vec<ConfigError> {
        if (1024..=MAX_MAX_BODY_BYTES).contains(&self.max_body_bytes) {
            return Vec::new();
        }
        vec![ConfigError::new(
            "http.max_body_bytes",
            format!(
                "must be between 1024 and {MAX_MAX_BODY_BYTES}, got {}",
                self.max_body_bytes
            ),
        )]
    }
}
