//! Turning `providers:` and the providers' usual environment variables into live settings.
use std::collections::BTreeSet;

use vibectl_llm::http::RetryPolicy;
use vibectl_llm::registry::{ollama_base_url, KNOWN_PROVIDERS};
use vibectl_llm::{ProviderSettings, Secret, WireFormat};

use super::validate::ConfigError;
use super::ServerConfig;

/// What the server knows about one provider, for `models` and start-up logs (never the key).
#[derive(Clone, Debug)]
pub struct ProviderStatus {
    /// Provider name.
    pub name: String,
    /// Wire format.
    pub wire: WireFormat,
    /// Endpoint.
    pub base_url: String,
    /// Where the key came from (e.g. `env OPENAI_API_KEY`), or `None` without one.
    pub key_source: Option<String>,
    /// Settings when the provider is usable (key present, or a local endpoint that needs none).
    pub settings: Option<ProviderSettings>,
}

/// Resolves every provider: explicit `providers:` entries and the well-known ones from the
/// environment. For keys and URLs the environment wins over the file, as for the JWT secret.
/// `env` reads a variable (injected so tests need not touch the process environment).
pub fn provider_settings(
    cfg: &ServerConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<ProviderStatus>, Vec<ConfigError>> {
    let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let mut names: BTreeSet<&str> = KNOWN_PROVIDERS.iter().map(|k| k.0).collect();
    names.extend(cfg.providers.keys().map(String::as_str));
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for name in names {
        let entry = cfg.providers.get(name).cloned().unwrap_or_default();
        let known = KNOWN_PROVIDERS.iter().find(|k| k.0 == name);
        let Some(wire) = entry.wire.or(known.map(|k| k.1)) else {
            continue; // reported by validate()
        };
        let from_env_url = known.and_then(|k| env(k.4)).map(|u| {
            if name == "ollama" {
                ollama_base_url(&u)
            } else {
                u
            }
        });
        let base_url = from_env_url
            .or(entry.base_url.clone())
            .or(known.map(|k| k.2.to_owned()))
            .unwrap_or_default();

        let mut key_source = None;
        let mut key = None;
        let key_var = known.map(|k| k.3);
        if let Some(var) = entry.api_key_env.as_deref().or(key_var) {
            if let Some(v) = env(var) {
                key = Some(Secret::new(v));
                key_source = Some(format!("env {var}"));
            } else if let Some(file) = env(&format!("{var}_FILE")) {
                match read_key_file(&file) {
                    Ok(v) => {
                        key = Some(v);
                        key_source = Some(format!("file {file} (from {var}_FILE)"));
                    }
                    Err(e) => {
                        errors.push(ConfigError::new(format!("env {var}_FILE"), e.to_string()))
                    }
                }
            }
        }
        if key.is_none() {
            if let Some(v) = &entry.api_key {
                key = Some(v.clone());
                key_source = Some(format!("config providers.{name}.api_key"));
            } else if let Some(file) = &entry.api_key_file {
                let file = file.display().to_string();
                match read_key_file(&file) {
                    Ok(v) => {
                        key = Some(v);
                        key_source = Some(format!("file {file}"));
                    }
                    Err(e) => errors.push(ConfigError::new(
                        format!("providers.{name}.api_key_file"),
                        e.to_string(),
                    )),
                }
            }
        }
        // Hosted APIs need a key; a local OpenAI-compatible server is usable once it is named.
        let local_named = wire == WireFormat::OpenaiCompatible
            && (cfg.providers.contains_key(name)
                || (name == "ollama" && env("OLLAMA_HOST").is_some()));
        let usable = key.is_some() || local_named;
        let retry = RetryPolicy {
            max_retries: entry
                .max_retries
                .unwrap_or(RetryPolicy::default().max_retries),
            ..RetryPolicy::default()
        };
        let settings = usable.then(|| ProviderSettings {
            name: name.to_owned(),
            wire,
            base_url: base_url.clone(),
            api_key: key,
            retry,
        });
        out.push(ProviderStatus {
            name: name.to_owned(),
            wire,
            base_url,
            key_source,
            settings,
        });
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Why a provider key file gave no key.
#[derive(Debug, thiserror::Error)]
enum KeyFileError {
    #[error("key file {0} is empty")]
    Empty(String),
    #[error("cannot read key file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

fn read_key_file(path: &str) -> Result<Secret, KeyFileError> {
    match std::fs::read_to_string(path) {
        Ok(v) if !v.trim().is_empty() => Ok(Secret::new(v)),
        Ok(_) => Err(KeyFileError::Empty(path.to_owned())),
        Err(source) => Err(KeyFileError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::collections::HashMap;

    fn resolve(yaml: &str, vars: &[(&str, &str)]) -> Vec<ProviderStatus> {
        let (cfg, _) = ServerConfig::parse(yaml).unwrap();
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        provider_settings(&cfg, &|k| vars.get(k).cloned()).unwrap()
    }

    #[test]
    fn env_keys_configure_hosted_providers() {
        let all = resolve(
            "",
            &[
                ("OPENAI_API_KEY", "sk-1"),
                ("OPENAI_BASE_URL", "http://m/v1"),
            ],
        );
        let openai = all.iter().find(|p| p.name == "openai").unwrap();
        assert_eq!(openai.base_url, "http://m/v1");
        assert_eq!(openai.key_source.as_deref(), Some("env OPENAI_API_KEY"));
        assert!(openai.settings.is_some());
        let anthropic = all.iter().find(|p| p.name == "anthropic").unwrap();
        assert!(anthropic.settings.is_none(), "no key, not offered");
        assert!(!format!("{all:?}").contains("sk-1"), "key never printed");
    }

    #[test]
    fn ollama_host_and_custom_providers() {
        let all = resolve(
            "providers:\n  vllm: {wire: openai_compatible, base_url: 'http://v:8000/v1'}\n",
            &[("OLLAMA_HOST", "gpu:11434")],
        );
        let ollama = all.iter().find(|p| p.name == "ollama").unwrap();
        assert_eq!(ollama.base_url, "http://gpu:11434/v1");
        assert!(ollama.settings.is_some());
        assert!(all
            .iter()
            .find(|p| p.name == "vllm")
            .unwrap()
            .settings
            .is_some());
    }

    #[test]
    fn config_key_used_when_env_is_silent() {
        let all = resolve(
            "providers:\n  anthropic: {api_key: k, base_url: 'http://a'}\n",
            &[],
        );
        let a = all.iter().find(|p| p.name == "anthropic").unwrap();
        assert_eq!(
            a.key_source.as_deref(),
            Some("config providers.anthropic.api_key")
        );
        assert_eq!(a.base_url, "http://a");
    }
}
