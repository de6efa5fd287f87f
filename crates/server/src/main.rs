//! `vibectl-server` entry point.
use std::process::ExitCode;

use clap::Parser;
use vibectl_server::auth::commands as auth_cmd;
use vibectl_server::cli::{CaCommand, Cli, Command, ConfigCommand, TokensCommand};
use vibectl_server::config::{config_path, state_dir, ServerConfig};
use vibectl_server::tls::ca;
use vibectl_server::{commands, logging, serve, usage_cmd};

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
    let state = state_dir(loaded.source.path());
    match cli.command {
        Command::GenerateToken(a) => auth_cmd::generate_token(
            &cfg,
            &state,
            &a.subject,
            a.expires_in.as_deref(),
            a.output.as_deref(),
            a.audience.as_deref(),
        ),
        Command::GenerateKeypair(a) => auth_cmd::generate_keypair_cmd(
            &state,
            &a.algorithm,
            a.out_dir.as_deref(),
            &a.name,
            a.force,
        ),
        Command::Usage(a) => usage_cmd::run(&cfg, &state, &a),
        Command::Tokens(TokensCommand::List { json }) => auth_cmd::tokens_list(&cfg, &state, json),
        Command::Tokens(TokensCommand::Revoke { jti, subject }) => {
            auth_cmd::tokens_revoke(&cfg, &state, jti.as_deref(), subject.as_deref())
        }
        Command::Ca(a) => {
            let dir = a.ca_dir.unwrap_or_else(|| state.join("ca"));
            match a.command {
                CaCommand::Init { name, force } => ca::init(&dir, &name, force),
                CaCommand::CreateServerCert { host, sans, days } => {
                    let (c, k) = ca::create_cert(&dir, &host, &sans, days, false)?;
                    commands::emit(&format!(
                        "wrote {} (certificate + intermediate)\nwrote {} (key, mode 0600)\n\
                         serve with: vibectl-server serve --tls-cert {} --tls-key {}\n\
                         clients trust: {}\n",
                        c.display(),
                        k.display(),
                        c.display(),
                        k.display(),
                        dir.join(ca::BUNDLE).display()
                    ))
                }
                CaCommand::CreateClientCert { name, days } => {
                    let (c, k) = ca::create_cert(&dir, &name, &[], days, true)?;
                    commands::emit(&format!(
                        "wrote {} and {} (mode 0600)\nservers require it with tls.client_ca_file: {}\n",
                        c.display(),
                        k.display(),
                        dir.join(ca::BUNDLE).display()
                    ))
                }
                CaCommand::Status { json } => ca::status(&dir, json),
            }
        }
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
            args.apply_to(&mut cfg);
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(serve::run(cfg, loaded.source, &args))
        }
    }
}
