//! Secrets that never print, and the HS256 secret lookup order of the spec.
use super::KeyError;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use rand::RngCore as _;

use crate::config::JwtSection;

/// Secrets never print: the same type the LLM layer uses for provider keys.
pub use vibectl_llm::Secret;

/// Where the HS256 secret came from (said in logs; never the value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// Env `VIBECTL_JWT_SECRET`.
    Env,
    /// File named by env `VIBECTL_JWT_SECRET_FILE`.
    EnvFile(PathBuf),
    /// Config `jwt.secret_key`.
    Config,
    /// Config `jwt.secret_key_file`.
    ConfigFile(PathBuf),
    /// Generated earlier and persisted in the state dir.
    Persisted(PathBuf),
    /// Generated now and persisted in the state dir.
    Generated(PathBuf),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env => f.write_str("env VIBECTL_JWT_SECRET"),
            SecretSource::EnvFile(p) => write!(f, "{} (env VIBECTL_JWT_SECRET_FILE)", p.display()),
            SecretSource::Config => f.write_str("config jwt.secret_key"),
            SecretSource::ConfigFile(p) => {
                write!(f, "{} (config jwt.secret_key_file)", p.display())
            }
            SecretSource::Persisted(p) => write!(f, "{} (generated earlier)", p.display()),
            SecretSource::Generated(p) => write!(f, "{} (generated now, mode 0600)", p.display()),
        }
    }
}

/// The shortest HS256 secret accepted, in bytes: RFC 7518 section 3.2 requires a key of at least
/// the hash size (256 bits).
pub const MIN_HS256_SECRET_BYTES: usize = 32;

/// What to do about a short secret (said in every refusal).
pub const MAKE_SECRET_HINT: &str =
    "make one with `openssl rand -base64 48` (or set none and the server generates one in its state dir)";

/// Why a secret of `len` bytes from `origin` is refused, or `None` when it is long enough.
pub fn short_secret(origin: &str, len: usize) -> Option<String> {
    (len < MIN_HS256_SECRET_BYTES).then(|| {
        format!(
            "the HMAC secret from {origin} is {len} bytes; HS256 needs at least \
             {MIN_HS256_SECRET_BYTES} (RFC 7518 section 3.2): {MAKE_SECRET_HINT}"
        )
    })
}

/// `secret` if it is long enough for HS256, else the refusal naming where it came from.
fn long_enough(secret: Secret, source: SecretSource) -> Result<(Secret, SecretSource), KeyError> {
    match short_secret(&source.to_string(), secret.expose().len()) {
        Some(why) => Err(KeyError::ShortSecret(why)),
        None => Ok((secret, source)),
    }
}

/// File name of the generated secret inside the state dir.
pub const GENERATED_SECRET_FILE: &str = "jwt-secret";

/// Reads a secret file: surrounding whitespace is trimmed; empty is an error.
pub fn read_secret_file(path: &Path) -> Result<Secret, KeyError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let t = text.trim();
    if t.is_empty() {
        return Err(KeyError::EmptySecret(path.to_path_buf()));
    }
    Ok(Secret::new(t))
}

/// The HS256 secret: env `VIBECTL_JWT_SECRET`, file named by env `VIBECTL_JWT_SECRET_FILE`, config
/// `jwt.secret_key`, config `jwt.secret_key_file`; otherwise one persisted in `state_dir`, generated
/// (mode 0600, atomically) on first use.
pub fn lookup_secret(
    jwt: &JwtSection,
    state_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Secret, SecretSource), KeyError> {
    let nonempty = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    if let Some(v) = nonempty("VIBECTL_JWT_SECRET") {
        return long_enough(Secret::new(v.trim()), SecretSource::Env);
    }
    if let Some(p) = nonempty("VIBECTL_JWT_SECRET_FILE") {
        let p = PathBuf::from(p);
        return long_enough(read_secret_file(&p)?, SecretSource::EnvFile(p));
    }
    if let Some(v) = jwt
        .secret_key
        .as_ref()
        .map(Secret::expose)
        .filter(|v| !v.trim().is_empty())
    {
        return long_enough(Secret::new(v.trim()), SecretSource::Config);
    }
    if let Some(p) = &jwt.secret_key_file {
        return long_enough(read_secret_file(p)?, SecretSource::ConfigFile(p.clone()));
    }
    let path = state_dir.join(GENERATED_SECRET_FILE);
    if path.exists() {
        return long_enough(read_secret_file(&path)?, SecretSource::Persisted(path));
    }
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    vibectl_fsutil::write_atomic(&path, format!("{text}\n"), 0o600).map_err(KeyError::Persist)?;
    Ok((Secret::new(text), SecretSource::Generated(path)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn lookup_order_and_generation() {
        let dir = tempfile::tempdir().unwrap();
        let mut jwt = JwtSection::default();
        let none = |_: &str| None;
        let (s1, src) = lookup_secret(&jwt, dir.path(), &none).unwrap();
        assert!(matches!(src, SecretSource::Generated(_)));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(GENERATED_SECRET_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (s2, src) = lookup_secret(&jwt, dir.path(), &none).unwrap();
        assert!(matches!(src, SecretSource::Persisted(_)));
        assert_eq!(s1, s2);
        let file = dir.path().join("cfg-secret");
        std::fs::write(&file, "from-config-file-0123456789abcdef\n").unwrap();
        jwt.secret_key_file = Some(file);
        let (s, src) = lookup_secret(&jwt, dir.path(), &none).unwrap();
        assert_eq!(s.expose(), "from-config-file-0123456789abcdef");
        assert!(matches!(src, SecretSource::ConfigFile(_)));
        jwt.secret_key = Some(Secret::new("from-config-0123456789abcdefghijkl"));
        assert_eq!(
            lookup_secret(&jwt, dir.path(), &none).unwrap().0.expose(),
            "from-config-0123456789abcdefghijkl"
        );
        let env = |k: &str| {
            (k == "VIBECTL_JWT_SECRET").then(|| "from-env-0123456789abcdefghijklmn".to_owned())
        };
        assert_eq!(
            lookup_secret(&jwt, dir.path(), &env).unwrap().0.expose(),
            "from-env-0123456789abcdefghijklmn"
        );
        assert_eq!(format!("{s:?} {s}"), "Secret(***) ***");
    }

    #[test]
    fn short_secrets_are_refused_from_every_source_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        let jwt = JwtSection {
            secret_key: Some(Secret::new("a")),
            ..JwtSection::default()
        };
        let e = lookup_secret(&jwt, dir.path(), &none)
            .unwrap_err()
            .to_string();
        assert!(e.contains("jwt.secret_key") && e.contains("1 bytes"), "{e}");
        assert!(
            e.contains("at least 32") && e.contains("openssl rand"),
            "{e}"
        );
        assert!(!e.contains(" a "), "the secret itself is not shown: {e}");
        let env = |k: &str| (k == "VIBECTL_JWT_SECRET").then(|| "x".repeat(31));
        let e = lookup_secret(&JwtSection::default(), dir.path(), &env)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("VIBECTL_JWT_SECRET") && e.contains("31 bytes"),
            "{e}"
        );
        let env = |k: &str| (k == "VIBECTL_JWT_SECRET").then(|| "x".repeat(32));
        assert!(lookup_secret(&JwtSection::default(), dir.path(), &env).is_ok());
        let file = dir.path().join("short");
        std::fs::write(&file, "short\n").unwrap();
        let jwt = JwtSection {
            secret_key_file: Some(file),
            ..JwtSection::default()
        };
        let e = lookup_secret(&jwt, dir.path(), &none)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("jwt.secret_key_file") && e.contains("5 bytes"),
            "{e}"
        );
    }
}
