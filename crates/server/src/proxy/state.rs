//! Everything a request needs, built once from the config.
use std::sync::Arc;
use std::time::Duration;

use vibectl_llm::schema::SchemaCache;
use vibectl_llm::{ErrorCode, ModelCatalog, ModelSpec, ProviderRegistry, Resolution};
use vibectl_proto::{GetServerInfoResponse, ModelInfo, ServerLimits};

use super::CallError;
use crate::config::{provider_settings, ConfigError, Limits, ProviderStatus, ServerConfig};

/// Why a config could not be turned into a running proxy.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct StateError(pub Vec<ConfigError>);

/// Context assumed for the default `max_input_length` when no model in the catalog states one.
pub const DEFAULT_CONTEXT_TOKENS: u32 = 128_000;

/// The request timeout used when the config sets none.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Models, providers and limits, as the request path reads them.
#[derive(Debug)]
pub struct ProxyState {
    /// Offered models (those whose provider is configured).
    pub catalog: ModelCatalog,
    /// Provider clients by name.
    pub providers: ProviderRegistry,
    /// Model used when a request names none: `server.default_model`, else the catalog default.
    pub default_model: Option<Arc<ModelSpec>>,
    /// Global limits.
    pub limits: Limits,
    /// Compiled response schemas.
    pub schemas: SchemaCache,
    /// `max_input_length` when the config sets none: the largest context in the catalog at
    /// 4 characters a token.
    pub default_max_input_length: u32,
    info: GetServerInfoResponse,
}

impl ProxyState {
    /// Builds the state from a config; `env` reads environment variables.
    pub fn from_config(
        cfg: &ServerConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Self, Vec<ProviderStatus>), StateError> {
        let mut errors = cfg.validate();
        let statuses = provider_settings(cfg, env).unwrap_or_else(|e| {
            errors.extend(e);
            Vec::new()
        });
        let entries = vibectl_llm::ModelCatalog::merged_entries(&cfg.models)
            .map_err(|e| StateError(vec![ConfigError::new(e.path, e.message)]))?;
        let full = ModelCatalog::from_entries(&entries).unwrap_or_else(|es| {
            errors.extend(es.into_iter().map(|e| ConfigError::new(e.path, e.message)));
            ModelCatalog::default()
        });
        for (i, m) in cfg.models.iter().enumerate() {
            if !statuses.iter().any(|s| s.name == m.provider) {
                errors.push(ConfigError::new(
                    format!("models[{i}] ({}).provider", m.id),
                    format!(
                        "unknown provider `{}`; define it under `providers:` or use anthropic, openai or ollama",
                        m.provider
                    ),
                ));
            }
        }
        for (path, p) in cfg.server.limits.models.patterns() {
            let known = full.get(p).is_some()
                || full
                    .models()
                    .iter()
                    .any(|m| m.aliases.iter().any(|a| a == p));
            if !crate::config::is_glob(p) && !full.is_empty() && !known {
                let close = full.close_matches(p, 3);
                let hint = if close.is_empty() {
                    "; use a model id, an alias or a glob such as `claude-*`".to_owned()
                } else {
                    format!("; did you mean {}?", close.join(", "))
                };
                errors.push(ConfigError::new(
                    path,
                    format!("`{p}` is not a known model{hint}"),
                ));
            }
        }
        if let Some(name) = cfg.server.default_model.as_deref() {
            if !errors.is_empty() && !full.is_empty() && full.get(name).is_none() {
                let close = full.close_matches(name, 3);
                let hint = if close.is_empty() {
                    String::new()
                } else {
                    format!("; did you mean {}?", close.join(", "))
                };
                errors.push(ConfigError::new(
                    "server.default_model",
                    format!("`{name}` is not a known model{hint}"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(StateError(errors));
        }
        let settings: Vec<_> = statuses.iter().filter_map(|s| s.settings.clone()).collect();
        let providers = ProviderRegistry::new(&settings)
            .map_err(|e| StateError(vec![ConfigError::new("providers", e.log_detail())]))?;
        let state = Self::new(
            full,
            providers,
            cfg.server.default_model.as_deref(),
            cfg.server.limits.global,
            &cfg.server.name,
        )?;
        Ok((state, statuses))
    }

    /// Builds the state from parts; only models whose provider is in `providers` are offered.
    pub fn new(
        catalog: ModelCatalog,
        providers: ProviderRegistry,
        default_model: Option<&str>,
        limits: Limits,
        server_name: &str,
    ) -> Result<Self, StateError> {
        let offered = catalog.retain_providers(|p| providers.contains(p));
        let default_model = match default_model {
            // No `server.default_model`: the catalog's default for the first configured provider.
            None => offered.catalog_default().cloned(),
            Some(name) => match offered.resolve(name) {
                Resolution::Found(m) => Some(m),
                Resolution::NotFound { suggestions } => {
                    let why = if catalog.get(name).is_some() {
                        "its provider is not configured (set its API key)".to_owned()
                    } else if suggestions.is_empty() {
                        "no such model (see `vibectl-server models`)".to_owned()
                    } else {
                        format!("no such model; did you mean {}?", suggestions.join(", "))
                    };
                    return Err(StateError(vec![ConfigError::new(
                        "server.default_model",
                        format!("`{name}` cannot be served: {why}"),
                    )]));
                }
            },
        };
        if let Some(m) = default_model.as_deref().filter(|m| m.retired) {
            tracing::warn!(
                model = %m.id,
                "server.default_model is retired by its provider, so calls without a model will fail there; \
                 pick a current one (see `vibectl-server models`)"
            );
        }
        let default_max_input_length = catalog
            .models()
            .iter()
            .filter_map(|m| m.max_context)
            .max()
            .unwrap_or(DEFAULT_CONTEXT_TOKENS)
            .saturating_mul(4);
        let shown = Limits {
            max_input_length: limits.max_input_length.or(Some(default_max_input_length)),
            ..limits
        };
        let info = build_info(&offered, default_model.as_deref(), &shown, server_name);
        Ok(ProxyState {
            catalog: offered,
            providers,
            default_model,
            limits,
            schemas: SchemaCache::default(),
            default_max_input_length,
            info,
        })
    }

    /// The answer to `GetServerInfo`.
    pub fn server_info(&self) -> GetServerInfoResponse {
        self.info.clone()
    }

    /// The answer to `GetServerInfo` for a caller who may use only the models `may_use`
    /// allows: the other models, their aliases, and the default model when it is one of them
    /// (a call naming no model would be refused) are left out.
    pub fn server_info_for(&self, may_use: impl Fn(&ModelSpec) -> bool) -> GetServerInfoResponse {
        let mut info = self.info.clone();
        info.available_models.retain(|m| {
            self.catalog
                .get(&m.model_id)
                .is_some_and(|spec| may_use(spec))
        });
        let ids: std::collections::HashSet<String> = info
            .available_models
            .iter()
            .map(|m| m.model_id.clone())
            .collect();
        info.model_aliases.retain(|_, id| ids.contains(id));
        if !ids.contains(&info.default_model) {
            info.default_model.clear();
        }
        info
    }

    /// How long one call may take in all, under the global limits.
    pub fn request_timeout(&self) -> Duration {
        Self::timeout_for(&self.limits)
    }

    /// How long one call may take in all, under `limits`.
    pub fn timeout_for(limits: &Limits) -> Duration {
        limits
            .request_timeout_seconds
            .map_or(DEFAULT_REQUEST_TIMEOUT, |s| {
                Duration::from_secs(u64::from(s))
            })
    }

    /// The model a request asked for: exact id, then alias, else the default.
    pub fn resolve(&self, name: Option<&str>) -> Result<Arc<ModelSpec>, CallError> {
        let name = name.map(str::trim).filter(|n| !n.is_empty());
        let Some(name) = name else {
            return self.default_model.clone().ok_or_else(|| {
                CallError::new(
                    ErrorCode::NoModel,
                    "no model named in the request and the server has no default model: no configured \
                     provider has a catalog default (set server.default_model or --model)",
                )
            });
        };
        match self.catalog.resolve(name) {
            Resolution::Found(m) => Ok(m),
            Resolution::NotFound { suggestions } => {
                let mut msg = format!("model `{name}` is not available on this server");
                if !suggestions.is_empty() {
                    msg.push_str(&format!("; did you mean {}?", suggestions.join(", ")));
                }
                let available: Vec<&str> = self
                    .catalog
                    .models()
                    .iter()
                    .map(|m| m.id.as_str())
                    .collect();
                let mut err = CallError::new(ErrorCode::ModelNotFound, msg);
                err.details = Some(format!("available models: {}", available.join(", ")));
                Err(err)
            }
        }
    }
}

fn build_info(
    catalog: &ModelCatalog,
    default_model: Option<&ModelSpec>,
    limits: &Limits,
    server_name: &str,
) -> GetServerInfoResponse {
    let to_i32 = |v: Option<u32>| v.map(|x| i32::try_from(x).unwrap_or(i32::MAX));
    GetServerInfoResponse {
        available_models: catalog
            .models()
            .iter()
            .map(|m| ModelInfo {
                model_id: m.id.clone(),
                display_name: m.display_name.clone(),
                provider: m.provider.clone(),
                supports_streaming: true,
                max_context_length: to_i32(m.max_context),
                aliases: m.aliases.clone(),
            })
            .collect(),
        default_model: default_model.map(|m| m.id.clone()).unwrap_or_default(),
        limits: Some(ServerLimits {
            max_requests_per_minute: to_i32(limits.max_requests_per_minute),
            max_concurrent_requests: to_i32(limits.max_concurrent_requests),
            max_input_length: to_i32(limits.max_input_length),
            request_timeout_seconds: to_i32(limits.request_timeout_seconds),
        }),
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        model_aliases: catalog.alias_map().into_iter().collect(),
        server_name: server_name.to_owned(),
    }
}
