//! Limit arithmetic (per-subject overrides), money as integer micro-USD, and the `state:` section.
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ConfigError, Limits};
use crate::state::FailurePolicy;

/// Why a text is not an amount of USD.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UsdError {
    /// Not digits with an optional decimal point.
    #[error("`{0}` is not an amount of USD such as 50 or 12.5")]
    NotAnAmount(String),
    /// Finer than a micro-dollar.
    #[error("`{0}`: at most 6 decimals (micro-dollars)")]
    TooPrecise(String),
    /// Beyond what the counters hold.
    #[error("`{0}` is too large")]
    TooLarge(String),
}

/// An amount of US dollars, kept as integer micro-USD (never a float once parsed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Usd(pub u64);

impl Usd {
    /// Micro-USD.
    pub fn micro(self) -> u64 {
        self.0
    }

    /// Parses `12`, `12.5`, `0.000001` (at most 6 decimals, no sign, no exponent).
    pub fn parse(s: &str) -> Result<Usd, UsdError> {
        let s = s.trim().trim_start_matches('$');
        let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
        let digits = |t: &str| t.chars().all(|c| c.is_ascii_digit());
        if whole.is_empty() && frac.is_empty() || !digits(whole) || !digits(frac) {
            return Err(UsdError::NotAnAmount(s.to_owned()));
        }
        let frac = frac.trim_end_matches('0');
        if frac.len() > 6 {
            return Err(UsdError::TooPrecise(s.to_owned()));
        }
        let w: u64 = if whole.is_empty() {
            0
        } else {
            whole
                .parse()
                .map_err(|_| UsdError::TooLarge(s.to_owned()))?
        };
        let f: u64 = format!("{frac:0<6}").parse().unwrap_or(0);
        w.checked_mul(1_000_000)
            .and_then(|m| m.checked_add(f))
            .map(Usd)
            .ok_or_else(|| UsdError::TooLarge(s.to_owned()))
    }
}

impl std::fmt::Display for Usd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let frac = format!("{:06}", self.0 % 1_000_000);
        let frac = frac.trim_end_matches('0');
        if frac.is_empty() {
            write!(f, "{}", self.0 / 1_000_000)
        } else {
            write!(f, "{}.{frac}", self.0 / 1_000_000)
        }
    }
}

impl Serialize for Usd {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for Usd {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Float(f64),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Int(i) => i.to_string(),
            // The shortest decimal that round-trips: 0.1 stays 0.1, not 0.1000000000000000055.
            Raw::Float(f) if f.is_finite() && f >= 0.0 => format!("{f}"),
            Raw::Float(f) => {
                return Err(serde::de::Error::custom(format!(
                    "{f} is not an amount of USD"
                )))
            }
            Raw::Text(t) => t,
        };
        Usd::parse(&text).map_err(serde::de::Error::custom)
    }
}

impl Limits {
    /// `self` with every key `over` sets replaced (per-subject entries override global ones).
    pub fn overlay(&self, over: &Limits) -> Limits {
        Limits {
            max_requests_per_minute: over
                .max_requests_per_minute
                .or(self.max_requests_per_minute),
            max_concurrent_requests: over
                .max_concurrent_requests
                .or(self.max_concurrent_requests),
            max_input_length: over.max_input_length.or(self.max_input_length),
            max_fragments: over.max_fragments.or(self.max_fragments),
            max_schema_bytes: over.max_schema_bytes.or(self.max_schema_bytes),
            request_timeout_seconds: over
                .request_timeout_seconds
                .or(self.request_timeout_seconds),
            max_tokens_per_minute: over.max_tokens_per_minute.or(self.max_tokens_per_minute),
            max_tokens_per_day: over.max_tokens_per_day.or(self.max_tokens_per_day),
            budget_usd_per_day: over.budget_usd_per_day.or(self.budget_usd_per_day),
            budget_usd_per_month: over.budget_usd_per_month.or(self.budget_usd_per_month),
        }
    }

    /// Whether any limit kept in the state store is set.
    pub fn needs_store(&self) -> bool {
        self.max_requests_per_minute.is_some()
            || self.max_concurrent_requests.is_some()
            || self.max_tokens_per_minute.is_some()
            || self.max_tokens_per_day.is_some()
            || self.budget_usd_per_day.is_some()
            || self.budget_usd_per_month.is_some()
    }
}

/// Checks one set of limits.
pub(crate) fn check_limits(at: &str, l: &Limits, errs: &mut Vec<ConfigError>) {
    let zero = |key: &str, errs: &mut Vec<ConfigError>| {
        errs.push(ConfigError::new(
            format!("{at}.{key}"),
            "must be >= 1, got 0 (remove the key for no limit)",
        ))
    };
    for (key, v) in [
        ("max_requests_per_minute", l.max_requests_per_minute),
        ("max_concurrent_requests", l.max_concurrent_requests),
        ("max_input_length", l.max_input_length),
        ("max_fragments", l.max_fragments),
        ("max_schema_bytes", l.max_schema_bytes),
        ("request_timeout_seconds", l.request_timeout_seconds),
    ] {
        if v == Some(0) {
            zero(key, errs);
        }
    }
    for (key, v) in [
        ("max_tokens_per_minute", l.max_tokens_per_minute),
        ("max_tokens_per_day", l.max_tokens_per_day),
    ] {
        if v == Some(0) {
            zero(key, errs);
        }
    }
    // A budget of 0 would refuse every call; the store allows nothing at 0 too, but a config
    // saying so is more likely a mistake for "no budget".
    for (key, v) in [
        ("budget_usd_per_day", l.budget_usd_per_day),
        ("budget_usd_per_month", l.budget_usd_per_month),
    ] {
        if v == Some(Usd(0)) {
            errs.push(ConfigError::new(
                format!("{at}.{key}"),
                "must be more than 0, got 0 (remove the key for no budget; to block a caller, \
                 revoke its token)",
            ));
        }
    }
}

/// `metrics:`: the Prometheus endpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// Serve `/metrics` (off by default).
    pub enabled: bool,
    /// Port of the metrics listener.
    pub port: u16,
    /// Address of the metrics listener.
    pub bind: String,
    /// Label request, token and cost series with the subject (one series per user: keep it off
    /// with many users).
    pub subject_label: bool,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            enabled: false,
            port: 9095,
            bind: "127.0.0.1".into(),
            subject_label: false,
        }
    }
}

/// Which state store holds limits and usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    /// One process: in-memory counters, SQLite ledger in the state dir.
    #[default]
    Embedded,
    /// Several replicas sharing one Redis.
    Redis,
}

/// `state:`: where limits, reservations and the usage ledger live.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StateSection {
    /// Directory for the token registry, generated secrets, the CA and the embedded ledger
    /// (default: `$STATE_DIRECTORY` from systemd, else beside the config file).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dir: Option<PathBuf>,
    /// `embedded` (default) or `redis`.
    pub backend: StateBackend,
    /// Redis URL (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key.
    pub redis_key_prefix: String,
    /// Bound on each Redis call, in milliseconds.
    pub redis_timeout_ms: u64,
    /// While Redis is unreachable: `closed` refuses calls (UNAVAILABLE), `open` lets them through unlimited.
    pub on_redis_failure: FailurePolicy,
    /// The embedded ledger file (default `<state dir>/usage.sqlite3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ledger_file: Option<PathBuf>,
    /// Days Redis keeps ledger rows.
    pub ledger_retention_days: u32,
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection {
            dir: None,
            backend: StateBackend::Embedded,
            redis_url: None,
            redis_key_prefix: "vibectl:".into(),
            redis_timeout_ms: 500,
            on_redis_failure: FailurePolicy::Closed,
            ledger_file: None,
            ledger_retention_days: 400,
        }
    }
}

impl StateSection {
    /// Problems with this section.
    pub(crate) fn check(&self, errs: &mut Vec<ConfigError>) {
        if self.backend == StateBackend::Redis {
            match self.redis_url.as_deref() {
                None => errs.push(ConfigError::new(
                    "state.redis_url",
                    "required with `backend: redis` (e.g. `redis://10.0.0.7:6379/0`)",
                )),
                Some(u) if !(u.starts_with("redis://") || u.starts_with("rediss://")) => {
                    errs.push(ConfigError::new(
                        "state.redis_url",
                        "must start with redis:// or rediss:// (e.g. `redis://10.0.0.7:6379/0`)",
                    ))
                }
                Some(_) => {}
            }
        }
        if !(10..=60_000).contains(&self.redis_timeout_ms) {
            errs.push(ConfigError::new(
                "state.redis_timeout_ms",
                format!(
                    "must be between 10 and 60000, got {}",
                    self.redis_timeout_ms
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn usd_is_exact_micro_dollars() {
        assert_eq!(Usd::parse("50").unwrap(), Usd(50_000_000));
        assert_eq!(Usd::parse("0.1").unwrap(), Usd(100_000));
        assert_eq!(Usd::parse("12.345678").unwrap(), Usd(12_345_678));
        assert!(Usd::parse("0.0000001").is_err());
        assert!(Usd::parse("-1").is_err());
        assert!(Usd::parse("1e3").is_err());
        let l: Limits =
            serde_yaml_ng::from_str("budget_usd_per_day: 0.1\nbudget_usd_per_month: '50'").unwrap();
        assert_eq!(l.budget_usd_per_day, Some(Usd(100_000)));
        assert_eq!(l.budget_usd_per_month, Some(Usd(50_000_000)));
        assert_eq!(Usd(12_500_000).to_string(), "12.5");
    }

    #[test]
    fn per_subject_overrides_key_by_key() {
        let g = Limits {
            max_requests_per_minute: Some(60),
            max_concurrent_requests: Some(4),
            ..Limits::default()
        };
        let o = Limits {
            max_requests_per_minute: Some(5),
            ..Limits::default()
        };
        let e = g.overlay(&o);
        assert_eq!(e.max_requests_per_minute, Some(5));
        assert_eq!(e.max_concurrent_requests, Some(4));
    }
}
