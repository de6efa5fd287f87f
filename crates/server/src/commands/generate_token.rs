//! `generate-token SUBJECT [--expires-in D] [--output FILE] [--audience A]`.
use anyhow::Context as _;

use super::{emit, Context};
use crate::auth::issue::{issue_token, TokenRequest};
use crate::auth::{parse_lifetime, rfc3339};
use crate::cli::GenerateTokenArgs;
use vibectl_fsutil::write_atomic;

/// Issues the token and prints it (or writes it 0600 with `--output`).
pub fn exec(cx: &Context, a: &GenerateTokenArgs) -> anyhow::Result<()> {
    let lifetime = match a.expires_in.as_deref() {
        Some(t) => Some(parse_lifetime(t).context("--expires-in")?),
        None => None,
    };
    let env = |k: &str| std::env::var(k).ok();
    let req = TokenRequest {
        subject: &a.subject,
        lifetime,
        audience: a.audience.as_deref(),
    };
    let issued = issue_token(&cx.cfg, &cx.state_dir, &req, &env)?;
    if let Some(p) = &issued.generated_secret {
        eprintln!(
            "note: no JWT secret was configured, so one was generated and saved to {} (mode 0600); \
             a server using the same state dir verifies with it",
            p.display()
        );
    }
    let summary = format!(
        "token for `{}` (jti {}, {:?}, expires {})",
        a.subject,
        issued.claims.jti.as_deref().unwrap_or_default(),
        issued.algorithm,
        rfc3339(issued.claims.exp)
    );
    match &a.output {
        Some(path) => {
            write_atomic(path, format!("{}\n", issued.token.expose()), 0o600)?;
            eprintln!("wrote {summary} to {} (mode 0600)", path.display());
            Ok(())
        }
        None => {
            eprintln!("issued {summary}");
            emit(&format!("{}\n", issued.token.expose()))
        }
    }
}
