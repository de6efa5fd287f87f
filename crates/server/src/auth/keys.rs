//! Signing and verification keys: HS256/384/512 secrets, RS256 and Ed25519 key pairs, `kid`
//! and the set of keys tokens may be verified with (rotation).
use std::path::Path;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};

use super::secret::{lookup_secret, read_secret_file, Secret, SecretSource};
use super::KeyError;
use crate::config::JwtSection;

/// `HS256`, `RS256`, `EdDSA` (also `Ed25519`), ... as a jsonwebtoken algorithm; `none` and the
/// algorithms we do not offer give `None`.
pub fn parse_algorithm(name: &str) -> Option<Algorithm> {
    match name.trim().to_ascii_uppercase().as_str() {
        "HS256" => Some(Algorithm::HS256),
        "HS384" => Some(Algorithm::HS384),
        "HS512" => Some(Algorithm::HS512),
        "RS256" => Some(Algorithm::RS256),
        "EDDSA" | "ED25519" => Some(Algorithm::EdDSA),
        _ => None,
    }
}

/// Whether `alg` uses a shared secret.
pub fn is_symmetric(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// One key tokens may be verified with.
#[derive(Clone)]
pub struct VerificationKey {
    /// `kid` it answers to; `None` means tokens without a `kid`.
    pub kid: Option<String>,
    /// The only algorithm this key accepts (pinned: no HS/RS confusion).
    pub algorithm: Algorithm,
    /// The key.
    pub key: DecodingKey,
}

impl std::fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "VerificationKey({:?}, kid={:?})",
            self.algorithm, self.kid
        )
    }
}

/// The verification key set, built from `jwt:`.
#[derive(Clone, Debug, Default)]
pub struct KeySet {
    /// Keys, primary first.
    pub keys: Vec<VerificationKey>,
}

impl KeySet {
    /// Keys a token with this header may have been signed with: the one with its `kid`, or, for a
    /// token without `kid`, every key of its algorithm. Never a key of another algorithm.
    pub fn candidates<'a>(
        &'a self,
        header: &'a Header,
    ) -> impl Iterator<Item = &'a VerificationKey> {
        self.keys.iter().filter(move |k| k.accepts(header))
    }
}

impl VerificationKey {
    /// Whether a token with this header may have been signed with this key.
    pub fn accepts(&self, header: &Header) -> bool {
        self.algorithm == header.alg
            && match (&header.kid, &self.kid) {
                (Some(want), Some(have)) => want == have,
                (Some(_), None) => false,
                (None, _) => true,
            }
    }
}

/// Builds the verification key set and says where the primary key came from.
pub fn load_keyset(
    jwt: &JwtSection,
    state_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(KeySet, String), KeyError> {
    let alg = algorithm("jwt.algorithm", &jwt.algorithm)?;
    let mut keys = Vec::new();
    let origin;
    if is_symmetric(alg) {
        let (secret, source) = lookup_secret(jwt, state_dir, env)?;
        origin = format!("{:?} secret from {source}", alg);
        keys.push(VerificationKey {
            kid: jwt.key_id.clone(),
            algorithm: alg,
            key: hmac_key(&secret)?,
        });
    } else {
        let pem = match (&jwt.public_key_file, &jwt.private_key_file) {
            (Some(p), _) => {
                origin = format!("{alg:?} public key {}", p.display());
                read(p)?
            }
            (None, Some(p)) => {
                origin = format!("{alg:?} public key derived from {}", p.display());
                public_from_private(&String::from_utf8_lossy(&read(p)?))
                    .map_err(|e| invalid(p.display(), e))?
                    .into_bytes()
            }
            (None, None) => {
                return Err(KeyError::Missing(format!(
                    "jwt.algorithm {} needs jwt.public_key_file or jwt.private_key_file \
                     (create a pair with `vibectl-server generate-keypair`)",
                    jwt.algorithm
                )))
            }
        };
        keys.push(VerificationKey {
            kid: jwt.key_id.clone(),
            algorithm: alg,
            key: decoding_key(alg, &pem).map_err(|e| invalid("jwt public key", e))?,
        });
    }
    for (i, k) in jwt.verification_keys.iter().enumerate() {
        let at = format!("jwt.verification_keys[{i}]");
        let alg = algorithm(&format!("{at}.algorithm"), &k.algorithm)?;
        let key = if is_symmetric(alg) {
            let p = k.secret_key_file.as_ref().ok_or_else(|| {
                KeyError::Missing(format!("{at}.secret_key_file: required for {alg:?}"))
            })?;
            let secret = read_secret_file(p)?;
            let origin = format!("{} ({at}.secret_key_file)", p.display());
            if let Some(why) = super::secret::short_secret(&origin, secret.expose().len()) {
                return Err(KeyError::ShortSecret(why));
            }
            hmac_key(&secret)?
        } else {
            let p = k.public_key_file.as_ref().ok_or_else(|| {
                KeyError::Missing(format!("{at}.public_key_file: required for {alg:?}"))
            })?;
            decoding_key(alg, &read(p)?)
                .map_err(|e| invalid(format!("{at}: {}", p.display()), e))?
        };
        keys.push(VerificationKey {
            kid: k.kid.clone(),
            algorithm: alg,
            key,
        });
    }
    Ok((KeySet { keys }, origin))
}

fn algorithm(key: &str, value: &str) -> Result<Algorithm, KeyError> {
    parse_algorithm(value).ok_or_else(|| KeyError::Algorithm {
        key: key.to_owned(),
        value: value.to_owned(),
    })
}

fn invalid(what: impl std::fmt::Display, reason: impl std::fmt::Display) -> KeyError {
    KeyError::Invalid {
        what: what.to_string(),
        reason: reason.to_string(),
    }
}

fn read(p: &Path) -> Result<Vec<u8>, KeyError> {
    std::fs::read(p).map_err(|source| KeyError::Read {
        path: p.to_path_buf(),
        source,
    })
}

fn hmac_key(secret: &Secret) -> Result<DecodingKey, KeyError> {
    DecodingKey::from_secret(secret.expose().as_bytes()).map_err(|e| invalid("JWT secret", e))
}

fn decoding_key(alg: Algorithm, pem: &[u8]) -> Result<DecodingKey, KeyError> {
    let r = match alg {
        Algorithm::RS256 => DecodingKey::from_rsa_pem(pem),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
        _ => return Err(invalid(format!("{alg:?}"), "not a public-key algorithm")),
    };
    r.map_err(|e| invalid(format!("not a PEM {alg:?} public key"), e))
}

/// The PEM public key of a PEM (PKCS#8) private key.
pub fn public_from_private(private_pem: &str) -> Result<String, KeyError> {
    let kp = rcgen::KeyPair::from_pem(private_pem)
        .map_err(|e| invalid("not a PKCS#8 PEM private key", e))?;
    Ok(kp.public_key_pem())
}

/// What tokens are signed with where they are issued.
#[derive(Clone)]
pub struct Signer {
    /// Algorithm.
    pub algorithm: Algorithm,
    /// `kid` header, when configured.
    pub kid: Option<String>,
    key: Arc<EncodingKey>,
    /// Where the key came from (for messages).
    pub origin: String,
}

impl Signer {
    /// The signing key of `jwt:` (HS* secret by the lookup order, or `jwt.private_key_file`).
    pub fn from_config(
        jwt: &JwtSection,
        state_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(Self, Option<SecretSource>), KeyError> {
        let alg = algorithm("jwt.algorithm", &jwt.algorithm)?;
        let (key, origin, source) = if is_symmetric(alg) {
            let (secret, source) = lookup_secret(jwt, state_dir, env)?;
            let key = EncodingKey::from_secret(secret.expose().as_bytes())
                .map_err(|e| invalid("JWT secret", e))?;
            (key, format!("{source}"), Some(source))
        } else {
            let p = jwt.private_key_file.as_ref().ok_or_else(|| {
                KeyError::Missing(format!(
                    "issuing {} tokens needs jwt.private_key_file (create one with \
                     `vibectl-server generate-keypair`)",
                    jwt.algorithm
                ))
            })?;
            let pem = read(p)?;
            let key = match alg {
                Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
                _ => EncodingKey::from_ed_pem(&pem),
            }
            .map_err(|e| invalid(format!("{}: not a PEM {alg:?} private key", p.display()), e))?;
            (key, p.display().to_string(), None)
        };
        Ok((
            Signer {
                algorithm: alg,
                kid: jwt.key_id.clone(),
                key: Arc::new(key),
                origin,
            },
            source,
        ))
    }

    /// Signs `claims`.
    pub fn sign(&self, claims: &super::Claims) -> Result<String, KeyError> {
        let mut header = Header::new(self.algorithm);
        header.kid = self.kid.clone();
        jsonwebtoken::encode(&header, claims, &self.key).map_err(KeyError::Sign)
    }
}

/// A new key pair as (private PKCS#8 PEM, public SPKI PEM).
pub fn generate_keypair(alg: Algorithm) -> Result<(Secret, String), KeyError> {
    match alg {
        Algorithm::EdDSA => {
            let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
                .map_err(|e| invalid("cannot generate an Ed25519 key", e))?;
            Ok((Secret::new(kp.serialize_pem()), kp.public_key_pem()))
        }
        Algorithm::RS256 => {
            use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
            use rsa::Generate as _;
            let key = rsa::PrivateKey::try_generate()
                .map_err(|e| invalid("cannot generate an RSA key", e))?;
            let private = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| invalid("cannot encode the RSA key", e))?;
            let public = key
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .map_err(|e| invalid("cannot encode the RSA key", e))?;
            Ok((Secret::new(private.as_str()), public))
        }
        other => Err(invalid(
            format!("{other:?}"),
            "uses a shared secret, not a key pair; use RS256 or EdDSA",
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::auth::{unix_now, Claims, Verifier};
    use crate::config::VerificationKeyEntry;

    fn claims(sub: &str) -> Claims {
        let now = unix_now();
        Claims {
            sub: sub.into(),
            iss: "vibectl-server".into(),
            iat: Some(now),
            nbf: Some(now),
            exp: now + 60,
            jti: Some(format!("{sub}-jti")),
            aud: None,
        }
    }

    #[test]
    fn key_pairs_sign_where_issued_and_verify_with_the_public_key() {
        let dir = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        for (alg, name) in [(Algorithm::EdDSA, "EdDSA"), (Algorithm::RS256, "RS256")] {
            let (private, public) = generate_keypair(alg).unwrap();
            let (kf, pf) = (
                dir.path().join(format!("{name}.key")),
                dir.path().join(format!("{name}.pub")),
            );
            std::fs::write(&kf, private.expose()).unwrap();
            std::fs::write(&pf, &public).unwrap();
            assert_eq!(public_from_private(private.expose()).unwrap(), public);
            let issuer = JwtSection {
                algorithm: name.into(),
                key_id: Some("k1".into()),
                private_key_file: Some(kf.clone()),
                ..JwtSection::default()
            };
            let (signer, _) = Signer::from_config(&issuer, dir.path(), &none).unwrap();
            let token = signer.sign(&claims("ann")).unwrap();
            // A replica with only the public key verifies it; with the private key only, too.
            for verifier_cfg in [
                JwtSection {
                    private_key_file: None,
                    public_key_file: Some(pf.clone()),
                    ..issuer.clone()
                },
                issuer.clone(),
            ] {
                let (keys, _) = load_keyset(&verifier_cfg, dir.path(), &none).unwrap();
                let v = Verifier::new(&verifier_cfg, keys);
                assert_eq!(
                    v.verify(&token, unix_now()).unwrap().name(),
                    "ann",
                    "{name}"
                );
            }
            // A server on the HS256 default refuses it (no algorithm confusion).
            let hs = JwtSection {
                secret_key: Some(Secret::new("s".repeat(32))),
                ..JwtSection::default()
            };
            let (keys, _) = load_keyset(&hs, dir.path(), &none).unwrap();
            assert!(Verifier::new(&hs, keys).verify(&token, unix_now()).is_err());
        }
        assert!(generate_keypair(Algorithm::HS256).is_err());
    }

    #[test]
    fn hs256_rotation_keeps_old_tokens_until_the_old_secret_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        let old_file = dir.path().join("old-secret");
        std::fs::write(&old_file, "old-secret-value-0123456789abcdef\n").unwrap();
        let old = JwtSection {
            secret_key: Some(Secret::new("old-secret-value-0123456789abcdef")),
            ..JwtSection::default()
        };
        let new = JwtSection {
            secret_key: Some(Secret::new("new-secret-value-0123456789abcdef")),
            key_id: Some("2".into()),
            verification_keys: vec![VerificationKeyEntry {
                kid: None,
                algorithm: "HS256".into(),
                public_key_file: None,
                secret_key_file: Some(old_file),
            }],
            ..JwtSection::default()
        };
        let old_token = Signer::from_config(&old, dir.path(), &none)
            .unwrap()
            .0
            .sign(&claims("o"))
            .unwrap();
        let new_token = Signer::from_config(&new, dir.path(), &none)
            .unwrap()
            .0
            .sign(&claims("n"))
            .unwrap();
        let (keys, _) = load_keyset(&new, dir.path(), &none).unwrap();
        let v = Verifier::new(&new, keys);
        assert!(
            v.verify(&old_token, unix_now()).is_ok(),
            "old token, no kid: tried against the old secret"
        );
        assert!(v.verify(&new_token, unix_now()).is_ok(), "new token, kid 2");
        let retired = JwtSection {
            verification_keys: Vec::new(),
            ..new
        };
        let (keys, _) = load_keyset(&retired, dir.path(), &none).unwrap();
        let v = Verifier::new(&retired, keys);
        assert_eq!(
            v.verify(&old_token, unix_now()).unwrap_err().reason,
            "bad signature"
        );
        assert!(v.verify(&new_token, unix_now()).is_ok());
    }
}
