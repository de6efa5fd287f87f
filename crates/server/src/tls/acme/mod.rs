//! `acme.*`: the listener's certificate from an ACME CA (RFC 8555) through instant-acme.
//!
//! [`Acme::start`] loads the stored certificate (`<state>/acme/<first domain>.crt`, key 0600)
//! or, until the first one arrives, serves a temporary self-signed one (or `tls.cert_file`),
//! and binds the http-01 listener. [`Acme::run`] then orders and renews: at
//! [`store::renew_at`] (two thirds of the lifetime by default), retrying failures with jittered
//! exponential backoff. A new certificate is swapped into the [`resolver::AcmeResolver`]:
//! connections already open keep theirs, new handshakes get the new one.
mod account;
mod http01;
mod order;
mod resolver;
mod store;

pub use resolver::ACME_TLS_ALPN;
pub use store::renew_at;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use instant_acme::Account;

use crate::auth::unix_now;
use crate::config::{AcmeSection, ChallengeKind, ServerConfig};

/// Why getting a certificate failed; each names the cause and what to check.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The CA could not be reached (network, DNS, TLS trust).
    #[error("ACME directory {directory} unreachable while {step}: {reason} (check acme.directory_url, DNS and outbound HTTPS; a private or test CA needs acme.ca_cert_file)")]
    DirectoryUnreachable {
        /// The directory URL.
        directory: String,
        /// What was being done.
        step: &'static str,
        /// The transport's error.
        reason: String,
    },
    /// The CA refused for rate limits.
    #[error("rate limited by the ACME CA {directory} while {step}: {detail} (retrying with backoff; Let's Encrypt's limits: https://letsencrypt.org/docs/rate-limits/)")]
    RateLimited {
        /// The directory URL.
        directory: String,
        /// What was being done.
        step: &'static str,
        /// The CA's problem document.
        detail: String,
    },
    /// The CA could not validate a name.
    #[error("{kind} challenge for {domain} failed: {reason}")]
    ChallengeFailed {
        /// The name.
        domain: String,
        /// The challenge type.
        kind: &'static str,
        /// The CA's own reason.
        reason: String,
    },
    /// The CA does not offer the configured challenge type.
    #[error("the CA offers no {kind} challenge for {domain} (it offers {offered}): change acme.challenge.type")]
    NoChallenge {
        /// The name.
        domain: String,
        /// The challenge type asked for.
        kind: &'static str,
        /// What the CA offers.
        offered: String,
    },
    /// Any other refusal by the CA.
    #[error("the ACME CA {directory} refused while {step}: {detail}")]
    Refused {
        /// The directory URL.
        directory: String,
        /// What was being done.
        step: &'static str,
        /// The CA's problem document.
        detail: String,
    },
    /// dns-01 was asked for.
    #[error("acme.challenge.type dns-01 is not supported: use http-01 or tls-alpn-01")]
    Dns01Unsupported,
    /// A config value cannot be used.
    #[error("{key}: {reason}")]
    Config {
        /// The key.
        key: &'static str,
        /// Why.
        reason: String,
    },
    /// A certificate or key cannot be made or used.
    #[error("{0}")]
    BadCertificate(String),
    /// The http-01 listener cannot bind.
    #[error("the http-01 listener cannot bind {addr} (acme.challenge.http_host/acme.challenge.http_port): {source}; ports below 1024 need root or CAP_NET_BIND_SERVICE, or forward port 80 to a higher acme.challenge.http_port")]
    HttpBind {
        /// host:port.
        addr: String,
        /// The bind error.
        source: std::io::Error,
    },
    /// A file cannot be written.
    #[error(transparent)]
    Write(#[from] vibectl_fsutil::WriteError),
}

impl AcmeError {
    fn rate_limited(&self) -> bool {
        matches!(self, AcmeError::RateLimited { .. })
    }
}

/// Turns a client error during `step` into the cause the operator can act on.
pub(crate) fn classify(directory: &str, step: &'static str, e: instant_acme::Error) -> AcmeError {
    let directory = directory.to_owned();
    match e {
        instant_acme::Error::Api(p) => {
            let detail = p.to_string();
            if p.r#type
                .as_deref()
                .is_some_and(|t| t.ends_with(":rateLimited"))
            {
                AcmeError::RateLimited {
                    directory,
                    step,
                    detail,
                }
            } else {
                AcmeError::Refused {
                    directory,
                    step,
                    detail,
                }
            }
        }
        instant_acme::Error::Hyper(_)
        | instant_acme::Error::Http(_)
        | instant_acme::Error::Other(_)
        | instant_acme::Error::InvalidUri(_) => AcmeError::DirectoryUnreachable {
            directory,
            step,
            reason: error_chain(&e),
        },
        other => AcmeError::Refused {
            directory,
            step,
            detail: error_chain(&other),
        },
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        let t = inner.to_string();
        if !s.contains(&t) {
            s.push_str(": ");
            s.push_str(&t);
        }
        src = inner.source();
    }
    s
}

/// The first retry waits this long; each failure doubles it.
const RETRY_BASE: Duration = Duration::from_secs(30);
/// Retries wait at most this long.
const RETRY_MAX: Duration = Duration::from_secs(6 * 3600);
/// After a rate limit the wait is at least this long.
const RATE_LIMITED_MIN: Duration = Duration::from_secs(3600);

/// The wait before retry number `failures` (1 = after the first failure), ±20 % jitter so that
/// replicas do not retry in step.
pub fn retry_delay(failures: u32, rate_limited: bool, jitter: f64) -> Duration {
    let exp = RETRY_BASE.saturating_mul(1u32 << failures.saturating_sub(1).min(16));
    let mut d = exp.min(RETRY_MAX);
    if rate_limited {
        d = d.max(RATE_LIMITED_MIN);
    }
    d.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0))
}

/// The ACME-managed certificate of one listener.
pub struct Acme {
    cfg: AcmeSection,
    dir: PathBuf,
    challenge_dir: Option<PathBuf>,
    cert_path: PathBuf,
    key_path: PathBuf,
    resolver: Arc<resolver::AcmeResolver>,
    server_config: Arc<rustls::ServerConfig>,
    tokens: http01::Tokens,
    issued: Mutex<Option<store::Issued>>,
}

impl std::fmt::Debug for Acme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acme")
            .field("domains", &self.cfg.domains)
            .field("directory", &self.cfg.directory_url)
            .field("challenge", &self.cfg.challenge.kind)
            .finish_non_exhaustive()
    }
}

impl Acme {
    /// Loads the stored certificate (or makes the temporary one), builds the TLS config and
    /// binds the http-01 listener. Orders nothing yet: that is [`Acme::run`].
    pub async fn start(cfg: &ServerConfig, state_dir: &Path) -> Result<Arc<Acme>, AcmeError> {
        // instant-acme's default client asks rustls for the process default provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let a = &cfg.acme;
        // Checked here rather than by `config validate`: example configs name files of the
        // machine they are deployed on (a mounted CA), and must validate anywhere.
        if let Some(p) = a.ca_cert_file.as_deref().filter(|p| !p.is_file()) {
            return Err(AcmeError::Config {
                key: "acme.ca_cert_file",
                reason: format!(
                    "{} is not a readable file (a PEM CA bundle for the directory's HTTPS)",
                    p.display()
                ),
            });
        }
        let dir = state_dir.join(store::ACME_DIR);
        let (cert_path, key_path) = store::paths(state_dir, &a.domains);
        let valid = store::load(&cert_path, &key_path)
            .filter(|i| i.covers(&a.domains) && i.not_after > unix_now() as i64);
        // A certificate from another directory (say the staging CA) is only served until this
        // directory's arrives.
        let other_ca = store::issued_by(&cert_path).filter(|d| *d != a.directory_url);
        let (stored, foreign) = match (valid, other_ca) {
            (Some(i), Some(d)) => {
                tracing::info!(cert = %cert_path.display(), issued_by = %d, "the stored ACME certificate is from another directory: serving it until the new one arrives");
                (None, Some(i))
            }
            (v, _) => (v, None),
        };
        let initial = match (&stored, &foreign, &cfg.tls.cert_file, &cfg.tls.key_file) {
            (None, Some(f), _, _) => Arc::clone(&f.certified),
            (Some(i), _, _, _) => {
                tracing::info!(
                    cert = %cert_path.display(), serial = %i.serial,
                    renews_at = i.renew_at(a.renew_days_before_expiry),
                    "using the stored ACME certificate"
                );
                Arc::clone(&i.certified)
            }
            (None, None, Some(c), Some(k)) => {
                let read = |p: &Path| {
                    std::fs::read_to_string(p).map_err(|e| AcmeError::Config {
                        key: "tls.cert_file",
                        reason: format!("cannot read {}: {e}", p.display()),
                    })
                };
                let i =
                    store::Issued::parse(read(c)?, read(k)?).map_err(|e| AcmeError::Config {
                        key: "tls.cert_file",
                        reason: format!("{} / {}: {e}", c.display(), k.display()),
                    })?;
                tracing::info!(cert = %c.display(), "serving tls.cert_file until the ACME certificate arrives");
                i.certified
            }
            _ => {
                tracing::info!("serving a temporary self-signed certificate until the ACME certificate arrives");
                resolver::temporary_cert(&a.domains)?
            }
        };
        let resolver = Arc::new(resolver::AcmeResolver::new(initial));
        let mut server_config = super::config_builder(
            cfg.tls.min_version == "1.2",
            cfg.tls.client_ca_file.as_deref(),
        )
        .map_err(|e| AcmeError::Config {
            key: "tls.client_ca_file",
            reason: e.to_string(),
        })?
        .with_cert_resolver(Arc::clone(&resolver) as Arc<dyn rustls::server::ResolvesServerCert>);
        // As tls::server_config: h2 for gRPC and HTTP/2, http/1.1 for the HTTP APIs.
        server_config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        if a.challenge.kind == ChallengeKind::TlsAlpn01 {
            server_config.alpn_protocols.push(ACME_TLS_ALPN.to_vec());
        }
        let tokens = http01::Tokens::default();
        match a.challenge.kind {
            ChallengeKind::Http01 => {
                let at = http01::start(
                    &a.challenge.http_host,
                    a.challenge.http_port,
                    tokens.clone(),
                )
                .await?;
                tracing::info!(addr = %at, "http-01 challenge listener ready");
            }
            ChallengeKind::TlsAlpn01 => {}
            ChallengeKind::Dns01 => return Err(AcmeError::Dns01Unsupported),
        }
        let challenge_dir = match (a.challenge.kind, &a.challenge_dir) {
            (ChallengeKind::Http01, Some(d)) => Some(state_dir.join(d)),
            _ => None,
        };
        Ok(Arc::new(Acme {
            cfg: a.clone(),
            dir,
            challenge_dir,
            cert_path,
            key_path,
            resolver,
            server_config: Arc::new(server_config),
            tokens,
            issued: Mutex::new(stored),
        }))
    }

    /// The rustls config of the listener (its resolver follows renewals).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.server_config)
    }

    fn due(&self) -> Option<i64> {
        let g = self.issued.lock().ok()?;
        g.as_ref()
            .map(|i| i.renew_at(self.cfg.renew_days_before_expiry))
    }

    /// Orders the certificate when there is none and renews it when due, forever.
    pub async fn run(self: Arc<Self>) {
        let mut account: Option<Account> = None;
        let mut failures = 0u32;
        // With auto_renew off, a stored certificate already due is still renewed at start.
        let mut have_fresh = self.due().is_some_and(|at| at > unix_now() as i64);
        loop {
            let now = unix_now() as i64;
            match self.due() {
                Some(_) if have_fresh && !self.cfg.auto_renew => {
                    tracing::info!("acme.auto_renew is false: the certificate is renewed at the next start when due");
                    return;
                }
                Some(at) if at > now => {
                    // Wake at least hourly so a changed wall clock is noticed.
                    let wait = u64::try_from(at - now).unwrap_or(0).min(3600);
                    tokio::time::sleep(Duration::from_secs(wait.max(1))).await;
                    continue;
                }
                _ => {}
            }
            match self.order(&mut account).await {
                Ok(i) => {
                    failures = 0;
                    have_fresh = true;
                    tracing::info!(
                        domains = %self.cfg.domains.join(","), serial = %i.serial,
                        not_after = i.not_after,
                        renews_at = i.renew_at(self.cfg.renew_days_before_expiry),
                        cert = %self.cert_path.display(),
                        "ACME certificate issued; new connections use it"
                    );
                }
                Err(e) => {
                    failures += 1;
                    let wait = retry_delay(failures, e.rate_limited(), rand::random::<f64>());
                    tracing::error!(
                        attempt = failures,
                        retry_in_seconds = wait.as_secs(),
                        "ACME certificate order failed: {e}"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn order(&self, account: &mut Option<Account>) -> Result<store::Issued, AcmeError> {
        let acc = match account {
            Some(a) => a,
            None => account.insert(account::load_or_create(&self.cfg, &self.dir).await?),
        };
        let at = order::Responders {
            tokens: &self.tokens,
            resolver: &self.resolver,
            challenge_dir: self.challenge_dir.clone(),
        };
        let issued = order::issue(
            acc,
            &self.cfg.directory_url,
            &self.cfg.domains,
            self.cfg.challenge.kind,
            &at,
        )
        .await?;
        store::save(
            &self.cert_path,
            &self.key_path,
            &issued,
            &self.cfg.directory_url,
        )?;
        self.resolver.set_current(Arc::clone(&issued.certified));
        if let Ok(mut g) = self.issued.lock() {
            *g = Some(issued.clone());
        }
        Ok(issued)
    }
}

impl super::ConfigProvider for Acme {
    fn current(&self) -> Arc<rustls::ServerConfig> {
        self.server_config()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_with_jitter_and_a_cap() {
        assert_eq!(retry_delay(1, false, 0.5), Duration::from_secs(30));
        assert_eq!(retry_delay(2, false, 0.5), Duration::from_secs(60));
        assert_eq!(retry_delay(1, false, 0.0), Duration::from_secs(24));
        assert_eq!(retry_delay(1, false, 1.0), Duration::from_secs(36));
        assert_eq!(retry_delay(40, false, 0.5), RETRY_MAX);
        assert_eq!(retry_delay(1, true, 0.5), RATE_LIMITED_MIN);
    }

    #[test]
    fn rate_limit_problems_are_told_apart() {
        let p: instant_acme::Problem = serde_json::from_str(
            r#"{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many certificates","status":429}"#,
        )
        .unwrap_or_else(|_| unreachable!());
        let e = classify(
            "https://ca/dir",
            "creating the order",
            instant_acme::Error::Api(p),
        );
        assert!(e.rate_limited());
        assert!(e.to_string().contains("too many certificates"), "{e}");
    }
}
