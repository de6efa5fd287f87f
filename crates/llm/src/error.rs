//! The typed errors providers raise, and their wire error code (defined in `vibectl_proto::wire`).
use std::time::Duration;

pub use vibectl_proto::wire::ErrorCode;

/// A failure talking to a provider, classified so it maps onto one [`ErrorCode`].
///
/// Its `Display` text is for callers: it names neither the provider's URL, host or port nor
/// transport internals, and never quotes key material (provider messages are passed through
/// [`redact`]; an auth failure's provider message is left out). The whole story, for logs only,
/// is [`ProviderError::log_detail`].
#[derive(Debug)]
pub enum ProviderError {
    /// 401/403: the provider refused the key.
    Auth {
        /// HTTP status.
        status: u16,
        /// Provider's message (logs only: it may quote the key).
        message: String,
    },
    /// 429: throttled.
    RateLimited {
        /// The provider's `retry-after`, when it sent one.
        retry_after: Option<Duration>,
        /// Provider's message.
        message: String,
    },
    /// Connect failure, 5xx, Anthropic 529, or a connection lost before any output.
    Unavailable {
        /// HTTP status, when there was a response.
        status: Option<u16>,
        /// What went wrong, in words fit for callers.
        message: String,
        /// The transport error behind it (URL, addresses, OS errors): logs only.
        detail: Option<String>,
    },
    /// The prompt does not fit the model's context window.
    ContextLength {
        /// Provider's message.
        message: String,
    },
    /// Any other 4xx: the provider refused the request as malformed.
    BadRequest {
        /// HTTP status.
        status: u16,
        /// Provider's message.
        message: String,
    },
    /// The answer did not validate against the requested JSON schema.
    SchemaValidation {
        /// What failed to validate.
        message: String,
    },
    /// The provider did not answer in time.
    Timeout(Duration),
    /// The provider's answer could not be understood (malformed JSON, unexpected shape, stream
    /// cut), or the provider is configured wrongly.
    Protocol {
        /// What was wrong with it, in words fit for callers.
        message: String,
        /// More, for logs only (e.g. the configured URL).
        detail: Option<String>,
    },
}

impl ProviderError {
    /// The message in `Display`, with provider text as given (`raw`) or redacted for callers.
    fn write(&self, f: &mut std::fmt::Formatter<'_>, raw: bool) -> std::fmt::Result {
        let text = |m: &str| {
            if raw {
                m.to_owned()
            } else {
                redact(m)
            }
        };
        match self {
            ProviderError::Auth { status, message } => {
                write!(f, "provider rejected the API key (HTTP {status})")?;
                if raw {
                    write!(f, ": {message}")?;
                }
                Ok(())
            }
            ProviderError::RateLimited { message, .. } => {
                write!(f, "provider rate limited the request: {}", text(message))
            }
            ProviderError::Unavailable { message, .. } => {
                write!(f, "provider unavailable: {}", text(message))
            }
            ProviderError::ContextLength { message } => write!(
                f,
                "prompt exceeds the model's context window: {}",
                text(message)
            ),
            ProviderError::BadRequest { status, message } => write!(
                f,
                "provider refused the request (HTTP {status}): {}",
                text(message)
            ),
            ProviderError::SchemaValidation { message } => {
                write!(f, "response does not match the requested schema: {message}")
            }
            ProviderError::Timeout(limit) => write!(f, "provider did not answer within {limit:?}"),
            ProviderError::Protocol { message, .. } => {
                write!(f, "unexpected provider response: {}", text(message))
            }
        }
    }

    /// Everything known about the failure, provider URL and transport errors included: for
    /// logs, never for callers (use `Display` for them).
    pub fn log_detail(&self) -> String {
        struct Raw<'a>(&'a ProviderError);
        impl std::fmt::Display for Raw<'_> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.write(f, true)
            }
        }
        let mut out = Raw(self).to_string();
        if let ProviderError::Unavailable {
            detail: Some(d), ..
        }
        | ProviderError::Protocol {
            detail: Some(d), ..
        } = self
        {
            out.push_str(" (");
            out.push_str(d);
            out.push(')');
        }
        out
    }
}

impl std::fmt::Display for ProviderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.write(f, false)
    }
}

impl std::error::Error for ProviderError {}

/// Provider text made fit for callers, best effort: URLs become `<url>`, IP addresses and
/// `host:port` pairs `<host>`, and API keys (`sk-…`, a `Bearer` token) `<key>`. Tokens are split
/// at whitespace, quotes, brackets other than `[]`, `<`, `>`, `=`, `,` and `|`.
pub fn redact(text: &str) -> String {
    let is_delim = |c: char| c.is_whitespace() || "\"'`<>(){}|=,".contains(c);
    let mut out = String::with_capacity(text.len());
    let mut bearer = false;
    let mut start = 0;
    let end = std::iter::once((text.len(), ' '));
    for (i, c) in text.char_indices().chain(end) {
        if !(is_delim(c) || i == text.len()) {
            continue;
        }
        if start < i {
            let token = &text[start..i];
            let core = token.trim_end_matches(['.', ';', ':', '!', '?']);
            let replacement = if core.contains("://") {
                Some("<url>")
            } else if bearer || core.starts_with("sk-") || core.starts_with("sk_") {
                Some("<key>")
            } else if is_host(core) {
                Some("<host>")
            } else {
                None
            };
            bearer = core.eq_ignore_ascii_case("bearer");
            match replacement {
                Some(r) if !core.is_empty() => {
                    out.push_str(r);
                    out.push_str(&token[core.len()..]);
                }
                _ => out.push_str(token),
            }
        }
        if i < text.len() {
            out.push(c);
        }
        start = i + c.len_utf8();
    }
    out
}

/// An IPv4 address, `[v6]` address, or `host:port` (the host an IP, `localhost` or dotted).
fn is_host(word: &str) -> bool {
    let ipv4 = |s: &str| {
        let parts: Vec<&str> = s.split('.').collect();
        parts.len() == 4
            && parts
                .iter()
                .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
    };
    if ipv4(word) || (word.starts_with('[') && word.contains(':')) {
        return true;
    }
    match word.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && (1..=5).contains(&port.len())
                && port.bytes().all(|b| b.is_ascii_digit())
                && (host == "localhost"
                    || ipv4(host)
                    || host.starts_with('[')
                    || (host.contains('.')
                        && host
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')))
        }
        None => false,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_urls_hosts_and_keys_and_leaves_prose_alone() {
        let cases = [
            (
                "Incorrect API key provided: sk-proj-abc***xyz. You can find your API key at https://platform.openai.com/account/api-keys.",
                "Incorrect API key provided: <key>. You can find your API key at <url>.",
            ),
            ("upstream 10.0.3.7:8443 refused (see \"http://gw.internal/x\")", "upstream <host> refused (see \"<url>\")"),
            ("bad gateway at llm.corp.example:9000, [::1]:11434 and localhost:8080", "bad gateway at <host>, <host> and <host>"),
            ("header was Bearer abc.def", "header was Bearer <key>"),
            (
                "invalid x-api-key: sk-ant-api03-aB3_x-9ZqaB3_x-9ZqaB3_x-9ZqAA (admin sk-ant-admin01-Qw7-rT_2kQw7-rT_2kAA).",
                "invalid x-api-key: <key> (admin <key>).",
            ),
            (
                "keys sk-proj-Zx9_Lm-4Pq8sZx9_Lm-4Pq8s, sk-svcacct-h7Tq_2Lx-0Vbh7Tq_2Lx-0Vb revoked",
                "keys <key>, <key> revoked",
            ),
            // Near misses: the prefix inside a word is prose.
            ("a risk-based task-ant-api03-x and desk-proj-y", "a risk-based task-ant-api03-x and desk-proj-y"),
            ("at 08:49:37, line 1 column 5: expected `,` e.g. here", "at 08:49:37, line 1 column 5: expected `,` e.g. here"),
            ("two  spaces\nand a newline", "two  spaces\nand a newline"),
            ("", ""),
        ];
        for (raw, want) in cases {
            assert_eq!(redact(raw), want, "{raw}");
        }
    }

    #[test]
    fn callers_get_redacted_text_and_logs_get_everything() {
        let auth = ProviderError::Auth {
            status: 401,
            message: "Incorrect API key provided: sk-abc".into(),
        };
        assert_eq!(auth.to_string(), "provider rejected the API key (HTTP 401)");
        assert!(auth
            .log_detail()
            .ends_with(": Incorrect API key provided: sk-abc"));
        let down = ProviderError::Unavailable {
            status: Some(502),
            message: "HTTP 502: <h1>no upstream 10.1.2.3:80</h1>".into(),
            detail: None,
        };
        assert!(!down.to_string().contains("10.1.2.3"), "{down}");
        assert!(down.log_detail().contains("10.1.2.3:80"));
        let cut = ProviderError::Unavailable {
            status: None,
            message: "connection lost while reading the response".into(),
            detail: Some("error decoding response body for url (http://h:1/p)".into()),
        };
        assert_eq!(
            cut.to_string(),
            "provider unavailable: connection lost while reading the response"
        );
        assert!(cut.log_detail().contains("http://h:1/p"));
    }

    proptest::proptest! {
        #[test]
        fn redact_never_panics_and_leaves_no_url(text in ".{0,80}|([ -~]|://|sk-|Bearer ){0,30}") {
            let out = redact(&text);
            proptest::prop_assert!(!out.contains("://"), "{text:?} -> {out:?}");
        }
    }
}
