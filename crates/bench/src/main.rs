//! `vibectl-bench`: a gRPC load generator for `vibectl-server` (loopback targets only).
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use vibectl_bench::load::{self, RequestSpec};
use vibectl_bench::procstat::{Tracker, Watched};
use vibectl_bench::report::Report;
use vibectl_bench::schedule::{loopback_target, Bound, Schedule};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// N workers, each sending back to back.
    Closed,
    /// A fixed arrival rate, whatever the completions.
    Open,
}

/// Load generator for vibectl-server. Every run is bounded by --duration or --requests
/// (or --hold-secs with --streams-hold) and stops by itself.
#[derive(Parser, Debug)]
#[command(name = "vibectl-bench", version)]
struct Args {
    /// Server address; loopback only (127.0.0.1, ::1, localhost).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    target: String,
    /// Load shape.
    #[arg(long, value_enum, default_value_t = Mode::Closed)]
    mode: Mode,
    /// Closed loop: concurrent workers.
    #[arg(long, short = 'c', default_value_t = 64)]
    concurrency: u64,
    /// Open loop: requests per second.
    #[arg(long)]
    rate: Option<f64>,
    /// Measured seconds (after warm-up).
    #[arg(long)]
    duration: Option<f64>,
    /// Measured requests (after warm-up).
    #[arg(long)]
    requests: Option<u64>,
    /// Seconds of load before measuring starts.
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
    /// Use StreamExecute (reports time to first chunk too).
    #[arg(long)]
    stream: bool,
    /// HTTP/2 connections to spread requests over (one connection caps throughput).
    #[arg(long, default_value_t = 1)]
    connections: usize,
    /// Open this many concurrent streams, hold them for --hold-secs, then drop them.
    #[arg(long)]
    streams_hold: Option<u64>,
    /// How long to hold the streams once all are open.
    #[arg(long, default_value_t = 10.0)]
    hold_secs: f64,
    /// Longest wait for all held streams to deliver a first chunk.
    #[arg(long, default_value_t = 60.0)]
    open_timeout: f64,
    /// `model_name` to send (default: the server's default model).
    #[arg(long)]
    model: Option<String>,
    /// User fragment.
    #[arg(long, default_value = "List the pods in the default namespace.")]
    prompt: String,
    /// System fragment.
    #[arg(long, default_value = "You are a Kubernetes assistant.")]
    system: String,
    /// Per-request deadline in seconds.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
    /// Open loop: most requests in flight; later ones count as CLIENT_BACKLOG_FULL errors.
    #[arg(long, default_value_t = 50_000)]
    max_in_flight: u64,
    /// Tokio worker threads of the load generator (default: one per CPU).
    #[arg(long)]
    threads: Option<usize>,
    /// Report memory and CPU of a process, as NAME=PID (repeatable).
    #[arg(long = "watch", value_name = "NAME=PID")]
    watch: Vec<Watched>,
    /// Scenario label for the report.
    #[arg(long)]
    label: Option<String>,
    /// Bearer token for a server that requires authentication.
    #[arg(long, env = "VIBECTL_JWT_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

fn secs(name: &str, s: f64, max: f64) -> anyhow::Result<Duration> {
    if !s.is_finite() || s < 0.0 || s > max {
        bail!("--{name} must be between 0 and {max} seconds, got {s}");
    }
    Ok(Duration::from_secs_f64(s))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = args.threads {
        rt.worker_threads(n.clamp(1, 256));
    }
    rt.build()
        .context("building the tokio runtime")?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let url = loopback_target(&args.target)?;
    if args.connections == 0 || args.connections > 1024 {
        bail!("--connections must be between 1 and 1024");
    }
    if args.concurrency == 0 || args.concurrency > 100_000 {
        bail!("--concurrency must be between 1 and 100000");
    }
    let warmup = secs("warmup", args.warmup, 3600.0)?;
    let mut timeout = secs("timeout", args.timeout, 3600.0)?;
    let started_unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let clients = load::connect(&url, args.connections).await?;
    // The load generator watches itself too: on a small machine it competes for the same cores.
    let mut watched = args.watch.clone();
    watched.push(Watched {
        name: "bench".into(),
        pid: std::process::id(),
    });
    let tracker = Tracker::new(&watched);

    let report = if let Some(n) = args.streams_hold {
        if n == 0 || n > 100_000 {
            bail!("--streams-hold must be between 1 and 100000");
        }
        let hold = secs("hold-secs", args.hold_secs, 3600.0)?;
        let open_timeout = secs("open-timeout", args.open_timeout, 3600.0)?;
        // Held streams must outlive the hold: stretch the deadline past it.
        timeout = timeout.max(open_timeout + hold + Duration::from_secs(30));
        let spec = Arc::new(request_spec(&args, timeout)?);
        let r = load::hold(&clients, spec, n, hold, open_timeout, tracker).await?;
        Report {
            label: args.label.clone().unwrap_or_else(|| format!("hold-{n}")),
            mode: "hold".into(),
            stream: true,
            concurrency: Some(n),
            target_rate: None,
            connections: args.connections,
            warmup: Duration::ZERO,
            elapsed: r.stats.held,
            rec: r.rec,
            processes: r.processes,
            machine: r.machine,
            hold: Some(r.stats),
            started_unix,
        }
    } else {
        let bound = Bound::from_flags(args.duration, args.requests)?;
        let spec = Arc::new(request_spec(&args, timeout)?);
        let (r, label, rate) = match args.mode {
            Mode::Closed => {
                if args.rate.is_some() {
                    bail!("--rate is for --mode open");
                }
                let r = load::closed(
                    &clients,
                    spec,
                    args.concurrency,
                    bound,
                    warmup,
                    args.stream,
                    tracker,
                )
                .await?;
                (r, format!("closed-{}", args.concurrency), None)
            }
            Mode::Open => {
                let Some(rate) = args.rate else {
                    bail!("--mode open needs --rate REQUESTS_PER_SECOND");
                };
                let schedule = Schedule::new(rate)?;
                let r = load::open(
                    &clients,
                    spec,
                    schedule,
                    bound,
                    warmup,
                    args.stream,
                    args.max_in_flight,
                    tracker,
                )
                .await?;
                (r, format!("open-{rate}"), Some(rate))
            }
        };
        Report {
            label: args.label.clone().unwrap_or(label),
            mode: match args.mode {
                Mode::Closed => "closed".into(),
                Mode::Open => "open".into(),
            },
            stream: args.stream,
            concurrency: (args.mode == Mode::Closed).then_some(args.concurrency),
            target_rate: rate,
            connections: args.connections,
            warmup,
            elapsed: r.elapsed,
            rec: r.rec,
            processes: r.processes,
            machine: r.machine,
            hold: None,
            started_unix,
        }
    };

    let json = report.to_json();
    if let Some(path) = &args.out {
        let text = serde_json::to_string_pretty(&json)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        print!("{}", report.table());
    }
    Ok(())
}

fn request_spec(args: &Args, timeout: Duration) -> anyhow::Result<RequestSpec> {
    let authorization = match args.token.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(token) => Some(
            format!("Bearer {token}")
                .parse()
                .map_err(|_| anyhow::anyhow!("--token has characters a header cannot carry"))?,
        ),
    };
    Ok(RequestSpec {
        model: args.model.clone(),
        system: vec![args.system.clone()],
        user: vec![args.prompt.clone()],
        timeout,
        authorization,
    })
}
