//! Provider settings and the set of live provider clients a process holds.
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::anthropic::AnthropicProvider;
use crate::http::{http_client, HttpClient, RetryPolicy};
use crate::openai::OpenAiProvider;
use crate::passthrough::RawEndpoint;
use crate::{Provider, ProviderError, Secret};

/// Which HTTP API a provider speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WireFormat {
    /// Anthropic Messages API.
    Anthropic,
    /// OpenAI Chat Completions, as OpenAI serves it.
    Openai,
    /// OpenAI Chat Completions as Ollama, vLLM, llama.cpp or OpenRouter serve it.
    OpenaiCompatible,
}

impl WireFormat {
    /// The name used in config files.
    pub fn as_str(self) -> &'static str {
        match self {
            WireFormat::Anthropic => "anthropic",
            WireFormat::Openai => "openai",
            WireFormat::OpenaiCompatible => "openai_compatible",
        }
    }
}

/// Well-known providers: name, wire format, default base URL, key variable, base-URL variable.
pub const KNOWN_PROVIDERS: [(&str, WireFormat, &str, &str, &str); 3] = [
    (
        "anthropic",
        WireFormat::Anthropic,
        "https://api.anthropic.com",
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
    ),
    (
        "openai",
        WireFormat::Openai,
        "https://api.openai.com/v1",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
    ),
    (
        "ollama",
        WireFormat::OpenaiCompatible,
        "http://127.0.0.1:11434/v1",
        "OLLAMA_API_KEY",
        "OLLAMA_HOST",
    ),
];

/// Turns an `OLLAMA_HOST` value (`host:port` or a URL) into an OpenAI-compatible base URL.
pub fn ollama_base_url(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    let with_scheme = if host.contains("://") {
        host.to_owned()
    } else {
        format!("http://{host}")
    };
    if with_scheme.ends_with("/v1") {
        with_scheme
    } else {
        format!("{with_scheme}/v1")
    }
}

/// Everything needed to talk to one provider.
#[derive(Clone, Debug)]
pub struct ProviderSettings {
    /// The name models refer to (`anthropic`, `openai`, `ollama`, or a configured one).
    pub name: String,
    /// The API it speaks.
    pub wire: WireFormat,
    /// Endpoint base URL.
    pub base_url: String,
    /// API key, if any.
    pub api_key: Option<Secret>,
    /// Retry policy for its calls.
    pub retry: RetryPolicy,
}

impl ProviderSettings {
    /// Builds the client for these settings on a shared connection pool.
    pub fn build(&self, client: HttpClient) -> Result<Arc<dyn Provider>, ProviderError> {
        let key = self.api_key.as_ref();
        Ok(match self.wire {
            WireFormat::Anthropic => Arc::new(AnthropicProvider::anthropic(
                client,
                &self.base_url,
                key,
                self.retry,
            )?),
            WireFormat::Openai | WireFormat::OpenaiCompatible => Arc::new(OpenAiProvider::openai(
                client,
                &self.base_url,
                key,
                self.retry,
                self.wire == WireFormat::OpenaiCompatible,
            )?),
        })
    }
}

/// The live provider clients of a process, by name.
#[derive(Clone, Debug, Default)]
pub struct ProviderRegistry {
    providers: BTreeMap<String, Arc<dyn Provider>>,
    /// The same providers' endpoints for raw pass-through bodies (the HTTP APIs).
    raw: BTreeMap<String, Arc<RawEndpoint>>,
}

impl ProviderRegistry {
    /// Builds one client per settings entry, all sharing one connection pool.
    pub fn new(settings: &[ProviderSettings]) -> Result<Self, ProviderError> {
        let client = http_client()?;
        let providers = settings
            .iter()
            .map(|s| Ok((s.name.clone(), s.build(client.clone())?)))
            .collect::<Result<_, ProviderError>>()?;
        let raw = settings
            .iter()
            .map(|s| {
                Ok((
                    s.name.clone(),
                    Arc::new(RawEndpoint::new(s, client.clone())?),
                ))
            })
            .collect::<Result<_, ProviderError>>()?;
        Ok(ProviderRegistry { providers, raw })
    }

    /// The raw pass-through endpoint of provider `name` (absent for providers added by
    /// [`ProviderRegistry::insert`]).
    pub fn raw(&self, name: &str) -> Option<&Arc<RawEndpoint>> {
        self.raw.get(name)
    }

    /// Adds or replaces a provider (tests use this to plug in their own).
    pub fn insert(&mut self, name: impl Into<String>, provider: Arc<dyn Provider>) {
        self.providers.insert(name.into(), provider);
    }

    /// The provider called `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(name)
    }

    /// Whether `name` is configured.
    pub fn contains(&self, name: &str) -> bool {
        self.providers.contains_key(name)
    }

    /// Names of the configured providers.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.providers.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_host_forms() {
        assert_eq!(
            ollama_base_url("127.0.0.1:11434"),
            "http://127.0.0.1:11434/v1"
        );
        assert_eq!(
            ollama_base_url("https://gpu.local/"),
            "https://gpu.local/v1"
        );
        assert_eq!(ollama_base_url("http://h:1/v1"), "http://h:1/v1");
    }
}
