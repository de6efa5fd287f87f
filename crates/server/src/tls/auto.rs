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
) -> Result<(PathBuf, PathBuf, bool), String> {
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
    let (cert_pem, key_pem) = super::ca::leaf(&first, &names, 365, super::ca::Leaf::SelfSigned)?;
    write_atomic(&key, &key_pem, 0o600).map_err(|e| format!("{e:#}"))?;
    write_atomic(&cert, &cert_pem, 0o644).map_err(|e| format!("{e:#}"))?;
    Ok((cert, key, true))
}
