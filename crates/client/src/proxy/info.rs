//! The server's models and aliases (`GetServerInfo`), cached on disk with a TTL.
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use vibectl_proto::GetServerInfoResponse;

use super::{ProxyClient, ProxyError};

/// One model the server offers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    /// Model id.
    pub id: String,
    /// Human-friendly name.
    pub display_name: String,
    /// Provider name.
    pub provider: String,
    /// Other names.
    pub aliases: Vec<String>,
}

/// What `GetServerInfo` said, in a form that can be cached.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerInfo {
    /// Server name.
    pub server_name: String,
    /// Server version.
    pub server_version: String,
    /// Default model id.
    pub default_model: String,
    /// Models offered.
    pub models: Vec<ModelSummary>,
    /// alias → model id.
    pub aliases: BTreeMap<String, String>,
}

impl From<GetServerInfoResponse> for ServerInfo {
    fn from(r: GetServerInfoResponse) -> Self {
        ServerInfo {
            server_name: r.server_name,
            server_version: r.server_version,
            default_model: r.default_model,
            models: r
                .available_models
                .into_iter()
                .map(|m| ModelSummary {
                    id: m.model_id,
                    display_name: m.display_name,
                    provider: m.provider,
                    aliases: m.aliases,
                })
                .collect(),
            aliases: r.model_aliases.into_iter().collect(),
        }
    }
}

impl ServerInfo {
    /// Whether `name` is a model id or alias the server knows.
    pub fn knows(&self, name: &str) -> bool {
        self.aliases.contains_key(name)
            || self
                .models
                .iter()
                .any(|m| m.id == name || m.aliases.iter().any(|a| a == name))
    }

    /// Checks a model name against the server's models; the error lists close matches and
    /// every model the server offers.
    pub fn check_model(&self, name: &str) -> Result<(), UnknownModel> {
        if self.knows(name) {
            return Ok(());
        }
        let names: Vec<&str> = self
            .models
            .iter()
            .flat_map(|m| {
                std::iter::once(m.id.as_str()).chain(m.aliases.iter().map(String::as_str))
            })
            .chain(self.aliases.keys().map(String::as_str))
            .collect();
        let mut close: Vec<(f64, &str)> = names
            .iter()
            .map(|n| {
                (
                    strsim::jaro_winkler(&name.to_ascii_lowercase(), &n.to_ascii_lowercase()),
                    *n,
                )
            })
            .filter(|(s, _)| *s >= 0.8)
            .collect();
        close.sort_by(|a, b| b.0.total_cmp(&a.0));
        close.dedup_by(|a, b| a.1 == b.1);
        let hint = if close.is_empty() {
            String::new()
        } else {
            let c: Vec<&str> = close.iter().take(3).map(|c| c.1).collect();
            format!(" (did you mean {}?)", c.join(", "))
        };
        let offered: Vec<String> = self
            .models
            .iter()
            .map(|m| {
                if m.aliases.is_empty() {
                    m.id.clone()
                } else {
                    format!("{} ({})", m.id, m.aliases.join(", "))
                }
            })
            .collect();
        Err(UnknownModel(format!(
            "model `{name}` is not offered by the proxy{hint}\n  the server offers: {}\n  choose one with: vibectl config set llm.model MODEL",
            if offered.is_empty() { "no models".to_owned() } else { offered.join("; ") }
        )))
    }
}

/// A model name the server does not offer: the message has close matches and every offer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UnknownModel(pub String);

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    entries: BTreeMap<String, CacheEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheEntry {
    fetched_at: u64,
    info: ServerInfo,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn cache_path() -> Option<std::path::PathBuf> {
    crate::config::config_dir()
        .ok()
        .map(|d| d.join("server-info-cache.json"))
}

fn cache_key(client: &ProxyClient) -> String {
    // Keyed by address and scheme, never by token.
    let u = &client.target().url;
    format!("{}://{}:{}", u.scheme(), u.host_for_url(), u.port)
}

/// The server info, from the cache when younger than `ttl`, else fetched (and cached).
pub async fn server_info(client: &ProxyClient, ttl: Duration) -> Result<ServerInfo, ProxyError> {
    server_info_cached_in(client, ttl, cache_path()).await
}

/// [`server_info`] with the cache file given explicitly (`None`: no cache).
pub async fn server_info_cached_in(
    client: &ProxyClient,
    ttl: Duration,
    path: Option<std::path::PathBuf>,
) -> Result<ServerInfo, ProxyError> {
    let key = cache_key(client);
    let mut file: CacheFile = path
        .as_ref()
        .and_then(|p| std::fs::read(p).ok())
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if let Some(e) = file.entries.get(&key) {
        if now().saturating_sub(e.fetched_at) < ttl.as_secs() {
            return Ok(e.info.clone());
        }
    }
    let info: ServerInfo = client.server_info().await?.into();
    if ttl > Duration::ZERO {
        if let Some(p) = path {
            file.entries.insert(
                key,
                CacheEntry {
                    fetched_at: now(),
                    info: info.clone(),
                },
            );
            if let Ok(bytes) = serde_json::to_vec_pretty(&file) {
                // A cache that cannot be written only costs a round trip next time.
                let _ = vibectl_fsutil::write_atomic(&p, &bytes, 0o600);
            }
        }
    }
    Ok(info)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn info() -> ServerInfo {
        ServerInfo {
            models: vec![ModelSummary {
                id: "anthropic/claude-sonnet-4-0".into(),
                aliases: vec!["claude-4-sonnet".into()],
                ..Default::default()
            }],
            aliases: [(
                "claude-4-sonnet".to_owned(),
                "anthropic/claude-sonnet-4-0".to_owned(),
            )]
            .into(),
            ..Default::default()
        }
    }

    #[test]
    fn resolves_ids_and_aliases() {
        let i = info();
        assert!(i.check_model("claude-4-sonnet").is_ok());
        assert!(i.check_model("anthropic/claude-sonnet-4-0").is_ok());
        let e = i.check_model("claude-4-sonet").unwrap_err().to_string();
        assert!(e.contains("did you mean claude-4-sonnet"), "{e}");
        assert!(
            e.contains("the server offers: anthropic/claude-sonnet-4-0 (claude-4-sonnet)"),
            "{e}"
        );
    }
}
