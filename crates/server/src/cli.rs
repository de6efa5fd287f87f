//! Command-line interface of `vibectl-server`.
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::config::LogFormat;

/// vibectl-server: one place for provider keys, tokens, limits and metering of LLM calls.
#[derive(Debug, Parser)]
#[command(
    name = "vibectl-server",
    version,
    after_help = "Examples:\n  vibectl-server init-config\n  ANTHROPIC_API_KEY=... vibectl-server serve --model claude-4-sonnet\n  vibectl-server models\n  vibectl-server config show server.limits"
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
    /// Log level: error, warn, info, debug, trace (default from config, else info).
    #[arg(long, global = true, env = "VIBECTL_LOG_LEVEL", value_name = "LEVEL")]
    pub log_level: Option<String>,
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
    /// Run the gRPC proxy.
    #[command(
        after_help = "Examples:\n  vibectl-server serve\n  vibectl-server serve --port 50052 --model gpt-4o\n  vibectl-server serve --host 0.0.0.0 --allow-insecure-public   # testing only"
    )]
    Serve(ServeArgs),
    /// Write a commented default config file.
    #[command(
        after_help = "Examples:\n  vibectl-server init-config\n  vibectl-server --config ./server.yaml init-config --force"
    )]
    InitConfig {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Show or check the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
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

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets masked), or one key of it.
    #[command(
        after_help = "Examples:\n  vibectl-server config show\n  vibectl-server config show server.port"
    )]
    Show {
        /// Dotted key, e.g. `server.limits.global`.
        key: Option<String>,
    },
    /// Check the configuration and report every problem.
    #[command(
        after_help = "Examples:\n  vibectl-server config validate\n  vibectl-server --config /etc/vibectl/server.yaml config validate"
    )]
    Validate,
}

/// `serve` options; each overrides the config file.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to bind (config `server.host`, default 127.0.0.1).
    #[arg(long, env = "VIBECTL_SERVER_HOST")]
    pub host: Option<String>,
    /// Port to bind; 0 picks a free one (config `server.port`, default 50051).
    #[arg(long, env = "VIBECTL_SERVER_PORT")]
    pub port: Option<u16>,
    /// Default model for requests that name none (config `server.default_model`).
    #[arg(long, env = "VIBECTL_SERVER_MODEL")]
    pub model: Option<String>,
    /// Seconds in-flight calls get to finish on SIGTERM/SIGINT (config `server.shutdown_grace_seconds`).
    #[arg(long, value_name = "SECONDS")]
    pub shutdown_grace: Option<u64>,
    /// Allow binding beyond loopback without TLS and authentication (logs a warning).
    #[arg(long)]
    pub allow_insecure_public: bool,
}
