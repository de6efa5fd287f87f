//! The issued-token registry and revocations, behind [`TokenStore`]; [`FileTokenStore`] keeps them
//! as an append-only JSON-lines file in the state dir (never the token itself).
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// Why the registry could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("token registry {path}: {message}")]
pub struct RegistryError {
    /// The file or store concerned.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

/// An opaque registry version; a change means new revocations.
pub type Version = String;

/// A token we issued (its claims, not the token).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct IssuedToken {
    /// Token id.
    pub jti: String,
    /// Subject.
    pub sub: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds).
    pub exp: u64,
    /// Audience, when the token has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

/// A registry row as `tokens list` shows it.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct TokenRow {
    /// The token's claims.
    #[serde(flatten)]
    pub token: IssuedToken,
    /// When it was revoked (by jti or subject), if it was.
    pub revoked_at: Option<u64>,
}

/// What a running server refuses: jtis, and each subject's tokens issued at or before a time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Revocations {
    /// Revoked token ids.
    pub jtis: HashSet<String>,
    /// Subject → tokens with `iat` at or before this (Unix seconds) are revoked.
    pub subjects: HashMap<String, u64>,
}

impl Revocations {
    /// Whether a token with these claims is revoked. A token without `iat` whose subject was
    /// revoked counts as revoked.
    pub fn is_revoked(
        &self,
        sub: &str,
        jti: Option<&str>,
        iat: Option<u64>,
    ) -> Option<&'static str> {
        if jti.is_some_and(|j| self.jtis.contains(j)) {
            return Some("revoked token (jti)");
        }
        match self.subjects.get(sub) {
            Some(cut) if iat.is_none_or(|i| i <= *cut) => Some("revoked subject"),
            _ => None,
        }
    }
}

/// Where issued tokens and revocations live. Implementations: [`FileTokenStore`] (one host);
/// shared stores for several replicas can be added behind the same trait.
pub trait TokenStore: Send + Sync + std::fmt::Debug {
    /// Records an issued token.
    fn record_issued(&self, token: &IssuedToken) -> Result<(), RegistryError>;
    /// Revokes one token id; returns whether the registry knew it.
    fn revoke_jti(&self, jti: &str, at: u64) -> Result<bool, RegistryError>;
    /// Revokes every token of `sub` issued at or before `at`; returns how many known tokens that hit.
    fn revoke_subject(&self, sub: &str, at: u64) -> Result<usize, RegistryError>;
    /// Every issued token with its revocation state.
    fn list(&self) -> Result<Vec<TokenRow>, RegistryError>;
    /// The current revocations.
    fn revocations(&self) -> Result<Revocations, RegistryError>;
    /// A value that changes whenever the store changes (cheap; polled by a running server).
    fn version(&self) -> Result<Option<Version>, RegistryError>;
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
enum Event {
    Issued(IssuedToken),
    Revoked { jti: String, at: u64 },
    RevokedSubject { sub: String, at: u64 },
}

/// The registry as an append-only JSON-lines file (mode 0600). Appends of one line are atomic, so
/// several CLI invocations and a running server can share it without a lock.
#[derive(Clone, Debug)]
pub struct FileTokenStore {
    path: PathBuf,
}

/// The registry file name inside the state dir.
pub const REGISTRY_FILE: &str = "tokens.jsonl";

impl FileTokenStore {
    /// A store at `path` (created on first write).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileTokenStore { path: path.into() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, message: impl std::fmt::Display) -> RegistryError {
        RegistryError {
            path: self.path.display().to_string(),
            message: message.to_string(),
        }
    }

    fn append(&self, event: &Event) -> Result<(), RegistryError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| self.err(e))?;
        }
        let mut line = serde_json::to_string(event).map_err(|e| self.err(e))?;
        line.push('\n');
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&self.path).map_err(|e| self.err(e))?;
        f.write_all(line.as_bytes()).map_err(|e| self.err(e))?;
        f.sync_data().map_err(|e| self.err(e))
    }

    fn events(&self) -> Result<Vec<Event>, RegistryError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str(line) {
                Ok(ev) => out.push(ev),
                // A torn last line (crash mid-append) is skipped; anything else is reported.
                Err(_) if i + 1 == text.lines().count() => {}
                Err(e) => return Err(self.err(format!("line {}: {e}", i + 1))),
            }
        }
        Ok(out)
    }

    fn fold(&self) -> Result<(BTreeMap<String, IssuedToken>, Revocations), RegistryError> {
        let mut issued = BTreeMap::new();
        let mut rev = Revocations::default();
        for ev in self.events()? {
            match ev {
                Event::Issued(t) => {
                    issued.insert(t.jti.clone(), t);
                }
                Event::Revoked { jti, .. } => {
                    rev.jtis.insert(jti);
                }
                Event::RevokedSubject { sub, at } => {
                    let e = rev.subjects.entry(sub).or_insert(at);
                    *e = (*e).max(at);
                }
            }
        }
        Ok((issued, rev))
    }
}

impl TokenStore for FileTokenStore {
    fn record_issued(&self, token: &IssuedToken) -> Result<(), RegistryError> {
        self.append(&Event::Issued(token.clone()))
    }

    fn revoke_jti(&self, jti: &str, at: u64) -> Result<bool, RegistryError> {
        let (issued, _) = self.fold()?;
        self.append(&Event::Revoked {
            jti: jti.to_owned(),
            at,
        })?;
        Ok(issued.contains_key(jti))
    }

    fn revoke_subject(&self, sub: &str, at: u64) -> Result<usize, RegistryError> {
        let (issued, _) = self.fold()?;
        self.append(&Event::RevokedSubject {
            sub: sub.to_owned(),
            at,
        })?;
        Ok(issued
            .values()
            .filter(|t| t.sub == sub && t.iat <= at)
            .count())
    }

    fn list(&self) -> Result<Vec<TokenRow>, RegistryError> {
        let mut jti_at = HashMap::new();
        for ev in self.events()? {
            if let Event::Revoked { jti, at } = ev {
                jti_at.entry(jti).or_insert(at);
            }
        }
        let (issued, rev) = self.fold()?;
        let mut rows: Vec<TokenRow> = issued
            .into_values()
            .map(|t| {
                let by_jti = jti_at.get(&t.jti).copied();
                let by_sub = rev
                    .subjects
                    .get(&t.sub)
                    .copied()
                    .filter(|cut| t.iat <= *cut);
                TokenRow {
                    revoked_at: by_jti.or(by_sub),
                    token: t,
                }
            })
            .collect();
        rows.sort_by(|a, b| (a.token.iat, &a.token.jti).cmp(&(b.token.iat, &b.token.jti)));
        Ok(rows)
    }

    fn revocations(&self) -> Result<Revocations, RegistryError> {
        Ok(self.fold()?.1)
    }

    fn version(&self) -> Result<Option<Version>, RegistryError> {
        match std::fs::metadata(&self.path) {
            Ok(m) => {
                let t = m
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .unwrap_or_default();
                Ok(Some(format!("{}:{}", t.as_nanos(), m.len())))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }
}
