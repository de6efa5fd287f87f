//! `config set KEY VALUE`: the value is parsed as YAML (like the reference), put at the dotted
//! key, and the whole file is checked against the schema before it is written atomically. A file
//! holding an inline secret is kept 0600.
use std::path::{Path, PathBuf};

use serde_yaml_ng::{Mapping, Value};

use super::validate::ConfigIssues;
use super::ServerConfig;

/// Why `config set` changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The key is empty or has an empty part.
    #[error("`{0}` is not a config key; use a dotted path such as server.port")]
    BadKey(String),
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not YAML.
    #[error("{path} is not valid YAML, so it was left alone: {source}")]
    Yaml {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        source: serde_yaml_ng::Error,
    },
    /// A part of the key is a value, not a section.
    #[error("cannot set `{key}`: `{parent}` is a value, not a section")]
    NotASection {
        /// The key given.
        key: String,
        /// The part that is a value.
        parent: String,
    },
    /// The key is not in the schema.
    #[error("unknown config key `{key}`{hint} (see `vibectl-server config show` for the keys)")]
    UnknownKey {
        /// The key given.
        key: String,
        /// A did-you-mean, or empty.
        hint: String,
    },
    /// The new file does not validate; nothing was written.
    #[error("not set, the result would be invalid: {0}")]
    Invalid(ConfigIssues),
    /// The value could not be encoded back to YAML.
    #[error("cannot encode the config: {0}")]
    Encode(serde_yaml_ng::Error),
    /// The file could not be written.
    #[error(transparent)]
    Write(#[from] vibectl_fsutil::WriteError),
}

/// Parses `text` as a YAML value; what is not YAML stays a string (the reference's fallback).
pub fn parse_value(text: &str) -> Value {
    serde_yaml_ng::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// Sets `key` to `value` (YAML text) in the config file at `path` (created when missing);
/// returns the value as stored.
pub fn set_key(path: &Path, key: &str, value: &str) -> Result<Value, EditError> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.trim().is_empty()) {
        return Err(EditError::BadKey(key.to_owned()));
    }
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(source) => {
            return Err(EditError::Read {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut root: Value = if text.trim().is_empty() {
        Value::Mapping(Mapping::new())
    } else {
        serde_yaml_ng::from_str(&text).map_err(|source| EditError::Yaml {
            path: path.to_path_buf(),
            source,
        })?
    };
    if root.is_null() {
        root = Value::Mapping(Mapping::new());
    }
    let parsed = parse_value(value);
    put(&mut root, &parts, parsed.clone(), key)?;
    let new_text = serde_yaml_ng::to_string(&root).map_err(EditError::Encode)?;
    check(&new_text, key, path)?;
    let mode = mode_for(path, &root);
    vibectl_fsutil::write_atomic(path, new_text, mode)?;
    Ok(parsed)
}

fn put(root: &mut Value, parts: &[&str], value: Value, key: &str) -> Result<(), EditError> {
    let mut at = root;
    for (i, part) in parts.iter().enumerate() {
        if at.is_null() {
            *at = Value::Mapping(Mapping::new());
        }
        let Value::Mapping(m) = at else {
            return Err(EditError::NotASection {
                key: key.to_owned(),
                parent: parts[..i].join("."),
            });
        };
        let k = Value::String((*part).to_owned());
        if i + 1 == parts.len() {
            m.insert(k, value);
            return Ok(());
        }
        at = m.entry(k).or_insert(Value::Null);
    }
    Ok(())
}

/// Schema check of the new text: types (with the key path), unknown keys, then validation.
fn check(text: &str, key: &str, path: &Path) -> Result<(), EditError> {
    let (cfg, warnings) = ServerConfig::parse(text).map_err(|mut issues| {
        issues.file = Some(path.to_path_buf());
        EditError::Invalid(issues)
    })?;
    // Unknown keys are warnings when loading; setting one is a mistake.
    if warnings.iter().any(|w| {
        let unknown = w.split(':').next().unwrap_or_default();
        unknown == key || key.starts_with(&format!("{unknown}.")) || unknown.starts_with(key)
    }) {
        return Err(EditError::UnknownKey {
            key: key.to_owned(),
            hint: hint(key),
        });
    }
    let errors = cfg.validate();
    if !errors.is_empty() {
        return Err(EditError::Invalid(ConfigIssues {
            file: Some(path.to_path_buf()),
            errors,
        }));
    }
    Ok(())
}

/// `; did you mean `server.port`?` from the keys of the default config.
fn hint(key: &str) -> String {
    let Ok(defaults) = serde_yaml_ng::to_value(ServerConfig::default()) else {
        return String::new();
    };
    let mut at = &defaults;
    let mut prefix = Vec::new();
    for part in key.split('.') {
        let Value::Mapping(m) = at else {
            return String::new();
        };
        match m.get(part) {
            Some(next) => {
                prefix.push(part.to_owned());
                at = next;
            }
            None => {
                let best = m
                    .keys()
                    .filter_map(Value::as_str)
                    .map(|k| (strsim::jaro_winkler(k, part), k))
                    .filter(|(score, _)| *score > 0.8)
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                return match best {
                    Some((_, k)) => {
                        prefix.push(k.to_owned());
                        format!("; did you mean `{}`?", prefix.join("."))
                    }
                    None => String::new(),
                };
            }
        }
    }
    String::new()
}

/// 0600 for a new file or one that holds an inline secret; otherwise the file's own mode.
fn mode_for(path: &Path, root: &Value) -> u32 {
    let existing = existing_mode(path);
    if holds_secret(root) {
        return existing.map_or(0o600, |m| m & 0o600);
    }
    existing.unwrap_or(0o600)
}

#[cfg(unix)]
fn existing_mode(path: &Path) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .ok()
        .map(|m| m.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn existing_mode(_path: &Path) -> Option<u32> {
    None
}

/// Whether the config carries a secret itself (not a file or variable naming one).
fn holds_secret(root: &Value) -> bool {
    let filled = |v: Option<&Value>| v.is_some_and(|v| !v.is_null());
    let jwt = root.get("jwt").and_then(|j| j.get("secret_key"));
    let providers = root
        .get("providers")
        .and_then(Value::as_mapping)
        .is_some_and(|m| m.values().any(|p| filled(p.get("api_key"))));
    filled(jwt) || providers
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn values_are_yaml_and_fall_back_to_strings() {
        assert_eq!(parse_value("6000"), Value::from(6000));
        assert_eq!(parse_value("true"), Value::Bool(true));
        assert_eq!(parse_value("[a, b]").as_sequence().map(Vec::len), Some(2));
        assert_eq!(parse_value("a: [b"), Value::String("a: [b".into()));
    }

    #[test]
    fn set_types_checks_and_keeps_secrets_private() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.yaml");
        set_key(&f, "server.port", "6000").unwrap();
        set_key(&f, "server.limits.global.max_requests_per_minute", "120").unwrap();
        let (cfg, _) = ServerConfig::parse(&std::fs::read_to_string(&f).unwrap()).unwrap();
        assert_eq!(cfg.server.port, 6000);
        assert_eq!(cfg.server.limits.global.max_requests_per_minute, Some(120));
        let e = set_key(&f, "server.port", "many").unwrap_err().to_string();
        assert!(e.contains("server.port"), "{e}");
        let e = set_key(&f, "server.prot", "1").unwrap_err().to_string();
        assert!(e.contains("did you mean `server.port`"), "{e}");
        let e = set_key(&f, "server.port.x", "1").unwrap_err().to_string();
        assert!(e.contains("`server.port` is a value"), "{e}");
        let e = set_key(&f, "server.log_level", "loud")
            .unwrap_err()
            .to_string();
        assert!(e.contains("server.log_level"), "{e}");
        set_key(
            &f,
            "jwt.secret_key",
            "s3cret-0123456789-0123456789-0123456789",
        )
        .unwrap();
        let e = set_key(&f, "jwt.secret_key", "short")
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least 32"), "a short secret is refused: {e}");
        #[cfg(unix)]
        assert_eq!(existing_mode(&f), Some(0o600));
        let (cfg, _) = ServerConfig::parse(&std::fs::read_to_string(&f).unwrap()).unwrap();
        assert_eq!(cfg.server.port, 6000, "failed sets changed nothing");
    }
}
