//! `config show [KEY]`, `config validate`, `config set KEY VALUE`.
use std::path::Path;

use anyhow::bail;
use clap::Subcommand;
use vibectl_llm::Secret;

use super::{emit, Context};
use crate::config::{ConfigSource, ServerConfig};
use crate::proxy::ProxyState;

/// `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (secrets masked), or one section or key of it.
    #[command(
        after_help = "Examples:\n  vibectl-server config show\n  vibectl-server config show server\n  vibectl-server config show server.port"
    )]
    Show {
        /// Section or dotted key, e.g. `jwt` or `server.limits.global`.
        #[arg(value_name = "SECTION")]
        key: Option<String>,
    },
    /// Set one key in the config file (VALUE is parsed as YAML; the file is checked before it is written).
    #[command(
        after_help = "VALUE is YAML, so numbers, booleans and lists need no quoting; the whole file is checked \
against the schema (errors name the key) and written atomically, 0600 when it holds a secret. \
Comments in the file are not kept.\n\n\
Examples:\n  vibectl-server config set server.port 6000\n  vibectl-server config set server.limits.global.max_requests_per_minute 120\n  \
vibectl-server config set jwt.enabled true\n  vibectl-server config set tls.hostnames '[proxy.example.com, 10.0.0.5]'"
    )]
    Set {
        /// Dotted key, e.g. `server.port`.
        key: String,
        /// The value, as YAML.
        value: String,
    },
    /// Check the configuration and report every problem.
    #[command(
        after_help = "Examples:\n  vibectl-server config validate\n  vibectl-server --config /etc/vibectl/server.yaml config validate"
    )]
    Validate,
}

/// Runs `config show` or `config validate`.
pub fn exec(cx: &Context, cmd: &ConfigCommand) -> anyhow::Result<()> {
    match cmd {
        ConfigCommand::Show { key } => show(&cx.cfg, key.as_deref()),
        ConfigCommand::Validate => validate(&cx.cfg, &cx.source, &cx.warnings),
        ConfigCommand::Set { key, value } => set(cx.source.path(), key, value),
    }
}

/// `config set KEY VALUE` on the file at `path`.
pub fn set(path: &Path, key: &str, value: &str) -> anyhow::Result<()> {
    let stored = crate::config::set_key(path, key, value)?;
    let shown = if key.ends_with("secret_key") || key.ends_with("api_key") {
        "***".to_owned()
    } else {
        serde_yaml_ng::to_string(&stored)?.trim_end().to_owned()
    };
    emit(&format!("set {key} = {shown} in {}\n", path.display()))
}

/// The config as YAML with every secret replaced by `***`.
fn masked(cfg: &ServerConfig) -> anyhow::Result<serde_yaml_ng::Value> {
    let mut c = cfg.clone();
    if c.jwt.secret_key.is_some() {
        c.jwt.secret_key = Some(Secret::new("***"));
    }
    for p in c.providers.values_mut() {
        if p.api_key.is_some() {
            p.api_key = Some(Secret::new("***"));
        }
    }
    Ok(serde_yaml_ng::to_value(&c)?)
}

/// `config show [KEY]`.
fn show(cfg: &ServerConfig, key: Option<&str>) -> anyhow::Result<()> {
    let mut value = masked(cfg)?;
    if let Some(key) = key {
        let mut path = Vec::new();
        for part in key.split('.') {
            path.push(part);
            let next = match &value {
                serde_yaml_ng::Value::Mapping(m) => m.get(part).cloned(),
                _ => None,
            };
            let Some(next) = next else {
                let known: Vec<String> = match &value {
                    serde_yaml_ng::Value::Mapping(m) => m
                        .keys()
                        .filter_map(|k| k.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                };
                let close: Vec<&String> = known
                    .iter()
                    .filter(|k| strsim::jaro_winkler(k, part) > 0.8)
                    .collect();
                let hint = match close.first() {
                    Some(c) => format!("; did you mean `{}`?", {
                        let mut p = path[..path.len() - 1].to_vec();
                        p.push(c);
                        p.join(".")
                    }),
                    None if known.is_empty() => String::new(),
                    None => format!("; keys here: {}", known.join(", ")),
                };
                bail!("unknown config key `{}`{hint}", path.join("."));
            };
            value = next;
        }
    }
    emit(&serde_yaml_ng::to_string(&value)?)
}

/// `config validate`: parses, validates and builds the proxy state (no network).
fn validate(cfg: &ServerConfig, source: &ConfigSource, warnings: &[String]) -> anyhow::Result<()> {
    for w in warnings {
        eprintln!("warning: {w}");
    }
    let env = |k: &str| std::env::var(k).ok();
    match ProxyState::from_config(cfg, &env) {
        Ok((state, statuses)) => {
            let providers: Vec<&str> = statuses
                .iter()
                .filter(|s| s.settings.is_some())
                .map(|s| s.name.as_str())
                .collect();
            let origin = match source {
                ConfigSource::File(p) => p.display().to_string(),
                ConfigSource::Defaults(p) => format!("defaults ({} does not exist)", p.display()),
            };
            emit(&format!(
                "configuration OK: {origin}\n  {} models offered; providers configured: {}\n",
                state.catalog.models().len(),
                if providers.is_empty() {
                    "none".to_owned()
                } else {
                    providers.join(", ")
                }
            ))
        }
        Err(e) => {
            let mut msg = format!("invalid configuration in {}:\n", source.path().display());
            for err in e.0 {
                msg.push_str(&format!("  - {err}\n"));
            }
            bail!(msg.trim_end().to_owned())
        }
    }
}
