//! Command-line interface of `vibectl-server`.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::ca::CaArgs;
use crate::commands::config::ConfigCommand;
use crate::commands::generate_certs::GenerateCertsArgs;
use crate::commands::serve::{ServeAcmeArgs, ServeCaArgs, ServeCustomArgs};
use crate::config::LogFormat;

/// vibectl-server: one place for provider keys, tokens, limits and metering of LLM calls.
#[derive(Debug, Parser)]
#[command(
    name = "vibectl-server",
    version,
    after_help = "Examples:\n  vibectl-server init-config\n  ANTHROPIC_API_KEY=... vibectl-server serve --model claude-4-sonnet\n  vibectl-server models\n  vibectl-server config show server.limits\n  vibectl-server generate-token alice --expires-in 30d\n  vibectl-server serve --require-auth --tls-auto"
)]
pub struct Cli {
    /// Config file (default: $VIBECTL_SERVER_CONFIG_DIR/config.yaml or ~/.config/vibectl/server/config.yaml).
    #[arg(
        long,
        global = true,
        env = "VIBECTL_SERVER_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,
    /// Log level: DEBUG, INFO, WARNING, ERROR (any case; also trace, warn). Default: config
    /// `server.log_level`, else info.
    #[arg(long, global = true, env = "VIBECTL_LOG_LEVEL", value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// State directory: token registry, generated secrets, CA, usage ledger (config `state.dir`;
    /// default `$STATE_DIRECTORY` from systemd, else the config file's directory).
    #[arg(
        long,
        global = true,
        env = "VIBECTL_SERVER_STATE_DIR",
        value_name = "DIR"
    )]
    pub state_dir: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gRPC proxy, in the mode the config asks for (tls off: insecure; acme.enabled: ACME;
    /// tls.cert_file + tls.key_file: custom; tls.auto: self-signed; otherwise the private CA).
    #[command(
        after_help = "Examples:\n  vibectl-server serve\n  vibectl-server serve --port 50052 --model gpt-4o\n  \
vibectl-server serve --require-auth --tls-auto\n  \
vibectl-server serve --host 0.0.0.0 --require-auth --tls-cert server.crt --tls-key server.key\n  \
vibectl-server serve --host 0.0.0.0 --allow-insecure-public   # testing only"
    )]
    Serve(ServeArgs),
    /// Run without TLS (development or trusted networks only; warns).
    #[command(
        after_help = "Examples:\n  vibectl-server serve-insecure\n  vibectl-server serve-insecure --port 50052 --max-rpm 60"
    )]
    ServeInsecure(ServeArgs),
    /// Run with a certificate from the private CA, issued at start and renewed while running.
    #[command(
        after_help = "Examples:\n  vibectl-server ca init && vibectl-server serve-ca --hostname proxy.example.com --san 10.0.0.5\n  \
vibectl-server serve-ca --ca-dir /var/lib/vibectl-server/ca --validity-days 30 --require-auth"
    )]
    ServeCa(ServeCaArgs),
    /// Run with your own certificate and key; --ca-bundle-file also requires client certificates (mTLS).
    #[command(
        after_help = "Examples:\n  vibectl-server serve-custom --cert-file server.crt --key-file server.key\n  \
vibectl-server serve-custom --cert-file server.crt --key-file server.key --ca-bundle-file clients-ca.crt\n\n\
Certificate files replaced on disk are served without a restart (tls.reload_interval_seconds)."
    )]
    ServeCustom(ServeCustomArgs),
    /// Run with a certificate from an ACME CA such as Let's Encrypt (sets the acme.* keys).
    #[command(
        after_help = "Examples:\n  vibectl-server serve-acme --email ops@example.com --domain proxy.example.com --port 443\n  \
vibectl-server serve-acme --email ops@example.com --domain a.example.com --domain b.example.com --challenge-type http-01"
    )]
    ServeAcme(ServeAcmeArgs),
    /// Write a self-signed certificate and key for serve-custom.
    #[command(
        after_help = "Examples:\n  vibectl-server generate-certs\n  vibectl-server generate-certs --hostname proxy.example.com --force\n  \
vibectl-server generate-certs --cert-file /etc/vibectl/server.crt --key-file /etc/vibectl/server.key"
    )]
    GenerateCerts(GenerateCertsArgs),
    /// Write a commented default config file.
    #[command(
        after_help = "Examples:\n  vibectl-server init-config\n  vibectl-server --config ./server.yaml init-config --force"
    )]
    InitConfig {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Show, set or check the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Issue a token (JWT) for a user or service, to hand over out of band.
    #[command(
        after_help = "The token is printed on stdout (or written 0600 with --output) and recorded, without the \
token itself, so `tokens list` shows it and `tokens revoke` can take it back.\n\n\
Examples:\n  vibectl-server generate-token alice\n  vibectl-server generate-token ci-bot --expires-in 90d --output ci-bot.jwt\n  \
vibectl-server generate-token alice --expires-in 12h --audience vibectl-prod\n\n\
Lifetimes: N days, or N with h (hours), d, w (weeks), m (30 days), y (365 days)."
    )]
    GenerateToken(GenerateTokenArgs),
    /// Create an Ed25519 or RSA key pair for signing tokens (private key stays where tokens are issued).
    #[command(
        after_help = "Examples:\n  vibectl-server generate-keypair\n  vibectl-server generate-keypair --algorithm RS256 --name 2026-q4 --out-dir /etc/vibectl/keys\n\n\
Rotation: make a new pair with a new --name, issue with it (jwt.key_id + jwt.private_key_file) and list \
the old public key under jwt.verification_keys until its tokens have expired or been revoked."
    )]
    GenerateKeypair(GenerateKeypairArgs),
    /// List or revoke issued tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
    /// A private certificate authority for the server's TLS certificates.
    #[command(
        after_help = "Examples:\n  vibectl-server ca init\n  vibectl-server ca create-server-cert proxy.example.com --san 10.0.0.5\n  \
vibectl-server ca create-client-cert alice-laptop\n  vibectl-server ca status\n\n\
Clients trust <ca dir>/ca-bundle.crt. See docs/security.md for the TLS set-ups."
    )]
    Ca(CaArgs),
    /// Usage per day, subject, model and API: requests, tokens, cost, errors (from the usage ledger).
    #[command(
        after_help = "Examples:\n  vibectl-server usage\n  vibectl-server usage --by subject --since 2026-11-01\n  vibectl-server usage --subject alice --by model --json\n  vibectl-server usage --api anthropic --by subject\n\n\
Costs are exact sums kept in pico-USD and shown rounded to the micro-dollar."
    )]
    Usage(UsageArgs),
    /// List the model catalog and which providers are configured.
    #[command(
        after_help = "Examples:\n  vibectl-server models\n  vibectl-server models --all --json"
    )]
    Models {
        /// Include models whose provider is not configured.
        #[arg(long)]
        all: bool,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// `serve` options; each overrides the config file.
#[derive(Clone, Debug, Default, Args)]
pub struct ServeArgs {
    /// Address to bind (config `server.host`, default 127.0.0.1).
    #[arg(long, env = "VIBECTL_SERVER_HOST")]
    pub host: Option<String>,
    /// Port to bind; 0 picks a free one (config `server.port`, default 50051).
    #[arg(long, env = "VIBECTL_SERVER_PORT")]
    pub port: Option<u16>,
    /// Default model for requests that name none (config `server.default_model`; unset: the catalog default of the first configured provider).
    #[arg(long, env = "VIBECTL_SERVER_MODEL")]
    pub model: Option<String>,
    /// Seconds in-flight calls get to finish on SIGTERM/SIGINT (config `server.shutdown_grace_seconds`).
    #[arg(long, value_name = "SECONDS")]
    pub shutdown_grace: Option<u64>,
    /// Allow binding beyond loopback without TLS and authentication (logs a warning).
    #[arg(long)]
    pub allow_insecure_public: bool,
    /// Requests per minute for each subject (config `server.limits.global.max_requests_per_minute`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rpm: Option<u32>,
    /// Calls in flight for each subject (config `server.limits.global.max_concurrent_requests`).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent: Option<u32>,
    /// Serve Prometheus metrics on `/metrics` (config `metrics.enabled`).
    #[arg(long)]
    pub enable_metrics: bool,
    /// Port of the metrics listener (config `metrics.port`, default 9095); implies --enable-metrics.
    #[arg(long, value_name = "PORT")]
    pub metrics_port: Option<u16>,
    /// Address of the metrics listener (config `metrics.bind`, default 127.0.0.1).
    #[arg(long, value_name = "ADDR")]
    pub metrics_bind: Option<String>,
    /// Require a valid token on every call (config `server.require_auth`).
    #[arg(long)]
    pub require_auth: bool,
    /// Serve TLS (config `tls.enabled`); without --tls-cert/--tls-key a self-signed certificate is used.
    #[arg(long)]
    pub tls: bool,
    /// PEM certificate chain (config `tls.cert_file`); implies --tls.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key (config `tls.key_file`).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve TLS with a self-signed certificate made on first start (config `tls.auto`).
    #[arg(long)]
    pub tls_auto: bool,
    /// Require client certificates signed by this CA (mTLS; config `tls.client_ca_file`).
    #[arg(long, value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
    /// Worker threads of the runtime (config `server.max_workers`; default one per CPU).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub max_workers: Option<u32>,
    /// TLS forced off (`serve-insecure`).
    #[arg(skip)]
    pub force_plaintext: bool,
}

/// `generate-token` options.
#[derive(Debug, Args)]
pub struct GenerateTokenArgs {
    /// Who the token is for (`sub`); limits and usage are kept per subject.
    pub subject: String,
    /// Lifetime, e.g. 30d, 12h, 1y (default: config jwt.expiration_days, 30).
    #[arg(long, value_name = "DURATION")]
    pub expires_in: Option<String>,
    /// Write the token to this file (mode 0600) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Audience (`aud`); the server must list it in jwt.audience.
    #[arg(long, value_name = "AUDIENCE")]
    pub audience: Option<String>,
}

/// `generate-keypair` options.
#[derive(Debug, Args)]
pub struct GenerateKeypairArgs {
    /// EdDSA (Ed25519, small and fast) or RS256.
    #[arg(long, default_value = "EdDSA")]
    pub algorithm: String,
    /// Directory for NAME.key and NAME.pub (default: <state dir>/keys).
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
    /// Base name of the files, also the suggested key id (`kid`).
    #[arg(long, default_value = "jwt-signing")]
    pub name: String,
    /// Replace existing files.
    #[arg(long)]
    pub force: bool,
}

/// `tokens` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Show every issued token: subject, jti, issued, expires, status.
    #[command(
        after_help = "Examples:\n  vibectl-server tokens list\n  vibectl-server tokens list --json"
    )]
    List {
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Revoke one token by its id, or every token of a subject; running servers refuse them within 2 s.
    #[command(
        after_help = "Examples:\n  vibectl-server tokens revoke 6f1c3e8a-0f1e-4a51-9d38-3b7f6f0b9a43\n  vibectl-server tokens revoke --subject alice\n\n\
--subject revokes the tokens issued to that subject until now; tokens issued to it later work."
    )]
    Revoke {
        /// The token id (`jti`, from `tokens list`).
        #[arg(required_unless_present = "subject", conflicts_with = "subject")]
        jti: Option<String>,
        /// Revoke all of this subject's tokens instead.
        #[arg(long, value_name = "SUBJECT")]
        subject: Option<String>,
    },
}

/// `usage` options.
#[derive(Debug, Args)]
pub struct UsageArgs {
    /// Only this subject (`anonymous` for calls without authentication).
    #[arg(long, value_name = "SUBJECT")]
    pub subject: Option<String>,
    /// Only days on or after this UTC date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub since: Option<String>,
    /// Only calls through this API: grpc, openai (/v1/chat/completions) or anthropic (/v1/messages).
    #[arg(long, value_name = "API", value_parser = parse_api)]
    pub api: Option<crate::state::Api>,
    /// Group rows (default: one row per day, subject, model and API).
    #[arg(long, value_enum)]
    pub by: Option<UsageBy>,
    /// JSON output.
    #[arg(long)]
    pub json: bool,
}

/// How `usage` groups rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum UsageBy {
    /// One row per model.
    Model,
    /// One row per subject.
    Subject,
    /// One row per UTC day.
    Day,
    /// One row per API (grpc, openai, anthropic).
    Api,
}

/// Parses `--api`.
fn parse_api(s: &str) -> Result<crate::state::Api, String> {
    crate::state::Api::parse(s)
        .ok_or_else(|| format!("`{s}` is not an API; use grpc, openai or anthropic"))
}

impl ServeArgs {
    /// Applies these flags on top of the config (at start and again on every reload).
    pub fn apply_to(&self, cfg: &mut crate::config::ServerConfig) {
        let args = self;
        if let Some(h) = &args.host {
            cfg.server.host = h.clone();
        }
        if let Some(p) = args.port {
            cfg.server.port = p;
        }
        if let Some(m) = &args.model {
            cfg.server.default_model = Some(m.clone());
        }
        if let Some(g) = args.shutdown_grace {
            cfg.server.shutdown_grace_seconds = g;
        }
        if let Some(n) = args.max_rpm {
            cfg.server.limits.global.max_requests_per_minute = Some(n);
        }
        if let Some(n) = args.max_concurrent {
            cfg.server.limits.global.max_concurrent_requests = Some(n);
        }
        if args.enable_metrics {
            cfg.metrics.enabled = true;
        }
        if let Some(p) = args.metrics_port {
            cfg.metrics.enabled = true;
            cfg.metrics.port = p;
        }
        if let Some(b) = &args.metrics_bind {
            cfg.metrics.bind = b.clone();
        }
        if args.require_auth {
            cfg.server.require_auth = true;
        }
        if args.tls {
            cfg.tls.enabled = true;
        }
        if let (Some(c), Some(k)) = (&args.tls_cert, &args.tls_key) {
            cfg.tls.enabled = true;
            cfg.tls.cert_file = Some(c.clone());
            cfg.tls.key_file = Some(k.clone());
        }
        if args.tls_auto {
            cfg.tls.auto = true;
        }
        if let Some(ca) = &args.tls_client_ca {
            cfg.tls.client_ca_file = Some(ca.clone());
        }
        if let Some(n) = args.max_workers {
            cfg.server.max_workers = Some(n);
        }
        if args.force_plaintext {
            cfg.tls.enabled = false;
            cfg.tls.auto = false;
            cfg.acme.enabled = false;
        }
    }
}
