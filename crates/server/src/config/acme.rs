//! `acme:`: the reference's keys for a certificate from an ACME CA (Let's Encrypt by default),
//! typed and checked. The certificate work itself is `tls::acme`.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::validate::ConfigError;
use super::{null_is_default, TlsSection};

/// Let's Encrypt's production directory, the reference's default.
pub const LETSENCRYPT_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";

/// `acme:` (reference keys and meanings).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct AcmeSection {
    /// Get the listener's certificate from the ACME CA (implies TLS).
    pub enabled: bool,
    /// Account contact address given to the CA.
    pub email: Option<String>,
    /// Names the certificate is for; the first names the stored files.
    #[serde(deserialize_with = "null_is_default")]
    pub domains: Vec<String>,
    /// The CA's directory URL.
    #[serde(deserialize_with = "null_is_default_url")]
    pub directory_url: String,
    /// How the CA checks that we control the names.
    #[serde(deserialize_with = "null_is_default")]
    pub challenge: AcmeChallenge,
    /// Where http-01 answers are also written as files (relative to the state dir), for a
    /// web server in front that serves that directory itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub challenge_dir: Option<PathBuf>,
    /// Renew the certificate while running (off: only at start, when missing or due).
    pub auto_renew: bool,
    /// Renew when this many days are left (at the latest at two thirds of the lifetime, and
    /// never in its first third).
    pub renew_days_before_expiry: u32,
    /// PEM CA bundle trusted for the directory's own HTTPS (a test or private CA).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_cert_file: Option<PathBuf>,
}

impl Default for AcmeSection {
    fn default() -> Self {
        AcmeSection {
            enabled: false,
            email: None,
            domains: Vec::new(),
            directory_url: LETSENCRYPT_PRODUCTION.into(),
            challenge: AcmeChallenge::default(),
            challenge_dir: Some(PathBuf::from(".well-known/acme-challenge")),
            auto_renew: true,
            renew_days_before_expiry: 30,
            ca_cert_file: None,
        }
    }
}

fn null_is_default_url<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_else(|| LETSENCRYPT_PRODUCTION.into()))
}

/// `acme.challenge`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct AcmeChallenge {
    /// `http-01` (default), `tls-alpn-01` or `dns-01` (refused: not built).
    #[serde(rename = "type")]
    pub kind: ChallengeKind,
    /// Address the http-01 listener binds.
    pub http_host: String,
    /// Port the http-01 listener binds (the CA always asks port 80; forward it here).
    pub http_port: u16,
}

impl Default for AcmeChallenge {
    fn default() -> Self {
        AcmeChallenge {
            kind: ChallengeKind::Http01,
            http_host: "0.0.0.0".into(),
            http_port: 80,
        }
    }
}

/// The ACME challenge types of the reference.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChallengeKind {
    /// A token served over plain HTTP on port 80.
    #[default]
    #[serde(rename = "http-01")]
    Http01,
    /// A special certificate on the TLS port, for ALPN `acme-tls/1`.
    #[serde(rename = "tls-alpn-01")]
    TlsAlpn01,
    /// A DNS TXT record (the reference asks the operator to create it by hand).
    #[serde(rename = "dns-01")]
    Dns01,
}

impl ChallengeKind {
    /// The name used in the config and by the CA.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeKind::Http01 => "http-01",
            ChallengeKind::TlsAlpn01 => "tls-alpn-01",
            ChallengeKind::Dns01 => "dns-01",
        }
    }
}

/// Whether `d` is a host name a CA can issue for with http-01/tls-alpn-01 (no wildcard, no IP).
fn valid_domain(d: &str) -> bool {
    d.len() <= 253
        && d.parse::<std::net::IpAddr>().is_err()
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

impl AcmeSection {
    /// Checks the section when it is enabled; every problem names its key.
    pub fn check(&self, tls: &TlsSection, errs: &mut Vec<ConfigError>) {
        if !self.enabled {
            return;
        }
        match self.email.as_deref().map(str::trim) {
            None | Some("") => errs.push(ConfigError::new(
                "acme.email",
                "ACME enabled but no email provided: set acme.email (e.g. `ops@example.com`); the CA sends expiry notices there",
            )),
            Some(e) if !e.contains('@') || e.contains(char::is_whitespace) => errs.push(ConfigError::new(
                "acme.email",
                format!("must be an email address such as `ops@example.com`, got `{e}`"),
            )),
            Some(_) => {}
        }
        if self.domains.is_empty() {
            errs.push(ConfigError::new(
                "acme.domains",
                "ACME enabled but no domains provided: list the names clients connect to, e.g. `[llm.example.com]`",
            ));
        }
        for (i, d) in self.domains.iter().enumerate() {
            if !valid_domain(d) {
                errs.push(ConfigError::new(
                    format!("acme.domains[{i}]"),
                    format!("`{d}` is not a host name a CA can issue for with http-01 or tls-alpn-01 (no wildcards, no IP addresses), e.g. `llm.example.com`"),
                ));
            }
            if self.domains[..i].iter().any(|o| o.eq_ignore_ascii_case(d)) {
                errs.push(ConfigError::new(
                    format!("acme.domains[{i}]"),
                    format!("`{d}` is listed twice"),
                ));
            }
        }
        let url = self.directory_url.as_str();
        if !(url.starts_with("https://") || url.starts_with("http://")) || url.len() < 12 {
            errs.push(ConfigError::new(
                "acme.directory_url",
                format!(
                    "must be the CA's directory URL, e.g. `{LETSENCRYPT_PRODUCTION}`, got `{url}`"
                ),
            ));
        }
        match self.challenge.kind {
            ChallengeKind::Dns01 => errs.push(ConfigError::new(
                "acme.challenge.type",
                "dns-01 is not supported by this server (it would need a DNS provider API); use `http-01` (port 80 reachable) or `tls-alpn-01` (the serving port reachable as 443)",
            )),
            ChallengeKind::Http01 if self.challenge.http_port == 0 => errs.push(ConfigError::new(
                "acme.challenge.http_port",
                "must be a fixed port (default 80; the CA connects to port 80, forward it here)",
            )),
            ChallengeKind::Http01 if self.challenge.http_host.trim().is_empty() => {
                errs.push(ConfigError::new(
                    "acme.challenge.http_host",
                    "must not be empty (default `0.0.0.0`)",
                ))
            }
            ChallengeKind::TlsAlpn01 if tls.client_ca_file.is_some() => errs.push(ConfigError::new(
                "acme.challenge.type",
                "tls-alpn-01 cannot be validated while tls.client_ca_file requires client certificates (the CA has none); use `http-01`",
            )),
            _ => {}
        }
        if self.renew_days_before_expiry > 365 {
            errs.push(ConfigError::new(
                "acme.renew_days_before_expiry",
                format!("must be at most 365, got {}", self.renew_days_before_expiry),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(yaml: &str) -> Vec<String> {
        let a: AcmeSection = serde_yaml_ng::from_str(yaml).unwrap_or_default();
        let mut errs = Vec::new();
        a.check(&TlsSection::default(), &mut errs);
        errs.into_iter().map(|e| e.to_string()).collect()
    }

    #[test]
    fn reference_defaults_load_with_nulls() {
        let a: AcmeSection = serde_yaml_ng::from_str(
            "enabled: false\nemail: null\ndomains: []\ndirectory_url: null\nchallenge: {type: tls-alpn-01}\nchallenge_dir: .well-known/acme-challenge\nauto_renew: true\nrenew_days_before_expiry: 30\n",
        )
        .unwrap_or_default();
        assert_eq!(a.directory_url, LETSENCRYPT_PRODUCTION);
        assert_eq!(a.challenge.kind, ChallengeKind::TlsAlpn01);
        assert_eq!(a.challenge.http_port, 80);
        assert!(errors("enabled: false\n").is_empty());
    }

    #[test]
    fn enabled_needs_email_and_valid_domains() {
        let e = errors("enabled: true\n");
        assert!(e.iter().any(|m| m.starts_with("acme.email:")), "{e:?}");
        assert!(e.iter().any(|m| m.starts_with("acme.domains:")), "{e:?}");
        let e = errors("enabled: true\nemail: a@b.c\ndomains: ['*.example.com', 10.0.0.1, ok.example.com, OK.example.com]\n");
        assert_eq!(
            e.iter().filter(|m| m.starts_with("acme.domains[")).count(),
            3,
            "{e:?}"
        );
    }

    #[test]
    fn dns01_is_refused_with_the_alternatives() {
        let e = errors(
            "enabled: true\nemail: a@b.c\ndomains: [x.example.com]\nchallenge: {type: dns-01}\n",
        );
        assert!(
            e.iter()
                .any(|m| m.contains("acme.challenge.type") && m.contains("http-01")),
            "{e:?}"
        );
    }

    #[test]
    fn unknown_challenge_type_is_refused() {
        let e = serde_yaml_ng::from_str::<AcmeSection>("challenge: {type: http-02}\n");
        assert!(e.is_err_and(|e| e.to_string().contains("tls-alpn-01")));
    }
}
