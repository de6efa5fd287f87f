//! Proxy failures, each with one actionable message.
use std::time::Duration;

/// Why a call to vibectl-server failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// Nothing answered at the address.
    #[error("cannot reach vibectl-server at {addr}: {detail}\n  check that the server is running and the host and port are right: vibectl setup-proxy test")]
    Unreachable {
        /// HOST:PORT.
        addr: String,
        /// The OS's reason.
        detail: String,
    },
    /// The server's certificate was not trusted.
    #[error("TLS verification failed for {addr}: {detail}\n  if the server uses a private CA, pass its certificate bundle:\n    vibectl setup-proxy configure PROFILE URL --ca-bundle ca.crt   (or set VIBECTL_CA_BUNDLE=ca.crt)")]
    TlsVerify {
        /// HOST:PORT.
        addr: String,
        /// rustls' reason.
        detail: String,
    },
    /// The URL asks for TLS but the server speaks plain text (or the reverse).
    #[error("TLS handshake with {addr} failed: {detail}\n  if the server runs without TLS use vibectl-server-insecure://...; if it uses TLS use vibectl-server://...")]
    TlsMismatch {
        /// HOST:PORT.
        addr: String,
        /// What happened.
        detail: String,
    },
    /// The server wants a token and none was sent.
    #[error("vibectl-server at {addr} requires authentication: {detail}\n  ask the operator for a token (vibectl-server generate-token NAME) and put it in the URL\n  (vibectl-server://TOKEN@host:port), in a file given with --jwt-path, or in VIBECTL_JWT_TOKEN")]
    AuthRequired {
        /// HOST:PORT.
        addr: String,
        /// The server's message.
        detail: String,
    },
    /// The token was refused (expired, revoked, wrong secret...).
    #[error("vibectl-server at {addr} refused the token: {detail}\n  the token may be expired or revoked; ask the operator for a new one and reconfigure:\n    vibectl setup-proxy configure PROFILE vibectl-server://NEW_TOKEN@host:port")]
    TokenRefused {
        /// HOST:PORT.
        addr: String,
        /// The server's message.
        detail: String,
    },
    /// The address answers gRPC but not the vibectl service.
    #[error("{addr} does not offer the vibectl LLM proxy service ({detail})\n  is this a vibectl-server? check the host and port")]
    ServiceMissing {
        /// HOST:PORT.
        addr: String,
        /// The status message.
        detail: String,
    },
    /// The connection closed before an answer (not a gRPC server, or it went away).
    #[error("{addr} closed the connection before answering ({detail})\n  is this a vibectl-server (gRPC) and is it still running? check the host, port and scheme")]
    ConnectionClosed {
        /// HOST:PORT.
        addr: String,
        /// What happened.
        detail: String,
    },
    /// No answer in time.
    #[error("vibectl-server at {addr} did not answer within {after:?}\n  raise the limit with: vibectl config set proxy.timeout_seconds 60 (or --timeout for setup-proxy test)")]
    Timeout {
        /// HOST:PORT.
        addr: String,
        /// The limit.
        after: Duration,
    },
    /// A limit or budget refused the call and retries ran out.
    #[error("vibectl-server refused the call: {detail} (limit: {limit}{retry})\n  wait and try again, or ask the operator to raise the limit")]
    LimitReached {
        /// `limit-type` metadata.
        limit: String,
        /// The status message.
        detail: String,
        /// `, retry after ...` or empty.
        retry: String,
    },
    /// The CA bundle or token file could not be read.
    #[error("{what} {path}: {detail}")]
    LocalFile {
        /// What the file is for.
        what: &'static str,
        /// The path.
        path: String,
        /// Why.
        detail: String,
    },
    /// No usable profile.
    #[error("{0}")]
    Profile(String),
    /// Anything else gRPC reported.
    #[error("vibectl-server at {addr} failed: {code}: {detail}")]
    Other {
        /// HOST:PORT.
        addr: String,
        /// gRPC code name.
        code: String,
        /// The message.
        detail: String,
    },
}

impl ProxyError {
    /// Classifies a gRPC status from a call to `addr`; `had_token` tells refusal from absence.
    pub fn from_status(
        addr: &str,
        status: &tonic::Status,
        had_token: bool,
        timeout: Duration,
    ) -> Self {
        let addr = addr.to_owned();
        let detail = status.message().to_owned();
        let chain = std::error::Error::source(status)
            .map(error_chain)
            .unwrap_or_default();
        match status.code() {
            tonic::Code::Unauthenticated if had_token => ProxyError::TokenRefused { addr, detail },
            tonic::Code::Unauthenticated => ProxyError::AuthRequired { addr, detail },
            tonic::Code::Unimplemented => ProxyError::ServiceMissing { addr, detail },
            tonic::Code::Unknown | tonic::Code::Internal
                if detail.contains("h2 protocol error")
                    || chain.contains("h2 protocol error")
                    || detail == "transport error" =>
            {
                ProxyError::ServiceMissing {
                    addr,
                    detail: format!("it did not answer as a gRPC server: {detail}: {chain}")
                        .trim_end_matches(": ")
                        .to_owned(),
                }
            }
            tonic::Code::DeadlineExceeded => ProxyError::Timeout {
                addr,
                after: timeout,
            },
            tonic::Code::Cancelled
                if detail.contains("Timeout expired") || detail.contains("timed out") =>
            {
                ProxyError::Timeout {
                    addr,
                    after: timeout,
                }
            }
            tonic::Code::Cancelled => ProxyError::ConnectionClosed {
                addr,
                detail: if chain.is_empty() {
                    detail
                } else {
                    format!("{detail}: {chain}")
                },
            },
            tonic::Code::ResourceExhausted => {
                let meta = |k: &str| {
                    status
                        .metadata()
                        .get(k)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                };
                let retry = meta(vibectl_proto::wire::metadata::RETRY_AFTER_MS)
                    .map(|ms| format!(", retry after {ms} ms"))
                    .unwrap_or_default();
                ProxyError::LimitReached {
                    limit: meta(vibectl_proto::wire::metadata::LIMIT_TYPE)
                        .unwrap_or_else(|| "unknown".into()),
                    detail,
                    retry,
                }
            }
            _ => classify_transport(&addr, &format!("{detail}: {chain}"), timeout).unwrap_or(
                ProxyError::Other {
                    addr,
                    code: format!("{:?}", status.code()),
                    detail,
                },
            ),
        }
    }

    /// Classifies a connection error.
    pub fn from_transport(addr: &str, e: &tonic::transport::Error, timeout: Duration) -> Self {
        let chain = error_chain(e);
        classify_transport(addr, &chain, timeout).unwrap_or(ProxyError::Unreachable {
            addr: addr.to_owned(),
            detail: chain,
        })
    }
}

fn classify_transport(addr: &str, chain: &str, timeout: Duration) -> Option<ProxyError> {
    let addr = addr.to_owned();
    let lower = chain.to_ascii_lowercase();
    let detail = chain.to_owned();
    if lower.contains("invalid peer certificate")
        || lower.contains("unknownissuer")
        || lower.contains("certificate")
    {
        Some(ProxyError::TlsVerify { addr, detail })
    } else if lower.contains("invalidcontenttype")
        || lower.contains("corrupt message")
        || lower.contains("wrong version number")
        || lower.contains("tls handshake eof")
        || lower.contains("unexpected eof")
    {
        Some(ProxyError::TlsMismatch { addr, detail })
    } else if lower.contains("timed out") || lower.contains("deadline") {
        Some(ProxyError::Timeout {
            addr,
            after: timeout,
        })
    } else if lower.contains("connection refused")
        || lower.contains("dns error")
        || lower.contains("failed to lookup")
        || lower.contains("no route")
        || lower.contains("network is unreachable")
        || lower.contains("tcp connect error")
        || lower.contains("connection reset")
    {
        Some(ProxyError::Unreachable { addr, detail })
    } else {
        None
    }
}

pub use vibectl_llm::http::error_chain;
