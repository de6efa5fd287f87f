//! The JSON-lines audit log: every authentication success and failure, token issuance and
//! revocation, TLS handshake failures. Never a token, never a key.
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::duration::rfc3339_millis;

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

/// The audit log of a running server: events go through a bounded queue to a writer thread, so
/// the request path never blocks on the disk. When the queue is full an event is dropped and
/// counted (reported in the log by the writer).
#[derive(Clone, Debug)]
pub struct AuditLog {
    tx: SyncSender<(SystemTime, AuditEvent)>,
    dropped: Arc<AtomicU64>,
    path: PathBuf,
}

impl AuditLog {
    /// Opens (creates, mode 0600) the log and starts its writer thread.
    pub fn start(path: &Path) -> std::io::Result<Self> {
        let file = open(path)?;
        let (tx, rx) = sync_channel(16_384);
        let dropped = Arc::new(AtomicU64::new(0));
        let d = Arc::clone(&dropped);
        std::thread::Builder::new()
            .name("audit-log".into())
            .spawn(move || writer(file, rx, d))?;
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
        match self.tx.try_send((SystemTime::now(), event)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn writer(file: std::fs::File, rx: Receiver<(SystemTime, AuditEvent)>, dropped: Arc<AtomicU64>) {
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, file);
    let mut reported = 0;
    loop {
        let first = match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(ev) => Some(ev),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => None,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        if let Some((at, ev)) = first {
            let _ = out.write_all(render(&ev, at).as_bytes());
            // Drain what is queued, then flush once.
            while let Ok((at, ev)) = rx.try_recv() {
                let _ = out.write_all(render(&ev, at).as_bytes());
            }
        }
        let now_dropped = dropped.load(Ordering::Relaxed);
        if now_dropped > reported {
            let ev = AuditEvent {
                event: "audit_dropped",
                reason: Some(format!(
                    "{} events dropped (queue full)",
                    now_dropped - reported
                )),
                ..AuditEvent::default()
            };
            let _ = out.write_all(render(&ev, SystemTime::now()).as_bytes());
            reported = now_dropped;
        }
        if out.flush().is_err() {
            tracing::warn!("cannot write the audit log");
        }
    }
    let _ = out.flush();
}
