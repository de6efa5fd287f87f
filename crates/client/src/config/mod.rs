//! The client config file: location, typed access, validation, atomic writes.
mod keys;
pub mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use schema::{lookup, KeySpec, PROVIDER_NAMES};

/// A config problem, with the key it concerns and how to fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The key is not part of the schema.
    #[error("unknown config key `{key}`{hint}\n  see all keys with: vibectl config show")]
    UnknownKey {
        /// The key given.
        key: String,
        /// ` (did you mean ...?)` or empty.
        hint: String,
    },
    /// The value does not fit the key.
    #[error("{key}: {reason}\n  example: vibectl config set {key} {example}")]
    BadValue {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
        /// A valid value.
        example: String,
    },
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid YAML or has bad values.
    #[error("{path}: {message}\n  fix the file or run: vibectl config unset KEY")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem found.
        message: String,
    },
    /// No config directory could be determined.
    #[error("cannot find a config directory: set VIBECTL_CLIENT_CONFIG_DIR or HOME")]
    NoHome,
}

/// The directory holding the client's config (and memory).
pub fn config_dir() -> Result<PathBuf, ConfigError> {
    if let Some(d) = std::env::var_os("VIBECTL_CLIENT_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d));
    }
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(x).join("vibectl").join("client"));
    }
    std::env::var_os("HOME")
        .filter(|d| !d.is_empty())
        .map(|h| {
            PathBuf::from(h)
                .join(".config")
                .join("vibectl")
                .join("client")
        })
        .ok_or(ConfigError::NoHome)
}

/// One proxy profile.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Profile {
    /// The proxy URL (may embed a token).
    pub server_url: String,
    /// File holding the JWT.
    pub jwt_path: Option<String>,
    /// PEM CA bundle.
    pub ca_bundle_path: Option<String>,
}

/// The loaded config: the file's YAML tree, checked against the schema.
#[derive(Clone)]
pub struct Config {
    path: PathBuf,
    root: Mapping,
}

/// Shows where the config lives, never its values (they may hold API keys or tokens).
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("path", &self.path)
            .field("top_level_keys", &self.root.len())
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Loads the config from the default location (an absent file is an empty config).
    pub fn load() -> Result<Config, ConfigError> {
        Self::load_from(config_dir()?.join("config.yaml"))
    }

    /// Loads the config from `path`, reporting every invalid key at once.
    pub fn load_from(path: PathBuf) -> Result<Config, ConfigError> {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(source) => return Err(ConfigError::Io { path, source }),
        };
        let root = if text.trim().is_empty() {
            Mapping::new()
        } else {
            match serde_yaml_ng::from_str::<Value>(&text) {
                Ok(Value::Mapping(m)) => m,
                Ok(Value::Null) => Mapping::new(),
                Ok(_) => {
                    return Err(ConfigError::Invalid {
                        path,
                        message: "the top level must be a mapping of keys".into(),
                    })
                }
                Err(e) => {
                    return Err(ConfigError::Invalid {
                        path,
                        message: e.to_string(),
                    })
                }
            }
        };
        let config = Config { path, root };
        let problems = config.problems();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigError::Invalid {
                path: config.path,
                message: problems.join("\n  "),
            })
        }
    }

    /// The file this config lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every leaf in the file that is unknown or invalid, as `key: problem`.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (key, value) in self.leaves() {
            // `proxy.profiles: {}` and similar empty sections, as the reference writes them.
            if matches!(&value, Value::Mapping(m) if m.is_empty()) {
                continue;
            }
            match lookup(&key) {
                None => out.push(format!("{key}: unknown key{}", did_you_mean(&key))),
                Some(spec) => {
                    if let Err(e) = spec.check(&value) {
                        out.push(format!("{key}: {e}"));
                    } else if let Err(e) = check_name(&key) {
                        out.push(format!("{key}: {e}"));
                    }
                }
            }
        }
        out
    }

    /// Every `dotted.key → value` leaf in the file.
    pub fn leaves(&self) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        flatten("", &Value::Mapping(self.root.clone()), &mut out);
        out
    }

    /// The value stored for `key`, or its default; errors on unknown keys.
    pub fn get(&self, key: &str) -> Result<Value, ConfigError> {
        let spec = spec_for(key)?;
        Ok(self
            .raw(key)
            .cloned()
            .unwrap_or_else(|| spec.default_value()))
    }

    /// The value stored in the file for `key` (no default), e.g. a profile's own setting.
    pub fn stored(&self, key: &str) -> Option<&Value> {
        self.raw(key)
    }

    fn raw(&self, key: &str) -> Option<&Value> {
        let mut node: &Value = self.root.get(key.split('.').next()?)?;
        for part in key.split('.').skip(1) {
            node = node.as_mapping()?.get(part)?;
        }
        (!node.is_null()).then_some(node)
    }

    /// A text value, if set.
    pub fn text(&self, key: &str) -> Option<String> {
        match self.raw(key) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// An integer value (stored or default).
    pub fn int(&self, key: &str) -> i64 {
        self.get(key).ok().and_then(|v| v.as_i64()).unwrap_or(0)
    }

    /// Sets `key` from command-line text, checking it against the schema.
    pub fn set(&mut self, key: &str, raw: &str) -> Result<(), ConfigError> {
        let spec = spec_for(key)?;
        check_name(key).map_err(|e| bad(spec, key, e))?;
        let value = spec.parse(raw).map_err(|e| bad(spec, key, e))?;
        if let (true, Some(name)) = (key == "proxy.active", value.as_str()) {
            let names: Vec<String> = self.profiles().into_keys().collect();
            if !names.iter().any(|n| n == name) {
                let known = if names.is_empty() {
                    "none configured".to_owned()
                } else {
                    names.join(", ")
                };
                return Err(bad(
                    spec,
                    key,
                    schema::ValueError::Name(format!(
                        "no proxy profile named `{name}` (profiles: {known})"
                    )),
                ));
            }
        }
        self.set_value(key, value);
        Ok(())
    }

    /// Stores an already checked value (`Null` removes the key).
    pub fn set_value(&mut self, key: &str, value: Value) {
        if value.is_null() {
            self.remove(key);
            return;
        }
        let parts: Vec<&str> = key.split('.').collect();
        let mut map = &mut self.root;
        for part in &parts[..parts.len() - 1] {
            let k = Value::String((*part).to_owned());
            if !matches!(map.get(&k), Some(Value::Mapping(_))) {
                map.insert(k.clone(), Value::Mapping(Mapping::new()));
            }
            map = match map.get_mut(&k) {
                Some(Value::Mapping(m)) => m,
                _ => return,
            };
        }
        if let Some(last) = parts.last() {
            map.insert(Value::String((*last).to_owned()), value);
        }
    }

    /// Removes `key` (checked against the schema) and any mapping left empty.
    pub fn unset(&mut self, key: &str) -> Result<bool, ConfigError> {
        spec_for(key)?;
        Ok(self.remove(key))
    }

    /// Removes a key or a whole subtree such as `proxy.profiles.prod`.
    pub fn remove(&mut self, key: &str) -> bool {
        let parts: Vec<&str> = key.split('.').collect();
        remove_path(&mut self.root, &parts)
    }

    /// The first of `keys` that is set, as text.
    pub fn first_text(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| self.text(k))
    }

    /// Whether any secret (API key, URL with a token) is stored.
    pub fn holds_secret(&self) -> bool {
        self.leaves().iter().any(|(k, v)| {
            lookup(k).is_some_and(|s| match s.kind {
                schema::Kind::Secret => !v.is_null(),
                schema::Kind::ProxyUrl => v.as_str().is_some_and(|u| u.contains('@')),
                _ => false,
            })
        })
    }

    /// The configured proxy profiles, by name.
    pub fn profiles(&self) -> BTreeMap<String, Profile> {
        let mut out = BTreeMap::new();
        let Some(Value::Mapping(profiles)) = self
            .root
            .get("proxy")
            .and_then(|p| p.as_mapping())
            .and_then(|p| p.get("profiles"))
        else {
            return out;
        };
        for (name, body) in profiles {
            let (Some(name), Some(body)) = (name.as_str(), body.as_mapping()) else {
                continue;
            };
            let field = |f: &str| body.get(f).and_then(|v| v.as_str()).map(str::to_owned);
            out.insert(
                name.to_owned(),
                Profile {
                    server_url: field("server_url").unwrap_or_default(),
                    jwt_path: field("jwt_path"),
                    ca_bundle_path: field("ca_bundle_path"),
                },
            );
        }
        out
    }

    /// The active profile's name, if any.
    pub fn active_profile(&self) -> Option<String> {
        self.text("proxy.active")
    }

    /// The effective settings of every fixed key plus every stored key, secrets masked.
    pub fn effective(&self) -> BTreeMap<String, Value> {
        let mut out = BTreeMap::new();
        for spec in schema::KEYS
            .iter()
            .filter(|k| !k.pattern.contains('*') && k.pattern != "memory_content")
        {
            out.insert(spec.pattern.to_owned(), spec.default_value());
        }
        for (key, value) in self.leaves() {
            let masked = match lookup(&key) {
                Some(spec) if spec.is_secret() && !value.is_null() => {
                    Value::String(mask_value(spec, &value))
                }
                _ => value,
            };
            out.insert(key, masked);
        }
        out
    }

    /// Writes the file atomically (temp file + rename), 0600 when it holds a secret.
    pub fn save(&self) -> Result<(), ConfigError> {
        let text = if self.root.is_empty() {
            String::new()
        } else {
            serde_yaml_ng::to_string(&self.root).map_err(|e| ConfigError::Invalid {
                path: self.path.clone(),
                message: e.to_string(),
            })?
        };
        let mode = if self.holds_secret() { 0o600 } else { 0o644 };
        vibectl_fsutil::write_atomic(&self.path, text, mode).map_err(|e| ConfigError::Io {
            path: e.path,
            source: e.source,
        })
    }
}

fn mask_value(spec: &KeySpec, value: &Value) -> String {
    let s = value.as_str().unwrap_or_default();
    match spec.kind {
        schema::Kind::ProxyUrl => crate::proxy::url::ProxyUrl::parse(s)
            .map(|u| u.masked())
            .unwrap_or_else(|_| "***".into()),
        _ => crate::proxy::url::mask_token(s),
    }
}

fn spec_for(key: &str) -> Result<&'static KeySpec, ConfigError> {
    lookup(key).ok_or_else(|| ConfigError::UnknownKey {
        key: key.to_owned(),
        hint: did_you_mean(key),
    })
}

fn did_you_mean(key: &str) -> String {
    let close = schema::close_keys(key);
    if close.is_empty() {
        String::new()
    } else {
        format!(" (did you mean {}?)", close.join(", "))
    }
}

fn bad(spec: &KeySpec, key: &str, reason: schema::ValueError) -> ConfigError {
    ConfigError::BadValue {
        key: key.to_owned(),
        reason: reason.to_string(),
        example: spec.example.to_owned(),
    }
}

/// Checks the name filling a wildcard: provider names are known ones, profile names are simple.
fn check_name(key: &str) -> Result<(), schema::ValueError> {
    let parts: Vec<&str> = key.split('.').collect();
    match parts.as_slice() {
        ["providers", name, _] if !PROVIDER_NAMES.contains(name) => {
            Err(schema::ValueError::Name(format!(
                "unknown provider `{name}`; known: {}",
                PROVIDER_NAMES.join(", ")
            )))
        }
        ["proxy", "profiles", name, _] if !valid_profile_name(name) => {
            Err(schema::ValueError::Name(format!(
                "profile name `{name}` must be letters, digits, `-` or `_`"
            )))
        }
        _ => Ok(()),
    }
}

/// Whether `name` can be a profile name.
pub fn valid_profile_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, Value)>) {
    match value {
        Value::Mapping(m) if !m.is_empty() || prefix.is_empty() => {
            for (k, v) in m {
                let k = match k {
                    Value::String(s) => s.clone(),
                    other => serde_yaml_ng::to_string(other)
                        .map(|s| s.trim().to_owned())
                        .unwrap_or_default(),
                };
                let key = if prefix.is_empty() {
                    k
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => out.push((prefix.to_owned(), other.clone())),
    }
}

fn remove_path(map: &mut Mapping, parts: &[&str]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return false;
    };
    if rest.is_empty() {
        return map.remove(*first).is_some();
    }
    let removed = match map.get_mut(*first) {
        Some(Value::Mapping(inner)) => {
            let removed = remove_path(inner, rest);
            if inner.is_empty() {
                map.remove(*first);
            }
            removed
        }
        _ => false,
    };
    removed
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests;
