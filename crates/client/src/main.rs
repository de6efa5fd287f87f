//! The `vibectl` binary: parses the command line and dispatches.
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use vibectl_client::cli::{Cli, Command, ConfigCommand};
use vibectl_client::config::Config;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Config(cmd) => config_command(cmd),
        _ => anyhow::bail!("not implemented yet"),
    }
}

fn config_command(cmd: ConfigCommand) -> Result<ExitCode> {
    match cmd {
        ConfigCommand::Path => {
            println!(
                "{}",
                vibectl_client::config::config_dir()?
                    .join("config.yaml")
                    .display()
            );
        }
        ConfigCommand::Show { json } => {
            let cfg = Config::load()?;
            let eff = cfg.effective();
            if json {
                let map: serde_json::Map<String, serde_json::Value> = eff
                    .into_iter()
                    .map(|(k, v)| {
                        (
                            k,
                            serde_json::to_value(v).unwrap_or(serde_json::Value::Null),
                        )
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&map)?);
            } else {
                for (k, v) in eff {
                    println!("{k}: {}", yaml_scalar(&v));
                }
            }
        }
        ConfigCommand::Get { key } => {
            let cfg = Config::load()?;
            let value = cfg.get(&key)?;
            let shown = match vibectl_client::config::schema::lookup(&key) {
                Some(spec) if spec.is_secret() && !value.is_null() => {
                    cfg.effective().get(&key).cloned().unwrap_or(value)
                }
                _ => value,
            };
            println!("{}", yaml_scalar(&shown));
        }
        ConfigCommand::Set { key, value } => {
            let mut cfg = Config::load()?;
            cfg.set(&key, &value)?;
            cfg.save().context("saving the config")?;
            println!("{key} set");
        }
        ConfigCommand::Unset { key } => {
            let mut cfg = Config::load()?;
            if cfg.unset(&key)? {
                cfg.save().context("saving the config")?;
                println!("{key} unset (back to its default)");
            } else {
                println!("{key} was not set");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn yaml_scalar(v: &serde_yaml_ng::Value) -> String {
    match v {
        serde_yaml_ng::Value::Null => "null".into(),
        serde_yaml_ng::Value::String(s) => s.clone(),
        other => serde_yaml_ng::to_string(other)
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
    }
}
