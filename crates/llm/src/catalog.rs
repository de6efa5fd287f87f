//! The model catalog: ids, aliases, upstream names, context sizes and prices.
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::Prices;

/// The built-in catalog shipped with the binary.
pub const BUILTIN_CATALOG_YAML: &str = include_str!("../catalog/models.yaml");

/// Prices as written in YAML: USD per million tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceEntry {
    /// Uncached input.
    #[serde(default)]
    pub input: f64,
    /// Output.
    #[serde(default)]
    pub output: f64,
    /// Cache write.
    #[serde(default)]
    pub cache_write: f64,
    /// Cache read.
    #[serde(default)]
    pub cache_read: f64,
    /// Higher rates for a request whose prompt is past a threshold, where the provider has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_context: Option<LongContextEntry>,
}

/// A long-context price tier as written in YAML: USD per million tokens for every token of a
/// request whose prompt (uncached + cache writes + cache reads) is over `above_prompt_tokens`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LongContextEntry {
    /// The tier applies when the prompt has strictly more tokens than this.
    pub above_prompt_tokens: u32,
    /// Uncached input.
    pub input: f64,
    /// Output.
    pub output: f64,
    /// Cache write.
    #[serde(default)]
    pub cache_write: f64,
    /// Cache read.
    #[serde(default)]
    pub cache_read: f64,
}

/// One model as written in the catalog file or the server config's `models:` list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    /// Unique id, conventionally `provider/name`.
    pub id: String,
    /// Name of the provider entry that serves it (`anthropic`, `openai`, `ollama`, or a configured one).
    pub provider: String,
    /// The provider's own model name; defaults to the id without its `provider/` prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Human-friendly name; defaults to the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Other names clients may use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Context window in tokens, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_context: Option<u32>,
    /// Output cap requested from the provider (default 4096).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_output_tokens: Option<u32>,
    /// Prices; absent means free (local models).
    #[serde(default)]
    pub prices: PriceEntry,
    /// The model a request that names none gets when its provider is the first configured one
    /// and `server.default_model` is unset; at most one per provider.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
    /// The provider has retired it (requests to it fail there): still resolvable so old configs
    /// get the provider's own answer, but marked in listings, warned about, and never a default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub retired: bool,
    /// Where the figures come from (the provider's page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The date (YYYY-MM-DD) the figures were read from `source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<String>,
}

/// A resolved model, ready to serve.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// Unique id.
    pub id: String,
    /// Provider entry name.
    pub provider: String,
    /// Provider's model name.
    pub upstream: String,
    /// Human-friendly name.
    pub display_name: String,
    /// Other names.
    pub aliases: Vec<String>,
    /// Context window.
    pub max_context: Option<u32>,
    /// Output cap requested from the provider.
    pub max_output_tokens: u32,
    /// Integer prices.
    pub prices: Prices,
    /// Marked as its provider's default in the catalog.
    pub is_default: bool,
    /// The provider has retired it.
    pub retired: bool,
}

/// A problem in catalog data, with the entry it concerns.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{path}: {message}")]
pub struct CatalogError {
    /// Where (e.g. `models[3].aliases`).
    pub path: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The outcome of looking up a model name.
#[derive(Clone, Debug)]
pub enum Resolution {
    /// Found by id or alias.
    Found(Arc<ModelSpec>),
    /// Unknown; the closest known names, best first.
    NotFound {
        /// Close matches among ids and aliases.
        suggestions: Vec<String>,
    },
}

/// The file format of a catalog (each entry carries its own `source` and `as_of`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogFile {
    models: Vec<ModelEntry>,
}

/// All models a server knows, indexed by id and alias.
#[derive(Clone, Debug, Default)]
pub struct ModelCatalog {
    models: Vec<Arc<ModelSpec>>,
    by_name: HashMap<String, usize>,
}

impl ModelCatalog {
    /// The entries of the built-in catalog.
    pub fn builtin_entries() -> Result<Vec<ModelEntry>, CatalogError> {
        let file: CatalogFile =
            serde_yaml_ng::from_str(BUILTIN_CATALOG_YAML).map_err(|e| CatalogError {
                path: "catalog/models.yaml".into(),
                message: e.to_string(),
            })?;
        Ok(file.models)
    }

    /// Built-in entries with `overrides` applied: same id replaces, new ids are added.
    pub fn merged_entries(overrides: &[ModelEntry]) -> Result<Vec<ModelEntry>, CatalogError> {
        let mut entries = Self::builtin_entries()?;
        // A config entry marked `default` takes over from the built-in default of its provider.
        for o in overrides.iter().filter(|o| o.default) {
            for e in entries.iter_mut().filter(|e| e.provider == o.provider) {
                e.default = false;
            }
        }
        for o in overrides {
            match entries.iter_mut().find(|e| e.id == o.id) {
                Some(e) => *e = o.clone(),
                None => entries.push(o.clone()),
            }
        }
        Ok(entries)
    }

    /// Builds a catalog, checking every entry; all problems are reported, each with its path.
    pub fn from_entries(entries: &[ModelEntry]) -> Result<Self, Vec<CatalogError>> {
        let mut errors = Vec::new();
        let mut cat = ModelCatalog::default();
        for (i, e) in entries.iter().enumerate() {
            let at = |field: &str| format!("models[{i}] ({}).{field}", e.id);
            if e.id.trim().is_empty() {
                errors.push(CatalogError {
                    path: format!("models[{i}].id"),
                    message: "must not be empty (e.g. `openai/gpt-4o`)".into(),
                });
                continue;
            }
            if e.provider.trim().is_empty() {
                errors.push(CatalogError {
                    path: at("provider"),
                    message:
                        "must name a provider (anthropic, openai, ollama or one under `providers:`)"
                            .into(),
                });
            }
            let p = e.prices;
            let lc = p.long_context.unwrap_or_default();
            for (name, v) in [
                ("input", p.input),
                ("output", p.output),
                ("cache_write", p.cache_write),
                ("cache_read", p.cache_read),
                ("long_context.input", lc.input),
                ("long_context.output", lc.output),
                ("long_context.cache_write", lc.cache_write),
                ("long_context.cache_read", lc.cache_read),
            ] {
                if !v.is_finite() || v < 0.0 {
                    errors.push(CatalogError {
                        path: at(&format!("prices.{name}")),
                        message: format!(
                            "must be a non-negative USD price per million tokens, got {v}"
                        ),
                    });
                }
            }
            if e.max_output_tokens == Some(0) {
                errors.push(CatalogError {
                    path: at("max_output_tokens"),
                    message: "must be >= 1".into(),
                });
            }
            if p.long_context.is_some_and(|lc| lc.above_prompt_tokens == 0) {
                errors.push(CatalogError {
                    path: at("prices.long_context.above_prompt_tokens"),
                    message: "must be >= 1 (the prompt size past which the tier applies)".into(),
                });
            }
            if let Some(d) = e.as_of.as_deref().filter(|d| !is_iso_date(d)) {
                errors.push(CatalogError {
                    path: at("as_of"),
                    message: format!("must be a date like 2026-12-01, got `{d}`"),
                });
            }
            if e.default {
                if e.retired {
                    errors.push(CatalogError {
                        path: at("default"),
                        message: "a retired model cannot be its provider's default; mark another"
                            .into(),
                    });
                }
                if let Some(other) = cat
                    .models
                    .iter()
                    .find(|m| m.is_default && m.provider == e.provider)
                {
                    errors.push(CatalogError {
                        path: at("default"),
                        message: format!(
                            "provider `{}` already has default model `{}`; mark only one",
                            e.provider, other.id
                        ),
                    });
                }
            }
            let idx = cat.models.len();
            for name in std::iter::once(&e.id).chain(e.aliases.iter()) {
                if let Some(&other) = cat.by_name.get(name) {
                    if other != idx {
                        errors.push(CatalogError {
                            path: at("aliases"),
                            message: format!(
                                "name `{name}` is already used by model `{}`; names must be unique",
                                cat.models[other].id
                            ),
                        });
                    }
                    continue;
                }
                cat.by_name.insert(name.clone(), idx);
            }
            let upstream = e.upstream.clone().unwrap_or_else(|| {
                e.id.split_once('/')
                    .map_or(e.id.as_str(), |(_, rest)| rest)
                    .to_owned()
            });
            cat.models.push(Arc::new(ModelSpec {
                id: e.id.clone(),
                provider: e.provider.clone(),
                upstream,
                display_name: e.display_name.clone().unwrap_or_else(|| e.id.clone()),
                aliases: e.aliases.iter().filter(|a| **a != e.id).cloned().collect(),
                max_context: e.max_context,
                max_output_tokens: e.max_output_tokens.unwrap_or(4096),
                prices: prices_of(&p),
                is_default: e.default,
                retired: e.retired,
            }));
        }
        if errors.is_empty() {
            Ok(cat)
        } else {
            Err(errors)
        }
    }

    /// Keeps only the models whose provider satisfies `keep` (e.g. is configured).
    pub fn retain_providers(&self, keep: impl Fn(&str) -> bool) -> Self {
        let mut out = ModelCatalog::default();
        for m in self.models.iter().filter(|m| keep(&m.provider)) {
            let idx = out.models.len();
            for name in std::iter::once(&m.id).chain(m.aliases.iter()) {
                out.by_name.insert(name.clone(), idx);
            }
            out.models.push(Arc::clone(m));
        }
        out
    }

    /// The catalog's default model: the first one marked `default` in catalog order (built-in
    /// Anthropic, then OpenAI, then Ollama, then models added by the config).
    pub fn catalog_default(&self) -> Option<&Arc<ModelSpec>> {
        self.models.iter().find(|m| m.is_default)
    }

    /// Every model, in catalog order.
    pub fn models(&self) -> &[Arc<ModelSpec>] {
        &self.models
    }

    /// Whether there is no model at all.
    pub fn is_empty(&self) -> bool {
        self.models.is_empty()
    }

    /// Looks up a model by id or alias (exact match only).
    pub fn get(&self, name: &str) -> Option<&Arc<ModelSpec>> {
        self.by_name.get(name).map(|&i| &self.models[i])
    }

    /// Exact id, then alias, else the closest names.
    pub fn resolve(&self, name: &str) -> Resolution {
        match self.get(name) {
            Some(m) => Resolution::Found(Arc::clone(m)),
            None => Resolution::NotFound {
                suggestions: self.close_matches(name, 3),
            },
        }
    }

    /// Up to `n` known names closest to `name`.
    pub fn close_matches(&self, name: &str, n: usize) -> Vec<String> {
        let wanted = name.to_ascii_lowercase();
        let mut scored: Vec<(f64, &String)> = self
            .by_name
            .keys()
            .map(|k| {
                let lower = k.to_ascii_lowercase();
                let mut score = strsim::jaro_winkler(&wanted, &lower);
                if !wanted.is_empty() && (lower.contains(&wanted) || wanted.contains(&lower)) {
                    score = score.max(0.9);
                }
                (score, k)
            })
            .filter(|(s, _)| *s >= 0.75)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
        let mut out: Vec<String> = Vec::new();
        for (_, k) in scored {
            // Prefer showing each model once, by its id.
            let id = self.get(k).map_or(k.clone(), |m| m.id.clone());
            if !out.contains(&id) {
                out.push(id);
            }
            if out.len() == n {
                break;
            }
        }
        out
    }

    /// alias → model id, for `GetServerInfo.model_aliases`.
    pub fn alias_map(&self) -> BTreeMap<String, String> {
        self.models
            .iter()
            .flat_map(|m| m.aliases.iter().map(|a| (a.clone(), m.id.clone())))
            .collect()
    }
}

fn prices_of(p: &PriceEntry) -> Prices {
    let base = Prices::from_usd_per_million(p.input, p.output, p.cache_write, p.cache_read);
    match p.long_context {
        Some(lc) => base.with_long_context(
            lc.above_prompt_tokens,
            lc.input,
            lc.output,
            lc.cache_write,
            lc.cache_read,
        ),
        None => base,
    }
}

/// `YYYY-MM-DD` with plausible month and day (the catalog's dates are written by hand).
fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' || !digits(0..4) {
        return false;
    }
    if !digits(5..7) || !digits(8..10) {
        return false;
    }
    let month = (b[5] - b'0') * 10 + (b[6] - b'0');
    let day = (b[8] - b'0') * 10 + (b[9] - b'0');
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

#[cfg(test)]
mod tests;
