//! The private CA: `ca init` (root + intermediate), `ca create-server-cert`, `ca create-client-cert`,
//! `ca status`. Clients pass `ca-bundle.crt` as their CA bundle.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::auth::{rfc3339, unix_now, ymd};
use crate::commands::emit;
use vibectl_fsutil::write_atomic;

/// Root certificate file name.
pub const ROOT_CERT: &str = "root-ca.crt";
/// Intermediate certificate file name.
pub const INTERMEDIATE_CERT: &str = "intermediate-ca.crt";
/// The bundle clients trust.
pub const BUNDLE: &str = "ca-bundle.crt";

/// What kind of leaf certificate to make.
#[derive(Clone, Copy, Debug)]
pub enum Leaf<'a> {
    /// Self-signed server certificate (`tls.auto`).
    SelfSigned,
    /// Server certificate signed by this issuer.
    Server(&'a Issuer<'a, KeyPair>),
    /// Client certificate (mTLS) signed by this issuer.
    Client(&'a Issuer<'a, KeyPair>),
}

fn validity(p: &mut CertificateParams, days: u32) {
    let now = unix_now();
    let (y, m, d) = ymd(now.saturating_sub(86_400));
    p.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = ymd(now + u64::from(days) * 86_400);
    p.not_after = rcgen::date_time_ymd(y, m, d);
}

fn err(e: rcgen::Error) -> String {
    format!("certificate generation failed: {e}")
}

/// A leaf certificate for `cn` with `sans`, as (certificate PEM, key PEM). Signed leaves come with
/// no chain; callers append the intermediate.
pub fn leaf(
    cn: &str,
    sans: &[String],
    days: u32,
    kind: Leaf<'_>,
) -> Result<(String, String), String> {
    let mut p = CertificateParams::new(sans.to_vec()).map_err(err)?;
    p.distinguished_name.push(DnType::CommonName, cn);
    validity(&mut p, days);
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![match kind {
        Leaf::Client(_) => ExtendedKeyUsagePurpose::ClientAuth,
        _ => ExtendedKeyUsagePurpose::ServerAuth,
    }];
    let key = KeyPair::generate().map_err(err)?;
    let cert = match kind {
        Leaf::SelfSigned => p.self_signed(&key),
        Leaf::Server(i) | Leaf::Client(i) => p.signed_by(&key, i),
    }
    .map_err(err)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn ca_params(cn: &str, days: u32, path_len: u8) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name
        .push(DnType::OrganizationName, "vibectl-server private CA");
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    validity(&mut p, days);
    p
}

/// `ca init`: root (10 years) and intermediate (5 years) CA in `dir`, and `ca-bundle.crt`.
pub fn init(dir: &Path, name: &str, force: bool) -> anyhow::Result<()> {
    let root_cert = dir.join(ROOT_CERT);
    if root_cert.exists() && !force {
        bail!(
            "a CA already exists in {} (pass --force to replace it: every certificate it signed \
             stops being trusted by clients using the new bundle)",
            dir.display()
        );
    }
    let root_key = KeyPair::generate()
        .map_err(err)
        .map_err(anyhow::Error::msg)?;
    let root_params = ca_params(&format!("{name} Root CA"), 3650, 1);
    let root = root_params.self_signed(&root_key)?;
    let root_issuer = Issuer::new(root_params, root_key);
    let int_key = KeyPair::generate()?;
    let int_params = ca_params(&format!("{name} Intermediate CA"), 1825, 0);
    let int = int_params.signed_by(&int_key, &root_issuer)?;
    write_atomic(
        &dir.join("root-ca.key"),
        root_issuer.key().serialize_pem(),
        0o600,
    )?;
    write_atomic(&root_cert, root.pem(), 0o644)?;
    write_atomic(
        &dir.join("intermediate-ca.key"),
        int_key.serialize_pem(),
        0o600,
    )?;
    write_atomic(&dir.join(INTERMEDIATE_CERT), int.pem(), 0o644)?;
    write_atomic(
        &dir.join(BUNDLE),
        format!("{}{}", root.pem(), int.pem()),
        0o644,
    )?;
    emit(&format!(
        "created a private CA in {d}\n  {d}/root-ca.crt (10 years)\n  {d}/intermediate-ca.crt (5 years; signs server certificates)\n  {d}/ca-bundle.crt (give this to clients)\n\
         The root key {d}/root-ca.key is needed only to make a new intermediate: move it offline.\n\
         next: vibectl-server ca create-server-cert HOST --san OTHER-NAME\n",
        d = dir.display()
    ))
}

fn intermediate(dir: &Path) -> anyhow::Result<(String, Issuer<'static, KeyPair>)> {
    let cert = std::fs::read_to_string(dir.join(INTERMEDIATE_CERT)).with_context(|| {
        format!(
            "no CA in {} (create one with `vibectl-server ca init`)",
            dir.display()
        )
    })?;
    let key = std::fs::read_to_string(dir.join("intermediate-ca.key"))
        .with_context(|| format!("cannot read {}/intermediate-ca.key", dir.display()))?;
    let key = KeyPair::from_pem(&key)?;
    let issuer = Issuer::from_ca_cert_pem(&cert, key)?;
    Ok((cert, issuer))
}

/// `ca create-server-cert HOST --san ...` (or a client certificate): returns (cert, key) paths.
pub fn create_cert(
    dir: &Path,
    name: &str,
    sans: &[String],
    days: u32,
    client: bool,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    if name.trim().is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        bail!("the name must be a host name or address such as `proxy.example.com`, got `{name}`");
    }
    if !(1..=3650).contains(&days) {
        bail!("--days must be between 1 and 3650, got {days}");
    }
    let (int_pem, issuer) = intermediate(dir)?;
    let mut names = if client {
        Vec::new()
    } else {
        vec![name.to_owned()]
    };
    for s in sans {
        if !names.contains(s) {
            names.push(s.clone());
        }
    }
    let kind = if client {
        Leaf::Client(&issuer)
    } else {
        Leaf::Server(&issuer)
    };
    let (cert, key) = leaf(name, &names, days, kind).map_err(anyhow::Error::msg)?;
    let sub = if client {
        "client_certs"
    } else {
        "server_certs"
    };
    let out = dir.join(sub).join(name);
    let (cert_path, key_path) = (
        out.join(format!("{name}.crt")),
        out.join(format!("{name}.key")),
    );
    write_atomic(&key_path, &key, 0o600)?;
    write_atomic(&cert_path, format!("{cert}{int_pem}"), 0o644)?;
    Ok((cert_path, key_path))
}

/// The `notAfter` of the first certificate in a PEM file (Unix seconds).
pub fn not_after(path: &Path) -> Result<i64, String> {
    let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&text)
        .map_err(|e| format!("{}: not PEM ({e})", path.display()))?;
    let cert = pem
        .parse_x509()
        .map_err(|e| format!("{}: not a certificate ({e})", path.display()))?;
    Ok(cert.validity().not_after.timestamp())
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

/// `ca status [--json]`: each certificate of the CA with its expiry.
pub fn status(dir: &Path, json: bool) -> anyhow::Result<()> {
    let mut files = vec![dir.join(ROOT_CERT), dir.join(INTERMEDIATE_CERT)];
    if !files[0].exists() {
        bail!(
            "no CA in {} (create one with `vibectl-server ca init`)",
            dir.display()
        );
    }
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
    let now = unix_now() as i64;
    let mut rows = Vec::new();
    for f in files {
        let (expires, days, state) = match not_after(&f) {
            Ok(t) => {
                let days = (t - now).div_euclid(86_400);
                let state = if t <= now {
                    "EXPIRED"
                } else if days < 30 {
                    "expires soon"
                } else {
                    "ok"
                };
                (rfc3339(t.max(0) as u64), Some(days), state)
            }
            Err(e) => (e, None, "unreadable"),
        };
        rows.push((f, expires, days, state));
    }
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|(f, exp, days, state)| {
                serde_json::json!({"file": f.display().to_string(), "subject": subject(f),
                    "expires": exp, "days_left": days, "status": state})
            })
            .collect();
        return emit(&format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    let mut o = format!("CA in {}\n", dir.display());
    for (f, exp, days, state) in &rows {
        let rel = f.strip_prefix(dir).unwrap_or(f);
        let days = days.map_or(String::new(), |d| format!("{d} days"));
        let _ = writeln!(
            o,
            "  {:<48} {:<22} {:>10}  {state}",
            rel.display(),
            exp,
            days
        );
    }
    emit(&o)
}
