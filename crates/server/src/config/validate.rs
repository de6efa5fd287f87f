//! One validation pass over the config that reports every problem with its key path.
use std::fmt;
use std::path::PathBuf;

use super::limits::check_limits;
use super::{JwtSection, ServerConfig, TlsSection};

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

impl ServerConfig {
    /// Checks values that types alone cannot; returns every problem found.
    pub fn validate(&self) -> Vec<ConfigError> {
        let mut errs = self.http.validate();
        errs.extend(self.server.limits.models.validate());
        let s = &self.server;
        if s.host.trim().is_empty() {
            errs.push(ConfigError::new(
                "server.host",
                "must not be empty (e.g. `127.0.0.1`, `0.0.0.0` or `::1`)",
            ));
        }
        if crate::logging::normalise_level(&s.log_level).is_err() {
            errs.push(ConfigError::new(
                "server.log_level",
                format!(
                    "must be one of DEBUG, INFO, WARNING, ERROR (any case), trace or warn, got `{}`",
                    s.log_level
                ),
            ));
        }
        if s.max_workers.is_some_and(|n| !(1..=1024).contains(&n)) {
            errs.push(ConfigError::new(
                "server.max_workers",
                format!(
                    "must be between 1 and 1024 (runtime worker threads), got {}",
                    s.max_workers.unwrap_or(0)
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
        check_limits("server.limits.total", &s.limits.total, &mut errs);
        self.state.check(&mut errs);
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
        super::transport::check_transport(&s.connections, s.max_calls_in_flight, &mut errs);
        self.audit.check(&mut errs);
        check_jwt(&self.jwt, &mut errs);
        check_tls(&self.tls, &mut errs);
        self.acme.check(&self.tls, &mut errs);
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

const ALGORITHMS: &str = "HS256, HS384, HS512, RS256 or EdDSA";

fn check_jwt(j: &JwtSection, errs: &mut Vec<ConfigError>) {
    let alg = crate::auth::parse_algorithm(&j.algorithm);
    match alg {
        None => errs.push(ConfigError::new(
            "jwt.algorithm",
            format!("must be {ALGORITHMS}, got `{}`", j.algorithm),
        )),
        Some(a)
            if !crate::auth::is_symmetric(a)
                && j.private_key_file.is_none()
                && j.public_key_file.is_none() =>
        {
            errs.push(ConfigError::new(
                "jwt.public_key_file",
                format!(
                    "{} needs jwt.public_key_file (to verify) or jwt.private_key_file (to issue); \
                     create a pair with `vibectl-server generate-keypair`",
                    j.algorithm
                ),
            ))
        }
        _ => {}
    }
    check_hs_secrets(j, errs);
    if j.expiration_days == 0 && j.expiration_hours.is_none() {
        errs.push(ConfigError::new(
            "jwt.expiration_days",
            "must be >= 1, got 0",
        ));
    }
    if j.expiration_hours == Some(0) {
        errs.push(ConfigError::new(
            "jwt.expiration_hours",
            "must be >= 1, got 0",
        ));
    }
    if j.leeway_seconds > 600 {
        errs.push(ConfigError::new(
            "jwt.leeway_seconds",
            format!("must be at most 600 (10 minutes), got {}", j.leeway_seconds),
        ));
    }
    if !(512..=65_536).contains(&j.max_token_bytes) {
        errs.push(ConfigError::new(
            "jwt.max_token_bytes",
            format!("must be between 512 and 65536, got {}", j.max_token_bytes),
        ));
    }
    if !(50..=60_000).contains(&j.revocation_poll_ms) {
        errs.push(ConfigError::new(
            "jwt.revocation_poll_ms",
            format!("must be between 50 and 60000, got {}", j.revocation_poll_ms),
        ));
    }
    if j.audience.iter().any(|a| a.trim().is_empty()) {
        errs.push(ConfigError::new(
            "jwt.audience",
            "must not contain empty names",
        ));
    }
    for (i, k) in j.verification_keys.iter().enumerate() {
        let at = format!("jwt.verification_keys[{i}]");
        match crate::auth::parse_algorithm(&k.algorithm) {
            None => errs.push(ConfigError::new(
                format!("{at}.algorithm"),
                format!("must be {ALGORITHMS}, got `{}`", k.algorithm),
            )),
            Some(a) if crate::auth::is_symmetric(a) && k.secret_key_file.is_none() => errs.push(
                ConfigError::new(format!("{at}.secret_key_file"), "required for an HS* key"),
            ),
            Some(a) if !crate::auth::is_symmetric(a) && k.public_key_file.is_none() => {
                errs.push(ConfigError::new(
                    format!("{at}.public_key_file"),
                    "required for an RS256/EdDSA key",
                ))
            }
            _ => {}
        }
        if k.kid.as_deref().is_some_and(|s| s.trim().is_empty()) {
            errs.push(ConfigError::new(format!("{at}.kid"), "must not be empty"));
        }
    }
}

/// HS256 secrets this config names that are too short: the inline one, and the files that can
/// be read now (an unreadable file is reported when the server starts).
fn check_hs_secrets(j: &JwtSection, errs: &mut Vec<ConfigError>) {
    let short = |key: String, origin: &str, len: usize, errs: &mut Vec<ConfigError>| {
        if let Some(why) = crate::auth::short_secret(origin, len) {
            errs.push(ConfigError::new(key, why));
        }
    };
    let file_len = |p: &std::path::Path| {
        crate::auth::read_secret_file(p)
            .ok()
            .map(|s| s.expose().len())
    };
    if let Some(s) = j
        .secret_key
        .as_ref()
        .map(|s| s.expose().trim().len())
        .filter(|n| *n > 0)
    {
        short("jwt.secret_key".into(), "config jwt.secret_key", s, errs);
    } else if let Some(n) = j.secret_key_file.as_deref().and_then(file_len) {
        short(
            "jwt.secret_key_file".into(),
            "config jwt.secret_key_file",
            n,
            errs,
        );
    }
    for (i, k) in j.verification_keys.iter().enumerate() {
        let alg = crate::auth::parse_algorithm(&k.algorithm);
        if alg.is_some_and(crate::auth::is_symmetric) {
            if let Some(n) = k.secret_key_file.as_deref().and_then(file_len) {
                let key = format!("jwt.verification_keys[{i}].secret_key_file");
                short(key.clone(), &key, n, errs);
            }
        }
    }
}

fn check_tls(t: &TlsSection, errs: &mut Vec<ConfigError>) {
    if t.cert_file.is_some() != t.key_file.is_some() {
        let missing = if t.cert_file.is_none() {
            "tls.cert_file"
        } else {
            "tls.key_file"
        };
        errs.push(ConfigError::new(
            missing,
            "tls.cert_file and tls.key_file go together",
        ));
    }
    if !matches!(t.min_version.as_str(), "1.2" | "1.3") {
        errs.push(ConfigError::new(
            "tls.min_version",
            format!("must be \"1.3\" or \"1.2\", got `{}`", t.min_version),
        ));
    }
    let self_signed = t.auto || (t.enabled && t.cert_file.is_none() && t.key_file.is_none());
    if self_signed && t.hostnames.iter().all(|h| h.trim().is_empty()) {
        errs.push(ConfigError::new(
            "tls.hostnames",
            "a self-signed certificate (tls.auto, or tls.enabled without cert_file/key_file) needs at \
             least one host name or address (e.g. [localhost, 127.0.0.1])",
        ));
    }
    if t.hsts.enabled && t.hsts.max_age == 0 {
        errs.push(ConfigError::new(
            "tls.hsts.max_age",
            "must be >= 1 when HSTS is enabled",
        ));
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
    fn jwt_and_tls_problems_name_their_keys() {
        let (cfg, w) = ServerConfig::parse(
            "jwt:\n  algorithm: none\n  leeway_seconds: 9999\n  audience: vibectl\n  verification_keys:\n    - {kid: old, algorithm: RS256}\ntls:\n  enabled: true\n  cert_file: a.crt\n  min_version: '1.1'\n  hsts: null\n",
        )
        .unwrap();
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(cfg.jwt.audience, vec!["vibectl".to_owned()]);
        let errs = cfg.validate();
        let paths: Vec<_> = errs.iter().map(|e| e.path.as_str()).collect();
        for p in [
            "jwt.algorithm",
            "jwt.leeway_seconds",
            "jwt.verification_keys[0].public_key_file",
            "tls.min_version",
            "tls.key_file",
        ] {
            assert!(paths.contains(&p), "{p} missing from {paths:?}");
        }
        let (cfg, _) = ServerConfig::parse("jwt: {algorithm: EdDSA}\n").unwrap();
        assert_eq!(cfg.validate()[0].path, "jwt.public_key_file");
    }

    #[test]
    fn type_errors_name_the_key_and_unknown_keys_warn() {
        let err = ServerConfig::parse("server:\n  port: many\n").unwrap_err();
        assert_eq!(err.errors[0].path, "server.port");
        let (_, warnings) = ServerConfig::parse("server:\n  prot: 1\n").unwrap();
        assert!(warnings[0].starts_with("server.prot"), "{warnings:?}");
    }

    #[test]
    fn secrets_in_the_config_never_show_in_debug_output() {
        let (cfg, _) = ServerConfig::parse(
            "jwt: {secret_key: jwt-SECRET-1}\nproviders:\n  openai: {api_key: sk-SECRET-2}\n",
        )
        .unwrap();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("SECRET"), "{shown}");
        let shown = format!("{:?}", cfg.validate());
        assert!(!shown.contains("SECRET"), "{shown}");
        let key = cfg.providers["openai"].api_key.as_ref().unwrap();
        assert_eq!(key.expose(), "sk-SECRET-2");
    }

    #[test]
    fn short_hs256_secrets_are_refused_with_the_fix() {
        let (cfg, _) = ServerConfig::parse("jwt: {secret_key: a}\n").unwrap();
        let errs = cfg.validate();
        let e = errs.iter().find(|e| e.path == "jwt.secret_key").unwrap();
        assert!(
            e.message.contains("at least 32") && e.message.contains("openssl rand"),
            "{e}"
        );
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("s");
        std::fs::write(&f, "tiny\n").unwrap();
        let text = format!(
            "jwt:\n  secret_key_file: {0}\n  verification_keys:\n    - {{algorithm: HS256, secret_key_file: {0}}}\n",
            f.display()
        );
        let (cfg, _) = ServerConfig::parse(&text).unwrap();
        let paths: Vec<String> = cfg.validate().into_iter().map(|e| e.path).collect();
        assert!(
            paths.contains(&"jwt.secret_key_file".to_owned()),
            "{paths:?}"
        );
        assert!(
            paths.contains(&"jwt.verification_keys[0].secret_key_file".to_owned()),
            "{paths:?}"
        );
        let (cfg, _) =
            ServerConfig::parse(&format!("jwt: {{secret_key: {}}}\n", "k".repeat(32))).unwrap();
        assert!(cfg.validate().is_empty());
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
