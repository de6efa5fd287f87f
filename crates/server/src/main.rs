//! `vibectl-server` entry point.
use std::process::ExitCode;

use clap::Parser;
use vibectl_server::cli::{Cli, Command, ConfigCommand};
use vibectl_server::config::{config_path, ServerConfig};
use vibectl_server::{commands, logging, serve};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Command::InitConfig { force } = &cli.command {
        return commands::init_config(&config_path(cli.config.as_deref()), *force);
    }
    let loaded = ServerConfig::load(cli.config.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut cfg = loaded.config;
    let level = cli
        .log_level
        .clone()
        .unwrap_or_else(|| cfg.server.log_level.clone());
    let format = cli.log_format.unwrap_or(cfg.server.log_format);
    match cli.command {
        Command::InitConfig { .. } => Ok(()),
        Command::Config(ConfigCommand::Show { key }) => commands::config_show(&cfg, key.as_deref()),
        Command::Config(ConfigCommand::Validate) => {
            commands::config_validate(&cfg, &loaded.source, &loaded.warnings)
        }
        Command::Models { all, json } => commands::models(&cfg, all, json),
        Command::Serve(args) => {
            logging::init(&level, format);
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
            serve::apply_overrides(&mut cfg, &args);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(serve::run(cfg, loaded.source, &args))
        }
    }
}
