//! The client audit log: one JSON object per line for every LLM request.
//!
//! The file format is the one the Python reference client (vibectl 0.11.6,
//! `vibectl/security/audit.py`) writes, so `vibectl audit show` of either tool
//! reads the other's file:
//!
//! * one compact JSON object per line (`separators=(",", ":")`, ASCII only —
//!   non-ASCII text is written as `\uXXXX` escapes, as Python's `json.dump`
//!   does by default);
//! * an `llm_request` line carries `timestamp`, `proxy_profile`, `request_id`,
//!   `event_type`, `request_hash`, `response_hash`, `secrets_detected`,
//!   `secrets_types`, `command_generated`, `user_approved`, `model_used`, and
//!   then this client's additions `call`, `streamed` and `error`;
//! * a `sanitization` line (written just before the `llm_request` line of the
//!   same request when secrets were redacted) carries `timestamp`,
//!   `proxy_profile`, `request_id`, `event_type`, `original_hash`,
//!   `sanitized_hash`, `secrets_detected`, `secrets_types`.
//!
//! Texts are stored only as SHA-256 hex digests (the string `"null"` for an
//! empty or absent text); the request and response themselves never reach the
//! file.
//!
//! The `audit show` / `audit export` / `audit info` helpers reproduce the
//! reference's `vibectl/subcommands/audit_cmd.py` output as plain text.

mod json;
mod read;
mod render;
mod when;
mod write;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

pub use read::{read_entries, ReadResult};
pub use render::{render_export, render_info, render_show, ExportFormat, InfoFormat, InfoRow};
pub use when::parse_since;
pub use write::{AuditLog, LlmRequestEvent};

/// The most bytes one line of the log may take, newline included; longer
/// entries have their free-text fields cut (with a `...[truncated]` marker).
pub const MAX_ENTRY_BYTES: usize = 64 * 1024;

/// Lines longer than this are skipped (and counted) by [`read_entries`]
/// without being held in memory.
pub const MAX_READ_LINE_BYTES: usize = 1024 * 1024;

/// Everything that can go wrong with the audit log.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The log's directory could not be created.
    #[error(
        "cannot create the audit log directory {path}: {source}\n  \
         fix its permissions, or point proxy.profiles.<name>.security.audit_log_path elsewhere"
    )]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The log file could not be opened for appending.
    #[error(
        "cannot open the audit log {path}: {source}\n  \
         fix its permissions, point proxy.profiles.<name>.security.audit_log_path elsewhere, \
         or set proxy.profiles.<name>.security.audit_logging to false"
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// Writing an entry failed.
    #[error(
        "cannot append to the audit log {path}: {source}\n  \
         check free disk space and the file's permissions"
    )]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The OS took only part of an entry; the torn line is fenced off by the next append.
    #[error(
        "only {written} of {len} bytes reached the audit log {path}\n  \
         check free disk space; the torn line is skipped by `vibectl audit show`"
    )]
    ShortWrite {
        /// The file.
        path: PathBuf,
        /// Bytes written.
        written: usize,
        /// Bytes meant to be written.
        len: usize,
    },
    /// An entry stayed over [`MAX_ENTRY_BYTES`] even after its text fields were cut.
    #[error(
        "audit entry for {path} is {len} bytes even after truncation (limit {MAX_ENTRY_BYTES})\n  \
         shorten the proxy profile name or request id"
    )]
    EntryTooLarge {
        /// The file.
        path: PathBuf,
        /// The entry's size.
        len: usize,
    },
    /// The log exists but could not be read.
    #[error("cannot read the audit log {path}: {source}\n  check the file's permissions")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A `--since` value in none of the accepted forms.
    #[error(
        "invalid --since value {value:?}: use an ISO timestamp (2025-06-18T12:34:56Z), \
         epoch seconds (1718700000), or a relative age (e.g. 2h, 30m, 1d)"
    )]
    InvalidSince {
        /// What was given.
        value: String,
    },
    /// A `--format` value that is not one of the valid ones.
    #[error("invalid --format value {value:?}: use one of {valid}")]
    UnknownFormat {
        /// What was given.
        value: String,
        /// The valid values, comma separated.
        valid: &'static str,
    },
}
