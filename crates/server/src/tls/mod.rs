//! TLS for the listener: certificate loading, self-signed `tls.auto`, the private CA, mTLS,
//! TLS 1.3 by default (1.2 by config), and reloading changed certificate files without restart.
mod accept;
pub mod acme;
pub mod auto;
pub mod ca;
pub mod renew;

pub use accept::{tls_incoming, TlsIncoming};

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::SystemTime;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use crate::config::TlsSection;

/// Why a certificate, key or TLS set-up could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {what} from {path}: {source}")]
    Pem {
        /// What the file should hold.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        source: rustls::pki_types::pem::Error,
    },
    /// A certificate file without a certificate.
    #[error("certificate file {path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The certificate is not X.509 this server can read.
    #[error("{path}: not a readable X.509 certificate ({reason})")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's reason.
        reason: String,
    },
    /// rustls refused the set-up (versions, client CA, certificate and key).
    #[error("{context}: {source}")]
    Rustls {
        /// What was being set up.
        context: String,
        /// Why.
        source: rustls::Error,
    },
    /// The client CA file cannot verify client certificates.
    #[error("client CA file {path}: {reason}")]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// TLS is on but no certificate is configured.
    #[error("TLS needs tls.cert_file and tls.key_file (or --tls-cert/--tls-key), or tls.auto")]
    NoFiles,
    /// Key or certificate generation failed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be written.
    #[error(transparent)]
    Write(#[from] vibectl_fsutil::WriteError),
    /// A private CA operation was refused (the message names the fix).
    #[error("{0}")]
    Ca(String),
}

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
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = |source| TlsError::Pem {
        what: "certificates",
        path: path.to_path_buf(),
        source,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem)?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// Reads a PEM private key (PKCS#8, PKCS#1 or SEC1).
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|source| TlsError::Pem {
        what: "a PEM private key",
        path: path.to_path_buf(),
        source,
    })
}

/// The rustls builder up to the certificate: TLS versions and, with `client_ca`, required
/// client certificates (mTLS).
pub fn config_builder(
    allow_tls12: bool,
    client_ca: Option<&Path>,
) -> Result<rustls::ConfigBuilder<rustls::ServerConfig, rustls::server::WantsServerCert>, TlsError>
{
    let versions: &[&rustls::SupportedProtocolVersion] = if allow_tls12 {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13]
    };
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .map_err(|source| TlsError::Rustls {
            context: "TLS versions".into(),
            source,
        })?;
    Ok(match client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            let bad = |reason: String| TlsError::ClientCa {
                path: ca.to_path_buf(),
                reason,
            };
            for c in load_certs(ca)? {
                roots.add(c).map_err(|e| bad(e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| bad(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    })
}

/// Builds the rustls server config (ALPN h2) from the files.
pub fn server_config(files: &TlsFiles) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let certs = load_certs(&files.cert)?;
    let key = load_key(&files.key)?;
    let builder = config_builder(files.allow_tls12, files.client_ca.as_deref())?;
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|source| TlsError::Rustls {
            context: format!(
                "{} and {} do not form a usable certificate and key",
                files.cert.display(),
                files.key.display()
            ),
            source,
        })?;
    // h2 for gRPC and HTTP/2 callers, http/1.1 for the HTTP APIs' HTTP/1.1 callers.
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A line for the startup log.
pub type Note = String;

/// The files for `tls:`: `cert_file`/`key_file`, or the `auto` certificate in `state_dir`
/// (generated on first use; the message says where).
pub fn resolve_files(
    t: &TlsSection,
    state_dir: &Path,
) -> Result<(TlsFiles, Option<Note>), TlsError> {
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
        _ => return Err(TlsError::NoFiles),
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

/// Where the accept loop gets the rustls config for each new connection.
pub trait ConfigProvider: Send + Sync + 'static {
    /// The config a new handshake uses.
    fn current(&self) -> Arc<rustls::ServerConfig>;
}

impl ConfigProvider for ReloadingConfig {
    fn current(&self) -> Arc<rustls::ServerConfig> {
        self.current.load_full()
    }
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
    pub fn new(files: TlsFiles) -> Result<Self, TlsError> {
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
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
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
