//! Issuing and revoking: what `generate-token`, `generate-keypair` and `tokens revoke` do,
//! returning what was made (the commands print it). Every issue and revocation is recorded in the
//! token registry and the audit log.
use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonwebtoken::Algorithm;

use super::{
    append_now, audit_path, generate_keypair, open_store, parse_algorithm, rfc3339, unix_now,
    Audience, AuditEvent, Claims, IssuedToken, KeyError, RegistryError, Secret, SecretSource,
    Signer,
};
use crate::config::ServerConfig;
use vibectl_fsutil::write_atomic;

/// Why nothing was issued or revoked.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// A subject that cannot be a `sub`.
    #[error("the subject must be 1-256 printable characters, e.g. `alice` or `ci-bot`, got {0:?}")]
    Subject(String),
    /// `--audience ""`.
    #[error("--audience must not be empty")]
    EmptyAudience,
    /// `tokens revoke ""`.
    #[error("the token id must not be empty (see `vibectl-server tokens list`)")]
    EmptyJti,
    /// `--algorithm` other than EdDSA or RS256.
    #[error("--algorithm must be EdDSA (Ed25519) or RS256, got `{0}`")]
    PairAlgorithm(String),
    /// A key file exists and `--force` was not given.
    #[error("{0} already exists; pass --force to replace it")]
    Exists(PathBuf),
    /// No signing key.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The registry refused the record, so the token could not be listed or revoked.
    #[error("cannot record the token, so it could not be listed or revoked; nothing issued: {0}")]
    Record(#[source] RegistryError),
    /// The registry could not be changed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A file could not be written.
    #[error(transparent)]
    Write(#[from] vibectl_fsutil::WriteError),
}

/// Checks a subject name: 1-256 printable characters.
pub fn check_subject(sub: &str) -> Result<(), IssueError> {
    if sub.trim().is_empty() || sub.len() > 256 || sub.chars().any(char::is_control) {
        return Err(IssueError::Subject(sub.to_owned()));
    }
    Ok(())
}

/// A token to issue.
#[derive(Clone, Debug)]
pub struct TokenRequest<'a> {
    /// `sub`.
    pub subject: &'a str,
    /// Lifetime; `None` takes `jwt.expiration_hours`/`jwt.expiration_days`.
    pub lifetime: Option<Duration>,
    /// `aud`.
    pub audience: Option<&'a str>,
}

/// An issued token.
#[derive(Debug)]
pub struct IssuedJwt {
    /// The token itself.
    pub token: Secret,
    /// Its claims (as recorded).
    pub claims: Claims,
    /// What signed it.
    pub algorithm: Algorithm,
    /// Where a JWT secret was generated now, because none was configured.
    pub generated_secret: Option<PathBuf>,
}

/// Signs a token for `req`, records it in the registry and the audit log.
pub fn issue_token(
    cfg: &ServerConfig,
    state_dir: &Path,
    req: &TokenRequest<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<IssuedJwt, IssueError> {
    check_subject(req.subject)?;
    if req.audience.is_some_and(|a| a.trim().is_empty()) {
        return Err(IssueError::EmptyAudience);
    }
    let lifetime = req.lifetime.unwrap_or_else(|| {
        Duration::from_secs(match cfg.jwt.expiration_hours {
            Some(h) => u64::from(h) * 3600,
            None => u64::from(cfg.jwt.expiration_days.max(1)) * 86_400,
        })
    });
    let (signer, source) = Signer::from_config(&cfg.jwt, state_dir, env)?;
    let now = unix_now();
    let claims = Claims {
        sub: req.subject.to_owned(),
        iss: cfg.jwt.issuer.clone(),
        iat: Some(now),
        nbf: Some(now),
        exp: now + lifetime.as_secs(),
        jti: Some(uuid::Uuid::new_v4().to_string()),
        aud: req.audience.map(|a| Audience::One(a.to_owned())),
    };
    let token = signer.sign(&claims)?;
    let jti = claims.jti.clone().unwrap_or_default();
    open_store(cfg, state_dir)
        .record_issued(&IssuedToken {
            jti: jti.clone(),
            sub: req.subject.to_owned(),
            iat: now,
            exp: claims.exp,
            aud: req.audience.map(str::to_owned),
        })
        .map_err(IssueError::Record)?;
    let _ = append_now(
        &audit_path(cfg, state_dir),
        &AuditEvent {
            event: "token_issued",
            subject: Some(req.subject.to_owned()),
            jti: Some(jti),
            expires: Some(rfc3339(claims.exp)),
            ..AuditEvent::default()
        },
    );
    Ok(IssuedJwt {
        token: Secret::new(token),
        claims,
        algorithm: signer.algorithm,
        generated_secret: match source {
            Some(SecretSource::Generated(p)) => Some(p),
            _ => None,
        },
    })
}

/// A key pair written by `generate-keypair`.
#[derive(Clone, Debug)]
pub struct KeypairFiles {
    /// Private key (mode 0600).
    pub private: PathBuf,
    /// Public key.
    pub public: PathBuf,
    /// `EdDSA` or `RS256`.
    pub algorithm: &'static str,
}

/// Makes a key pair `NAME.key`/`NAME.pub` in `dir`.
pub fn write_keypair(
    dir: &Path,
    algorithm: &str,
    name: &str,
    force: bool,
) -> Result<KeypairFiles, IssueError> {
    let alg = parse_algorithm(algorithm)
        .filter(|a| !super::is_symmetric(*a))
        .ok_or_else(|| IssueError::PairAlgorithm(algorithm.to_owned()))?;
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    for p in [&private, &public] {
        if p.exists() && !force {
            return Err(IssueError::Exists(p.clone()));
        }
    }
    let (key, public_pem) = generate_keypair(alg)?;
    write_atomic(&private, format!("{}\n", key.expose()), 0o600)?;
    write_atomic(&public, &public_pem, 0o644)?;
    Ok(KeypairFiles {
        private,
        public,
        algorithm: if alg == Algorithm::EdDSA {
            "EdDSA"
        } else {
            "RS256"
        },
    })
}

/// Revokes one token; `Ok(false)` when it is not in this registry (revoked anyway).
pub fn revoke_jti(cfg: &ServerConfig, state_dir: &Path, jti: &str) -> Result<bool, IssueError> {
    if jti.trim().is_empty() {
        return Err(IssueError::EmptyJti);
    }
    let known = open_store(cfg, state_dir).revoke_jti(jti, unix_now())?;
    let _ = append_now(
        &audit_path(cfg, state_dir),
        &AuditEvent {
            event: "token_revoked",
            jti: Some(jti.to_owned()),
            ..AuditEvent::default()
        },
    );
    Ok(known)
}

/// Revokes every token of `sub` issued until now; returns how many the registry knew.
pub fn revoke_subject(
    cfg: &ServerConfig,
    state_dir: &Path,
    sub: &str,
) -> Result<usize, IssueError> {
    check_subject(sub)?;
    let now = unix_now();
    let n = open_store(cfg, state_dir).revoke_subject(sub, now)?;
    let _ = append_now(
        &audit_path(cfg, state_dir),
        &AuditEvent {
            event: "subject_revoked",
            subject: Some(sub.to_owned()),
            reason: Some(format!("tokens issued at or before {}", rfc3339(now))),
            ..AuditEvent::default()
        },
    );
    Ok(n)
}
