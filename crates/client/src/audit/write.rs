//! Appending entries: [`AuditLog`] and [`LlmRequestEvent`].

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::json::{ascii_json_len, to_py_json};
use super::when::py_isoformat_utc;
use super::{AuditError, MAX_ENTRY_BYTES};

/// One LLM request as the audit log records it. Texts are hashed, never stored.
#[derive(Clone, Debug, Default)]
pub struct LlmRequestEvent {
    /// The request's id; when empty a random UUID is used (as the reference does).
    pub request_id: String,
    /// The prompt as built, before any redaction (the reference hashes the
    /// unredacted fragments joined by spaces). Only its SHA-256 is written:
    /// `request_hash`, and `original_hash` of the `sanitization` line.
    pub request: String,
    /// The prompt as sent after redaction; only its SHA-256 is written, as
    /// `sanitized_hash` of the `sanitization` line (`"null"` when `None`).
    pub sanitized_request: Option<String>,
    /// The model's reply (or error text); only its SHA-256 is written, as `response_hash`.
    pub response: Option<String>,
    /// How many secrets were redacted from the request; above zero a
    /// `sanitization` line is written before the `llm_request` line.
    pub secrets_detected: usize,
    /// The kinds of the redacted secrets, one per secret (e.g. `"k8s-token"`).
    pub secrets_types: Vec<String>,
    /// The kubectl command the reply proposed, if any.
    pub command_generated: Option<String>,
    /// Whether the user approved that command (`None`: not asked).
    pub user_approved: Option<bool>,
    /// The model that answered.
    pub model_used: Option<String>,
    /// What the request was for: `"plan"`, `"summary"`, `"recovery"` or `"memory"`.
    pub call: &'static str,
    /// Whether the reply was streamed.
    pub streamed: bool,
    /// Why the request failed, if it did.
    pub error: Option<String>,
}

/// Where one profile's audit log lives, and whether it is on.
#[derive(Clone, Debug)]
pub struct AuditLog {
    path: PathBuf,
    profile: Option<String>,
    enabled: bool,
}

impl AuditLog {
    /// A log at `path` for `profile` (written as `proxy_profile`); when not
    /// `enabled`, [`AuditLog::record`] does nothing.
    pub fn new(path: PathBuf, profile: Option<String>, enabled: bool) -> Self {
        Self {
            path,
            profile,
            enabled,
        }
    }

    /// The reference's default location: `~/.config/vibectl/audit-<profile>.log`,
    /// or `~/.config/vibectl/audit.log` without a profile. Like the reference
    /// (`Path.home()`), this follows `$HOME` only — not `$XDG_CONFIG_HOME` —
    /// so both tools share one file; with `$HOME` unset the password database
    /// is asked, and an empty `$HOME` means `/`, as in Python.
    pub fn default_path(profile: Option<&str>) -> PathBuf {
        default_path_for(std::env::var_os("HOME"), profile)
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The profile written as `proxy_profile`.
    pub fn profile(&self) -> Option<&str> {
        self.profile.as_deref()
    }

    /// Whether entries are written.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Appends one `llm_request` line — preceded, when `secrets_detected > 0`,
    /// by a `sanitization` line for the same request — in a single `write`
    /// to a file opened with `O_APPEND` (created mode 0600, parent directories
    /// 0700), so concurrent vibectl processes never interleave within a line.
    /// A torn last line left by a crash is fenced off with a newline first.
    /// Does nothing when the log is disabled. On error the caller should warn
    /// and carry on: the user's command must not fail because of the log.
    pub fn record(&self, event: &LlmRequestEvent) -> Result<(), AuditError> {
        if !self.enabled {
            return Ok(());
        }
        let timestamp = py_isoformat_utc(SystemTime::now());
        let request_id = if event.request_id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            event.request_id.clone()
        };
        let mut text = String::new();
        if event.secrets_detected > 0 {
            let line = SanitizationLine {
                timestamp: timestamp.clone(),
                proxy_profile: self.profile.clone(),
                request_id: request_id.clone(),
                event_type: "sanitization",
                original_hash: hash_text(Some(&event.request)),
                sanitized_hash: hash_text(event.sanitized_request.as_deref()),
                secrets_detected: event.secrets_detected,
                secrets_types: event.secrets_types.clone(),
            };
            text.push_str(&self.fit(line)?);
            text.push('\n');
        }
        let line = RequestLine {
            timestamp,
            proxy_profile: self.profile.clone(),
            request_id,
            event_type: "llm_request",
            request_hash: hash_text(Some(&event.request)),
            response_hash: hash_text(event.response.as_deref()),
            secrets_detected: event.secrets_detected,
            secrets_types: event.secrets_types.clone(),
            command_generated: event.command_generated.clone(),
            user_approved: event.user_approved,
            model_used: event.model_used.clone(),
            call: event.call,
            streamed: event.streamed,
            error: event.error.clone(),
        };
        text.push_str(&self.fit(line)?);
        text.push('\n');
        self.append(text.as_bytes())
    }

    /// Serializes `line`; when it (with its newline) would pass
    /// [`MAX_ENTRY_BYTES`], cuts its text fields to a max-min fair share of
    /// the room each (short fields stay whole) and tries again.
    fn fit<L: Shrink>(&self, mut line: L) -> Result<String, AuditError> {
        let mut len = 0;
        for _ in 0..4 {
            let text = to_py_json(&line, false, true).map_err(|e| AuditError::Write {
                path: self.path.clone(),
                source: std::io::Error::other(e),
            })?;
            len = text.len();
            if len < MAX_ENTRY_BYTES {
                return Ok(text);
            }
            let mut fields = line.fields();
            let sizes: Vec<usize> = fields.iter().map(Field::json_len).collect();
            let fixed = len.saturating_sub(sizes.iter().sum());
            let room = MAX_ENTRY_BYTES.saturating_sub(fixed + 64);
            for (field, budget) in fields.iter_mut().zip(fair_shares(&sizes, room)) {
                field.cut_to(budget);
            }
        }
        Err(AuditError::EntryTooLarge {
            path: self.path.clone(),
            len,
        })
    }

    /// Opens the log for appending and writes `bytes` in one call.
    fn append(&self, bytes: &[u8]) -> Result<(), AuditError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let mut builder = DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder
                .create(dir)
                .map_err(|source| AuditError::CreateDir {
                    path: dir.to_path_buf(),
                    source,
                })?;
        }
        let mut options = OpenOptions::new();
        options.read(true).append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        // Reading is only for the torn-tail check: a write-only file is still appended to.
        let (mut file, readable) =
            match options.open(&self.path) {
                Ok(f) => (f, true),
                Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                    let f = options.read(false).open(&self.path).map_err(|source| {
                        AuditError::Open {
                            path: self.path.clone(),
                            source,
                        }
                    })?;
                    (f, false)
                }
                Err(source) => {
                    return Err(AuditError::Open {
                        path: self.path.clone(),
                        source,
                    })
                }
            };
        let mut buf = Vec::with_capacity(bytes.len() + 1);
        if readable && has_torn_tail(&mut file) {
            buf.push(b'\n');
        }
        buf.extend_from_slice(bytes);
        loop {
            match file.write(&buf) {
                Ok(n) if n == buf.len() => return Ok(()),
                Ok(written) => {
                    return Err(AuditError::ShortWrite {
                        path: self.path.clone(),
                        written,
                        len: buf.len(),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(AuditError::Write {
                        path: self.path.clone(),
                        source,
                    })
                }
            }
        }
    }
}

/// [`AuditLog::default_path`] for a given value of `$HOME`.
pub(crate) fn default_path_for(
    home_var: Option<std::ffi::OsString>,
    profile: Option<&str>,
) -> PathBuf {
    let home = match home_var {
        Some(h) if !h.is_empty() => PathBuf::from(h),
        Some(_) => PathBuf::from("/"),
        None => std::env::home_dir()
            .filter(|h| !h.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("/")),
    };
    let name = match profile {
        Some(p) if !p.is_empty() => format!("audit-{p}.log"),
        _ => "audit.log".to_string(),
    };
    home.join(".config").join("vibectl").join(name)
}

/// Whether the file's last byte is something other than a newline (a line
/// torn by a crash). Writes go to the end regardless of this seek (`O_APPEND`).
fn has_torn_tail(file: &mut File) -> bool {
    let Ok(meta) = file.metadata() else {
        return false;
    };
    if !meta.is_file() || meta.len() == 0 || file.seek(SeekFrom::End(-1)).is_err() {
        return false;
    }
    let mut last = [0u8; 1];
    matches!(file.read(&mut last), Ok(1) if last[0] != b'\n')
}

/// The reference's `_hash_content`: SHA-256 hex of the UTF-8 text, or
/// `"null"` for an empty or absent text.
pub(crate) fn hash_text(text: Option<&str>) -> String {
    match text {
        None | Some("") => "null".into(),
        Some(t) => {
            let digest = Sha256::digest(t.as_bytes());
            let mut hex = String::with_capacity(64);
            for byte in digest.iter() {
                hex.push_str(&format!("{byte:02x}"));
            }
            hex
        }
    }
}

/// An `llm_request` line; field order is the file's.
#[derive(Serialize)]
struct RequestLine {
    timestamp: String,
    proxy_profile: Option<String>,
    request_id: String,
    event_type: &'static str,
    request_hash: String,
    response_hash: String,
    secrets_detected: usize,
    secrets_types: Vec<String>,
    command_generated: Option<String>,
    user_approved: Option<bool>,
    model_used: Option<String>,
    call: &'static str,
    streamed: bool,
    error: Option<String>,
}

/// A `sanitization` line; field order is the file's.
#[derive(Serialize)]
struct SanitizationLine {
    timestamp: String,
    proxy_profile: Option<String>,
    request_id: String,
    event_type: &'static str,
    original_hash: String,
    sanitized_hash: String,
    secrets_detected: usize,
    secrets_types: Vec<String>,
}

/// What ends a text field that was cut.
const TRUNCATED: &str = "...[truncated]";

/// A line whose free-text fields can be cut to fit [`MAX_ENTRY_BYTES`].
trait Shrink: Serialize {
    /// The fields that may be cut.
    fn fields(&mut self) -> Vec<Field<'_>>;
}

impl Shrink for RequestLine {
    fn fields(&mut self) -> Vec<Field<'_>> {
        let mut out = vec![
            Field::Text(&mut self.request_id),
            Field::List(&mut self.secrets_types),
        ];
        for text in [
            &mut self.command_generated,
            &mut self.error,
            &mut self.model_used,
            &mut self.proxy_profile,
        ]
        .into_iter()
        .flatten()
        {
            out.push(Field::Text(text));
        }
        out
    }
}

impl Shrink for SanitizationLine {
    fn fields(&mut self) -> Vec<Field<'_>> {
        let mut out = vec![
            Field::Text(&mut self.request_id),
            Field::List(&mut self.secrets_types),
        ];
        if let Some(profile) = self.proxy_profile.as_mut() {
            out.push(Field::Text(profile));
        }
        out
    }
}

/// One cuttable field of a line.
enum Field<'a> {
    /// A string.
    Text(&'a mut String),
    /// A list of strings (cut by dropping its tail behind a `...[N more]` marker).
    List(&'a mut Vec<String>),
}

impl Field<'_> {
    /// The bytes its value takes in the line (a string's quotes not counted).
    fn json_len(&self) -> usize {
        match self {
            Field::Text(t) => escaped_len(t),
            Field::List(items) => {
                items.iter().map(|i| escaped_len(i) + 2).sum::<usize>()
                    + items.len().saturating_sub(1)
            }
        }
    }

    /// Cuts the value to about `budget` bytes of JSON, if it is longer.
    fn cut_to(&mut self, budget: usize) {
        if self.json_len() <= budget {
            return;
        }
        match self {
            Field::Text(text) => cut_text(text, budget),
            Field::List(items) => {
                let earlier = items.last().and_then(|m| marker_count(m));
                if earlier.is_some() {
                    items.pop();
                }
                let room = budget.saturating_sub(24);
                let (mut kept, mut used) = (0, 0);
                for item in items.iter() {
                    let size = escaped_len(item) + 3;
                    if used + size > room {
                        break;
                    }
                    used += size;
                    kept += 1;
                }
                let dropped = items.len() - kept + earlier.unwrap_or(0);
                items.truncate(kept);
                items.push(format!("...[{dropped} more]"));
            }
        }
    }
}

/// Bytes of `text` inside a JSON string written ASCII-only.
fn escaped_len(text: &str) -> usize {
    text.chars().map(ascii_json_len).sum()
}

/// Cuts `text` to at most `budget` bytes of escaped JSON, [`TRUNCATED`] included.
fn cut_text(text: &mut String, budget: usize) {
    let keep = budget.saturating_sub(TRUNCATED.len());
    let mut used = 0;
    let mut cut = 0;
    for (i, c) in text.char_indices() {
        used += ascii_json_len(c);
        if used > keep {
            break;
        }
        cut = i + c.len_utf8();
    }
    text.truncate(cut);
    text.push_str(TRUNCATED);
}

/// Max-min fair split of `room` among fields of `sizes`: small fields keep
/// all they have, the rest share what is left equally.
fn fair_shares(sizes: &[usize], room: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by_key(|i| sizes[*i]);
    let mut shares = vec![0; sizes.len()];
    let mut left = room;
    for (n, i) in order.iter().enumerate() {
        let share = left / (sizes.len() - n);
        shares[*i] = sizes[*i].min(share);
        left -= shares[*i];
    }
    shares
}

/// The count in a `...[N more]` marker left by an earlier cut.
fn marker_count(item: &str) -> Option<usize> {
    item.strip_prefix("...[")?
        .strip_suffix(" more]")?
        .parse()
        .ok()
}
