//! Token verification: pinned algorithms, required claims, leeway, revocation, and a cache of
//! verified tokens so a repeated token costs a hash and a map lookup, not a signature check.
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::Validation;
use sha2::{Digest, Sha256};

use super::keys::KeySet;
use super::store::Revocations;
use super::{Claims, Subject};
use crate::config::JwtSection;

/// Entries kept in the verified-token cache before it is pruned.
const CACHE_CAPACITY: usize = 10_000;

/// Why a token was refused: the precise reason for the audit log (never sent to the caller), and
/// the subject and jti when the signature was valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthRefusal {
    /// Precise reason, e.g. `expired`.
    pub reason: String,
    /// `sub` of a correctly signed token.
    pub subject: Option<String>,
    /// `jti` of a correctly signed token.
    pub jti: Option<String>,
}

impl AuthRefusal {
    /// A refusal with only a reason.
    pub fn new(reason: impl Into<String>) -> Self {
        AuthRefusal {
            reason: reason.into(),
            subject: None,
            jti: None,
        }
    }
}

#[derive(Clone, Debug)]
struct Cached {
    subject: Subject,
    exp: u64,
    nbf: Option<u64>,
    iat: Option<u64>,
}

/// Verifies bearer tokens against a key set and the current revocations.
#[derive(Debug)]
pub struct Verifier {
    keys: KeySet,
    validations: Vec<Validation>,
    leeway: u64,
    max_token_bytes: usize,
    cache: RwLock<HashMap<[u8; 32], Cached>>,
    /// Shared with the verifiers that replace this one on a key reload, so revocations the
    /// poller installs on any of them apply to all (no reload can lose one).
    revocations: Arc<arc_swap::ArcSwap<Revocations>>,
}

impl Verifier {
    /// A verifier for `jwt:` settings and keys.
    pub fn new(jwt: &JwtSection, keys: KeySet) -> Self {
        let validations = keys
            .keys
            .iter()
            .map(|k| {
                let mut v = Validation::new(k.algorithm);
                v.algorithms = vec![k.algorithm];
                v.leeway = jwt.leeway_seconds;
                v.validate_exp = true;
                v.validate_nbf = true;
                v.set_issuer(&[jwt.issuer.as_str()]);
                let mut required = vec!["exp", "sub", "iss"];
                if !jwt.audience.is_empty() {
                    v.set_audience(&jwt.audience);
                    required.push("aud");
                }
                v.set_required_spec_claims(&required);
                v
            })
            .collect();
        Verifier {
            keys,
            validations,
            leeway: jwt.leeway_seconds,
            max_token_bytes: jwt.max_token_bytes,
            cache: RwLock::new(HashMap::new()),
            revocations: Arc::new(arc_swap::ArcSwap::from_pointee(Revocations::default())),
        }
    }

    /// Replaces the revocations (called when the store changes).
    pub fn set_revocations(&self, r: Revocations) {
        self.revocations.store(Arc::new(r));
    }

    /// This verifier sharing `from`'s revocations (when keys are reloaded): from now on an
    /// update installed on either is seen by both, so one racing the reload is not lost.
    pub fn sharing_revocations(mut self, from: &Verifier) -> Self {
        self.revocations = Arc::clone(&from.revocations);
        self
    }

    fn revocations(&self) -> Arc<Revocations> {
        self.revocations.load_full()
    }

    /// Checks `token` at Unix time `now`.
    pub fn verify(&self, token: &str, now: u64) -> Result<Subject, AuthRefusal> {
        if token.len() > self.max_token_bytes {
            return Err(AuthRefusal::new(format!(
                "token too long ({} bytes, limit {})",
                token.len(),
                self.max_token_bytes
            )));
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let hit = self.cache.read().ok().and_then(|c| c.get(&digest).cloned());
        if let Some(c) = hit {
            self.check_time(c.exp, c.nbf, now)
                .map_err(|r| AuthRefusal {
                    subject: Some(c.subject.name().to_owned()),
                    jti: c.subject.jti().map(str::to_owned),
                    ..r
                })?;
            return self.check_revoked(c.subject, c.iat);
        }
        let claims = self.verify_signed(token)?;
        let subject = Subject::verified(&claims.sub, claims.jti.as_deref());
        self.check_revoked(subject.clone(), claims.iat)?;
        if let Ok(mut cache) = self.cache.write() {
            if cache.len() >= CACHE_CAPACITY {
                cache.retain(|_, c| c.exp.saturating_add(self.leeway) >= now);
                if cache.len() >= CACHE_CAPACITY {
                    cache.clear();
                }
            }
            cache.insert(
                digest,
                Cached {
                    subject: subject.clone(),
                    exp: claims.exp,
                    nbf: claims.nbf,
                    iat: claims.iat,
                },
            );
        }
        Ok(subject)
    }

    fn check_time(&self, exp: u64, nbf: Option<u64>, now: u64) -> Result<(), AuthRefusal> {
        if exp.saturating_add(self.leeway) < now {
            return Err(AuthRefusal::new("expired"));
        }
        if nbf.is_some_and(|n| n > now.saturating_add(self.leeway)) {
            return Err(AuthRefusal::new("not yet valid (nbf in the future)"));
        }
        Ok(())
    }

    fn check_revoked(&self, subject: Subject, iat: Option<u64>) -> Result<Subject, AuthRefusal> {
        match self
            .revocations()
            .is_revoked(subject.name(), subject.jti(), iat)
        {
            None => Ok(subject),
            Some(reason) => Err(AuthRefusal {
                reason: reason.to_owned(),
                subject: Some(subject.name().to_owned()),
                jti: subject.jti().map(str::to_owned),
            }),
        }
    }

    fn verify_signed(&self, token: &str) -> Result<Claims, AuthRefusal> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| {
            AuthRefusal::new(match header_alg(token) {
                Some(alg) => format!("algorithm `{alg}` not accepted"),
                None => format!("malformed token ({})", kind_name(e.kind())),
            })
        })?;
        if !self.keys.keys.iter().any(|k| k.algorithm == header.alg) {
            return Err(AuthRefusal::new(format!(
                "algorithm {:?} not accepted",
                header.alg
            )));
        }
        let mut tried = false;
        for (i, key) in self.keys.keys.iter().enumerate() {
            if !key.accepts(&header) {
                continue;
            }
            tried = true;
            let Some(validation) = self.validations.get(i) else {
                continue;
            };
            match jsonwebtoken::decode::<Claims>(token, &key.key, validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => continue,
                Err(e) => {
                    // The signature was valid (jsonwebtoken checks it first): name the token.
                    let claims: Option<serde_json::Value> =
                        jsonwebtoken::dangerous::insecure_decode_claims(token).ok();
                    let field = |k: &str| {
                        claims
                            .as_ref()
                            .and_then(|c| c.get(k))
                            .and_then(|v| v.as_str())
                            .map(|s| s.chars().take(200).collect())
                    };
                    let signed = !matches!(
                        e.kind(),
                        ErrorKind::Base64(_) | ErrorKind::Utf8(_) | ErrorKind::InvalidToken
                    );
                    return Err(AuthRefusal {
                        reason: claim_reason(e.kind()),
                        subject: if signed { field("sub") } else { None },
                        jti: if signed { field("jti") } else { None },
                    });
                }
            }
        }
        Err(AuthRefusal::new(if tried {
            "bad signature"
        } else if header.kid.is_some() {
            "unknown key id (kid)"
        } else {
            "no key for this algorithm without kid"
        }))
    }
}

/// The `alg` of a header jsonwebtoken cannot parse (such as `none`), for the audit reason.
fn header_alg(token: &str) -> Option<String> {
    use base64::Engine as _;
    let part = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let alg = v.get("alg")?.as_str()?;
    Some(
        alg.chars()
            .filter(|c| c.is_ascii_graphic())
            .take(20)
            .collect(),
    )
}

fn kind_name(k: &ErrorKind) -> String {
    match k {
        ErrorKind::Base64(_) => "bad base64".into(),
        ErrorKind::Json(_) => "bad JSON".into(),
        ErrorKind::Utf8(_) => "bad UTF-8".into(),
        ErrorKind::InvalidToken => "not three dot-separated parts".into(),
        other => format!("{other:?}"),
    }
}

fn claim_reason(k: &ErrorKind) -> String {
    match k {
        ErrorKind::ExpiredSignature => "expired".into(),
        ErrorKind::ImmatureSignature => "not yet valid (nbf in the future)".into(),
        ErrorKind::InvalidIssuer => "wrong issuer".into(),
        ErrorKind::InvalidAudience => "wrong audience".into(),
        ErrorKind::MissingRequiredClaim(c) => format!("missing claim {c}"),
        ErrorKind::InvalidClaimFormat(c) => format!("malformed claim {c}"),
        ErrorKind::Json(e) => {
            let msg = e.to_string();
            match msg.split('`').nth(1) {
                Some(field) if msg.starts_with("missing field") => format!("missing claim {field}"),
                _ => format!(
                    "malformed claims ({})",
                    msg.chars().take(120).collect::<String>()
                ),
            }
        }
        other => format!("invalid token ({})", kind_name(other)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::auth::keys::VerificationKey;
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};

    const SECRET: &[u8] = b"unit-test-secret";

    fn verifier(leeway: u64) -> Verifier {
        let jwt = JwtSection {
            leeway_seconds: leeway,
            ..JwtSection::default()
        };
        let keys = KeySet {
            keys: vec![VerificationKey {
                kid: None,
                algorithm: Algorithm::HS256,
                key: DecodingKey::from_secret(SECRET).unwrap(),
            }],
        };
        Verifier::new(&jwt, keys)
    }

    fn token(sub: &str, exp: u64, iat: u64) -> String {
        let claims = Claims {
            sub: sub.into(),
            iss: "vibectl-server".into(),
            iat: Some(iat),
            nbf: None,
            exp,
            jti: Some(format!("jti-{sub}-{exp}")),
            aud: None,
        };
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(SECRET).unwrap(),
        )
        .unwrap()
    }

    /// The reload race: the revocation poller took the verifier in force, a config reload then
    /// replaced it, and only after that the poller installed what it read, on the old one.
    /// The revocation must still reach the verifier now in force.
    #[test]
    fn a_revocation_racing_a_key_reload_is_not_lost() {
        let now = crate::auth::unix_now();
        let t = token("mallory", now + 100, now);
        let old = verifier(0);
        assert!(old.verify(&t, now).is_ok());
        let held_by_poller = &old;
        let new = verifier(0).sharing_revocations(&old);
        let mut r = Revocations::default();
        r.subjects.insert("mallory".into(), now);
        held_by_poller.set_revocations(r);
        assert_eq!(new.verify(&t, now).unwrap_err().reason, "revoked subject");
        // And the other way round: what the new one gets, the old one (still serving calls
        // that began before the reload) sees too.
        new.set_revocations(Revocations::default());
        assert!(old.verify(&t, now).is_ok());
    }

    #[test]
    fn cached_tokens_still_expire_and_get_revoked() {
        let v = verifier(0);
        let now = crate::auth::unix_now();
        let t = token("alice", now + 100, now);
        assert_eq!(v.verify(&t, now).unwrap().name(), "alice");
        // Cache hit after expiry: refused without a signature check.
        assert_eq!(v.verify(&t, now + 101).unwrap_err().reason, "expired");
        assert!(v.verify(&t, now).is_ok());
        let mut r = Revocations::default();
        r.jtis.insert(format!("jti-alice-{}", now + 100));
        v.set_revocations(r);
        let refusal = v.verify(&t, now).unwrap_err();
        assert_eq!(refusal.reason, "revoked token (jti)");
        assert_eq!(refusal.subject.as_deref(), Some("alice"));
        let mut r = Revocations::default();
        r.subjects.insert("bob".into(), now);
        v.set_revocations(r);
        assert!(v.verify(&token("bob", now + 100, now), now).is_err());
        assert!(v.verify(&token("bob", now + 100, now + 1), now + 1).is_ok());
    }

    #[test]
    fn leeway_applies_to_exp() {
        let v = verifier(30);
        let now = crate::auth::unix_now();
        let t = token("carol", now - 10, now - 100);
        assert!(
            v.verify(&t, now).is_ok(),
            "10 s past exp is within 30 s leeway"
        );
        assert_eq!(v.verify(&t, now + 25).unwrap_err().reason, "expired");
    }
}
