//! `models [--all] [--json]`: the catalog and which providers are configured.
use serde_json::json;
use vibectl_llm::ModelCatalog;

use super::emit;
use crate::config::{provider_settings, ConfigIssues, ServerConfig};

/// `models [--all] [--json]`.
pub fn exec(cfg: &ServerConfig, all: bool, as_json: bool) -> anyhow::Result<()> {
    let env = |k: &str| std::env::var(k).ok();
    let statuses =
        provider_settings(cfg, &env).map_err(|errors| ConfigIssues { file: None, errors })?;
    let entries = ModelCatalog::merged_entries(&cfg.models)?;
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
