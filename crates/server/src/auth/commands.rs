//! `generate-token`, `generate-keypair`, `tokens list|revoke`.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::{
    append_now, audit_path, generate_keypair, open_store, parse_algorithm, parse_lifetime, rfc3339,
    unix_now, Audience, AuditEvent, Claims, IssuedToken, SecretSource, Signer,
};
use crate::commands::emit;
use crate::config::ServerConfig;
use vibectl_fsutil::write_atomic;

/// Checks a subject name: 1-256 printable characters.
pub fn check_subject(sub: &str) -> anyhow::Result<()> {
    if sub.trim().is_empty() || sub.len() > 256 || sub.chars().any(char::is_control) {
        bail!(
            "the subject must be 1-256 printable characters, e.g. `alice` or `ci-bot`, got {sub:?}"
        );
    }
    Ok(())
}

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// `generate-token SUBJECT [--expires-in D] [--output FILE] [--audience A]`.
pub fn generate_token(
    cfg: &ServerConfig,
    state_dir: &Path,
    subject: &str,
    expires_in: Option<&str>,
    output: Option<&Path>,
    audience: Option<&str>,
) -> anyhow::Result<()> {
    check_subject(subject)?;
    let lifetime = match expires_in {
        Some(t) => parse_lifetime(t).map_err(|e| anyhow::anyhow!("--expires-in: {e}"))?,
        None => std::time::Duration::from_secs(match cfg.jwt.expiration_hours {
            Some(h) => u64::from(h) * 3600,
            None => u64::from(cfg.jwt.expiration_days.max(1)) * 86_400,
        }),
    };
    let (signer, source) =
        Signer::from_config(&cfg.jwt, state_dir, &env).map_err(|e| anyhow::anyhow!(e))?;
    if let Some(SecretSource::Generated(p)) = &source {
        eprintln!(
            "note: no JWT secret was configured, so one was generated and saved to {} (mode 0600); \
             a server using the same state dir verifies with it",
            p.display()
        );
    }
    if audience.is_some_and(|a| a.trim().is_empty()) {
        bail!("--audience must not be empty");
    }
    let now = unix_now();
    let claims = Claims {
        sub: subject.to_owned(),
        iss: cfg.jwt.issuer.clone(),
        iat: Some(now),
        nbf: Some(now),
        exp: now + lifetime.as_secs(),
        jti: Some(uuid::Uuid::new_v4().to_string()),
        aud: audience.map(|a| Audience::One(a.to_owned())),
    };
    let token = signer.sign(&claims).map_err(|e| anyhow::anyhow!(e))?;
    let jti = claims.jti.clone().unwrap_or_default();
    let store = open_store(cfg, state_dir);
    store
        .record_issued(&IssuedToken {
            jti: jti.clone(),
            sub: subject.to_owned(),
            iat: now,
            exp: claims.exp,
            aud: audience.map(str::to_owned),
        })
        .context("cannot record the token, so it could not be listed or revoked; nothing issued")?;
    let _ = append_now(
        &audit_path(cfg, state_dir),
        &AuditEvent {
            event: "token_issued",
            subject: Some(subject.to_owned()),
            jti: Some(jti.clone()),
            expires: Some(rfc3339(claims.exp)),
            ..AuditEvent::default()
        },
    );
    let summary = format!(
        "token for `{subject}` (jti {jti}, {:?}, expires {})",
        signer.algorithm,
        rfc3339(claims.exp)
    );
    match output {
        Some(path) => {
            write_atomic(path, format!("{token}\n"), 0o600)?;
            eprintln!("wrote {summary} to {} (mode 0600)", path.display());
            Ok(())
        }
        None => {
            eprintln!("issued {summary}");
            emit(&format!("{token}\n"))
        }
    }
}

/// `generate-keypair [--algorithm A] [--out-dir DIR] [--name N] [--force]`.
pub fn generate_keypair_cmd(
    state_dir: &Path,
    algorithm: &str,
    out_dir: Option<&Path>,
    name: &str,
    force: bool,
) -> anyhow::Result<()> {
    let alg = parse_algorithm(algorithm)
        .filter(|a| !super::is_symmetric(*a))
        .with_context(|| {
            format!("--algorithm must be EdDSA (Ed25519) or RS256, got `{algorithm}`")
        })?;
    let dir = out_dir.map_or_else(|| state_dir.join("keys"), Path::to_path_buf);
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    for p in [&private, &public] {
        if p.exists() && !force {
            bail!("{} already exists; pass --force to replace it", p.display());
        }
    }
    let (key, public_pem) = generate_keypair(alg).map_err(|e| anyhow::anyhow!(e))?;
    write_atomic(&private, format!("{}\n", key.expose()), 0o600)?;
    write_atomic(&public, &public_pem, 0o644)?;
    let alg_name = if alg == jsonwebtoken::Algorithm::EdDSA {
        "EdDSA"
    } else {
        "RS256"
    };
    emit(&format!(
        "wrote {} (private, mode 0600: keep it where tokens are issued)\n\
         wrote {} (public: give it to every server that verifies)\n\n\
         config where tokens are issued:\n  jwt:\n    algorithm: {alg_name}\n    key_id: {name}\n    private_key_file: {}\n\
         config on servers that only verify:\n  jwt:\n    algorithm: {alg_name}\n    key_id: {name}\n    public_key_file: {}\n",
        private.display(),
        public.display(),
        private.display(),
        public.display()
    ))
}

/// `tokens list [--json]`.
pub fn tokens_list(cfg: &ServerConfig, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    let store = open_store(cfg, state_dir);
    let rows = store.list()?;
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

/// `tokens revoke JTI` or `tokens revoke --subject SUB`.
pub fn tokens_revoke(
    cfg: &ServerConfig,
    state_dir: &Path,
    jti: Option<&str>,
    subject: Option<&str>,
) -> anyhow::Result<()> {
    let store = open_store(cfg, state_dir);
    let now = unix_now();
    let audit = audit_path(cfg, state_dir);
    match (jti, subject) {
        (Some(jti), None) => {
            if jti.trim().is_empty() {
                bail!("the token id must not be empty (see `vibectl-server tokens list`)");
            }
            let known = store.revoke_jti(jti, now)?;
            let _ = append_now(
                &audit,
                &AuditEvent {
                    event: "token_revoked",
                    jti: Some(jti.to_owned()),
                    ..AuditEvent::default()
                },
            );
            let note = if known {
                ""
            } else {
                " (not in this server's registry; revoked anyway, in case it was issued elsewhere)"
            };
            emit(&format!(
                "revoked token {jti}{note}\nrunning servers refuse it within a second or two\n"
            ))
        }
        (None, Some(sub)) => {
            check_subject(sub)?;
            let n = store.revoke_subject(sub, now)?;
            let _ = append_now(
                &audit,
                &AuditEvent {
                    event: "subject_revoked",
                    subject: Some(sub.to_owned()),
                    reason: Some(format!("tokens issued at or before {}", rfc3339(now))),
                    ..AuditEvent::default()
                },
            );
            emit(&format!(
                "revoked every token of `{sub}` issued until now ({n} in the registry)\n\
                 running servers refuse them within a second or two; tokens issued later work\n"
            ))
        }
        _ => bail!(
            "give a token id or --subject, not both: `vibectl-server tokens revoke JTI` or \
             `vibectl-server tokens revoke --subject alice`"
        ),
    }
}

/// Default output path helper for tests and docs.
pub fn default_key_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("keys")
}
