//! One validation pass over the config that reports every problem with its key path.
use std::fmt;
use std::path::PathBuf;

use super::{Limits, ServerConfig};

/// One problem, with the key it concerns and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// Dotted key path, e.g. `server.limits.global.max_requests_per_minute`.
    pub path: String,
    /// What is wrong, what was expected, and an example.
    pub message: String,
}

impl ConfigError {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every problem found in one config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigIssues {
    /// The file they are in, when known.
    pub file: Option<PathBuf>,
    /// The problems.
    pub errors: Vec<ConfigError>,
}

impl ConfigIssues {
    /// One problem.
    pub fn single(file: Option<PathBuf>, error: ConfigError) -> Self {
        ConfigIssues {
            file,
            errors: vec![error],
        }
    }
}

impl fmt::Display for ConfigIssues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.file {
            Some(p) => writeln!(f, "invalid configuration in {}:", p.display())?,
            None => writeln!(f, "invalid configuration:")?,
        }
        for e in &self.errors {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigIssues {}

const LOG_LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];

impl ServerConfig {
    /// Checks values that types alone cannot; returns every problem found.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errs = Vec::new();
        let s = &self.server;
        if s.host.trim().is_empty() {
            errs.push(ConfigError::new(
                "server.host",
                "must not be empty (e.g. `127.0.0.1`, `0.0.0.0` or `::1`)",
            ));
        }
        if !LOG_LEVELS.contains(&s.log_level.to_ascii_lowercase().as_str()) {
            errs.push(ConfigError::new(
                "server.log_level",
                format!(
                    "must be one of {}, got `{}`",
                    LOG_LEVELS.join(", "),
                    s.log_level
                ),
            ));
        }
        if s.shutdown_grace_seconds > 3600 {
            errs.push(ConfigError::new(
                "server.shutdown_grace_seconds",
                format!("must be at most 3600, got {}", s.shutdown_grace_seconds),
            ));
        }
        if s.default_model
            .as_deref()
            .is_some_and(|m| m.trim().is_empty())
        {
            errs.push(ConfigError::new(
                "server.default_model",
                "must not be empty; remove the key to have no default",
            ));
        }
        check_limits("server.limits.global", &s.limits.global, &mut errs);
        for (subject, limits) in &s.limits.per_token {
            check_limits(
                &format!("server.limits.per_token.{subject}"),
                limits,
                &mut errs,
            );
        }
        if self.jwt.issuer.trim().is_empty() {
            errs.push(ConfigError::new(
                "jwt.issuer",
                "must not be empty (default `vibectl-server`)",
            ));
        }
        if self.tls.enabled && (self.tls.cert_file.is_none() || self.tls.key_file.is_none()) {
            errs.push(ConfigError::new(
                "tls",
                "tls.enabled needs both tls.cert_file and tls.key_file (PEM files)",
            ));
        }
        for (name, p) in &self.providers {
            let at = format!("providers.{name}");
            if let Some(url) = &p.base_url {
                if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() < 10 {
                    errs.push(ConfigError::new(
                        format!("{at}.base_url"),
                        format!("must be an http(s) URL such as `https://api.openai.com/v1` or `http://127.0.0.1:11434/v1`, got `{url}`"),
                    ));
                }
            }
            if p.wire.is_none() && !matches!(name.as_str(), "anthropic" | "openai" | "ollama") {
                errs.push(ConfigError::new(
                    format!("{at}.wire"),
                    "required for a custom provider: one of anthropic, openai, openai_compatible",
                ));
            }
            if p.wire
                .is_some_and(|w| w != vibectl_llm::WireFormat::Anthropic)
                && p.base_url.is_none()
                && !matches!(name.as_str(), "openai" | "ollama")
            {
                errs.push(ConfigError::new(
                    format!("{at}.base_url"),
                    "required for a custom provider (e.g. `http://vllm.internal:8000/v1`)",
                ));
            }
            if p.max_retries.is_some_and(|r| r > 10) {
                errs.push(ConfigError::new(
                    format!("{at}.max_retries"),
                    "must be between 0 and 10",
                ));
            }
        }
        errs
    }
}

fn check_limits(at: &str, l: &Limits, errs: &mut Vec<ConfigError>) {
    for (key, v) in [
        ("max_requests_per_minute", l.max_requests_per_minute),
        ("max_concurrent_requests", l.max_concurrent_requests),
        ("max_input_length", l.max_input_length),
        ("request_timeout_seconds", l.request_timeout_seconds),
    ] {
        if v == Some(0) {
            errs.push(ConfigError::new(
                format!("{at}.{key}"),
                "must be >= 1, got 0 (remove the key for no limit)",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let (cfg, _) = ServerConfig::parse(
            "server:\n  log_level: loud\n  limits:\n    global: {max_requests_per_minute: 0}\n    per_token:\n      alice: {max_concurrent_requests: 0}\nproviders:\n  vllm: {base_url: 'ftp://x'}\n",
        )
        .unwrap();
        let errs = cfg.validate();
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        assert!(paths.contains(&"server.log_level"), "{paths:?}");
        assert!(paths.contains(&"server.limits.global.max_requests_per_minute"));
        assert!(paths.contains(&"server.limits.per_token.alice.max_concurrent_requests"));
        assert!(paths.contains(&"providers.vllm.base_url"));
        assert!(paths.contains(&"providers.vllm.wire"));
    }

    #[test]
    fn type_errors_name_the_key_and_unknown_keys_warn() {
        let err = ServerConfig::parse("server:\n  port: many\n").unwrap_err();
        assert_eq!(err.errors[0].path, "server.port");
        let (_, warnings) = ServerConfig::parse("server:\n  prot: 1\n").unwrap();
        assert!(warnings[0].starts_with("server.prot"), "{warnings:?}");
    }

    #[test]
    fn reference_config_loads() {
        let text = "server:\n  host: 0.0.0.0\n  port: 50051\n  max_workers: 10\n  default_model: null\n  limits:\n    global: {max_requests_per_minute: null, max_concurrent_requests: null, max_input_length: null, request_timeout_seconds: null}\n    per_token: {}\njwt:\n  enabled: false\n  secret_key: null\n  algorithm: HS256\n  expiration_hours: 24\ntls:\n  enabled: false\n  cert_file: null\n  key_file: null\n  ca_bundle_file: null\n  hsts: {enabled: false, max_age: 31536000, include_subdomains: true, preload: false}\nacme:\n  enabled: false\n  email: null\n  domains: []\n";
        let (cfg, warnings) = ServerConfig::parse(text).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(cfg.validate().is_empty());
        assert_eq!(cfg.server.host, "0.0.0.0");
    }
}
