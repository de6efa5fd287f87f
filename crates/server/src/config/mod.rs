//! Server configuration: the YAML file (reference-compatible keys), where it lives, and validation.
mod access;
mod acme;
mod audit;
mod edit;
mod http;
mod limits;
mod paths;
mod providers;
mod transport;
mod validate;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use vibectl_llm::catalog::ModelEntry;
use vibectl_llm::{Secret, WireFormat};

pub use access::{glob, is_glob, ModelAccess};
pub use acme::{AcmeChallenge, AcmeSection, ChallengeKind, LETSENCRYPT_PRODUCTION};
pub use audit::AuditSection;
pub use edit::{set_key, EditError};
pub use http::HttpSection;
pub use limits::{MetricsSection, StateBackend, StateSection, Usd, UsdError};
pub use paths::{config_path, state_dir, ConfigSource, LoadedConfig, Parsed, Warning};
pub use providers::{provider_settings, ProviderStatus};
pub use transport::{ConnectionsSection, DEFAULT_MAX_CALLS_IN_FLIGHT};
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
    /// Authentication audit log.
    pub audit: AuditSection,
    /// Provider endpoints and keys by provider name.
    pub providers: BTreeMap<String, ProviderEntry>,
    /// Models added to or replacing the built-in catalog.
    pub models: Vec<ModelEntry>,
    /// Where limits, reservations and the usage ledger live.
    pub state: StateSection,
    /// The Prometheus endpoint.
    pub metrics: MetricsSection,
    /// The OpenAI- and Anthropic-compatible HTTP APIs.
    pub http: HttpSection,
    /// Certificates from an ACME CA (reference keys; see docs/security.md).
    #[serde(deserialize_with = "null_is_default")]
    pub acme: AcmeSection,
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
    /// Worker threads of the async runtime (the reference's thread pool size; default: one per CPU).
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
    /// Bounds on the listener's connections (config/transport.rs).
    pub connections: ConnectionsSection,
    /// Calls served at once; more are shed with `RESOURCE_EXHAUSTED` (health exempt).
    pub max_calls_in_flight: u32,
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
            connections: ConnectionsSection::default(),
            max_calls_in_flight: DEFAULT_MAX_CALLS_IN_FLIGHT,
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
    /// Limits on all callers together (server-wide totals).
    pub total: Limits,
    /// Which models each subject may use.
    pub models: ModelAccess,
}

/// One set of limits; unset means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Requests per minute.
    pub max_requests_per_minute: Option<u32>,
    /// Calls in flight at once.
    pub max_concurrent_requests: Option<u32>,
    /// Characters of prompt (all fragments together); default: the largest context in the
    /// catalog at 4 characters a token.
    pub max_input_length: Option<u32>,
    /// Fragments (system and user together) in one request; default 256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_fragments: Option<u32>,
    /// Bytes of `response_model_schema`; default 65536.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_schema_bytes: Option<u32>,
    /// Seconds a call may take in all.
    pub request_timeout_seconds: Option<u32>,
    /// Tokens (input + output, estimated then settled) per UTC minute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens_per_minute: Option<u64>,
    /// Tokens per UTC day.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_tokens_per_day: Option<u64>,
    /// USD per UTC day (kept as integer micro-USD).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_usd_per_day: Option<Usd>,
    /// USD per UTC calendar month.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub budget_usd_per_month: Option<Usd>,
}

/// `jwt:` (reference keys, and new ones beside them).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct JwtSection {
    /// Whether tokens are checked (the reference's switch; `server.require_auth` also turns it on).
    pub enabled: bool,
    /// Shared HS256 secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<Secret>,
    /// File holding the shared secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key_file: Option<PathBuf>,
    /// `iss` claim issued and required.
    pub issuer: String,
    /// Signing algorithm: HS256 (default), HS384, HS512, RS256 or EdDSA (Ed25519).
    pub algorithm: String,
    /// Default token lifetime in days.
    pub expiration_days: u32,
    /// Reference key: default lifetime in hours (wins over `expiration_days` when set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_hours: Option<u32>,
    /// Audiences accepted (`aud`); empty means tokens carrying `aud` are refused.
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "one_or_many"
    )]
    pub audience: Vec<String>,
    /// Clock skew allowed on `exp` and `nbf`, in seconds.
    pub leeway_seconds: u64,
    /// PEM private key for RS256/EdDSA (needed only where tokens are issued).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<PathBuf>,
    /// PEM public key for RS256/EdDSA (derived from `private_key_file` when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_file: Option<PathBuf>,
    /// `kid` header put on issued tokens (and the id of the key above in the verification set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// More keys tokens may be verified with (rotation: old keys stay here until retired).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verification_keys: Vec<VerificationKeyEntry>,
    /// Longest `authorization` token accepted, in bytes; longer ones are refused unread.
    pub max_token_bytes: usize,
    /// Issued-token registry and revocations (default `<state dir>/tokens.jsonl`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registry_file: Option<PathBuf>,
    /// How often a running server looks for new revocations, in milliseconds.
    pub revocation_poll_ms: u64,
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
            audience: Vec::new(),
            leeway_seconds: 30,
            private_key_file: None,
            public_key_file: None,
            key_id: None,
            verification_keys: Vec::new(),
            max_token_bytes: 8192,
            registry_file: None,
            revocation_poll_ms: 500,
        }
    }
}

/// `jwt.verification_keys[i]`: one more key tokens may be signed with.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerificationKeyEntry {
    /// The `kid` tokens signed with this key carry (tokens without `kid` try every key of their algorithm).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// HS256, HS384, HS512, RS256 or EdDSA.
    pub algorithm: String,
    /// PEM public key (RS256, EdDSA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_key_file: Option<PathBuf>,
    /// File holding a shared secret (HS*).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key_file: Option<PathBuf>,
}

/// Audience names.
type Names = Vec<String>;

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Names, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
        Null(()),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
        OneOrMany::Null(()) => Vec::new(),
    })
}

fn null_is_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `tls:` (reference keys, and new ones beside them).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsSection {
    /// Serve TLS with `cert_file`/`key_file` (or the `auto` certificate).
    pub enabled: bool,
    /// PEM certificate chain (leaf first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    /// PEM private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// Reference key: with `cert_file`/`key_file` (custom mode), the CA client certificates must
    /// chain to, like `client_ca_file` (which wins when both are set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_bundle_file: Option<PathBuf>,
    /// Serve TLS with a self-signed certificate for `hostnames`, generated on first start.
    pub auto: bool,
    /// Names and addresses the `auto` certificate is valid for.
    pub hostnames: Vec<String>,
    /// PEM CA certificates client certificates must chain to; setting it requires client certificates.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ca_file: Option<PathBuf>,
    /// Lowest TLS version: "1.3" (default) or "1.2".
    pub min_version: String,
    /// How often certificate files are checked for changes, in seconds (0 = never).
    pub reload_interval_seconds: u64,
    /// HSTS header on responses (reference keys).
    #[serde(deserialize_with = "null_is_default")]
    pub hsts: HstsSection,
}

impl Default for TlsSection {
    fn default() -> Self {
        TlsSection {
            enabled: false,
            cert_file: None,
            key_file: None,
            ca_bundle_file: None,
            auto: false,
            hostnames: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            client_ca_file: None,
            min_version: "1.3".into(),
            reload_interval_seconds: 5,
            hsts: HstsSection::default(),
        }
    }
}

impl TlsSection {
    /// Whether the listener speaks TLS.
    pub fn is_on(&self) -> bool {
        self.enabled || self.auto
    }
}

/// `tls.hsts` (reference keys).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct HstsSection {
    /// Send `strict-transport-security` on every response (TLS only).
    pub enabled: bool,
    /// `max-age` in seconds.
    pub max_age: u64,
    /// Add `includeSubDomains`.
    pub include_subdomains: bool,
    /// Add `preload`.
    pub preload: bool,
}

impl Default for HstsSection {
    fn default() -> Self {
        HstsSection {
            enabled: false,
            max_age: 31_536_000,
            include_subdomains: true,
            preload: false,
        }
    }
}

impl HstsSection {
    /// The header value, e.g. `max-age=31536000; includeSubDomains`.
    pub fn header_value(&self) -> String {
        let mut v = format!("max-age={}", self.max_age);
        if self.include_subdomains {
            v.push_str("; includeSubDomains");
        }
        if self.preload {
            v.push_str("; preload");
        }
        v
    }
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
    pub api_key: Option<Secret>,
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
