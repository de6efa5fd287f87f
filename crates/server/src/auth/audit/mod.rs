//! The JSON-lines audit log: every authentication success and failure, token issuance and
//! revocation, TLS handshake failures. Never a token, never a key.
//!
//! A running server writes it from one thread fed by a bounded queue ([`AuditLog`]): the
//! request path never waits for the disk, a full queue drops and counts, failures from one
//! peer are aggregated and the file rotates by size (writer.rs).
#[cfg(test)]
mod tests;
mod writer;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use serde::Serialize;

use super::duration::rfc3339_millis;
use crate::config::AuditSection;

/// The audit file name inside the state dir.
pub const AUDIT_FILE: &str = "audit.log";

/// One audit record.
#[derive(Clone, Debug, Default, Serialize)]
pub struct AuditEvent {
    /// `auth_ok`, `auth_failed`, `token_issued`, `token_revoked`, `subject_revoked`, `tls_failed`.
    pub event: &'static str,
    /// Caller address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// gRPC method path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Token subject (verified, or from a token whose signature was valid).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Token id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// Why it failed (or what was done).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Expiry of an issued token (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// In an `audit_suppressed` line: how many failure lines of this peer were not written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<u64>,
}

impl AuditEvent {
    /// Whether this is a failure a peer can repeat at will (aggregated per peer).
    pub fn is_failure(&self) -> bool {
        matches!(self.event, "auth_failed" | "tls_failed")
    }
}

#[derive(Serialize)]
struct Line<'a> {
    ts: String,
    #[serde(flatten)]
    event: &'a AuditEvent,
}

fn render(event: &AuditEvent, at: SystemTime) -> String {
    let mut s = serde_json::to_string(&Line {
        ts: rfc3339_millis(at),
        event,
    })
    .unwrap_or_else(|_| String::from("{\"event\":\"unserialisable\"}"));
    s.push('\n');
    s
}

fn open(path: &Path) -> std::io::Result<std::fs::File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Appends one event now (for CLI commands).
pub fn append_now(path: &Path, event: &AuditEvent) -> std::io::Result<()> {
    let mut f = open(path)?;
    f.write_all(render(event, SystemTime::now()).as_bytes())
}

/// Queue length between the request path and the writer thread.
const QUEUE: usize = 16_384;

/// One queued event: wall time for the line, monotonic time for the per-peer windows.
type Queued = (SystemTime, Instant, AuditEvent);

/// The audit log of a running server: events go through a bounded queue to a writer thread,
/// so the request path never blocks on the disk. When the queue is full an event is dropped
/// and counted (reported in the log by the writer, and in `vibectl_audit_events_not_written_total`).
#[derive(Clone, Debug)]
pub struct AuditLog {
    tx: SyncSender<Queued>,
    dropped: Arc<AtomicU64>,
    path: PathBuf,
}

impl AuditLog {
    /// Opens (creates, mode 0600) the log at `path` with the rotation and aggregation of
    /// `cfg`, and starts its writer thread.
    pub fn start(path: &Path, cfg: &AuditSection) -> std::io::Result<Self> {
        Self::start_with_queue(path, cfg, QUEUE)
    }

    fn start_with_queue(path: &Path, cfg: &AuditSection, queue: usize) -> std::io::Result<Self> {
        let w = writer::Writer::open(path, writer::Options::from(cfg))?;
        let (tx, rx) = sync_channel(queue);
        let dropped = Arc::new(AtomicU64::new(0));
        let d = Arc::clone(&dropped);
        std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || w.run(&rx, &d))?;
        Ok(AuditLog {
            tx,
            dropped,
            path: path.to_path_buf(),
        })
    }

    /// Where the log is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues an event (never blocks).
    pub fn record(&self, event: AuditEvent) {
        match self.tx.try_send((SystemTime::now(), Instant::now(), event)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
