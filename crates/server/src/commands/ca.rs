//! `ca init|create-server-cert|create-client-cert|status|check-expiry`: the private CA.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::{emit, Context};
use crate::auth::{rfc3339, unix_now};
use crate::tls::ca::{self, CaNames, CertRequest, CertState, Standing};

/// `ca` options.
#[derive(Debug, Args)]
pub struct CaArgs {
    /// CA directory (default: <state dir>/ca).
    #[arg(long, global = true, value_name = "DIR")]
    pub ca_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: CaCommand,
}

/// `ca` subcommands.
#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a root and an intermediate CA, and the ca-bundle.crt clients trust.
    #[command(
        after_help = "Examples:\n  vibectl-server ca init\n  vibectl-server ca init --organization \"Acme\" --country DE --ca-dir /etc/vibectl/ca"
    )]
    Init {
        /// Common name of the root CA.
        #[arg(long, default_value = "vibectl Root CA")]
        root_cn: String,
        /// Common name of the intermediate CA.
        #[arg(long, default_value = "vibectl Intermediate CA")]
        intermediate_cn: String,
        /// Organization name put in the CA certificates.
        #[arg(long, alias = "name", default_value = "vibectl")]
        organization: String,
        /// Two-letter country code put in the CA certificates.
        #[arg(long, default_value = "US")]
        country: String,
        /// Replace an existing CA.
        #[arg(long)]
        force: bool,
    },
    /// Issue a server certificate for HOSTNAME (plus --san names), signed by the intermediate.
    #[command(
        after_help = "Examples:\n  vibectl-server ca create-server-cert proxy.example.com --san 10.0.0.5 --san proxy\n  \
vibectl-server ca create-server-cert localhost --san 127.0.0.1 --validity-days 30 --force\n\n\
Then serve with it:\n  vibectl-server serve-custom --cert-file <dir>/server_certs/HOST/HOST.crt --key-file <dir>/server_certs/HOST/HOST.key"
    )]
    CreateServerCert {
        /// Host name (or address) clients connect to.
        #[arg(value_name = "HOSTNAME")]
        host: String,
        /// Further names or addresses the certificate is valid for (repeatable).
        #[arg(long = "san", value_name = "NAME")]
        sans: Vec<String>,
        /// Validity in days.
        #[arg(long, alias = "days", value_name = "DAYS", default_value_t = 90)]
        validity_days: u32,
        /// Replace an existing certificate for HOSTNAME.
        #[arg(long)]
        force: bool,
    },
    /// Issue a client certificate for mutual TLS (tls.client_ca_file: the CA's ca-bundle.crt).
    #[command(after_help = "Examples:\n  vibectl-server ca create-client-cert alice-laptop")]
    CreateClientCert {
        /// Name put in the certificate.
        name: String,
        /// Validity in days.
        #[arg(long, alias = "days", value_name = "DAYS", default_value_t = 365)]
        validity_days: u32,
        /// Replace an existing certificate of that name.
        #[arg(long)]
        force: bool,
    },
    /// Show each CA certificate and issued certificate with its expiry.
    #[command(
        after_help = "Examples:\n  vibectl-server ca status\n  vibectl-server ca status --days 60 --json"
    )]
    Status {
        /// Days ahead to warn about expiry.
        #[arg(long, short = 'd', default_value_t = 30)]
        days: u32,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
    /// Check for certificates that are expired or expire within --days; the exit code says which.
    #[command(
        after_help = "Exit status (the monitoring-plugin convention):\n  0  every certificate is valid for more than --days\n  \
1  a certificate expires within --days\n  2  a certificate has expired or cannot be read\n  3  the check could not run (no CA)\n\n\
Examples:\n  vibectl-server ca check-expiry\n  vibectl-server ca check-expiry --days 14 || alert"
    )]
    CheckExpiry {
        /// Days before expiry to warn about.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// JSON output.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `ca` subcommand.
pub fn exec(cx: &Context, a: CaArgs) -> anyhow::Result<ExitCode> {
    let dir = a.ca_dir.unwrap_or_else(|| cx.state_dir.join("ca"));
    match a.command {
        CaCommand::Init {
            root_cn,
            intermediate_cn,
            organization,
            country,
            force,
        } => {
            let names = CaNames {
                root_cn,
                intermediate_cn,
                organization,
                country,
            };
            let made = ca::init(&dir, &names, force)?;
            emit(&format!(
                "created a private CA in {d}\n  {} (10 years)\n  {} (5 years; signs server certificates)\n  {} (give this to clients)\n\
                 The root key {} is needed only to make a new intermediate: move it offline.\n\
                 next: vibectl-server ca create-server-cert HOST --san OTHER-NAME\n",
                made.root_cert.display(),
                made.intermediate_cert.display(),
                made.bundle.display(),
                made.root_key.display(),
                d = dir.display()
            ))?;
        }
        CaCommand::CreateServerCert {
            host,
            sans,
            validity_days,
            force,
        } => {
            let req = CertRequest {
                name: host,
                sans,
                lifetime: ca::days(validity_days),
                client: false,
                force,
            };
            let i = ca::create_cert(&dir, &req)?;
            emit(&format!(
                "wrote {} (certificate + intermediate, valid {validity_days} days)\nwrote {} (key, mode 0600)\n\
                 serve with: vibectl-server serve-custom --cert-file {} --key-file {}\n\
                 clients trust: {}\n",
                i.cert.display(),
                i.key.display(),
                i.cert.display(),
                i.key.display(),
                dir.join(ca::BUNDLE).display()
            ))?;
        }
        CaCommand::CreateClientCert {
            name,
            validity_days,
            force,
        } => {
            let req = CertRequest {
                name,
                sans: Vec::new(),
                lifetime: ca::days(validity_days),
                client: true,
                force,
            };
            let i = ca::create_cert(&dir, &req)?;
            emit(&format!(
                "wrote {} and {} (mode 0600)\nservers require it with tls.client_ca_file: {}\n",
                i.cert.display(),
                i.key.display(),
                dir.join(ca::BUNDLE).display()
            ))?;
        }
        CaCommand::Status { days, json } => {
            let certs = ca::certificates(&dir)?;
            print_table(&dir, &certs, days, json)?;
        }
        CaCommand::CheckExpiry { days, json } => {
            let certs = match ca::certificates(&dir) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(3));
                }
            };
            print_table(&dir, &certs, days, json)?;
            let now = unix_now() as i64;
            let worst = certs
                .iter()
                .map(|c| match c.standing(now, days) {
                    Standing::Ok => 0,
                    Standing::ExpiresSoon => 1,
                    Standing::Expired | Standing::Unreadable => 2,
                })
                .max()
                .unwrap_or(0);
            if !json {
                match worst {
                    0 => eprintln!("every certificate is valid for more than {days} days"),
                    1 => eprintln!(
                        "warning: a certificate expires within {days} days: renew it with \
                         `vibectl-server ca create-server-cert HOST --force`"
                    ),
                    _ => eprintln!(
                        "critical: a certificate has expired or cannot be read: renew it with \
                         `vibectl-server ca create-server-cert HOST --force` (or `ca init --force` for the CA)"
                    ),
                }
            }
            return Ok(ExitCode::from(worst));
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(dir: &Path, certs: &[CertState], warn_days: u32, json: bool) -> anyhow::Result<()> {
    let now = unix_now() as i64;
    let expires = |c: &CertState| match &c.not_after {
        Ok(t) => rfc3339(u64::try_from(*t).unwrap_or(0)),
        Err(e) => e.to_string(),
    };
    if json {
        let v: Vec<_> = certs
            .iter()
            .map(|c| {
                serde_json::json!({"file": c.file.display().to_string(), "subject": c.subject,
                    "expires": expires(c), "days_left": c.days_left(now),
                    "status": c.standing(now, warn_days).as_str()})
            })
            .collect();
        return emit(&format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    let mut o = format!("CA in {}\n", dir.display());
    for c in certs {
        let rel = c.file.strip_prefix(dir).unwrap_or(&c.file);
        let days = c
            .days_left(now)
            .map_or(String::new(), |d| format!("{d} days"));
        let _ = writeln!(
            o,
            "  {:<48} {:<22} {:>10}  {}",
            rel.display(),
            expires(c),
            days,
            c.standing(now, warn_days).as_str()
        );
    }
    emit(&o)
}
