//! The certificate on disk (`<state>/acme/<first domain>.{crt,key}`), what it covers, and when it
//! is due for renewal.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use vibectl_fsutil::write_atomic;

use super::AcmeError;

/// Directory (inside the state dir) of the account and the certificates.
pub const ACME_DIR: &str = "acme";

/// A certificate chain with its key, parsed.
#[derive(Clone)]
pub struct Issued {
    /// PEM chain, leaf first.
    pub chain_pem: String,
    /// PEM private key.
    pub key_pem: String,
    /// For rustls.
    pub certified: Arc<CertifiedKey>,
    /// Validity start, Unix seconds.
    pub not_before: i64,
    /// Validity end, Unix seconds.
    pub not_after: i64,
    /// DNS names of the leaf (lowercase).
    pub names: Vec<String>,
    /// Serial number of the leaf, hex.
    pub serial: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("names", &self.names)
            .field("serial", &self.serial)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl Issued {
    /// Parses a PEM chain and key; fails when they do not match.
    pub fn parse(chain_pem: String, key_pem: String) -> Result<Issued, AcmeError> {
        let bad = |m: String| AcmeError::BadCertificate(m);
        let chain = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("certificate chain is not PEM: {e}")))?;
        let leaf = chain
            .first()
            .ok_or_else(|| bad("no certificate in the chain".into()))?;
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| bad(format!("private key is not PEM: {e}")))?;
        let provider = rustls::crypto::ring::default_provider();
        let certified = CertifiedKey::from_der(chain.clone(), key, &provider)
            .map_err(|e| bad(format!("certificate and key do not match: {e}")))?;
        let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
            .map_err(|e| bad(format!("leaf is not X.509: {e}")))?;
        let mut names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for n in &san.value.general_names {
                if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                    names.push(d.to_ascii_lowercase());
                }
            }
        }
        Ok(Issued {
            not_before: cert.validity().not_before.timestamp(),
            not_after: cert.validity().not_after.timestamp(),
            serial: cert.raw_serial_as_string(),
            names,
            certified: Arc::new(certified),
            chain_pem,
            key_pem,
        })
    }

    /// Whether it is valid for every one of `domains`.
    pub fn covers(&self, domains: &[String]) -> bool {
        domains
            .iter()
            .all(|d| self.names.iter().any(|n| n.eq_ignore_ascii_case(d)))
    }

    /// When to renew it, Unix seconds (see [`renew_at`]).
    pub fn renew_at(&self, renew_days_before_expiry: u32) -> i64 {
        renew_at(self.not_before, self.not_after, renew_days_before_expiry)
    }
}

/// The renewal time: when `renew_days` are left or two thirds of the lifetime have passed,
/// whichever comes first, but never in the first third (so a `renew_days` longer than a
/// short-lived certificate's lifetime cannot make it renew again and again).
pub fn renew_at(not_before: i64, not_after: i64, renew_days: u32) -> i64 {
    let life = (not_after - not_before).max(0);
    let by_days = not_after - i64::from(renew_days) * 86_400;
    let two_thirds = not_before + life * 2 / 3;
    (not_before + life / 3).max(by_days.min(two_thirds))
}

/// Where the certificate for `domains` is kept.
pub fn paths(state_dir: &Path, domains: &[String]) -> (PathBuf, PathBuf) {
    let dir = state_dir.join(ACME_DIR);
    let first = domains
        .first()
        .map_or_else(|| "certificate".to_owned(), |d| d.to_ascii_lowercase());
    (
        dir.join(format!("{first}.crt")),
        dir.join(format!("{first}.key")),
    )
}

/// The stored certificate, if there is a usable one (a broken one is reported and replaced).
pub fn load(cert: &Path, key: &Path) -> Option<Issued> {
    let (c, k) = match (std::fs::read_to_string(cert), std::fs::read_to_string(key)) {
        (Ok(c), Ok(k)) => (c, k),
        _ => return None,
    };
    match Issued::parse(c, k) {
        Ok(i) => Some(i),
        Err(e) => {
            tracing::warn!(cert = %cert.display(), "stored ACME certificate unusable, ordering a new one: {e}");
            None
        }
    }
}

/// The directory URL the certificate at `cert` came from (`<cert>.json`), when recorded.
pub fn issued_by(cert: &Path) -> Option<String> {
    let text = std::fs::read(cert.with_extension("json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&text).ok()?;
    v.get("directory_url")?.as_str().map(str::to_owned)
}

/// Writes the certificate (0644), its key (0600) and the directory it came from, atomically,
/// key first.
pub fn save(
    cert: &Path,
    key: &Path,
    issued: &Issued,
    directory_url: &str,
) -> Result<(), AcmeError> {
    write_atomic(key, issued.key_pem.as_bytes(), 0o600)?;
    write_atomic(cert, issued.chain_pem.as_bytes(), 0o644)?;
    let meta = serde_json::json!({ "directory_url": directory_url }).to_string();
    write_atomic(&cert.with_extension("json"), meta, 0o644)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400;

    #[test]
    fn ninety_day_certificate_renews_thirty_days_before() {
        assert_eq!(renew_at(0, 90 * DAY, 30), 60 * DAY);
        assert_eq!(
            renew_at(0, 90 * DAY, 45),
            45 * DAY,
            "more days left: earlier"
        );
        assert_eq!(
            renew_at(0, 90 * DAY, 0),
            60 * DAY,
            "two thirds at the latest"
        );
    }

    #[test]
    fn short_lived_certificate_is_not_renewed_in_a_loop() {
        // 6 days with the default 30: not at once, at one third.
        assert_eq!(renew_at(0, 6 * DAY, 30), 2 * DAY);
        assert_eq!(renew_at(100, 130, 0), 120);
        assert_eq!(renew_at(100, 100, 30), 100);
    }
}
