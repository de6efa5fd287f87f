//! Authentication: JWT issuance and verification, keys, revocation and the audit log.
//!
//! The request path: [`AuthLayer`] reads `authorization: Bearer <jwt>`, [`Verifier`] checks it
//! (cache first), the verified [`Subject`] goes into the request extensions, and every outcome
//! goes to the [`AuditLog`]. Callers only ever see [`UNAUTHENTICATED_MESSAGE`].
mod audit;
mod claims;
mod duration;
mod error;
pub mod issue;
mod keys;
mod layer;
mod secret;
mod store;
mod verifier;

pub use audit::{append_now, AuditEvent, AuditLog, AUDIT_FILE};
pub use claims::{Audience, Claims, Subject};
pub use duration::{parse_lifetime, rfc3339, rfc3339_millis, unix_now, ymd};
pub use error::{KeyError, LifetimeError};
pub use keys::{
    generate_keypair, is_symmetric, load_keyset, parse_algorithm, public_from_private, KeySet,
    Signer, VerificationKey,
};
pub(crate) use layer::peer_of;
pub use layer::{AuthLayer, AuthService, EXEMPT_PREFIXES};
pub use secret::{
    lookup_secret, read_secret_file, short_secret, Secret, SecretSource, GENERATED_SECRET_FILE,
    MIN_HS256_SECRET_BYTES,
};
pub use store::{
    FileTokenStore, IssuedToken, RegistryError, Revocations, TokenRow, TokenStore, Version,
    REGISTRY_FILE,
};
pub use verifier::{AuthRefusal, Verifier};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::ServerConfig;

/// The one message an unauthenticated caller gets, whatever the reason.
pub const UNAUTHENTICATED_MESSAGE: &str = "authentication required: this server needs a valid \
token in the `authorization: Bearer <token>` header. Ask the server operator for one (they run \
`vibectl-server generate-token <your-name>`), then configure it with \
`vibectl setup-proxy configure <profile> vibectl-server://<token>@<host>:<port>`";

/// Whether calls need a token (`server.require_auth` or the reference's `jwt.enabled`).
pub fn auth_required(cfg: &ServerConfig) -> bool {
    cfg.server.require_auth || cfg.jwt.enabled
}

/// The registry file: `jwt.registry_file`, else `<state dir>/tokens.jsonl`.
pub fn registry_path(cfg: &ServerConfig, state_dir: &Path) -> PathBuf {
    cfg.jwt
        .registry_file
        .clone()
        .unwrap_or_else(|| state_dir.join(REGISTRY_FILE))
}

/// The audit log: `audit.path`, else `<state dir>/audit.log`.
pub fn audit_path(cfg: &ServerConfig, state_dir: &Path) -> PathBuf {
    cfg.audit
        .path
        .clone()
        .unwrap_or_else(|| state_dir.join(AUDIT_FILE))
}

/// The token store named by the config.
pub fn open_store(cfg: &ServerConfig, state_dir: &Path) -> Arc<dyn TokenStore> {
    if let (crate::config::StateBackend::Redis, Some(url)) =
        (cfg.state.backend, cfg.state.redis_url.as_deref())
    {
        // Replicas on Redis share the registry, so a revocation anywhere applies everywhere.
        return Arc::new(crate::state::RedisTokenStore::new(
            url,
            &cfg.state.redis_key_prefix,
            Duration::from_millis(cfg.state.redis_timeout_ms),
        ));
    }
    Arc::new(FileTokenStore::new(registry_path(cfg, state_dir)))
}

/// Verification for a running server: keys, revocations kept fresh, audit log.
#[derive(Debug)]
pub struct Authenticator {
    /// Replaced whole when a config reload brings new keys (its token cache goes with it).
    verifier: arc_swap::ArcSwap<Verifier>,
    audit: AuditLog,
}

impl Authenticator {
    /// Loads keys and revocations, opens the audit log and starts the revocation poller (needs a
    /// Tokio runtime). Returns it with a description of the key origin for the startup log.
    pub fn start(
        cfg: &ServerConfig,
        state_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Arc<Self>, String), KeyError> {
        let (keys, origin) = load_keyset(&cfg.jwt, state_dir, env)?;
        let verifier = Verifier::new(&cfg.jwt, keys);
        let store = open_store(cfg, state_dir);
        verifier.set_revocations(store.revocations()?);
        let path = audit_path(cfg, state_dir);
        let audit = AuditLog::start(&path, &cfg.audit).map_err(|source| KeyError::Audit {
            path: path.clone(),
            source,
        })?;
        let auth = Arc::new(Authenticator {
            verifier: arc_swap::ArcSwap::from_pointee(verifier),
            audit,
        });
        let poll = Duration::from_millis(cfg.jwt.revocation_poll_ms.max(50));
        tokio::spawn(poll_revocations(Arc::downgrade(&auth), store, poll));
        Ok((auth, origin))
    }

    /// The verifier in force.
    fn verifier(&self) -> Option<Arc<Verifier>> {
        Some(self.verifier.load_full())
    }

    /// Loads the keys of a reloaded config and verifies with them from the next call on; the
    /// revocations carry over, the verified-token cache starts empty (a removed key must stop
    /// working at once). Returns the description of the key origin.
    pub fn reload_keys(
        &self,
        cfg: &ServerConfig,
        state_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<String, KeyError> {
        let (keys, origin) = load_keyset(&cfg.jwt, state_dir, env)?;
        let mut next = Verifier::new(&cfg.jwt, keys);
        if let Some(current) = self.verifier() {
            next = next.sharing_revocations(&current);
        }
        self.verifier.store(Arc::new(next));
        Ok(origin)
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    /// Checks the `authorization` header of a call to `method` from `peer`; records the outcome.
    pub fn check(
        &self,
        header: Option<&http::HeaderValue>,
        peer: Option<SocketAddr>,
        method: &str,
    ) -> Result<Subject, tonic::Status> {
        let result = bearer(header).and_then(|t| match self.verifier() {
            Some(v) => v.verify(t, unix_now()),
            None => Err(AuthRefusal::new("verifier unavailable")),
        });
        let mut ev = AuditEvent {
            peer: peer.map(|p| p.to_string()),
            method: Some(method.chars().take(200).collect()),
            ..AuditEvent::default()
        };
        match result {
            Ok(subject) => {
                ev.event = "auth_ok";
                ev.subject = Some(subject.name().to_owned());
                ev.jti = subject.jti().map(str::to_owned);
                self.audit.record(ev);
                Ok(subject)
            }
            Err(r) => {
                ev.event = "auth_failed";
                ev.subject = r.subject;
                ev.jti = r.jti;
                ev.reason = Some(r.reason);
                self.audit.record(ev);
                Err(tonic::Status::unauthenticated(UNAUTHENTICATED_MESSAGE))
            }
        }
    }
}

/// The token of an `authorization: Bearer <token>` header.
fn bearer(header: Option<&http::HeaderValue>) -> Result<&str, AuthRefusal> {
    let h = header.ok_or_else(|| AuthRefusal::new("missing authorization header"))?;
    let v = h
        .to_str()
        .map_err(|_| AuthRefusal::new("authorization header is not ASCII"))?;
    let v = v.trim();
    let (scheme, token) = v.split_once(' ').unwrap_or((v, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Name the scheme only when it looks like one (never echo a bare credential).
        let named = !token.is_empty()
            && scheme.len() <= 10
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        return Err(AuthRefusal::new(if named {
            format!("wrong scheme `{scheme}` (expected Bearer)")
        } else {
            "wrong scheme (expected `Bearer <token>`)".to_owned()
        }));
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthRefusal::new("empty bearer token"));
    }
    Ok(token)
}

async fn poll_revocations(
    auth: std::sync::Weak<Authenticator>,
    store: Arc<dyn TokenStore>,
    every: Duration,
) {
    let mut last = store.version().ok().flatten();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(auth) = auth.upgrade() else { return };
        let s = Arc::clone(&store);
        let version = match tokio::task::spawn_blocking(move || s.version()).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                tracing::warn!("cannot check for revocations: {e}");
                continue;
            }
            Err(_) => continue,
        };
        if version == last {
            continue;
        }
        let s = Arc::clone(&store);
        match tokio::task::spawn_blocking(move || s.revocations()).await {
            Ok(Ok(r)) => {
                tracing::info!(
                    tokens = r.jtis.len(),
                    subjects = r.subjects.len(),
                    "revocations reloaded"
                );
                if let Some(v) = auth.verifier() {
                    v.set_revocations(r);
                }
                last = version;
            }
            Ok(Err(e)) => tracing::warn!("cannot reload revocations: {e}"),
            Err(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn bearer_header_parsing() {
        let h = |s: &str| http::HeaderValue::from_str(s).unwrap();
        assert_eq!(bearer(Some(&h("Bearer abc"))).unwrap(), "abc");
        assert_eq!(bearer(Some(&h("bearer  abc "))).unwrap(), "abc");
        assert_eq!(bearer(Some(&h("BEARER abc"))).unwrap(), "abc");
        assert_eq!(
            bearer(None).unwrap_err().reason,
            "missing authorization header"
        );
        assert_eq!(
            bearer(Some(&h("Bearer"))).unwrap_err().reason,
            "empty bearer token"
        );
        assert_eq!(
            bearer(Some(&h("Bearer   "))).unwrap_err().reason,
            "empty bearer token"
        );
        let r = bearer(Some(&h("Basic dXNlcjpwYXNz"))).unwrap_err().reason;
        assert_eq!(r, "wrong scheme `Basic` (expected Bearer)");
        // The refusal never carries the credential itself.
        let r = bearer(Some(&h("eyJhbGciOiJIUzI1NiJ9.e30.sig")))
            .unwrap_err()
            .reason;
        assert!(!r.contains("e30.sig"), "{r}");
    }
}
