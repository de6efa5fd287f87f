//! The `vibectl` binary: parses the command line and dispatches.
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;

use vibectl_client::cli::{Cli, Command, ConfigCommand, ProxyCommand};
use vibectl_client::config::Config;
use vibectl_client::proxy::setup;
use vibectl_client::proxy::url::ProxyUrl;
use vibectl_client::proxy::ProxyTarget;

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
        Command::SetupProxy(cmd) => proxy_command(cmd),
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

/// A single-threaded runtime, built only by commands that talk to the network.
fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

fn proxy_command(cmd: ProxyCommand) -> Result<ExitCode> {
    let mut cfg = Config::load()?;
    match cmd {
        ProxyCommand::Configure {
            profile_or_url,
            url,
            jwt_path,
            ca_bundle,
            no_test,
            activate: _,
            no_activate,
        } => {
            let (name, url) = setup::profile_and_url(&profile_or_url, url.as_deref())?;
            let target = setup::prepare(&cfg, &url, jwt_path.as_deref(), ca_bundle.as_deref())?;
            if !no_test {
                let report = runtime()?.block_on(setup::test(&target)).map_err(|e| {
                    anyhow::anyhow!("{e}\n  profile `{name}` was not saved; fix the problem or save it anyway with --no-test")
                })?;
                println!("{}", report.render());
            }
            let parsed = ProxyUrl::parse(&url)?;
            setup::save_profile(
                &mut cfg,
                &name,
                &parsed,
                jwt_path.as_deref(),
                ca_bundle.as_deref(),
                !no_activate,
            )?;
            if no_activate {
                println!("Profile `{name}` saved ({}); activate it with: vibectl setup-proxy set-active {name}", parsed.masked());
            } else {
                println!("Profile `{name}` saved and active ({})", parsed.masked());
            }
        }
        ProxyCommand::Test { url, timeout } => {
            let mut target = match url {
                Some(u) => ProxyTarget::from_url(ProxyUrl::parse(&u)?, &cfg, None, None)?,
                None => setup::target_for(&cfg, None)?,
            };
            if let Some(t) = timeout {
                target.timeout = std::time::Duration::from_secs(t.clamp(1, 300));
            }
            let report = runtime()?.block_on(setup::test(&target))?;
            println!("{}", report.render());
        }
        ProxyCommand::Status => println!("{}", setup::status(&cfg)),
        ProxyCommand::List => println!("{}", setup::list(&cfg)),
        ProxyCommand::SetActive { name } => {
            setup::set_active(&mut cfg, &name)?;
            println!("Active proxy profile: {name}");
        }
        ProxyCommand::Remove { name } => {
            setup::remove(&mut cfg, &name)?;
            println!("Profile `{name}` removed");
        }
        ProxyCommand::Disable => {
            setup::disable(&mut cfg)?;
            println!("Proxy disabled: LLM calls go directly to the provider (profiles kept)");
        }
        ProxyCommand::Url {
            host,
            port,
            jwt,
            insecure,
        } => {
            println!(
                "{}",
                setup::build_url(&host, port, jwt.as_deref(), insecure)?
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
