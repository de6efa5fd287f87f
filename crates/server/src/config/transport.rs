//! `server.connections` and `server.max_calls_in_flight`: how many connections and calls the
//! listener takes, and how fast it drops the ones that do nothing (docs/operations.md).
use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `server.connections`: bounds on the listener's connections.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionsSection {
    /// Open client connections at most (lowered at start to fit the open-file limit).
    pub max_open: u32,
    /// Connections still in their TLS handshake or before their HTTP/2 preface; when full, the
    /// oldest of them is closed for the newest.
    pub max_pending: u32,
    /// Seconds a new connection gets to finish its TLS handshake and send the HTTP/2 preface.
    pub handshake_timeout_seconds: u64,
    /// Concurrent streams (calls) one HTTP/2 connection may open (SETTINGS_MAX_CONCURRENT_STREAMS).
    pub max_streams: u32,
    /// Seconds of silence after which the server pings a connection.
    pub keepalive_interval_seconds: u64,
    /// Seconds a ping may go unanswered before the connection is closed as dead.
    pub keepalive_timeout_seconds: u64,
}

impl Default for ConnectionsSection {
    fn default() -> Self {
        ConnectionsSection {
            max_open: 15_000,
            max_pending: 4096,
            handshake_timeout_seconds: 10,
            max_streams: 256,
            keepalive_interval_seconds: 30,
            keepalive_timeout_seconds: 20,
        }
    }
}

/// Default of `server.max_calls_in_flight`.
pub const DEFAULT_MAX_CALLS_IN_FLIGHT: u32 = 2048;

fn range(errs: &mut Vec<ConfigError>, key: &str, value: u64, min: u64, max: u64, what: &str) {
    if !(min..=max).contains(&value) {
        errs.push(ConfigError::new(
            key,
            format!("must be between {min} and {max} ({what}), got {value}"),
        ));
    }
}

/// Checks `server.connections` and `server.max_calls_in_flight`.
pub fn check_transport(c: &ConnectionsSection, in_flight: u32, errs: &mut Vec<ConfigError>) {
    let k = |s: &str| format!("server.connections.{s}");
    range(
        errs,
        &k("max_open"),
        c.max_open.into(),
        1,
        1_000_000,
        "open client connections",
    );
    range(
        errs,
        &k("max_pending"),
        c.max_pending.into(),
        1,
        1_000_000,
        "connections not yet through the handshake",
    );
    if c.max_pending > c.max_open {
        errs.push(ConfigError::new(
            k("max_pending"),
            format!(
                "must not exceed server.connections.max_open ({}), got {}",
                c.max_open, c.max_pending
            ),
        ));
    }
    range(
        errs,
        &k("handshake_timeout_seconds"),
        c.handshake_timeout_seconds,
        1,
        300,
        "seconds for the TLS handshake and HTTP/2 preface",
    );
    range(
        errs,
        &k("max_streams"),
        c.max_streams.into(),
        1,
        65_536,
        "concurrent calls per connection",
    );
    range(
        errs,
        &k("keepalive_interval_seconds"),
        c.keepalive_interval_seconds,
        1,
        86_400,
        "seconds before a silent connection is pinged",
    );
    range(
        errs,
        &k("keepalive_timeout_seconds"),
        c.keepalive_timeout_seconds,
        1,
        3600,
        "seconds a ping may go unanswered",
    );
    range(
        errs,
        "server.max_calls_in_flight",
        in_flight.into(),
        1,
        1_000_000,
        "calls served at once; more are refused with RESOURCE_EXHAUSTED",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let mut errs = Vec::new();
        check_transport(
            &ConnectionsSection::default(),
            DEFAULT_MAX_CALLS_IN_FLIGHT,
            &mut errs,
        );
        assert!(errs.is_empty(), "{errs:?}");
    }

    #[test]
    fn zero_and_inverted_values_are_refused_by_key() {
        let c = ConnectionsSection {
            max_open: 10,
            max_pending: 20,
            handshake_timeout_seconds: 0,
            max_streams: 0,
            keepalive_interval_seconds: 0,
            keepalive_timeout_seconds: 0,
        };
        let mut errs = Vec::new();
        check_transport(&c, 0, &mut errs);
        let keys: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            keys,
            [
                "server.connections.max_pending",
                "server.connections.handshake_timeout_seconds",
                "server.connections.max_streams",
                "server.connections.keepalive_interval_seconds",
                "server.connections.keepalive_timeout_seconds",
                "server.max_calls_in_flight",
            ]
        );
        assert!(errs[0].message.contains("max_open (10)"), "{}", errs[0]);
    }
}
