//! Recording outcomes into histograms and rendering the report (human table and JSON).
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context;
use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::procstat::{MachineReport, ProcReport};

/// Largest latency the histograms track (one hour, in microseconds); larger values saturate.
pub const MAX_TRACKABLE_US: u64 = 3_600_000_000;

/// A microsecond histogram with 3 significant digits.
pub fn histogram() -> anyhow::Result<Histogram<u64>> {
    Histogram::new_with_bounds(1, MAX_TRACKABLE_US, 3).context("creating a histogram")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// What one request produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Completion time minus the start (closed loop) or the scheduled time (open loop).
    pub latency: Duration,
    /// Time to the first text chunk (streaming only).
    pub ttfc: Option<Duration>,
    /// How late the request left compared with its schedule (open loop only).
    pub send_lag: Option<Duration>,
    /// Server-reported overhead (`x-vibectl-overhead-us`).
    pub overhead_us: Option<u64>,
    /// Server-reported provider time (`x-vibectl-provider-us`).
    pub provider_us: Option<u64>,
    /// Client-observed time from sending to the answer, minus the provider time: everything the
    /// proxy path adds (client and server gRPC, HTTP/2, handler, scheduling), an upper bound.
    pub outside_provider_us: Option<u64>,
    /// The error class, `None` for success.
    pub error: Option<String>,
}

/// Histograms and counters for one run (or one worker of it; merge them at the end).
#[derive(Clone, Debug)]
pub struct Recorder {
    /// Latency of successful requests.
    pub latency: Histogram<u64>,
    /// Time to first chunk of successful streams.
    pub ttfc: Histogram<u64>,
    /// Open-loop dispatch lag.
    pub send_lag: Histogram<u64>,
    /// Server overhead from response metadata.
    pub overhead: Histogram<u64>,
    /// Provider time from response metadata.
    pub provider: Histogram<u64>,
    /// Client-observed time minus provider time.
    pub outside: Histogram<u64>,
    /// Successful requests.
    pub ok: u64,
    /// Failed requests by error class.
    pub errors: BTreeMap<String, u64>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> anyhow::Result<Self> {
        Ok(Recorder {
            latency: histogram()?,
            ttfc: histogram()?,
            send_lag: histogram()?,
            overhead: histogram()?,
            provider: histogram()?,
            outside: histogram()?,
            ok: 0,
            errors: BTreeMap::new(),
        })
    }

    /// Adds one outcome.
    pub fn record(&mut self, o: &Outcome) {
        if let Some(lag) = o.send_lag {
            self.send_lag.saturating_record(micros(lag));
        }
        if let Some(us) = o.overhead_us {
            self.overhead.saturating_record(us);
        }
        if let Some(us) = o.provider_us {
            self.provider.saturating_record(us);
        }
        if let Some(us) = o.outside_provider_us {
            self.outside.saturating_record(us);
        }
        match &o.error {
            Some(code) => self.error(code),
            None => {
                self.ok += 1;
                self.latency.saturating_record(micros(o.latency));
                if let Some(t) = o.ttfc {
                    self.ttfc.saturating_record(micros(t));
                }
            }
        }
    }

    /// Counts one failure of class `code`.
    pub fn error(&mut self, code: &str) {
        *self.errors.entry(code.to_owned()).or_insert(0) += 1;
    }

    /// Folds `other` into this recorder.
    pub fn merge(&mut self, other: &Recorder) -> anyhow::Result<()> {
        self.latency.add(&other.latency).context("merging")?;
        self.ttfc.add(&other.ttfc).context("merging")?;
        self.send_lag.add(&other.send_lag).context("merging")?;
        self.overhead.add(&other.overhead).context("merging")?;
        self.provider.add(&other.provider).context("merging")?;
        self.outside.add(&other.outside).context("merging")?;
        self.ok += other.ok;
        for (k, v) in &other.errors {
            *self.errors.entry(k.clone()).or_insert(0) += v;
        }
        Ok(())
    }

    /// Failed requests.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// All finished requests, successful or not.
    pub fn requests(&self) -> u64 {
        self.ok + self.error_count()
    }
}

/// Percentiles of one histogram, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest sample.
    pub max: u64,
    /// Mean.
    pub mean: f64,
}

impl Summary {
    /// The summary of `h`, `None` when it is empty.
    pub fn of(h: &Histogram<u64>) -> Option<Summary> {
        if h.is_empty() {
            return None;
        }
        Some(Summary {
            count: h.len(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        })
    }

    fn to_json(self) -> Value {
        json!({
            "count": self.count, "p50": self.p50, "p90": self.p90, "p99": self.p99,
            "p999": self.p999, "max": self.max, "mean": (self.mean * 10.0).round() / 10.0,
        })
    }
}

/// Requests per second over `elapsed`.
pub fn rate(requests: u64, elapsed: Duration) -> f64 {
    let s = elapsed.as_secs_f64();
    if s <= 0.0 {
        0.0
    } else {
        requests as f64 / s
    }
}

/// Extra results of the stream-holding scenario.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HoldStats {
    /// Streams asked for.
    pub requested: u64,
    /// Streams that delivered their first chunk.
    pub opened: u64,
    /// Time from the first launch until every stream had its first chunk (or failed).
    pub open_all: Duration,
    /// Seconds the streams were held once all were open.
    pub held: Duration,
    /// Fewest streams open at any sample during the hold.
    pub min_active: u64,
    /// Most streams open at any sample.
    pub max_active: u64,
    /// Streams that ended on their own before release.
    pub ended_early: u64,
    /// Text chunks received over all streams.
    pub chunks: u64,
}

/// Everything one run measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// Scenario label.
    pub label: String,
    /// `closed`, `open` or `hold`.
    pub mode: String,
    /// Whether StreamExecute was used.
    pub stream: bool,
    /// Closed-loop workers.
    pub concurrency: Option<u64>,
    /// Open-loop offered rate (requests/s).
    pub target_rate: Option<f64>,
    /// HTTP/2 channels.
    pub connections: usize,
    /// Warm-up before measuring.
    pub warmup: Duration,
    /// Length of the measured window.
    pub elapsed: Duration,
    /// The measurements.
    pub rec: Recorder,
    /// Processes watched during the run.
    pub processes: Vec<ProcReport>,
    /// The whole machine's CPU over the window.
    pub machine: Option<MachineReport>,
    /// Stream-holding results.
    pub hold: Option<HoldStats>,
    /// Unix time the run started.
    pub started_unix: u64,
}

impl Report {
    /// Finished requests per second in the measured window.
    pub fn rps(&self) -> f64 {
        rate(self.rec.requests(), self.elapsed)
    }

    /// Successful requests per second in the measured window.
    pub fn ok_rps(&self) -> f64 {
        rate(self.rec.ok, self.elapsed)
    }

    /// The report as JSON (latencies in microseconds, memory in KiB).
    pub fn to_json(&self) -> Value {
        let sum = |h: &Histogram<u64>| Summary::of(h).map_or(Value::Null, Summary::to_json);
        let round1 = |x: f64| (x * 10.0).round() / 10.0;
        let hold = self.hold.as_ref().map_or(Value::Null, |h| {
            json!({
                "requested": h.requested, "opened": h.opened,
                "open_all_ms": h.open_all.as_millis() as u64,
                "held_secs": round1(h.held.as_secs_f64()),
                "min_active": h.min_active, "max_active": h.max_active,
                "ended_early": h.ended_early, "chunks": h.chunks,
            })
        });
        json!({
            "label": self.label,
            "mode": self.mode,
            "stream": self.stream,
            "concurrency": self.concurrency,
            "target_rate": self.target_rate,
            "connections": self.connections,
            "warmup_secs": round1(self.warmup.as_secs_f64()),
            "elapsed_secs": (self.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            "started_unix": self.started_unix,
            "requests": self.rec.requests(),
            "ok": self.rec.ok,
            "errors": self.rec.error_count(),
            "errors_by_code": self.rec.errors,
            // Holding streams is not a rate; leave it out rather than report a meaningless one.
            "rps": if self.hold.is_some() { Value::Null } else { json!(round1(self.rps())) },
            "ok_rps": if self.hold.is_some() { Value::Null } else { json!(round1(self.ok_rps())) },
            "latency_us": sum(&self.rec.latency),
            "ttfc_us": sum(&self.rec.ttfc),
            "send_lag_us": sum(&self.rec.send_lag),
            "overhead_us": sum(&self.rec.overhead),
            "provider_us": sum(&self.rec.provider),
            "outside_provider_us": sum(&self.rec.outside),
            "processes": self.processes.iter().map(ProcReport::to_json).collect::<Vec<_>>(),
            "machine": self.machine.as_ref().map_or(Value::Null, MachineReport::to_json),
            "hold": hold,
        })
    }

    /// The report as a human-readable table.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let shape = match self.mode.as_str() {
            "closed" => format!("closed loop, {} workers", self.concurrency.unwrap_or(0)),
            "open" => format!("open loop at {} req/s", self.target_rate.unwrap_or(0.0)),
            other => other.to_owned(),
        };
        let kind = if self.stream {
            "StreamExecute"
        } else {
            "Execute"
        };
        let _ = writeln!(
            s,
            "== {} ({shape}, {kind}, {} connection{})",
            self.label,
            self.connections,
            if self.connections == 1 { "" } else { "s" }
        );
        let _ = writeln!(
            s,
            "measured   {:.2} s after {:.1} s warm-up",
            self.elapsed.as_secs_f64(),
            self.warmup.as_secs_f64()
        );
        let _ = writeln!(
            s,
            "requests   {}   ok {}   errors {}",
            self.rec.requests(),
            self.rec.ok,
            self.rec.error_count()
        );
        for (code, n) in &self.rec.errors {
            let _ = writeln!(s, "  error    {code}: {n}");
        }
        let hold = self.hold.is_some();
        if !hold {
            let _ = writeln!(s, "rate       {:.1} req/s", self.rps());
        }
        let _ = writeln!(
            s,
            "{:<11}{:>9}{:>9}{:>9}{:>9}{:>10}{:>10}   (microseconds)",
            "", "p50", "p90", "p99", "p99.9", "max", "mean"
        );
        let rows = [
            ("latency", &self.rec.latency),
            ("ttfc", &self.rec.ttfc),
            ("send lag", &self.rec.send_lag),
            ("overhead", &self.rec.overhead),
            ("provider", &self.rec.provider),
            ("e2e-prov", &self.rec.outside),
        ];
        for (name, h) in rows {
            // Holding streams: latency is the time to first chunk, shown once.
            if hold && name == "latency" {
                continue;
            }
            if let Some(m) = Summary::of(h) {
                let _ = writeln!(
                    s,
                    "{name:<11}{:>9}{:>9}{:>9}{:>9}{:>10}{:>10.0}",
                    m.p50, m.p90, m.p99, m.p999, m.max, m.mean
                );
            }
        }
        if let Some(h) = &self.hold {
            let _ = writeln!(
                s,
                "streams    requested {}   opened {}   all open after {} ms   held {:.1} s",
                h.requested,
                h.opened,
                h.open_all.as_millis(),
                h.held.as_secs_f64()
            );
            let _ = writeln!(
                s,
                "           active min {} max {}   ended early {}   chunks {}",
                h.min_active, h.max_active, h.ended_early, h.chunks
            );
        }
        for p in &self.processes {
            let _ = writeln!(s, "{}", p.line());
        }
        if let Some(m) = &self.machine {
            let _ = writeln!(s, "{}", m.line());
        }
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ok(us: u64) -> Outcome {
        Outcome {
            latency: Duration::from_micros(us),
            overhead_us: Some(us / 10),
            ..Outcome::default()
        }
    }

    #[test]
    fn percentiles_of_a_uniform_run() {
        let mut r = Recorder::new().unwrap();
        for us in 1..=10_000 {
            r.record(&ok(us));
        }
        let s = Summary::of(&r.latency).unwrap();
        assert_eq!(s.count, 10_000);
        // Three significant digits: values are within 0.1 % of the exact quantile.
        let near =
            |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 * 0.001 + 1.0;
        assert!(near(s.p50, 5_000), "p50 {}", s.p50);
        assert!(near(s.p90, 9_000), "p90 {}", s.p90);
        assert!(near(s.p99, 9_900), "p99 {}", s.p99);
        assert!(near(s.max, 10_000), "max {}", s.max);
        let o = Summary::of(&r.overhead).unwrap();
        assert!(near(o.p99, 990), "overhead p99 {}", o.p99);
        assert!(Summary::of(&r.ttfc).is_none());
    }

    #[test]
    fn errors_are_counted_by_code_and_kept_out_of_latency() {
        let mut r = Recorder::new().unwrap();
        r.record(&ok(100));
        r.record(&Outcome {
            latency: Duration::from_secs(5),
            error: Some("grpc:Unavailable".into()),
            ..Outcome::default()
        });
        r.error("PROVIDER_UNAVAILABLE");
        r.error("PROVIDER_UNAVAILABLE");
        assert_eq!(r.ok, 1);
        assert_eq!(r.error_count(), 3);
        assert_eq!(r.requests(), 4);
        assert_eq!(r.errors["PROVIDER_UNAVAILABLE"], 2);
        assert_eq!(Summary::of(&r.latency).unwrap().max, 100);
    }

    #[test]
    fn merging_workers_adds_everything() {
        let mut a = Recorder::new().unwrap();
        let mut b = Recorder::new().unwrap();
        a.record(&ok(10));
        b.record(&ok(1_000_000));
        b.error("TIMEOUT");
        a.merge(&b).unwrap();
        assert_eq!(a.ok, 2);
        assert_eq!(a.errors["TIMEOUT"], 1);
        let s = Summary::of(&a.latency).unwrap();
        assert_eq!(s.count, 2);
        assert!(s.max >= 999_000);
    }

    #[test]
    fn huge_values_saturate_instead_of_failing() {
        let mut r = Recorder::new().unwrap();
        r.record(&ok(u64::MAX / 2));
        assert_eq!(r.ok, 1);
    }

    #[test]
    fn rate_and_json_report() {
        assert_eq!(rate(0, Duration::ZERO), 0.0);
        assert!((rate(15_000, Duration::from_secs(2)) - 7_500.0).abs() < 1e-9);
        let mut rec = Recorder::new().unwrap();
        for _ in 0..100 {
            rec.record(&ok(250));
        }
        rec.error("TIMEOUT");
        let report = Report {
            label: "t".into(),
            mode: "closed".into(),
            stream: false,
            concurrency: Some(4),
            target_rate: None,
            connections: 2,
            warmup: Duration::from_secs(1),
            elapsed: Duration::from_secs(2),
            rec,
            processes: vec![],
            machine: None,
            hold: None,
            started_unix: 0,
        };
        let j = report.to_json();
        assert_eq!(j["requests"], 101);
        assert_eq!(j["errors_by_code"]["TIMEOUT"], 1);
        assert_eq!(j["rps"], 50.5);
        assert_eq!(j["latency_us"]["p50"], 250);
        assert!(j["ttfc_us"].is_null());
        let t = report.table();
        assert!(t.contains("50.5 req/s"), "{t}");
        assert!(t.contains("TIMEOUT: 1"), "{t}");
    }
}
