//! The private CA: a root and an intermediate, server and client certificates signed by the
//! intermediate, and the expiry of everything in the CA directory. Domain code only: it returns
//! what it made or found, and `commands::ca` prints it. Clients pass `ca-bundle.crt` as their CA
//! bundle. A directory made by the Python reference (`root/ca.crt`, `intermediate/ca.crt`) is
//! read too.
use std::path::{Path, PathBuf};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use super::TlsError;
use crate::auth::unix_now;
use vibectl_fsutil::write_atomic;

/// Root certificate file name.
pub const ROOT_CERT: &str = "root-ca.crt";
/// Intermediate certificate file name.
pub const INTERMEDIATE_CERT: &str = "intermediate-ca.crt";
/// The bundle clients trust.
pub const BUNDLE: &str = "ca-bundle.crt";
/// Longest validity of an issued certificate, in days.
pub const MAX_DAYS: u32 = 3650;

/// What kind of leaf certificate to make.
#[derive(Clone, Copy, Debug)]
pub enum Leaf<'a> {
    /// Self-signed server certificate (`tls.auto`, `generate-certs`).
    SelfSigned,
    /// Server certificate signed by this issuer.
    Server(&'a Issuer<'a, KeyPair>),
    /// Client certificate (mTLS) signed by this issuer.
    Client(&'a Issuer<'a, KeyPair>),
}

/// Sets the validity: from a day ago (clock skew) for `lifetime` from now, to the second.
fn validity(p: &mut CertificateParams, lifetime: Duration) -> Result<(), TlsError> {
    let now = unix_now() as i64;
    let at = |t: i64| {
        time::OffsetDateTime::from_unix_timestamp(t)
            .map_err(|e| TlsError::Ca(format!("validity out of range: {e}")))
    };
    p.not_before = at(now - 86_400)?;
    p.not_after = at(now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)))?;
    Ok(())
}

/// A lifetime of `days` days.
pub fn days(days: u32) -> Duration {
    Duration::from_secs(u64::from(days) * 86_400)
}

/// A leaf certificate for `cn` with `sans`, as (certificate PEM, key PEM). Signed leaves come with
/// no chain; callers append the intermediate.
pub fn leaf(
    cn: &str,
    sans: &[String],
    lifetime: Duration,
    kind: Leaf<'_>,
) -> Result<(String, String), TlsError> {
    let mut p = CertificateParams::new(sans.to_vec())?;
    p.distinguished_name.push(DnType::CommonName, cn);
    validity(&mut p, lifetime)?;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![match kind {
        Leaf::Client(_) => ExtendedKeyUsagePurpose::ClientAuth,
        _ => ExtendedKeyUsagePurpose::ServerAuth,
    }];
    let key = KeyPair::generate()?;
    let cert = match kind {
        Leaf::SelfSigned => p.self_signed(&key),
        Leaf::Server(i) | Leaf::Client(i) => p.signed_by(&key, i),
    }?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// The names put in the CA certificates (`ca init` options, the reference's defaults).
#[derive(Clone, Debug)]
pub struct CaNames {
    /// Common name of the root.
    pub root_cn: String,
    /// Common name of the intermediate.
    pub intermediate_cn: String,
    /// Organization (`O`).
    pub organization: String,
    /// Two-letter country code (`C`).
    pub country: String,
}

impl Default for CaNames {
    fn default() -> Self {
        CaNames {
            root_cn: "vibectl Root CA".into(),
            intermediate_cn: "vibectl Intermediate CA".into(),
            organization: "vibectl".into(),
            country: "US".into(),
        }
    }
}

fn ca_params(
    names: &CaNames,
    cn: &str,
    days_valid: u32,
    path_len: u8,
) -> Result<CertificateParams, TlsError> {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name
        .push(DnType::OrganizationName, names.organization.as_str());
    p.distinguished_name
        .push(DnType::CountryName, names.country.as_str());
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut p, days(days_valid))?;
    Ok(p)
}

/// Where the CA's own certificates are: ours, or the reference's layout when that is what exists.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Root certificate.
    pub root_cert: PathBuf,
    /// Intermediate certificate.
    pub intermediate_cert: PathBuf,
    /// Intermediate private key.
    pub intermediate_key: PathBuf,
}

impl Layout {
    /// The layout found in `dir` (ours unless only the reference's exists).
    pub fn of(dir: &Path) -> Layout {
        let reference = dir.join("intermediate").join("ca.crt");
        if !dir.join(INTERMEDIATE_CERT).exists() && reference.exists() {
            return Layout {
                root_cert: dir.join("root").join("ca.crt"),
                intermediate_cert: reference,
                intermediate_key: dir.join("intermediate").join("ca.key"),
            };
        }
        Layout {
            root_cert: dir.join(ROOT_CERT),
            intermediate_cert: dir.join(INTERMEDIATE_CERT),
            intermediate_key: dir.join("intermediate-ca.key"),
        }
    }

    /// Whether a CA exists here.
    pub fn exists(&self) -> bool {
        self.intermediate_cert.exists()
    }
}

/// What `ca init` made.
#[derive(Clone, Debug)]
pub struct CaCreated {
    /// Root certificate (10 years).
    pub root_cert: PathBuf,
    /// Root key: needed only to make a new intermediate.
    pub root_key: PathBuf,
    /// Intermediate certificate (5 years; signs leaves).
    pub intermediate_cert: PathBuf,
    /// The bundle clients trust.
    pub bundle: PathBuf,
}

fn check_country(c: &str) -> Result<(), TlsError> {
    if c.len() != 2 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
        return Err(TlsError::Ca(format!(
            "--country must be a two-letter country code such as US or DE, got `{c}`"
        )));
    }
    Ok(())
}

/// `ca init`: root (10 years) and intermediate (5 years) CA in `dir`, and `ca-bundle.crt`.
pub fn init(dir: &Path, names: &CaNames, force: bool) -> Result<CaCreated, TlsError> {
    check_country(&names.country)?;
    if Layout::of(dir).exists() && !force {
        return Err(TlsError::Ca(format!(
            "a CA already exists in {} (pass --force to replace it: every certificate it signed \
             stops being trusted by clients using the new bundle)",
            dir.display()
        )));
    }
    let root_key = KeyPair::generate()?;
    let root_params = ca_params(names, &names.root_cn, 3650, 1)?;
    let root = root_params.self_signed(&root_key)?;
    let root_issuer = Issuer::new(root_params, root_key);
    let int_key = KeyPair::generate()?;
    let int_params = ca_params(names, &names.intermediate_cn, 1825, 0)?;
    let int = int_params.signed_by(&int_key, &root_issuer)?;
    let made = CaCreated {
        root_cert: dir.join(ROOT_CERT),
        root_key: dir.join("root-ca.key"),
        intermediate_cert: dir.join(INTERMEDIATE_CERT),
        bundle: dir.join(BUNDLE),
    };
    write_atomic(&made.root_key, root_issuer.key().serialize_pem(), 0o600)?;
    write_atomic(&made.root_cert, root.pem(), 0o644)?;
    write_atomic(
        &dir.join("intermediate-ca.key"),
        int_key.serialize_pem(),
        0o600,
    )?;
    write_atomic(&made.intermediate_cert, int.pem(), 0o644)?;
    write_atomic(&made.bundle, format!("{}{}", root.pem(), int.pem()), 0o644)?;
    Ok(made)
}

fn intermediate(dir: &Path) -> Result<(String, Issuer<'static, KeyPair>), TlsError> {
    let layout = Layout::of(dir);
    if !layout.exists() {
        return Err(TlsError::Ca(format!(
            "no CA in {} (create one with `vibectl-server ca init`)",
            dir.display()
        )));
    }
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|source| TlsError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    let cert = read(&layout.intermediate_cert)?;
    let key = KeyPair::from_pem(&read(&layout.intermediate_key)?)?;
    let issuer = Issuer::from_ca_cert_pem(&cert, key)?;
    Ok((cert, issuer))
}

/// A certificate to issue from the CA.
#[derive(Clone, Debug)]
pub struct CertRequest {
    /// Host name (server) or name (client); also the file name.
    pub name: String,
    /// Further names or addresses (server certificates).
    pub sans: Vec<String>,
    /// Validity.
    pub lifetime: Duration,
    /// A client certificate (mTLS) instead of a server one.
    pub client: bool,
    /// Replace an existing certificate of that name.
    pub force: bool,
}

/// An issued certificate's files.
#[derive(Clone, Debug)]
pub struct Issued {
    /// Certificate and intermediate, PEM.
    pub cert: PathBuf,
    /// Private key, PEM, mode 0600.
    pub key: PathBuf,
}

/// Where `name`'s certificate goes in `dir`.
pub fn cert_paths(dir: &Path, name: &str, client: bool) -> Issued {
    let sub = if client {
        "client_certs"
    } else {
        "server_certs"
    };
    let out = dir.join(sub).join(name);
    Issued {
        cert: out.join(format!("{name}.crt")),
        key: out.join(format!("{name}.key")),
    }
}

/// `ca create-server-cert` / `ca create-client-cert`: issues and writes the certificate.
pub fn create_cert(dir: &Path, req: &CertRequest) -> Result<Issued, TlsError> {
    let name = req.name.as_str();
    if name.trim().is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(TlsError::Ca(format!(
            "the name must be a host name or address such as `proxy.example.com`, got `{name}`"
        )));
    }
    if req.lifetime.is_zero() || req.lifetime > days(MAX_DAYS) {
        return Err(TlsError::Ca(format!(
            "--validity-days must be between 1 and {MAX_DAYS}, got {}",
            req.lifetime.as_secs() / 86_400
        )));
    }
    let paths = cert_paths(dir, name, req.client);
    if !req.force && (paths.cert.exists() || paths.key.exists()) {
        return Err(TlsError::Ca(format!(
            "a certificate for {name} already exists ({}); pass --force to replace it",
            paths.cert.display()
        )));
    }
    let (int_pem, issuer) = intermediate(dir)?;
    let mut names = if req.client {
        Vec::new()
    } else {
        vec![name.to_owned()]
    };
    for s in &req.sans {
        if !names.contains(s) {
            names.push(s.clone());
        }
    }
    let kind = if req.client {
        Leaf::Client(&issuer)
    } else {
        Leaf::Server(&issuer)
    };
    let (cert, key) = leaf(name, &names, req.lifetime, kind)?;
    write_atomic(&paths.key, &key, 0o600)?;
    write_atomic(&paths.cert, format!("{cert}{int_pem}"), 0o644)?;
    Ok(paths)
}

/// The validity of the first certificate in a PEM file, as Unix seconds (not before, not after).
pub fn validity_of(path: &Path) -> Result<(i64, i64), TlsError> {
    let text = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let parse = |reason: String| TlsError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    let (_, pem) = x509_parser::pem::parse_x509_pem(&text).map_err(|e| parse(e.to_string()))?;
    let cert = pem.parse_x509().map_err(|e| parse(e.to_string()))?;
    let v = cert.validity();
    Ok((v.not_before.timestamp(), v.not_after.timestamp()))
}

/// The `notAfter` of the first certificate in a PEM file (Unix seconds).
pub fn not_after(path: &Path) -> Result<i64, TlsError> {
    validity_of(path).map(|(_, after)| after)
}

fn subject(path: &Path) -> String {
    std::fs::read(path)
        .ok()
        .and_then(|t| {
            let (_, pem) = x509_parser::pem::parse_x509_pem(&t).ok()?;
            let c = pem.parse_x509().ok()?;
            Some(c.subject().to_string())
        })
        .unwrap_or_default()
}

/// How a certificate stands against a warning threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    /// Valid beyond the threshold.
    Ok,
    /// Valid, but expires within the threshold.
    ExpiresSoon,
    /// Past its `notAfter`.
    Expired,
    /// Missing or not a certificate.
    Unreadable,
}

impl Standing {
    /// The word shown in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Ok => "ok",
            Standing::ExpiresSoon => "expires soon",
            Standing::Expired => "EXPIRED",
            Standing::Unreadable => "unreadable",
        }
    }
}

/// One certificate of the CA directory.
#[derive(Debug)]
pub struct CertState {
    /// The file.
    pub file: PathBuf,
    /// Its subject (empty when unreadable).
    pub subject: String,
    /// `notAfter` (Unix seconds), or why it could not be read.
    pub not_after: Result<i64, TlsError>,
}

impl CertState {
    /// Whole days left (negative once expired).
    pub fn days_left(&self, now: i64) -> Option<i64> {
        self.not_after
            .as_ref()
            .ok()
            .map(|t| (t - now).div_euclid(86_400))
    }

    /// The standing with a warning threshold of `warn_days`.
    pub fn standing(&self, now: i64, warn_days: u32) -> Standing {
        match &self.not_after {
            Err(_) => Standing::Unreadable,
            Ok(t) if *t <= now => Standing::Expired,
            Ok(t) if *t - now < i64::from(warn_days) * 86_400 => Standing::ExpiresSoon,
            Ok(_) => Standing::Ok,
        }
    }
}

/// Every certificate of the CA in `dir`: root, intermediate, then issued server and client ones.
pub fn certificates(dir: &Path) -> Result<Vec<CertState>, TlsError> {
    let layout = Layout::of(dir);
    if !layout.exists() {
        return Err(TlsError::Ca(format!(
            "no CA in {} (create one with `vibectl-server ca init`, or pass --ca-dir)",
            dir.display()
        )));
    }
    let mut files = vec![layout.root_cert, layout.intermediate_cert];
    for sub in ["server_certs", "client_certs"] {
        let Ok(entries) = std::fs::read_dir(dir.join(sub)) else {
            continue;
        };
        let mut names: Vec<_> = entries.flatten().map(|e| e.file_name()).collect();
        names.sort();
        for n in names {
            let n = n.to_string_lossy().into_owned();
            files.push(dir.join(sub).join(&n).join(format!("{n}.crt")));
        }
    }
    Ok(files
        .into_iter()
        .map(|f| CertState {
            subject: subject(&f),
            not_after: not_after(&f),
            file: f,
        })
        .collect())
}
