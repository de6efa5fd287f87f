//! Where the config file and server state live, and reading the file.
use std::path::{Path, PathBuf};

use super::validate::{ConfigError, ConfigIssues};
use super::ServerConfig;

/// Where the config in use came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// Read from this file.
    File(PathBuf),
    /// No file at this path; built-in defaults.
    Defaults(PathBuf),
}

impl ConfigSource {
    /// The config file path (existing or not).
    pub fn path(&self) -> &Path {
        match self {
            ConfigSource::File(p) | ConfigSource::Defaults(p) => p,
        }
    }
}

/// The config file path: `--config`, else `$VIBECTL_SERVER_CONFIG_DIR/config.yaml`, else
/// `$XDG_CONFIG_HOME/vibectl/server/config.yaml`, else `~/.config/vibectl/server/config.yaml`.
pub fn config_path(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    config_dir().join("config.yaml")
}

fn config_dir() -> PathBuf {
    if let Some(dir) = non_empty_env("VIBECTL_SERVER_CONFIG_DIR") {
        return PathBuf::from(dir);
    }
    let base = non_empty_env("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| non_empty_env("HOME").map(|h| PathBuf::from(h).join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("vibectl").join("server")
}

/// The directory for server state (token registry, generated secrets, CA and certificates, usage
/// ledger), first found of: `--state-dir` (or `$VIBECTL_SERVER_STATE_DIR`, which the CLI puts in
/// `state.dir`), config `state.dir`, systemd's `$STATE_DIRECTORY` (its first entry), the
/// directory of the config file (the reference's place).
pub fn state_dir(cfg: &ServerConfig, config_file: &Path) -> PathBuf {
    if let Some(dir) = cfg.state.dir.as_ref().filter(|d| !d.as_os_str().is_empty()) {
        return dir.clone();
    }
    if let Some(dir) = non_empty_env("VIBECTL_SERVER_STATE_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dirs) = non_empty_env("STATE_DIRECTORY") {
        if let Some(first) = dirs.split(':').find(|d| !d.is_empty()) {
            return PathBuf::from(first);
        }
    }
    config_file
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// A parsed config and the warnings about keys it did not use.
pub type Parsed = (ServerConfig, Vec<Warning>);

/// A non-fatal finding about a config file.
pub type Warning = String;

/// A config read from disk, with warnings about keys it did not use.
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    /// The parsed config.
    pub config: ServerConfig,
    /// Where it came from.
    pub source: ConfigSource,
    /// Unknown keys and similar non-fatal findings.
    pub warnings: Vec<String>,
}

impl ServerConfig {
    /// Reads the config file; a missing file means defaults unless it was named explicitly.
    pub fn load(explicit: Option<&Path>) -> Result<LoadedConfig, ConfigIssues> {
        let path = config_path(explicit);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let (config, warnings) = Self::parse(&text).map_err(|mut issues| {
                    issues.file = Some(path.clone());
                    issues
                })?;
                Ok(LoadedConfig {
                    config,
                    source: ConfigSource::File(path),
                    warnings,
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && explicit.is_none() => {
                Ok(LoadedConfig {
                    config: ServerConfig::default(),
                    source: ConfigSource::Defaults(path),
                    warnings: Vec::new(),
                })
            }
            Err(e) => Err(ConfigIssues::single(
                Some(path.clone()),
                ConfigError::new(
                    "",
                    format!(
                        "cannot read {}: {e} (create one with `vibectl-server init-config`)",
                        path.display()
                    ),
                ),
            )),
        }
    }

    /// Parses config text; type errors name the key path, unknown keys become warnings.
    pub fn parse(text: &str) -> Result<Parsed, ConfigIssues> {
        if text.trim().is_empty() {
            return Ok((ServerConfig::default(), Vec::new()));
        }
        let mut unknown = Vec::new();
        let de = serde_yaml_ng::Deserializer::from_str(text);
        let mut record = |path: serde_ignored::Path<'_>| unknown.push(path.to_string());
        let ignored = serde_ignored::Deserializer::new(de, &mut record);
        let config: ServerConfig = serde_path_to_error::deserialize(ignored).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            let inner = e.into_inner().to_string();
            // serde_yaml_ng already prefixes the path; keep it once.
            let msg = inner
                .strip_prefix(&format!("{path}: "))
                .map_or(inner.clone(), str::to_owned);
            ConfigIssues::single(None, ConfigError::new(path, msg))
        })?;
        let warnings = unknown
            .into_iter()
            .map(|k| format!("{k}: unknown key, ignored (see `vibectl-server config show` for the known keys)"))
            .collect();
        Ok((config, warnings))
    }
}
