//! TLS for the listener: certificate loading, self-signed `tls.auto`, the private CA, mTLS,
//! TLS 1.3 by default (1.2 by config), and reloading changed certificate files without restart.
mod accept;
pub mod auto;
pub mod ca;

pub use accept::{tls_incoming, TlsIncoming};

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::config::TlsSection;

/// The files a TLS listener is built from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, leaf first.
    pub cert: PathBuf,
    /// PEM private key.
    pub key: PathBuf,
    /// PEM CA certificates for client certificates (mTLS), if required.
    pub client_ca: Option<PathBuf>,
    /// Whether TLS 1.2 is allowed besides 1.3.
    pub allow_tls12: bool,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Reads a PEM certificate chain.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| format!("cannot read certificate file {}: {e}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("certificate file {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "certificate file {} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            path.display()
        ));
    }
    Ok(certs)
}

/// Reads a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path)
        .map_err(|e| format!("cannot read a PEM private key from {}: {e}", path.display()))
}

/// Builds the rustls server config (ALPN h2) from the files.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, String> {
    let certs = load_certs(&files.cert)?;
    let key = load_key(&files.key)?;
    let versions: &[&rustls::SupportedProtocolVersion] = if files.allow_tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|e| format!("TLS versions: {e}"))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in load_certs(ca)? {
                roots
                    .add(c)
                    .map_err(|e| format!("client CA file {}: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| format!("client CA file {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut cfg = builder.with_single_cert(certs, key).map_err(|e| {
        format!(
            "{} and {} do not form a usable certificate and key: {e}",
            files.cert.display(),
            files.key.display()
        )
    })?;
    // h2 for gRPC and HTTP/2 callers, http/1.1 for the HTTP APIs' HTTP/1.1 callers.
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// The files for `tls:`: `cert_file`/`key_file`, or the `auto` certificate in `state_dir`
/// (generated on first use; the message says where).
pub fn resolve_files(
    t: &TlsSection,
    state_dir: &Path,
) -> Result<(TlsFiles, Option<String>), String> {
    let (cert, key, note) = match (&t.cert_file, &t.key_file) {
        (Some(c), Some(k)) => (c.clone(), k.clone(), None),
        _ if t.auto || t.enabled => {
            let (c, k, generated) = auto::ensure_self_signed(state_dir, &t.hostnames)?;
            let why = if t.auto {
                ""
            } else {
                "tls.enabled without tls.cert_file/tls.key_file (like the reference, or set tls.auto: true): "
            };
            let note = if generated {
                format!(
                    "{why}generated a self-signed certificate for {} in {}; clients pass it as their CA bundle",
                    t.hostnames.join(", "),
                    c.display()
                )
            } else {
                format!("{why}using the self-signed certificate {}", c.display())
            };
            (c, k, Some(note))
        }
        _ => {
            return Err(
                "TLS needs tls.cert_file and tls.key_file (or --tls-cert/--tls-key), or tls.auto"
                    .into(),
            )
        }
    };
    Ok((
        TlsFiles {
            cert,
            key,
            client_ca: t.client_ca_file.clone(),
            allow_tls12: t.min_version == "1.2",
        },
        note,
    ))
}

/// The current server config, replaced when the files change.
#[derive(Debug)]
pub struct ReloadingConfig {
    files: TlsFiles,
    current: arc_swap::ArcSwap<rustls::ServerConfig>,
    stamp: RwLock<Vec<Option<(SystemTime, u64)>>>,
}

fn stamps(files: &TlsFiles) -> Vec<Option<(SystemTime, u64)>> {
    [
        Some(&files.cert),
        Some(&files.key),
        files.client_ca.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|p| {
        std::fs::metadata(p)
            .ok()
            .and_then(|m| Some((m.modified().ok()?, m.len())))
    })
    .collect()
}

impl ReloadingConfig {
    /// Loads the files once (errors are fatal at startup).
    pub fn new(files: TlsFiles) -> Result<Self, String> {
        let cfg = server_config(&files)?;
        let stamp = stamps(&files);
        Ok(ReloadingConfig {
            files,
            current: arc_swap::ArcSwap::new(cfg),
            stamp: RwLock::new(stamp),
        })
    }

    /// The config new connections use.
    pub fn current(&self) -> Arc<rustls::ServerConfig> {
        self.current.load_full()
    }

    /// Reloads when a file changed. A broken new file keeps the old config (and says why).
    pub fn reload_if_changed(&self) -> Result<bool, String> {
        let now = stamps(&self.files);
        let changed = self.stamp.read().map(|s| *s != now).unwrap_or(true);
        if !changed {
            return Ok(false);
        }
        if let Ok(mut s) = self.stamp.write() {
            *s = now;
        }
        let cfg = server_config(&self.files)?;
        self.current.store(cfg);
        Ok(true)
    }

    /// The files.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }
}

/// Checks the certificate files every `every` and swaps in changed ones.
pub async fn watch(cfg: Arc<ReloadingConfig>, every: std::time::Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let c = Arc::clone(&cfg);
        match tokio::task::spawn_blocking(move || c.reload_if_changed()).await {
            Ok(Ok(true)) => tracing::info!(
                cert = %cfg.files().cert.display(),
                "certificate files changed: new connections use the new certificate"
            ),
            Ok(Ok(false)) | Err(_) => {}
            Ok(Err(e)) => tracing::warn!(
                "certificate files changed but cannot be used, keeping the old ones: {e}"
            ),
        }
    }
}
