//! `serve-ca`: a fresh server certificate from the private CA at start, and a task that issues
//! the next one when a third of its lifetime is left. The files are replaced atomically, so the
//! certificate watcher (`tls::watch`) serves the new certificate without a restart.
use std::path::PathBuf;
use std::time::Duration;

use super::ca::{self, CertRequest, Issued};
use super::TlsError;
use crate::auth::unix_now;

/// Longest sleep between checks.
const MAX_WAIT: Duration = Duration::from_secs(3600);
/// Wait after a failed renewal before the next try.
const RETRY: Duration = Duration::from_secs(300);

/// Issues the server certificate now, replacing an existing one of that name.
pub fn issue(dir: &std::path::Path, req: &CertRequest) -> Result<Issued, TlsError> {
    let mut req = req.clone();
    req.force = true;
    ca::create_cert(dir, &req)
}

/// Seconds until the certificate is due for renewal (0 when due): due once less than a third of
/// `lifetime` is left.
pub fn due_in(not_after: i64, lifetime: Duration, now: i64) -> u64 {
    let third = i64::try_from(lifetime.as_secs() / 3).unwrap_or(i64::MAX);
    u64::try_from(not_after.saturating_sub(third).saturating_sub(now)).unwrap_or(0)
}

/// Renews `req`'s certificate in `dir` before it expires, forever (spawn it).
pub async fn keep_renewed(dir: PathBuf, req: CertRequest) {
    let cert = ca::cert_paths(&dir, &req.name, false).cert;
    loop {
        let wait = match ca::not_after(&cert) {
            Ok(t) => Duration::from_secs(due_in(t, req.lifetime, unix_now() as i64)),
            Err(_) => Duration::ZERO,
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait.min(MAX_WAIT)).await;
            continue;
        }
        let (d, r) = (dir.clone(), req.clone());
        match tokio::task::spawn_blocking(move || issue(&d, &r)).await {
            Ok(Ok(issued)) => tracing::info!(
                cert = %issued.cert.display(), host = %req.name,
                "renewed the server certificate from the private CA"
            ),
            Ok(Err(e)) => {
                tracing::warn!(host = %req.name, "cannot renew the server certificate, retrying in 5 minutes: {e}");
                tokio::time::sleep(RETRY).await;
            }
            Err(e) => {
                tracing::warn!("certificate renewal task failed: {e}");
                tokio::time::sleep(RETRY).await;
            }
        }
        // The new file needs a moment before the next check reads it.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_when_a_third_is_left() {
        let life = Duration::from_secs(90);
        assert_eq!(due_in(1090, life, 1000), 60);
        assert_eq!(due_in(1090, life, 1060), 0);
        assert_eq!(due_in(1090, life, 2000), 0);
    }
}
