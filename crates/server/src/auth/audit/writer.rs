//! The audit writer thread: failure lines aggregated per peer in one-second windows, size-based
//! rotation with a retention count, and reports of what the queue dropped.
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime};

use super::{open, render, AuditEvent, Queued};
use crate::config::AuditSection;

/// The aggregation window.
const WINDOW: Duration = Duration::from_secs(1);
/// Peers tracked at once; failures from further peers share one window (`*`).
const MAX_PEERS: usize = 8192;
/// Key of the shared window when [`MAX_PEERS`] are tracked.
const OVERFLOW_PEER: &str = "*";
/// Wait before retrying a rotation that failed.
const ROTATE_RETRY: Duration = Duration::from_secs(10);

/// What the writer is configured with.
#[derive(Clone, Copy, Debug)]
pub(super) struct Options {
    pub max_file_bytes: u64,
    pub keep_files: u32,
    pub per_peer: u32,
}

impl From<&AuditSection> for Options {
    fn from(a: &AuditSection) -> Self {
        Options {
            max_file_bytes: a.max_file_bytes,
            keep_files: a.keep_files,
            per_peer: a.max_failures_per_peer_per_second,
        }
    }
}

#[derive(Debug)]
struct Window {
    start: Instant,
    written: u32,
    suppressed: u64,
}

/// The peer a failure is counted against: the address without the port (a flood opens new
/// ports at will), IPv6 by its /64 (one host is usually given a whole /64).
pub(super) fn peer_key(peer: Option<&str>) -> String {
    let Some(p) = peer else {
        return "-".to_owned();
    };
    match p.parse::<SocketAddr>().map(|a| a.ip()) {
        Ok(IpAddr::V4(ip)) => ip.to_string(),
        Ok(IpAddr::V6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = ip.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => p.chars().take(64).collect(),
    }
}

/// `audit.log.N`.
fn numbered(path: &Path, n: u32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

fn ignore_missing(r: std::io::Result<()>) -> std::io::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Shifts `path.1..` up by one (the last falls off) and moves `path` to `path.1`.
fn shift(path: &Path, keep: u32) -> std::io::Result<()> {
    if keep == 0 {
        return ignore_missing(std::fs::remove_file(path));
    }
    for i in (1..keep).rev() {
        ignore_missing(std::fs::rename(numbered(path, i), numbered(path, i + 1)))?;
    }
    std::fs::rename(path, numbered(path, 1))
}

/// The state of the writer thread.
pub(super) struct Writer {
    path: PathBuf,
    out: BufWriter<File>,
    size: u64,
    opts: Options,
    windows: HashMap<String, Window>,
    next_sweep: Option<Instant>,
    dropped_reported: u64,
    rotate_after: Option<Instant>,
    warned_at: Option<Instant>,
}

impl Writer {
    /// Opens (creates, mode 0600) the log.
    pub fn open(path: &Path, opts: Options) -> std::io::Result<Writer> {
        let file = open(path)?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        Ok(Writer {
            path: path.to_path_buf(),
            out: BufWriter::with_capacity(64 * 1024, file),
            size,
            opts,
            windows: HashMap::new(),
            next_sweep: None,
            dropped_reported: 0,
            rotate_after: None,
            warned_at: None,
        })
    }

    /// Writes what arrives until every sender is gone; reports drops counted in `dropped`.
    pub fn run(mut self, rx: &Receiver<Queued>, dropped: &AtomicU64) {
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(item) => {
                    self.handle(item);
                    // Drain what is queued, then flush once.
                    while let Ok(item) = rx.try_recv() {
                        self.handle(item);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            self.sweep(Instant::now());
            self.report_dropped(dropped.load(Ordering::Relaxed));
            self.flush();
        }
        self.report_dropped(dropped.load(Ordering::Relaxed));
        self.finish();
    }

    /// Writes the counts of every open window and flushes (at exit, and for tests).
    pub fn finish(&mut self) {
        let far = Instant::now() + WINDOW + WINDOW;
        self.next_sweep = None;
        self.sweep(far);
        self.flush();
    }

    fn flush(&mut self) {
        if self.out.flush().is_err() {
            self.warn("cannot write the audit log");
        }
    }

    fn warn(&mut self, what: &str) {
        let now = Instant::now();
        if self
            .warned_at
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10))
        {
            tracing::warn!(path = %self.path.display(), "{what}");
            self.warned_at = Some(now);
        }
    }

    /// One queued event: written, or counted against its peer's window.
    pub fn handle(&mut self, (at, seen, ev): Queued) {
        if !ev.is_failure() {
            self.write(&ev, at);
            return;
        }
        let mut key = peer_key(ev.peer.as_deref());
        if self.windows.len() >= MAX_PEERS && !self.windows.contains_key(&key) {
            key = OVERFLOW_PEER.to_owned();
        }
        let limit = self.opts.per_peer;
        let w = self.windows.entry(key.clone()).or_insert(Window {
            start: seen,
            written: 0,
            suppressed: 0,
        });
        let mut ended = 0;
        if seen.saturating_duration_since(w.start) >= WINDOW {
            ended = std::mem::take(&mut w.suppressed);
            w.start = seen;
            w.written = 0;
        }
        let write = w.written < limit;
        if write {
            w.written += 1;
        } else {
            w.suppressed += 1;
        }
        if ended > 0 {
            self.suppressed_line(key, ended);
        }
        if write {
            self.write(&ev, at);
        }
    }

    /// Ends the windows older than [`WINDOW`] at `now`: writes their suppressed counts and
    /// forgets them (at most every 250 ms, so a flood does not scan the map per event).
    pub fn sweep(&mut self, now: Instant) {
        if self.next_sweep.is_some_and(|t| now < t) {
            return;
        }
        self.next_sweep = Some(now + Duration::from_millis(250));
        let mut ended = Vec::new();
        self.windows.retain(|key, w| {
            if now.saturating_duration_since(w.start) < WINDOW {
                return true;
            }
            if w.suppressed > 0 {
                ended.push((key.clone(), w.suppressed));
            }
            false
        });
        for (key, n) in ended {
            self.suppressed_line(key, n);
        }
    }

    fn suppressed_line(&mut self, peer: String, n: u64) {
        crate::telemetry::audit_lost("suppressed", n);
        let ev = AuditEvent {
            event: "audit_suppressed",
            peer: Some(peer),
            reason: Some(format!(
                "suppressed {n} more failure lines from this peer within one second \
                 (audit.max_failures_per_peer_per_second is {})",
                self.opts.per_peer
            )),
            suppressed: Some(n),
            ..AuditEvent::default()
        };
        self.write(&ev, SystemTime::now());
    }

    fn report_dropped(&mut self, total: u64) {
        if total <= self.dropped_reported {
            return;
        }
        let n = total - self.dropped_reported;
        self.dropped_reported = total;
        crate::telemetry::audit_lost("dropped", n);
        self.warn("audit events dropped: the writer could not keep up (queue full)");
        let ev = AuditEvent {
            event: "audit_dropped",
            reason: Some(format!("{n} events dropped (queue full)")),
            suppressed: Some(n),
            ..AuditEvent::default()
        };
        self.write(&ev, SystemTime::now());
    }

    fn write(&mut self, ev: &AuditEvent, at: SystemTime) {
        let line = render(ev, at);
        let len = line.len() as u64;
        if self.size > 0 && self.size.saturating_add(len) > self.opts.max_file_bytes {
            self.rotate();
        }
        if self.out.write_all(line.as_bytes()).is_ok() {
            self.size = self.size.saturating_add(len);
        } else {
            self.warn("cannot write the audit log");
        }
    }

    /// Moves the full log aside and starts a new one; on failure keeps appending and tries
    /// again after [`ROTATE_RETRY`].
    fn rotate(&mut self) {
        let now = Instant::now();
        if self.rotate_after.is_some_and(|t| now < t) {
            return;
        }
        let _ = self.out.flush();
        let reopened = shift(&self.path, self.opts.keep_files).and_then(|()| open(&self.path));
        match reopened {
            Ok(file) => {
                self.out = BufWriter::with_capacity(64 * 1024, file);
                self.size = 0;
                self.rotate_after = None;
            }
            Err(e) => {
                self.rotate_after = Some(now + ROTATE_RETRY);
                self.warn(&format!("cannot rotate the audit log: {e}"));
            }
        }
    }
}
