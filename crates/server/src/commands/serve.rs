//! `serve`, `serve-insecure`, `serve-ca`, `serve-custom`, `serve-acme`: the reference's serve
//! commands. Each maps its flags onto the config and runs the one serve path
//! ([`crate::serve::run`]); `serve` picks the mode from the config as the reference does.
use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, ValueEnum};

use super::Context;
use crate::cli::ServeArgs;
use crate::config::{ChallengeKind, ServerConfig};
use crate::tls::ca::{self, CertRequest};
use crate::tls::renew;

/// `serve-ca` options.
#[derive(Debug, Args)]
pub struct ServeCaArgs {
    /// CA directory (default: <state dir>/ca; create it with `vibectl-server ca init`).
    #[arg(long, value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,
    /// Host name of the server certificate issued at start.
    #[arg(long, default_value = "localhost")]
    pub hostname: String,
    /// Further names or addresses of the certificate (repeatable).
    #[arg(long = "san", value_name = "NAME")]
    pub sans: Vec<String>,
    /// Validity of the certificate in days; it is renewed when a third is left.
    #[arg(long, value_name = "DAYS", default_value_t = 90,
          value_parser = clap::value_parser!(u32).range(1..=3650))]
    pub validity_days: u32,
    /// Common serve options.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// `serve-custom` options.
#[derive(Debug, Args)]
pub struct ServeCustomArgs {
    /// PEM certificate chain, leaf first (config `tls.cert_file`).
    #[arg(long, value_name = "FILE")]
    pub cert_file: PathBuf,
    /// PEM private key (config `tls.key_file`).
    #[arg(long, value_name = "FILE")]
    pub key_file: PathBuf,
    /// CA bundle that client certificates must chain to: turns on mutual TLS (config
    /// `tls.client_ca_file`). The reference stores this and never uses it.
    #[arg(long, value_name = "FILE")]
    pub ca_bundle_file: Option<PathBuf>,
    /// Common serve options.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// ACME challenge types (the reference's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ChallengeType {
    /// HTTP on port 80 (`acme.http_port`).
    #[value(name = "http-01")]
    Http01,
    /// DNS TXT records: not supported by this server.
    #[value(name = "dns-01")]
    Dns01,
    /// TLS with ALPN `acme-tls/1` on the serving port.
    #[value(name = "tls-alpn-01")]
    TlsAlpn01,
}

impl ChallengeType {
    /// The config value.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeType::Http01 => "http-01",
            ChallengeType::Dns01 => "dns-01",
            ChallengeType::TlsAlpn01 => "tls-alpn-01",
        }
    }
}

/// `serve-acme` options; each sets an `acme.*` key.
#[derive(Debug, Args)]
pub struct ServeAcmeArgs {
    /// ACME account e-mail (`acme.email`).
    #[arg(long)]
    pub email: String,
    /// Domain of the certificate, repeatable (`acme.domains`).
    #[arg(long = "domain", value_name = "DOMAIN", required = true)]
    pub domains: Vec<String>,
    /// ACME directory (`acme.directory_url`; default Let's Encrypt production).
    #[arg(long, value_name = "URL")]
    pub directory_url: Option<String>,
    /// Challenge type (`acme.challenge.type`); dns-01 is refused.
    #[arg(long, value_enum, default_value = "tls-alpn-01")]
    pub challenge_type: ChallengeType,
    /// Common serve options.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// How `serve` serves, decided from the config like the reference's `determine_serve_mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `tls.enabled` off (and no `tls.auto`).
    Insecure,
    /// `acme.enabled`.
    Acme,
    /// `tls.cert_file` and `tls.key_file`.
    Custom,
    /// `tls.auto` (this server's own): a self-signed certificate.
    SelfSigned,
    /// TLS on without files: a certificate from the private CA in `<state dir>/ca`.
    Ca,
}

/// Whether the config turns ACME on.
pub fn acme_enabled(cfg: &ServerConfig) -> bool {
    cfg.acme.enabled
}

/// The mode `serve` runs in.
pub fn mode(cfg: &ServerConfig) -> Mode {
    if !cfg.tls.is_on() {
        Mode::Insecure
    } else if acme_enabled(cfg) {
        Mode::Acme
    } else if cfg.tls.cert_file.is_some() && cfg.tls.key_file.is_some() {
        Mode::Custom
    } else if cfg.tls.auto {
        Mode::SelfSigned
    } else {
        Mode::Ca
    }
}

/// `serve`: the mode from the config.
pub fn serve(cx: Context, mut args: ServeArgs) -> anyhow::Result<()> {
    let mut cfg = cx.cfg.clone();
    args.apply_to(&mut cfg);
    let m = mode(&cfg);
    match m {
        Mode::Custom => {
            // The reference hands tls.ca_bundle_file to serve-custom: the client CA here.
            if cfg.tls.client_ca_file.is_none() {
                args.tls_client_ca = cfg.tls.ca_bundle_file.clone();
            }
            run(cx, args, None, m)
        }
        Mode::Ca => {
            let dir = cx.state_dir.join("ca");
            if !ca::Layout::of(&dir).exists() {
                // Without a CA the certificate is self-signed, as `tls.enabled` alone always did here.
                return run(cx, args, None, m);
            }
            let mut names = cfg.tls.hostnames.clone();
            if names.is_empty() {
                names.push("localhost".into());
            }
            let host = names.remove(0);
            let req = CertRequest {
                name: host,
                sans: names,
                lifetime: ca::days(90),
                client: false,
                force: true,
            };
            serve_from_ca(cx, args, dir, req)
        }
        _ => run(cx, args, None, m),
    }
}

/// `serve-insecure`: TLS and ACME off, with a warning.
pub fn serve_insecure(cx: Context, mut args: ServeArgs) -> anyhow::Result<()> {
    eprintln!(
        "warning: running in INSECURE mode - no TLS encryption; use it only for development or \
         internal networks"
    );
    args.force_plaintext = true;
    run(cx, args, None, Mode::Insecure)
}

/// `serve-ca`: a fresh certificate from the CA at start, renewed while running.
pub fn serve_ca(cx: Context, a: ServeCaArgs) -> anyhow::Result<()> {
    let dir = a.ca_dir.unwrap_or_else(|| cx.state_dir.join("ca"));
    let req = CertRequest {
        name: a.hostname,
        sans: a.sans,
        lifetime: ca::days(a.validity_days),
        client: false,
        force: true,
    };
    serve_from_ca(cx, a.serve, dir, req)
}

fn serve_from_ca(
    cx: Context,
    mut args: ServeArgs,
    dir: PathBuf,
    req: CertRequest,
) -> anyhow::Result<()> {
    if !ca::Layout::of(&dir).exists() {
        bail!(
            "CA directory not found or empty: {} (create it with `vibectl-server ca init`, or \
             pass --ca-dir)",
            dir.display()
        );
    }
    let issued = renew::issue(&dir, &req)?;
    eprintln!(
        "using a certificate for {} from the private CA in {} (renewed when a third of its {} days is left)",
        req.name,
        dir.display(),
        req.lifetime.as_secs() / 86_400
    );
    args.tls_cert = Some(issued.cert);
    args.tls_key = Some(issued.key);
    run(cx, args, Some((dir, req)), Mode::Ca)
}

/// `serve-custom`: the given certificate; `--ca-bundle-file` requires client certificates.
pub fn serve_custom(cx: Context, mut a: ServeCustomArgs) -> anyhow::Result<()> {
    for (flag, p) in [("--cert-file", &a.cert_file), ("--key-file", &a.key_file)]
        .into_iter()
        .chain(a.ca_bundle_file.as_ref().map(|p| ("--ca-bundle-file", p)))
    {
        if !p.is_file() {
            bail!("{flag} {}: no such file", p.display());
        }
    }
    a.serve.tls_cert = Some(a.cert_file);
    a.serve.tls_key = Some(a.key_file);
    if let Some(b) = a.ca_bundle_file {
        a.serve.tls_client_ca = Some(b);
    }
    run(cx, a.serve, None, Mode::Custom)
}

/// `serve-acme`: the flags become `acme.*` keys, then the normal serve path.
pub fn serve_acme(mut cx: Context, a: ServeAcmeArgs) -> anyhow::Result<()> {
    if a.challenge_type == ChallengeType::Dns01 {
        bail!(
            "--challenge-type dns-01 is not supported by this server (it would need your DNS \
             provider's API): use tls-alpn-01 (on the serving port) or http-01 (port 80)"
        );
    }
    let acme = &mut cx.cfg.acme;
    acme.enabled = true;
    acme.email = Some(a.email);
    acme.domains = a.domains;
    if let Some(u) = a.directory_url {
        acme.directory_url = u;
    }
    acme.challenge.kind = match a.challenge_type {
        ChallengeType::Http01 => ChallengeKind::Http01,
        ChallengeType::TlsAlpn01 => ChallengeKind::TlsAlpn01,
        ChallengeType::Dns01 => ChallengeKind::Dns01,
    };
    cx.cfg.tls.enabled = true;
    run(cx, a.serve, None, Mode::Acme)
}

/// The one serve path: logging, the runtime (`--max-workers` threads), renewal, [`crate::serve::run`].
fn run(
    cx: Context,
    args: ServeArgs,
    renew_from: Option<(PathBuf, CertRequest)>,
    mode: Mode,
) -> anyhow::Result<()> {
    crate::logging::init(&cx.log_level, cx.log_format);
    for w in &cx.warnings {
        tracing::warn!("{w}");
    }
    let mut cfg = cx.cfg;
    args.apply_to(&mut cfg);
    if mode == Mode::Insecure && cfg.acme.enabled {
        // The reference decides the mode from tls.enabled first: ACME only with TLS on.
        tracing::warn!("acme.enabled is set but tls.enabled is off, so serving without TLS and without ACME (set tls.enabled: true to use ACME)");
        cfg.acme.enabled = false;
    }
    if mode == Mode::Insecure {
        tracing::warn!("serving without TLS: tokens and prompts cross the network in the clear");
    }
    if renew_from.is_some() && cfg.tls.reload_interval_seconds == 0 {
        tracing::warn!(
            "tls.reload_interval_seconds is 0, so renewed certificates are served only after a restart"
        );
    }
    tracing::info!(mode = ?mode, "serve mode");
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = cfg.server.max_workers {
        rt.worker_threads(usize::try_from(n).unwrap_or(1).max(1));
    }
    let runtime = rt.enable_all().build()?;
    runtime.block_on(async move {
        if let Some((dir, req)) = renew_from {
            tokio::spawn(renew::keep_renewed(dir, req));
        }
        crate::serve::run(cfg, cx.source, &args).await
    })
}
