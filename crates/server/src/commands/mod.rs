//! The subcommands of `vibectl-server`, one module each (cargo's `src/bin/cargo/commands` is the
//! model). Each module parses nothing itself: it takes its clap arguments, calls domain code that
//! returns data ([`crate::tls::ca`], [`crate::auth::issue`], [`crate::config`], [`crate::state`]),
//! and prints the result. [`run`] loads the config once and dispatches.
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::cli::{Cli, Command};
use crate::config::{config_path, ConfigSource, LoadedConfig, ServerConfig};

pub mod ca;
pub mod config;
pub mod generate_certs;
pub mod generate_keypair;
pub mod generate_token;
pub mod init_config;
pub mod models;
pub mod serve;
pub mod tokens;
pub mod usage;

/// Writes command output to stdout; a closed pipe (`| head`) is not an error.
pub fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// What every command gets: the loaded config (with `--state-dir` applied) and the state dir.
#[derive(Debug)]
pub struct Context {
    /// The config as loaded.
    pub cfg: ServerConfig,
    /// Where it came from.
    pub source: ConfigSource,
    /// Unknown keys and other non-fatal findings.
    pub warnings: Vec<String>,
    /// Where state lives (`--state-dir`, `state.dir`, `$STATE_DIRECTORY`, else beside the config).
    pub state_dir: PathBuf,
    /// `--log-level` or `server.log_level`, normalised.
    pub log_level: String,
    /// `--log-format` or `server.log_format`.
    pub log_format: crate::config::LogFormat,
}

/// Loads the config for `cli` (the global `--config`, `--state-dir`, `--log-*` flags).
pub fn context(cli: &Cli) -> anyhow::Result<Context> {
    let LoadedConfig {
        config: mut cfg,
        source,
        warnings,
    } = ServerConfig::load(cli.config.as_deref())?;
    if let Some(dir) = &cli.state_dir {
        cfg.state.dir = Some(dir.clone());
    }
    let level = cli
        .log_level
        .clone()
        .unwrap_or_else(|| cfg.server.log_level.clone());
    let log_level = crate::logging::normalise_level(&level)?.to_owned();
    let state_dir = crate::config::state_dir(&cfg, source.path());
    Ok(Context {
        log_format: cli.log_format.unwrap_or(cfg.server.log_format),
        log_level,
        cfg,
        source,
        warnings,
        state_dir,
    })
}

/// Runs the command line; the exit code is the command's (`ca check-expiry` has several).
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    // These two work on the file itself, valid or not.
    match &cli.command {
        Command::InitConfig { force } => {
            init_config::exec(&config_path(cli.config.as_deref()), *force)?;
            return Ok(ExitCode::SUCCESS);
        }
        Command::Config(config::ConfigCommand::Set { key, value }) => {
            config::set(&config_path(cli.config.as_deref()), key, value)?;
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let cx = context(&cli)?;
    match cli.command {
        Command::InitConfig { .. } | Command::Config(config::ConfigCommand::Set { .. }) => {}
        Command::Config(c) => config::exec(&cx, &c)?,
        Command::Models { all, json } => models::exec(&cx.cfg, all, json)?,
        Command::GenerateToken(a) => generate_token::exec(&cx, &a)?,
        Command::GenerateKeypair(a) => generate_keypair::exec(&cx, &a)?,
        Command::Tokens(c) => tokens::exec(&cx, &c)?,
        Command::Usage(a) => usage::exec(&cx, &a)?,
        Command::GenerateCerts(a) => generate_certs::exec(&cx, &a)?,
        Command::Ca(a) => return ca::exec(&cx, a),
        Command::Serve(a) => serve::serve(cx, a)?,
        Command::ServeInsecure(a) => serve::serve_insecure(cx, a)?,
        Command::ServeCa(a) => serve::serve_ca(cx, a)?,
        Command::ServeCustom(a) => serve::serve_custom(cx, a)?,
        Command::ServeAcme(a) => serve::serve_acme(cx, a)?,
    }
    Ok(ExitCode::SUCCESS)
}
