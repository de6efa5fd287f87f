//! Memory and CPU of watched processes, from `/proc/PID/status` and `/proc/PID/stat` (Linux).
use std::time::Duration;

use serde_json::{json, Value};

/// Clock ticks per second of `/proc/PID/stat` times (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
pub const CLK_TCK: f64 = 100.0;

/// One numeric field of `/proc/PID/status` (`VmRSS:`, `Threads:`, ...), its unit dropped.
pub fn status_field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
}

/// `VmRSS` and `VmHWM` (KiB) from the text of `/proc/PID/status`.
pub fn parse_status(text: &str) -> (Option<u64>, Option<u64>) {
    (status_field(text, "VmRSS:"), status_field(text, "VmHWM:"))
}

/// How many file descriptors a process holds open (`/proc/PID/fd`), 0 if it cannot be read.
pub fn open_fds(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count() as u64)
}

/// User plus system CPU ticks from the text of `/proc/PID/stat`.
pub fn parse_stat_ticks(text: &str) -> Option<u64> {
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last `)`.
    let rest = &text[text.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    // rest starts at field 3 (state); utime is field 14 and stime field 15.
    let utime: u64 = f.nth(11)?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some(utime + stime)
}

/// Busy and total CPU ticks over all cores, from the first line of `/proc/stat`.
pub fn parse_proc_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if v.len() < 5 {
        return None;
    }
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = v.iter().sum();
    let idle = v[3] + v[4];
    Some((total - idle, total))
}

fn machine_ticks() -> Option<(u64, u64)> {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| parse_proc_stat(&t))
}

/// CPU use of the whole machine over the measured window.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MachineReport {
    /// Core-seconds busy (all processes).
    pub busy_secs: f64,
    /// Core-seconds available (cores x window).
    pub capacity_secs: f64,
    /// Busy core-seconds not used by the watched processes (other engineers' builds etc.).
    pub others_secs: f64,
}

impl MachineReport {
    /// The JSON form.
    pub fn to_json(&self) -> Value {
        let r = |x: f64| (x * 100.0).round() / 100.0;
        json!({
            "busy_core_secs": r(self.busy_secs),
            "capacity_core_secs": r(self.capacity_secs),
            "others_core_secs": r(self.others_secs),
            "busy_percent": r(self.busy_percent()),
            "others_percent": r(self.others_percent()),
        })
    }

    /// Busy share of the machine, percent.
    pub fn busy_percent(&self) -> f64 {
        if self.capacity_secs > 0.0 {
            self.busy_secs / self.capacity_secs * 100.0
        } else {
            0.0
        }
    }

    /// Share of the machine used by unwatched processes, percent.
    pub fn others_percent(&self) -> f64 {
        if self.capacity_secs > 0.0 {
            self.others_secs / self.capacity_secs * 100.0
        } else {
            0.0
        }
    }

    /// One line of the human report.
    pub fn line(&self) -> String {
        format!(
            "machine    {:.0}% busy over the window ({:.1} of {:.1} core-seconds); processes not watched used {:.1} core-seconds ({:.0}%)",
            self.busy_percent(),
            self.busy_secs,
            self.capacity_secs,
            self.others_secs,
            self.others_percent()
        )
    }
}

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sample {
    /// Resident set, KiB.
    pub rss_kib: Option<u64>,
    /// Peak resident set since start, KiB.
    pub hwm_kib: Option<u64>,
    /// CPU ticks so far.
    pub cpu_ticks: Option<u64>,
}

/// Reads `/proc/PID/*`; fields are `None` where unavailable (process gone, not Linux).
pub fn sample(pid: u32) -> Sample {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let (rss_kib, hwm_kib) = parse_status(&status);
    let cpu_ticks = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|t| parse_stat_ticks(&t));
    Sample {
        rss_kib,
        hwm_kib,
        cpu_ticks,
    }
}

/// A process to watch, named for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watched {
    /// Name in the report (`server`, `mock`).
    pub name: String,
    /// Process id.
    pub pid: u32,
}

impl std::str::FromStr for Watched {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, pid) = s
            .split_once('=')
            .ok_or_else(|| format!("expected NAME=PID, got `{s}`"))?;
        let pid = pid
            .trim()
            .parse()
            .map_err(|_| format!("`{pid}` is not a process id"))?;
        Ok(Watched {
            name: name.trim().to_owned(),
            pid,
        })
    }
}

/// Memory and CPU of one process over a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProcReport {
    /// Name given on the command line.
    pub name: String,
    /// Process id.
    pub pid: u32,
    /// RSS when the run started, KiB.
    pub rss_start_kib: Option<u64>,
    /// Largest RSS sampled during the run, KiB.
    pub rss_peak_kib: Option<u64>,
    /// RSS when the run ended, KiB.
    pub rss_end_kib: Option<u64>,
    /// The kernel's peak RSS since the process started (`VmHWM`), at the end, KiB.
    pub hwm_kib: Option<u64>,
    /// CPU seconds used during the measured window.
    pub cpu_secs: Option<f64>,
    /// Length of the measured window.
    pub window: Duration,
}

impl ProcReport {
    /// CPU use over the window, in percent of one core.
    pub fn cpu_percent(&self) -> Option<f64> {
        let w = self.window.as_secs_f64();
        self.cpu_secs.and_then(|c| (w > 0.0).then(|| c / w * 100.0))
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name, "pid": self.pid,
            "rss_start_kib": self.rss_start_kib, "rss_peak_kib": self.rss_peak_kib,
            "rss_end_kib": self.rss_end_kib, "hwm_kib": self.hwm_kib,
            "cpu_secs": self.cpu_secs.map(|c| (c * 100.0).round() / 100.0),
            "cpu_percent": self.cpu_percent().map(|c| c.round()),
        })
    }

    /// One line of the human report.
    pub fn line(&self) -> String {
        let mib =
            |k: Option<u64>| k.map_or("?".to_owned(), |k| format!("{:.1}", k as f64 / 1024.0));
        format!(
            "process    {} (pid {}): RSS start {} MiB, peak {} MiB, end {} MiB, VmHWM {} MiB; CPU {} s ({}% of a core)",
            self.name,
            self.pid,
            mib(self.rss_start_kib),
            mib(self.rss_peak_kib),
            mib(self.rss_end_kib),
            mib(self.hwm_kib),
            self.cpu_secs.map_or("?".to_owned(), |c| format!("{c:.2}")),
            self.cpu_percent().map_or("?".to_owned(), |c| format!("{c:.0}")),
        )
    }
}

/// Tracks watched processes over a run: peak RSS by sampling, CPU between two marks.
#[derive(Clone, Debug)]
pub struct Tracker {
    procs: Vec<(Watched, Sample, Option<u64>, Option<u64>)>,
    machine: Option<(u64, u64)>,
}

impl Tracker {
    /// Starts tracking `watched` (reads a first sample).
    pub fn new(watched: &[Watched]) -> Self {
        let procs = watched
            .iter()
            .map(|w| {
                let s = sample(w.pid);
                (w.clone(), s, s.rss_kib, s.cpu_ticks)
            })
            .collect();
        Tracker {
            procs,
            machine: machine_ticks(),
        }
    }

    /// Whether anything is watched.
    pub fn is_empty(&self) -> bool {
        self.procs.is_empty()
    }

    /// Takes a sample, keeping the peak RSS.
    pub fn poll(&mut self) {
        for (w, _, peak, _) in &mut self.procs {
            if let Some(r) = sample(w.pid).rss_kib {
                *peak = Some(peak.map_or(r, |p| p.max(r)));
            }
        }
    }

    /// Starts the CPU window now (the end of warm-up).
    pub fn mark(&mut self) {
        for (w, _, _, cpu) in &mut self.procs {
            *cpu = sample(w.pid).cpu_ticks;
        }
        self.machine = machine_ticks();
    }

    /// The reports, the CPU window ending now and lasting `window`.
    pub fn finish(mut self, window: Duration) -> (Vec<ProcReport>, Option<MachineReport>) {
        self.poll();
        let machine0 = self.machine;
        let procs: Vec<ProcReport> = self
            .procs
            .into_iter()
            .map(|(w, start, peak, cpu0)| {
                let end = sample(w.pid);
                let cpu_secs = match (cpu0, end.cpu_ticks) {
                    (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / CLK_TCK),
                    _ => None,
                };
                ProcReport {
                    name: w.name,
                    pid: w.pid,
                    rss_start_kib: start.rss_kib,
                    rss_peak_kib: peak,
                    rss_end_kib: end.rss_kib,
                    hwm_kib: end.hwm_kib,
                    cpu_secs,
                    window,
                }
            })
            .collect();
        let machine = match (machine0, machine_ticks()) {
            (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => {
                let busy_secs = b1.saturating_sub(b0) as f64 / CLK_TCK;
                let watched: f64 = procs.iter().filter_map(|p| p.cpu_secs).sum();
                Some(MachineReport {
                    busy_secs,
                    capacity_secs: (t1 - t0) as f64 / CLK_TCK,
                    others_secs: (busy_secs - watched).max(0.0),
                })
            }
            _ => None,
        };
        (procs, machine)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn status_fields() {
        let text = "Name:\tvibectl-server\nVmPeak:\t  900000 kB\nVmHWM:\t   40960 kB\nVmRSS:\t   20480 kB\n";
        assert_eq!(parse_status(text), (Some(20480), Some(40960)));
        assert_eq!(parse_status(""), (None, None));
        let text = "Name:\tx\nThreads:\t6\nVmRSS:\tbogus kB\n";
        assert_eq!(status_field(text, "Threads:"), Some(6));
        assert_eq!(status_field(text, "VmRSS:"), None);
        assert!(open_fds(std::process::id()) >= 3);
    }

    #[test]
    fn stat_ticks_survive_odd_names() {
        let text = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 75 0 0 20 0 3 0";
        assert_eq!(parse_stat_ticks(text), Some(325));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn machine_ticks_parse() {
        let text = "cpu  100 5 50 800 20 1 2 3 0 0\ncpu0 50 2 25 400 10 0 1 1 0 0\n";
        // busy = total (981) - idle (800) - iowait (20)
        assert_eq!(parse_proc_stat(text), Some((161, 981)));
        assert_eq!(parse_proc_stat("intr 1 2 3"), None);
        let m = MachineReport {
            busy_secs: 3.0,
            capacity_secs: 4.0,
            others_secs: 1.0,
        };
        assert_eq!(m.busy_percent(), 75.0);
        assert_eq!(m.others_percent(), 25.0);
    }

    #[test]
    fn watched_parses() {
        let w: Watched = "server=42".parse().unwrap();
        assert_eq!(
            w,
            Watched {
                name: "server".into(),
                pid: 42
            }
        );
        assert!("server".parse::<Watched>().is_err());
        assert!("server=x".parse::<Watched>().is_err());
    }

    #[test]
    fn own_process_is_readable() {
        let s = sample(std::process::id());
        if cfg!(target_os = "linux") {
            assert!(s.rss_kib.unwrap() > 0);
            assert!(s.cpu_ticks.is_some());
        }
    }

    #[test]
    fn cpu_percent() {
        let p = ProcReport {
            cpu_secs: Some(1.5),
            window: Duration::from_secs(3),
            ..ProcReport::default()
        };
        assert_eq!(p.cpu_percent(), Some(50.0));
        assert!(p.line().contains("50% of a core"));
    }
}
