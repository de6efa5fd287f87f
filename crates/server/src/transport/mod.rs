//! The listener under load: a cap on open connections that keeps file descriptors in reserve,
//! a bounded pool of connections still in their handshake (the oldest dropped for the newest),
//! a deadline for the TLS handshake and HTTP/2 preface, HTTP/2 stream and keep-alive settings,
//! and the cap on calls in flight beyond which calls are shed at once ([`ShedLayer`]).
//!
//! `server.connections.*` and `server.max_calls_in_flight` configure it (docs/operations.md).
mod gate;
mod incoming;
mod shed;

pub use gate::{Closed, Gate, Guarded, Pending, PREFACE_LEN};
pub use incoming::{plain_incoming, Acceptor, PlainIncoming};
pub use shed::{ShedLayer, ShedService, OVERLOAD_LIMIT_TYPE};

use std::time::Duration;

use crate::config::ServerSection;

/// File descriptors kept for everything but client connections and provider connections: the
/// ledger, logs, the audit log, Redis, the metrics listener, certificate reloads.
pub const FD_BASE_RESERVE: u64 = 256;

/// Length of the kernel's queue of connections not yet accepted (capped by
/// `net.core.somaxconn`): room for a burst while the accept loop catches up, so a flood of
/// connects does not make real clients wait for SYN retransmits.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds a listener on `addr` with [`LISTEN_BACKLOG`] (and `SO_REUSEADDR`, as tokio's `bind`).
pub fn bind(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// The transport settings in force: the config, fitted to the open-file limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Open client connections at most.
    pub max_open: usize,
    /// Connections still in their handshake at most.
    pub max_pending: usize,
    /// Time from accept to the end of the TLS handshake and the HTTP/2 preface.
    pub handshake_timeout: Duration,
    /// SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_streams: u32,
    /// Silence before a keep-alive ping.
    pub keepalive_interval: Duration,
    /// How long a ping may go unanswered.
    pub keepalive_timeout: Duration,
    /// Calls served at once (health exempt).
    pub max_in_flight: usize,
}

/// The configured caps, lowered to fit `fd_limit` (the soft `RLIMIT_NOFILE`, `None` when
/// unknown or unlimited): each call in flight may hold a provider connection, each client
/// connection one descriptor, and [`FD_BASE_RESERVE`] stay free. Returns the caps and, when
/// any was lowered, a sentence for the operator.
pub fn fit_to_fd_limit(
    max_open: u64,
    max_pending: u64,
    max_in_flight: u64,
    fd_limit: Option<u64>,
) -> (u64, u64, u64, Option<String>) {
    let Some(limit) = fd_limit else {
        return (max_open, max_pending, max_in_flight, None);
    };
    let usable = limit.saturating_sub(FD_BASE_RESERVE).max(2);
    // Half of what is usable for provider connections at most, the rest for clients.
    let in_flight = max_in_flight.min(usable / 2).max(1);
    let open = max_open.min(usable - in_flight).max(1);
    let pending = max_pending.min(open);
    let note = (open < max_open || in_flight < max_in_flight).then(|| {
        format!(
            "the open-file limit is {limit} (ulimit -n), so server.connections.max_open is lowered \
             from {max_open} to {open} and server.max_calls_in_flight from {max_in_flight} to \
             {in_flight} ({FD_BASE_RESERVE} descriptors stay free for the ledger, logs and \
             provider connections); raise the limit (LimitNOFILE= in a systemd unit, ulimit -n) \
             or lower those keys"
        )
    });
    (open, pending, in_flight, note)
}

/// Raises the soft open-file limit to the hard one and returns it (`None`: unlimited or unknown).
pub fn raise_fd_limit() -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut lim = getrlimit(Resource::Nofile);
    if lim.current < lim.maximum && lim.maximum.is_some() {
        let raised = rustix::process::Rlimit {
            current: lim.maximum,
            maximum: lim.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            lim = getrlimit(Resource::Nofile);
        }
    }
    lim.current
}

impl Settings {
    /// The settings of `server`, fitted to this process's open-file limit (raised to the hard
    /// limit first); logs what was lowered.
    pub fn for_process(server: &ServerSection) -> Settings {
        let limit = raise_fd_limit();
        let s = Settings::fitted(server, limit);
        tracing::info!(
            max_open = s.max_open,
            max_pending = s.max_pending,
            max_calls_in_flight = s.max_in_flight,
            max_streams = s.max_streams,
            fd_limit = limit.map_or_else(|| "unlimited".to_owned(), |l| l.to_string()),
            "connection limits"
        );
        s
    }

    /// The settings of `server` fitted to `fd_limit`, warning when a cap was lowered.
    pub fn fitted(server: &ServerSection, fd_limit: Option<u64>) -> Settings {
        let c = &server.connections;
        let (open, pending, in_flight, note) = fit_to_fd_limit(
            c.max_open.into(),
            c.max_pending.into(),
            server.max_calls_in_flight.into(),
            fd_limit,
        );
        if let Some(n) = note {
            tracing::warn!("{n}");
        }
        let size = |v: u64| usize::try_from(v).unwrap_or(usize::MAX);
        Settings {
            max_open: size(open),
            max_pending: size(pending),
            handshake_timeout: Duration::from_secs(c.handshake_timeout_seconds),
            max_streams: c.max_streams,
            keepalive_interval: Duration::from_secs(c.keepalive_interval_seconds),
            keepalive_timeout: Duration::from_secs(c.keepalive_timeout_seconds),
            max_in_flight: size(in_flight),
        }
    }

    /// Applies the HTTP/2 settings (streams per connection, keep-alive pings) to a server builder.
    pub fn apply<L>(&self, builder: tonic::transport::Server<L>) -> tonic::transport::Server<L> {
        builder
            .max_concurrent_streams(Some(self.max_streams))
            .http2_keepalive_interval(Some(self.keepalive_interval))
            .http2_keepalive_timeout(Some(self.keepalive_timeout))
    }

    /// The connection gate these settings describe.
    pub fn gate(&self) -> std::sync::Arc<Gate> {
        Gate::new(self.max_open, self.max_pending, self.handshake_timeout)
    }

    /// The in-flight cap as a tower layer.
    pub fn shed_layer(&self) -> ShedLayer {
        ShedLayer::new(self.max_in_flight)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_roomy_limit_keeps_the_config() {
        assert_eq!(
            fit_to_fd_limit(15_000, 4096, 2048, Some(20_000)),
            (15_000, 4096, 2048, None)
        );
        assert_eq!(
            fit_to_fd_limit(15_000, 4096, 2048, None),
            (15_000, 4096, 2048, None)
        );
    }

    #[test]
    fn a_small_limit_lowers_the_caps_and_keeps_the_reserve() {
        let (open, pending, in_flight, note) = fit_to_fd_limit(15_000, 4096, 2048, Some(1024));
        assert_eq!((open, pending, in_flight), (384, 384, 384));
        assert!(open + in_flight + FD_BASE_RESERVE <= 1024);
        let note = note.unwrap();
        assert!(note.contains("server.connections.max_open"), "{note}");
        assert!(note.contains("ulimit -n"), "{note}");
        // Absurdly small limits still leave one connection and one call.
        let (open, _, in_flight, _) = fit_to_fd_limit(15_000, 4096, 2048, Some(10));
        assert_eq!((open, in_flight), (1, 1));
    }
}
