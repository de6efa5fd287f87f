//! Server configuration: the YAML file (reference-compatible keys), where it lives, and validation.
mod paths;
mod providers;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use vibectl_llm::catalog::ModelEntry;
use vibectl_llm::WireFormat;

pub use paths::{config_path, state_dir, ConfigSource};
pub use providers::{provider_settings, ProviderStatus};
pub use validate::{ConfigError, ConfigIssues};

/// The whole server config file.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerConfig {
    /// Listener, default model, limits, logging.
    pub server: ServerSection,
    /// Token verification (reference keys; see docs/security.md).
    pub jwt: JwtSection,
    /// TLS for the listener.
    pub tls: TlsSection,
    /// Provider endpoints and keys by provider name.
    pub providers: BTreeMap<String, ProviderEntry>,
    /// Models added to or replacing the built-in catalog.
    pub models: Vec<ModelEntry>,
    /// The reference's ACME section; accepted so existing files load, not used by this server.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acme: Option<serde_yaml_ng::Value>,
}

/// `server:`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerSection {
    /// Address to bind (default 127.0.0.1).
    pub host: String,
    /// Port to bind (default 50051; 0 picks a free one).
    pub port: u16,
    /// Model used when a request names none.
    pub default_model: Option<String>,
    /// Whether every call needs a valid token.
    pub require_auth: bool,
    /// Name reported in `GetServerInfo.server_name`.
    pub name: String,
    /// Reference key (thread pool size); accepted and ignored (this server is async).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_workers: Option<u32>,
    /// Log level: error, warn, info, debug, trace.
    pub log_level: String,
    /// Log format.
    pub log_format: LogFormat,
    /// Seconds in-flight calls get to finish after SIGTERM/SIGINT.
    pub shutdown_grace_seconds: u64,
    /// Global and per-subject limits.
    pub limits: LimitsSection,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            host: "127.0.0.1".into(),
            port: 50051,
            default_model: None,
            require_auth: false,
            name: "vibectl-server".into(),
            max_workers: None,
            log_level: "info".into(),
            log_format: LogFormat::Human,
            shutdown_grace_seconds: 30,
            limits: LimitsSection::default(),
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

/// `server.limits`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct LimitsSection {
    /// Limits for every caller together.
    pub global: Limits,
    /// Limits by token subject, overriding `global` key by key.
    pub per_token: BTreeMap<String, Limits>,
}

/// One set of limits; unset means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Requests per minute.
    pub max_requests_per_minute: Option<u32>,
    /// Calls in flight at once.
    pub max_concurrent_requests: Option<u32>,
    /// Characters of prompt (all fragments together).
    pub max_input_length: Option<u32>,
    /// Seconds a call may take in all.
    pub request_timeout_seconds: Option<u32>,
}

/// `jwt:` (reference keys).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct JwtSection {
    /// Whether tokens are checked (the reference's switch; `server.require_auth` also turns it on).
    pub enabled: bool,
    /// Shared HS256 secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    /// File holding the shared secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key_file: Option<PathBuf>,
    /// `iss` claim issued and required.
    pub issuer: String,
    /// Signing algorithm.
    pub algorithm: String,
    /// Default token lifetime in days.
    pub expiration_days: u32,
    /// Reference key; accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_hours: Option<u32>,
}

impl Default for JwtSection {
    fn default() -> Self {
        JwtSection {
            enabled: false,
            secret_key: None,
            secret_key_file: None,
            issuer: "vibectl-server".into(),
            algorithm: "HS256".into(),
            expiration_days: 30,
            expiration_hours: None,
        }
    }
}

/// `tls:` (reference keys).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsSection {
    /// Serve TLS.
    pub enabled: bool,
    /// PEM certificate chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Reference key: CA bundle handed to clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_bundle_file: Option<PathBuf>,
    /// Reference HSTS settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hsts: Option<serde_yaml_ng::Value>,
}

/// `providers.<name>`: where a provider lives and how to authenticate to it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderEntry {
    /// Wire format; required for names other than anthropic, openai and ollama.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wire: Option<WireFormat>,
    /// Endpoint (OpenAI style includes `/v1`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// The key itself (prefer `api_key_file` or the environment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// File holding the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_file: Option<PathBuf>,
    /// Environment variable holding the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Retries on 429/5xx/connect errors (default 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
}
