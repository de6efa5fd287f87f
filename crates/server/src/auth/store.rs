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

/// The registry as an append-only file of framed JSON lines (mode 0600; each line checksummed). Each append
/// takes an exclusive lock, repairs a torn tail, writes one line and fsyncs before it returns, so
/// several CLI invocations and a running server can share it. A corrupt line before the last makes
/// every read fail loudly.
#[derive(Clone, Debug)]
pub struct FileTokenStore {
    path: PathBuf,
}

/// One registry line: the event's JSON, then ` #` and the first 8 bytes of its SHA-256 in hex,
/// then a newline, so a line cut short or garbled is told from a whole one.
fn frame(json: &str) -> String {
    format!("{json} #{}\n", checksum(json))
}

fn checksum(json: &str) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(json.as_bytes());
    d.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Why a registry line is not a whole event.
#[derive(Debug, thiserror::Error)]
enum LineError {
    #[error("checksum mismatch")]
    Checksum,
    #[error("{0}")]
    Json(#[from] serde_json::Error),
}

/// Parses a framed line; an unframed JSON line (written before framing) is accepted as it is.
fn parse_line(line: &str) -> Result<Event, LineError> {
    let line = line.trim_end_matches('\r');
    if let Some((json, sum)) = line.rsplit_once(" #") {
        if sum.len() == 16 && sum.bytes().all(|b| b.is_ascii_hexdigit()) {
            if checksum(json) != sum {
                return Err(LineError::Checksum);
            }
            return Ok(serde_json::from_str(json)?);
        }
    }
    Ok(serde_json::from_str(line)?)
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
        let json = serde_json::to_string(event).map_err(|e| self.err(e))?;
        let line = frame(&json);
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).read(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&self.path).map_err(|e| self.err(e))?;
        // One writer at a time, so a repair and the appends of other processes cannot interleave.
        f.lock()
            .map_err(|e| self.err(format!("cannot lock: {e}")))?;
        self.repair_tail(&mut f)?;
        f.write_all(line.as_bytes()).map_err(|e| self.err(e))?;
        f.sync_data().map_err(|e| self.err(e))
    }

    /// A torn last line (a crash mid-append, never acknowledged) would swallow the next event:
    /// it is completed when it is whole but for its newline, else cut off. Called with the lock.
    fn repair_tail(&self, f: &mut std::fs::File) -> Result<(), RegistryError> {
        use std::io::{Read as _, Seek as _};
        let mut text = Vec::new();
        f.seek(std::io::SeekFrom::Start(0))
            .and_then(|_| f.read_to_end(&mut text))
            .map_err(|e| self.err(e))?;
        if text.is_empty() || text.ends_with(b"\n") {
            return Ok(());
        }
        let keep = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let tail = String::from_utf8_lossy(&text[keep..]).into_owned();
        if parse_line(&tail).is_ok() {
            tracing::warn!(file = %self.path.display(), "token registry: completing a last line that lacked its newline");
            f.write_all(b"\n").map_err(|e| self.err(e))?;
        } else {
            tracing::warn!(
                file = %self.path.display(), bytes = text.len() - keep,
                "token registry: cutting off a torn last line (an append interrupted by a crash)"
            );
            f.set_len(keep as u64).map_err(|e| self.err(e))?;
        }
        f.sync_data().map_err(|e| self.err(e))
    }

    fn events(&self) -> Result<Vec<Event>, RegistryError> {
        let text = match std::fs::read(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.err(e)),
        };
        let text = String::from_utf8_lossy(&text);
        let mut out = Vec::new();
        let mut lines = text.split('\n').enumerate().peekable();
        while let Some((i, line)) = lines.next() {
            let last = lines.peek().is_none();
            if line.trim().is_empty() {
                continue;
            }
            match parse_line(line) {
                Ok(ev) => out.push(ev),
                // A torn last line (no newline: a crash mid-append, never acknowledged) is
                // skipped here and repaired by the next append.
                Err(_) if last => {
                    tracing::warn!(file = %self.path.display(), "token registry: ignoring a torn last line");
                }
                Err(e) => {
                    return Err(self.err(format!(
                        "line {} is corrupt ({e}); refusing to use a registry that may have lost \
                         revocations: restore the file from a backup, or remove that line and \
                         revoke again what it held",
                        i + 1
                    )))
                }
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn token(jti: &str, sub: &str) -> IssuedToken {
        IssuedToken {
            jti: jti.into(),
            sub: sub.into(),
            iat: 100,
            exp: 10_000,
            aud: None,
        }
    }

    /// A crash mid-append leaves half a line; the next revocation must not join it and vanish.
    #[test]
    fn a_revocation_after_a_torn_append_takes_effect() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(REGISTRY_FILE);
        let s = FileTokenStore::new(&path);
        s.record_issued(&token("j1", "alice")).unwrap();
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(br#"{"event":"issued","jti":"j2","sub":"bo"#)
            .unwrap();
        drop(f);
        // Reading skips the torn tail; revoking repairs it first.
        assert_eq!(s.list().unwrap().len(), 1);
        assert!(s.revoke_jti("j1", 200).unwrap());
        let r = s.revocations().unwrap();
        assert!(r.jtis.contains("j1"), "{r:?}");
        assert_eq!(s.list().unwrap()[0].revoked_at, Some(200));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("\"bo"), "the torn line is cut off: {text}");
        assert_eq!(text.lines().count(), 2);
    }

    /// A last line complete but for its newline is kept, not cut.
    #[test]
    fn a_whole_last_line_without_newline_is_completed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(REGISTRY_FILE);
        let json = serde_json::to_string(&Event::Issued(token("j1", "alice"))).unwrap();
        std::fs::write(&path, frame(&json).trim_end()).unwrap();
        let s = FileTokenStore::new(&path);
        assert_eq!(s.revoke_subject("alice", 300).unwrap(), 1);
        assert_eq!(s.list().unwrap()[0].revoked_at, Some(300));
    }

    /// A damaged line before the last (not a crash: corruption) refuses the registry loudly.
    #[test]
    fn a_corrupt_line_in_the_middle_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(REGISTRY_FILE);
        let s = FileTokenStore::new(&path);
        s.record_issued(&token("j1", "alice")).unwrap();
        s.revoke_jti("j1", 200).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replacen("\"j1\"", "\"j9\"", 1)).unwrap();
        let e = s.revocations().unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("checksum"), "{e}");
        assert!(e.contains("restore the file"), "{e}");
        // Lines written before framing (plain JSON) still load.
        let plain = serde_json::to_string(&Event::Revoked {
            jti: "old".into(),
            at: 1,
        })
        .unwrap();
        std::fs::write(&path, format!("{plain}\n")).unwrap();
        assert!(s.revocations().unwrap().jtis.contains("old"));
    }
}
