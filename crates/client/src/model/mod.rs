//! Model access: one interface, reached directly (crates/llm) or through vibectl-server.
pub mod direct;
pub mod proxy;

use std::time::Duration;

use futures::future::BoxFuture;

use crate::proxy::ProxyError;

/// One LLM call.
#[derive(Clone, Debug, Default)]
pub struct LlmCall {
    /// System prompt fragments.
    pub system: Vec<String>,
    /// User turn fragments, in order.
    pub user: Vec<String>,
    /// JSON Schema the answer must satisfy.
    pub schema: Option<serde_json::Value>,
    /// Id sent to the proxy and written to the audit log (empty: the proxy path makes one).
    pub request_id: String,
}

/// What one call cost.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallMetrics {
    /// The model that answered.
    pub model: String,
    /// Wall time of the call as seen by the client.
    pub latency: Duration,
    /// Prompt tokens, when known.
    pub input_tokens: Option<i64>,
    /// Completion tokens, when known.
    pub output_tokens: Option<i64>,
    /// Total tokens, when known.
    pub total_tokens: Option<i64>,
    /// Cost in USD, when known.
    pub cost_usd: Option<f64>,
}

impl CallMetrics {
    /// One line for `--show-metrics`.
    pub fn render(&self) -> String {
        let n = |v: Option<i64>| v.map_or_else(|| "?".to_owned(), |v| v.to_string());
        let cost = self
            .cost_usd
            .map_or_else(|| "?".to_owned(), |c| format!("${c:.6}"));
        format!(
            "[metrics] model={} latency={}ms tokens in={} out={} total={} cost={cost}",
            self.model,
            self.latency.as_millis(),
            n(self.input_tokens),
            n(self.output_tokens),
            n(self.total_tokens),
        )
    }
}

impl CallMetrics {
    /// The `--show-metrics total` line: the sum over a command's calls.
    pub fn total(all: &[CallMetrics]) -> String {
        let sum = |f: fn(&CallMetrics) -> Option<i64>| -> String {
            if all.iter().all(|m| f(m).is_none()) {
                "?".to_owned()
            } else {
                all.iter().filter_map(f).sum::<i64>().to_string()
            }
        };
        let latency: u128 = all.iter().map(|m| m.latency.as_millis()).sum();
        let cost = if all.iter().all(|m| m.cost_usd.is_none()) {
            "?".to_owned()
        } else {
            format!("${:.6}", all.iter().filter_map(|m| m.cost_usd).sum::<f64>())
        };
        format!(
            "[metrics] total: calls={} latency={latency}ms tokens in={} out={} total={} cost={cost}",
            all.len(),
            sum(|m| m.input_tokens),
            sum(|m| m.output_tokens),
            sum(|m| m.total_tokens),
        )
    }
}

/// A finished answer.
#[derive(Clone, Debug, Default)]
pub struct LlmAnswer {
    /// The text (JSON when a schema was given).
    pub text: String,
    /// What it cost.
    pub metrics: CallMetrics,
}

/// Receives streamed text as it arrives.
pub type TextSink<'a> = &'a mut (dyn FnMut(&str) + Send);

/// Why an LLM call failed.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The proxy could not be used.
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    /// The server answered with an `ExecuteError`.
    #[error("the proxy reported {code}: {message}")]
    Server {
        /// `error_code`.
        code: String,
        /// `error_message` (and details).
        message: String,
    },
    /// The provider failed (direct mode).
    /// (In direct mode the user is the operator: the full detail, URL and cause included.)
    #[error("{}", .0.log_detail())]
    Provider(#[from] vibectl_llm::ProviderError),
    /// The model name is unknown, or no model could be chosen.
    #[error("{0}")]
    Model(String),
    /// No API key for the provider (direct mode).
    #[error("no API key for {provider}: set {env} or run: vibectl config set providers.{provider}.key KEY\n  or use a proxy: vibectl setup-proxy configure NAME URL")]
    NoKey {
        /// Provider name.
        provider: String,
        /// The variable to set.
        env: String,
    },
    /// The answer did not match the schema.
    #[error("the model's answer does not match the expected format: {0}")]
    Schema(String),
    /// No answer in time.
    #[error("the model did not answer within {0:?}")]
    Timeout(Duration),
}

impl ModelError {
    /// Whether the failure is the model's answer not matching the schema (worth a corrective retry).
    pub fn is_schema_failure(&self) -> bool {
        match self {
            ModelError::Schema(_) => true,
            ModelError::Server { code, .. } => {
                code.parse() == Ok(vibectl_llm::ErrorCode::SchemaValidationFailed)
            }
            ModelError::Provider(e) => e.code() == vibectl_llm::ErrorCode::SchemaValidationFailed,
            _ => false,
        }
    }
}

/// A way to reach a model.
pub trait ModelAccess: Send + Sync {
    /// Where calls go, for messages (`proxy prod (…)`, `direct openai/gpt-4o`).
    fn describe(&self) -> String;

    /// A whole answer.
    fn complete<'a>(&'a self, call: &'a LlmCall) -> BoxFuture<'a, Result<LlmAnswer, ModelError>>;

    /// A streamed answer; `sink` sees each piece of text as it arrives.
    fn stream<'a>(
        &'a self,
        call: &'a LlmCall,
        sink: TextSink<'a>,
    ) -> BoxFuture<'a, Result<LlmAnswer, ModelError>>;
}

/// Opens the model access a command should use: `--no-proxy`, `--proxy NAME`, the active profile,
/// else direct mode; `--model` overrides `llm.model`.
pub async fn open(
    cfg: &crate::config::Config,
    global: &crate::cli::GlobalArgs,
) -> Result<Box<dyn ModelAccess>, ModelError> {
    let model = global.model.clone().or_else(|| cfg.text("llm.model"));
    let profile = if global.no_proxy {
        None
    } else {
        global.proxy.clone().or_else(|| cfg.active_profile())
    };
    match profile {
        None => Ok(Box::new(direct::DirectModel::from_config(
            cfg,
            model.as_deref(),
        )?)),
        Some(name) => {
            let profiles = cfg.profiles();
            let p = profiles.get(&name).ok_or_else(|| {
                ModelError::Model(format!(
                    "no proxy profile named `{name}`\n  see them with: vibectl setup-proxy list"
                ))
            })?;
            let target = crate::proxy::ProxyTarget::from_profile(&name, p, cfg)?;
            let ttl = Duration::from_secs(cfg.int("proxy.server_info_ttl_seconds").max(0) as u64);
            Ok(Box::new(
                proxy::ProxyModel::connect(&target, model, ttl).await?,
            ))
        }
    }
}
