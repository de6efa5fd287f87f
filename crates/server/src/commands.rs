//! The non-serving subcommands: `init-config`, `config show|validate`, `models`.
use std::io::Write;
use std::path::Path;

use anyhow::bail;
use serde_json::json;
use vibectl_llm::{ModelCatalog, Secret};

use crate::config::{provider_settings, ConfigSource, ServerConfig};
use crate::proxy::ProxyState;

/// The commented default config written by `init-config`.
pub const CONFIG_TEMPLATE: &str = include_str!("config/template.yaml");

/// Writes command output to stdout; a closed pipe (`| head`) is not an error.
pub fn emit(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// `init-config [--force]`.
pub fn init_config(path: &Path, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        );
    }
    vibectl_fsutil::write_atomic(path, CONFIG_TEMPLATE, 0o600)?;
    emit(&format!(
        "wrote {}\nnext: set ANTHROPIC_API_KEY or OPENAI_API_KEY, then `vibectl-server serve`\n",
        path.display()
    ))
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
pub fn config_show(cfg: &ServerConfig, key: Option<&str>) -> anyhow::Result<()> {
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
pub fn config_validate(
    cfg: &ServerConfig,
    source: &ConfigSource,
    warnings: &[String],
) -> anyhow::Result<()> {
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

/// `models [--all] [--json]`.
pub fn models(cfg: &ServerConfig, all: bool, as_json: bool) -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).ok();
    let statuses = provider_settings(cfg, &env).map_err(|e| {
        anyhow::anyhow!(e
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    })?;
    let entries = ModelCatalog::merged_entries(&cfg.models).map_err(|e| anyhow::anyhow!("{e}"))?;
    let catalog = ModelCatalog::from_entries(&entries).map_err(|es| {
        anyhow::anyhow!(es
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"))
    })?;
    let configured = |p: &str| statuses.iter().any(|s| s.name == p && s.settings.is_some());
    let usd = |micro: u64| micro as f64 / 1_000_000.0;
    let rows: Vec<_> = catalog
        .models()
        .iter()
        .filter(|m| all || configured(&m.provider))
        .collect();
    if as_json {
        let models: Vec<_> = rows
            .iter()
            .map(|m| {
                json!({
                    "id": m.id, "provider": m.provider, "upstream": m.upstream,
                    "aliases": m.aliases, "max_context": m.max_context,
                    "offered": configured(&m.provider),
                    "default": m.is_default, "retired": m.retired,
                    "prices_usd_per_million": {
                        "input": usd(m.prices.input), "output": usd(m.prices.output),
                        "cache_write": usd(m.prices.cache_write), "cache_read": usd(m.prices.cache_read),
                        "long_context": m.prices.long_context.map(|lc| json!({
                            "above_prompt_tokens": lc.above_prompt_tokens,
                            "input": usd(lc.input), "output": usd(lc.output),
                            "cache_write": usd(lc.cache_write), "cache_read": usd(lc.cache_read),
                        })),
                    },
                })
            })
            .collect();
        let providers: Vec<_> = statuses
            .iter()
            .map(|s| {
                json!({"name": s.name, "wire": s.wire.as_str(), "base_url": s.base_url,
                            "configured": s.settings.is_some(), "key_source": s.key_source})
            })
            .collect();
        return emit(&format!(
            "{}\n",
            serde_json::to_string_pretty(&json!({"models": models, "providers": providers}))?
        ));
    }
    use std::fmt::Write as _;
    let mut o = String::from("PROVIDERS\n");
    for s in &statuses {
        let state = match (&s.settings, &s.key_source) {
            (Some(_), Some(k)) => format!("configured (key from {k})"),
            (Some(_), None) => "configured (no key)".to_owned(),
            (None, _) => "not configured (no key)".to_owned(),
        };
        let _ = writeln!(
            o,
            "  {:<10} {:<18} {:<32} {state}",
            s.name,
            s.wire.as_str(),
            s.base_url
        );
    }
    o.push('\n');
    if rows.is_empty() {
        o.push_str(
            "No model is offered: configure a provider (or pass --all to see the catalog).\n",
        );
        return emit(&o);
    }
    let _ = writeln!(
        o,
        "{:<30} {:<10} {:>8}  {:>26}  ALIASES",
        "MODEL", "PROVIDER", "CONTEXT", "USD/M in/out/cache w/r"
    );
    for m in rows {
        let ctx = m
            .max_context
            .map_or("-".to_owned(), |c| format!("{}k", c / 1000));
        let prices = format!(
            "{}/{}/{}/{}",
            usd(m.prices.input),
            usd(m.prices.output),
            usd(m.prices.cache_write),
            usd(m.prices.cache_read)
        );
        let mut mark = String::new();
        if m.is_default {
            mark.push_str(" (default)");
        }
        if m.retired {
            mark.push_str(" (retired by provider)");
        }
        if let Some(lc) = m.prices.long_context {
            let _ = write!(
                mark,
                " (prompts over {}k: {}/{})",
                lc.above_prompt_tokens / 1000,
                usd(lc.input),
                usd(lc.output)
            );
        }
        if !configured(&m.provider) {
            mark.push_str(" (provider not configured)");
        }
        let _ = writeln!(
            o,
            "{:<30} {:<10} {:>8}  {:>26}  {}{mark}",
            m.id,
            m.provider,
            ctx,
            prices,
            m.aliases.join(", ")
        );
    }
    emit(&o)
}
