//! Direct mode: the provider is called from this process with the user's own key.
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use futures::StreamExt;
use vibectl_llm::catalog::ModelEntry;
use vibectl_llm::http::{http_client, RetryPolicy};
use vibectl_llm::registry::{ollama_base_url, KNOWN_PROVIDERS};
use vibectl_llm::schema::CompiledSchema;
use vibectl_llm::{
    CompletionRequest, ModelCatalog, ModelSpec, Provider, ProviderSettings, Resolution, Secret,
    StreamEvent, Usage,
};

use super::{CallMetrics, LlmAnswer, LlmCall, ModelAccess, ModelError, TextSink};
use crate::config::Config;

/// Models used when none is configured, by provider, best first.
const DEFAULT_MODELS: [(&str, &str); 2] = [
    ("anthropic", "anthropic/claude-sonnet-4-0"),
    ("openai", "openai/gpt-4o"),
];

/// A provider called directly.
#[derive(Debug)]
pub struct DirectModel {
    provider: Arc<dyn Provider>,
    spec: Arc<ModelSpec>,
    max_output_tokens: u32,
    timeout: Duration,
}

/// Looks up a provider's API key in the documented order (crates/client/README.md, "Files and environment").
pub fn provider_key(cfg: &Config, provider: &str) -> Option<Secret> {
    let upper = provider.to_ascii_uppercase();
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let file = |p: String| {
        std::fs::read_to_string(crate::proxy::connect::expand_home(&p))
            .ok()
            .filter(|v| !v.trim().is_empty())
    };
    env(&format!("VIBECTL_{upper}_API_KEY"))
        .or_else(|| env(&format!("VIBECTL_{upper}_API_KEY_FILE")).and_then(file))
        .or_else(|| cfg.text(&format!("providers.{provider}.key")))
        .or_else(|| {
            cfg.text(&format!("providers.{provider}.key_file"))
                .and_then(file)
        })
        .or_else(|| {
            KNOWN_PROVIDERS
                .iter()
                .find(|p| p.0 == provider)
                .and_then(|p| env(p.3))
        })
        .map(Secret::new)
}

fn base_url(cfg: &Config, provider: &str, default: &str, env_var: &str) -> String {
    if let Some(u) = cfg.text(&format!("providers.{provider}.base_url")) {
        return u;
    }
    match std::env::var(env_var).ok().filter(|v| !v.is_empty()) {
        Some(h) if provider == "ollama" => ollama_base_url(&h),
        Some(u) => u,
        None => default.to_owned(),
    }
}

impl DirectModel {
    /// Resolves the model (`--model`, `llm.model`, or a default for a provider with a key) and
    /// builds its provider client.
    pub fn from_config(cfg: &Config, model: Option<&str>) -> Result<Self, ModelError> {
        let entries =
            ModelCatalog::builtin_entries().map_err(|e| ModelError::Model(e.to_string()))?;
        let catalog = ModelCatalog::from_entries(&entries).map_err(|e| {
            ModelError::Model(
                e.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        let name = match model.map(str::to_owned).or_else(|| cfg.text("llm.model")) {
            Some(n) => n,
            None => DEFAULT_MODELS
                .iter()
                .find(|(p, _)| provider_key(cfg, p).is_some())
                .map(|(_, m)| (*m).to_owned())
                .ok_or_else(|| {
                    ModelError::Model(
                        "no model configured and no provider key found\n  set a key (ANTHROPIC_API_KEY, OPENAI_API_KEY or vibectl config set providers.anthropic.key KEY)\n  and a model (vibectl config set llm.model claude-4-sonnet), or use a proxy: vibectl setup-proxy configure NAME URL".into(),
                    )
                })?,
        };
        let spec = resolve(&catalog, &name)?;
        let (_, wire, default_url, key_env, url_env) = KNOWN_PROVIDERS
            .iter()
            .find(|p| p.0 == spec.provider)
            .copied()
            .ok_or_else(|| {
                ModelError::Model(format!(
                    "model `{name}` needs provider `{}`, which direct mode does not support",
                    spec.provider
                ))
            })?;
        let api_key = provider_key(cfg, &spec.provider);
        if api_key.is_none() && spec.provider != "ollama" {
            return Err(ModelError::NoKey {
                provider: spec.provider.clone(),
                env: key_env.to_owned(),
            });
        }
        let settings = ProviderSettings {
            name: spec.provider.clone(),
            wire,
            base_url: base_url(cfg, &spec.provider, default_url, url_env),
            api_key,
            retry: RetryPolicy::default(),
        };
        let provider = settings.build(http_client()?)?;
        let max_output_tokens = spec
            .max_output_tokens
            .min(cfg.int("llm.max_output_tokens").clamp(64, 65536) as u32);
        Ok(DirectModel {
            provider,
            spec,
            max_output_tokens,
            timeout: Duration::from_secs(cfg.int("llm.timeout_seconds").clamp(1, 600) as u64),
        })
    }

    fn request(&self, call: &LlmCall) -> CompletionRequest {
        CompletionRequest {
            model: self.spec.upstream.clone(),
            system: call.system.clone(),
            user: call.user.clone(),
            schema: call.schema.clone().map(Arc::new),
            max_output_tokens: self.max_output_tokens,
        }
    }

    fn metrics(&self, usage: &Usage, start: Instant) -> CallMetrics {
        CallMetrics {
            model: self.spec.id.clone(),
            latency: start.elapsed(),
            input_tokens: usage.prompt_tokens().map(i64::from),
            output_tokens: usage.output_tokens.map(i64::from),
            total_tokens: usage.total_tokens().map(i64::from),
            cost_usd: self.spec.prices.cost_usd(usage),
        }
    }
}

fn resolve(catalog: &ModelCatalog, name: &str) -> Result<Arc<ModelSpec>, ModelError> {
    match catalog.resolve(name) {
        Resolution::Found(spec) => Ok(spec),
        Resolution::NotFound { suggestions } => {
            // `provider/model` for a model the catalog does not list (local Ollama models).
            if let Some((provider, upstream)) = name.split_once('/') {
                if KNOWN_PROVIDERS.iter().any(|p| p.0 == provider) && !upstream.is_empty() {
                    let entry = ModelEntry {
                        id: name.to_owned(),
                        provider: provider.to_owned(),
                        upstream: Some(upstream.to_owned()),
                        display_name: None,
                        aliases: vec![],
                        max_context: None,
                        max_output_tokens: None,
                        prices: Default::default(),
                        default: false,
                        retired: false,
                        source: None,
                        as_of: None,
                    };
                    if let Ok(c) = ModelCatalog::from_entries(&[entry]) {
                        if let Some(m) = c.get(name) {
                            return Ok(Arc::clone(m));
                        }
                    }
                }
            }
            let hint = if suggestions.is_empty() {
                String::new()
            } else {
                format!(" (did you mean {}?)", suggestions.join(", "))
            };
            Err(ModelError::Model(format!(
                "unknown model `{name}`{hint}\n  use a catalog id or alias (e.g. claude-4-sonnet, gpt-4o) or PROVIDER/MODEL: vibectl config set llm.model MODEL"
            )))
        }
    }
}

fn check_schema(call: &LlmCall, text: String) -> Result<String, ModelError> {
    let Some(schema) = &call.schema else {
        return Ok(text);
    };
    let compiled = CompiledSchema::compile(&schema.to_string())
        .map_err(|e| ModelError::Schema(e.to_string()))?;
    compiled
        .check(&text)
        .map_err(|e| ModelError::Schema(e.to_string()))
}

impl ModelAccess for DirectModel {
    fn describe(&self) -> String {
        format!("direct {} via {}", self.spec.id, self.spec.provider)
    }

    fn complete<'a>(&'a self, call: &'a LlmCall) -> BoxFuture<'a, Result<LlmAnswer, ModelError>> {
        Box::pin(async move {
            let start = Instant::now();
            let req = self.request(call);
            let done = tokio::time::timeout(self.timeout, self.provider.complete(&req))
                .await
                .map_err(|_| ModelError::Timeout(self.timeout))??;
            let metrics = self.metrics(&done.usage, start);
            Ok(LlmAnswer {
                text: check_schema(call, done.text)?,
                metrics,
            })
        })
    }

    fn stream<'a>(
        &'a self,
        call: &'a LlmCall,
        sink: TextSink<'a>,
    ) -> BoxFuture<'a, Result<LlmAnswer, ModelError>> {
        Box::pin(async move {
            let start = Instant::now();
            let req = self.request(call);
            let work = async {
                let mut stream = self.provider.stream(&req).await?;
                let mut text = String::new();
                let mut usage = Usage::default();
                while let Some(event) = stream.events.next().await {
                    match event? {
                        StreamEvent::Text(t) => {
                            sink(&t);
                            text.push_str(&t);
                        }
                        StreamEvent::Usage(u) => usage.merge(u),
                    }
                }
                Ok::<_, ModelError>((text, usage))
            };
            let (text, usage) = tokio::time::timeout(self.timeout, work)
                .await
                .map_err(|_| ModelError::Timeout(self.timeout))??;
            Ok(LlmAnswer {
                text,
                metrics: self.metrics(&usage, start),
            })
        })
    }
}
