//! `tls.auto`: a self-signed certificate for the configured host names, made on first start and
//! reused after (renewed when it is within 30 days of expiry).
use std::path::{Path, PathBuf};

use crate::auth::unix_now;
use vibectl_fsutil::write_atomic;

/// Directory (inside the state dir) of the generated certificate.
pub const AUTO_DIR: &str = "tls";

/// Makes sure `<state>/tls/self-signed.{crt,key}` exist; returns them and whether they were made now.
pub fn ensure_self_signed(
    state_dir: &Path,
    hostnames: &[String],
) -> Result<(PathBuf, PathBuf, bool), super::TlsError> {
    let dir = state_dir.join(AUTO_DIR);
    let cert = dir.join("self-signed.crt");
    let key = dir.join("self-signed.key");
    if cert.exists() && key.exists() {
        let fresh = super::ca::not_after(&cert)
            .map(|t| t > unix_now() as i64 + 30 * 86_400)
            .unwrap_or(false);
        if fresh {
            return Ok((cert, key, false));
        }
    }
    let names: Vec<String> = hostnames
        .iter()
        .map(|h| {
            h.trim()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned()
        })
        .filter(|h| !h.is_empty())
        .collect();
    let first = names.first().cloned().unwrap_or_else(|| "localhost".into());
    let (cert_pem, key_pem) = super::ca::leaf(
        &first,
        &names,
        super::ca::days(365),
        super::ca::Leaf::SelfSigned,
    )?;
    write_atomic(&key, &key_pem, 0o600)?;
    write_atomic(&cert, &cert_pem, 0o644)?;
    Ok((cert, key, true))
}

/// The names `generate-certs` puts in a certificate for `hostname`: it, localhost, 127.0.0.1
/// and ::1 (the reference's set).
pub fn self_signed_names(hostname: &str) -> Vec<String> {
    let mut names = vec![hostname.trim().to_owned()];
    for n in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|h| h == n) {
            names.push(n.to_owned());
        }
    }
    names
}

/// `generate-certs`: a self-signed certificate (365 days) for `hostname` written to `cert` and
/// `key` (0600); refuses to replace either unless `force`.
pub fn write_self_signed(
    cert: &Path,
    key: &Path,
    hostname: &str,
    force: bool,
) -> Result<(), super::TlsError> {
    if hostname.trim().is_empty() {
        return Err(super::TlsError::Ca(
            "--hostname must not be empty (e.g. --hostname proxy.example.com)".into(),
        ));
    }
    if !force {
        if let Some(p) = [cert, key].into_iter().find(|p| p.exists()) {
            return Err(super::TlsError::Ca(format!(
                "{} already exists; pass --force to overwrite the certificate files",
                p.display()
            )));
        }
    }
    let names = self_signed_names(hostname);
    let (cert_pem, key_pem) = super::ca::leaf(
        hostname.trim(),
        &names,
        super::ca::days(365),
        super::ca::Leaf::SelfSigned,
    )?;
    write_atomic(key, &key_pem, 0o600)?;
    write_atomic(cert, &cert_pem, 0o644)?;
    Ok(())
}
