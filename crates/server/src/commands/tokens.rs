//! `tokens list [--json]`, `tokens revoke JTI | --subject SUB`.
use std::fmt::Write as _;

use super::{emit, Context};
use crate::auth::issue::{revoke_jti, revoke_subject};
use crate::auth::{open_store, rfc3339, unix_now};
use crate::cli::TokensCommand;

/// Runs a `tokens` subcommand.
pub fn exec(cx: &Context, cmd: &TokensCommand) -> anyhow::Result<()> {
    match cmd {
        TokensCommand::List { json } => list(cx, *json),
        TokensCommand::Revoke { jti, subject } => match (jti, subject) {
            (Some(jti), None) => {
                let note = if revoke_jti(&cx.cfg, &cx.state_dir, jti)? {
                    ""
                } else {
                    " (not in this server's registry; revoked anyway, in case it was issued elsewhere)"
                };
                emit(&format!(
                    "revoked token {jti}{note}\nrunning servers refuse it within a second or two\n"
                ))
            }
            (None, Some(sub)) => {
                let n = revoke_subject(&cx.cfg, &cx.state_dir, sub)?;
                emit(&format!(
                    "revoked every token of `{sub}` issued until now ({n} in the registry)\n\
                     running servers refuse them within a second or two; tokens issued later work\n"
                ))
            }
            _ => anyhow::bail!(
                "give a token id or --subject, not both: `vibectl-server tokens revoke JTI` or \
                 `vibectl-server tokens revoke --subject alice`"
            ),
        },
    }
}

fn list(cx: &Context, json: bool) -> anyhow::Result<()> {
    let rows = open_store(&cx.cfg, &cx.state_dir).list()?;
    let now = unix_now();
    let status = |exp: u64, revoked: Option<u64>| match revoked {
        Some(_) => "revoked",
        None if exp < now => "expired",
        None => "active",
    };
    if json {
        let v: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "subject": r.token.sub, "jti": r.token.jti,
                    "issued": rfc3339(r.token.iat), "expires": rfc3339(r.token.exp),
                    "audience": r.token.aud,
                    "revoked": r.revoked_at.is_some(),
                    "revoked_at": r.revoked_at.map(rfc3339),
                    "status": status(r.token.exp, r.revoked_at),
                })
            })
            .collect();
        return emit(&format!("{}\n", serde_json::to_string_pretty(&v)?));
    }
    if rows.is_empty() {
        return emit(
            "no tokens issued yet (create one with `vibectl-server generate-token NAME`)\n",
        );
    }
    let mut o = String::new();
    let _ = writeln!(
        o,
        "{:<20} {:<36} {:<20} {:<20} STATUS",
        "SUBJECT", "JTI", "ISSUED", "EXPIRES"
    );
    for r in &rows {
        let st = match r.revoked_at {
            Some(at) => format!("revoked {}", rfc3339(at)),
            None => status(r.token.exp, None).to_owned(),
        };
        let _ = writeln!(
            o,
            "{:<20} {:<36} {:<20} {:<20} {st}",
            r.token.sub,
            r.token.jti,
            rfc3339(r.token.iat),
            rfc3339(r.token.exp)
        );
    }
    emit(&o)
}
