//! Open-loop arrival schedule, run bounds and target checks.
use std::time::Duration;

use anyhow::{bail, Context};

/// Constant-rate arrivals: request `i` is due `i / rate` seconds after the start.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    rate: f64,
}

impl Schedule {
    /// A schedule of `rate` requests per second (finite, positive, at most 1,000,000).
    pub fn new(rate: f64) -> anyhow::Result<Self> {
        if !rate.is_finite() || rate <= 0.0 || rate > 1_000_000.0 {
            bail!("the rate must be a positive number of requests per second up to 1000000, got {rate}");
        }
        Ok(Schedule { rate })
    }

    /// Requests per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// When request `i` is due, from the start of the schedule.
    pub fn offset(&self, i: u64) -> Duration {
        Duration::from_secs_f64(i as f64 / self.rate)
    }

    /// How many requests fall in a window of `d` (rounded up, so a warm-up covers all of `d`).
    pub fn count_in(&self, d: Duration) -> u64 {
        (d.as_secs_f64() * self.rate).ceil() as u64
    }
}

/// How a run ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// After this long (measured after warm-up).
    Duration(Duration),
    /// After this many measured requests.
    Count(u64),
}

impl Bound {
    /// From the `--duration` / `--requests` flags: exactly one must be given, non-zero.
    pub fn from_flags(duration_secs: Option<f64>, requests: Option<u64>) -> anyhow::Result<Self> {
        match (duration_secs, requests) {
            (Some(_), Some(_)) => bail!("give --duration or --requests, not both"),
            (None, None) => {
                bail!("give --duration SECS or --requests N: every run must end by itself")
            }
            (Some(s), None) => {
                if !s.is_finite() || s <= 0.0 || s > 86_400.0 {
                    bail!("--duration must be between 0 and 86400 seconds, got {s}");
                }
                Ok(Bound::Duration(Duration::from_secs_f64(s)))
            }
            (None, Some(0)) => bail!("--requests must be at least 1"),
            (None, Some(n)) => Ok(Bound::Count(n)),
        }
    }

    /// Measured requests an open loop at `s` sends within this bound.
    pub fn open_loop_count(&self, s: &Schedule) -> u64 {
        match *self {
            Bound::Duration(d) => s.count_in(d).max(1),
            Bound::Count(n) => n,
        }
    }
}

/// Checks that `target` names a loopback address and returns it as an `http://` URL.
pub fn loopback_target(target: &str) -> anyhow::Result<String> {
    let url = if target.contains("://") {
        target.to_owned()
    } else {
        format!("http://{target}")
    };
    let uri: tonic::codegen::http::Uri = url
        .parse()
        .with_context(|| format!("`{target}` is not a valid address"))?;
    if uri.scheme_str() != Some("http") {
        bail!("only plaintext http:// targets are supported, got `{target}`");
    }
    let host = uri.host().unwrap_or_default();
    let h = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!("the load generator only targets this machine (127.0.0.1, ::1, localhost), not `{host}`");
    }
    if uri.port_u16().is_none() {
        bail!("give the port, e.g. http://127.0.0.1:50051");
    }
    Ok(url)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_evenly_spaced() {
        let s = Schedule::new(2_000.0).unwrap();
        assert_eq!(s.offset(0), Duration::ZERO);
        assert_eq!(s.offset(1), Duration::from_micros(500));
        assert_eq!(s.offset(2_000), Duration::from_secs(1));
        assert_eq!(s.offset(3_000), Duration::from_millis(1_500));
        // Offsets never go backwards.
        let mut last = Duration::ZERO;
        for i in 0..10_000 {
            let o = s.offset(i);
            assert!(o >= last);
            last = o;
        }
    }

    #[test]
    fn counts_in_windows() {
        let s = Schedule::new(2_000.0).unwrap();
        assert_eq!(s.count_in(Duration::from_secs(10)), 20_000);
        assert_eq!(s.count_in(Duration::from_millis(1)), 2);
        let slow = Schedule::new(3.0).unwrap();
        assert_eq!(slow.count_in(Duration::from_millis(500)), 2);
        assert_eq!(
            Bound::Duration(Duration::from_secs(2)).open_loop_count(&slow),
            6
        );
        assert_eq!(Bound::Count(7).open_loop_count(&slow), 7);
        assert_eq!(
            Bound::Duration(Duration::from_millis(1)).open_loop_count(&slow),
            1
        );
    }

    #[test]
    fn bad_rates_are_refused() {
        for r in [0.0, -1.0, f64::NAN, f64::INFINITY, 2e6] {
            assert!(Schedule::new(r).is_err(), "{r}");
        }
    }

    #[test]
    fn every_run_is_bounded() {
        assert!(Bound::from_flags(None, None).is_err());
        assert!(Bound::from_flags(Some(1.0), Some(1)).is_err());
        assert!(Bound::from_flags(Some(0.0), None).is_err());
        assert!(Bound::from_flags(None, Some(0)).is_err());
        assert_eq!(
            Bound::from_flags(Some(2.5), None).unwrap(),
            Bound::Duration(Duration::from_millis(2_500))
        );
        assert_eq!(Bound::from_flags(None, Some(9)).unwrap(), Bound::Count(9));
    }

    #[test]
    fn only_loopback_targets() {
        assert_eq!(
            loopback_target("127.0.0.1:50051").unwrap(),
            "http://127.0.0.1:50051"
        );
        assert!(loopback_target("http://localhost:1").is_ok());
        assert!(loopback_target("http://[::1]:8080").is_ok());
        assert!(loopback_target("http://10.0.0.1:50051").is_err());
        assert!(loopback_target("example.com:443").is_err());
        assert!(loopback_target("https://127.0.0.1:1").is_err());
        assert!(loopback_target("127.0.0.1").is_err());
    }
}
