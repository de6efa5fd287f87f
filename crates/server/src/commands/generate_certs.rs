//! `generate-certs [--hostname H] [--cert-file F] [--key-file F] [--force]`: a self-signed
//! certificate for `serve-custom` (default files `<state dir>/certs/server.{crt,key}`).
use std::path::PathBuf;

use clap::Args;

use super::{emit, Context};
use crate::tls::auto::{self_signed_names, write_self_signed};

/// `generate-certs` options (the reference's).
#[derive(Debug, Args)]
pub struct GenerateCertsArgs {
    /// Host name put in the certificate (localhost, 127.0.0.1 and ::1 are always added).
    #[arg(long, default_value = "localhost")]
    pub hostname: String,
    /// Output path of the certificate (default: <state dir>/certs/server.crt).
    #[arg(long, value_name = "FILE")]
    pub cert_file: Option<PathBuf>,
    /// Output path of the private key, mode 0600 (default: <state dir>/certs/server.key).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
    /// Overwrite existing certificate files.
    #[arg(long)]
    pub force: bool,
}

/// Writes the certificate and says how to serve with it.
pub fn exec(cx: &Context, a: &GenerateCertsArgs) -> anyhow::Result<()> {
    let certs = cx.state_dir.join("certs");
    let cert = a
        .cert_file
        .clone()
        .unwrap_or_else(|| certs.join("server.crt"));
    let key = a
        .key_file
        .clone()
        .unwrap_or_else(|| certs.join("server.key"));
    write_self_signed(&cert, &key, &a.hostname, a.force)?;
    emit(&format!(
        "wrote a self-signed certificate for {} (365 days)\n  {}\n  {} (mode 0600)\n\
         serve with: vibectl-server serve-custom --cert-file {} --key-file {}\n\
         clients pass {} as their CA bundle\n",
        self_signed_names(&a.hostname).join(", "),
        cert.display(),
        key.display(),
        cert.display(),
        key.display(),
        cert.display()
    ))
}
