//! `soak`: mixed and hostile traffic against a real `vibectl-server` for a while, sampling its
//! resident memory, open files and threads; fails when they grow after the warm-up or when the
//! ledger disagrees with what reached the provider. `scripts/soak.sh [MINUTES]` runs it on the
//! release build (docs/BENCHMARKS.md, "Soak").
//!
//! Two in-process mock providers: `clean` always answers, so its ledger rows must equal its
//! request count and its usage exactly; `faulty` is scripted with resets, 5xx, 429, overload,
//! malformed JSON, in-stream errors and stalls, and takes the cancels too.
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use tokio::task::JoinSet;
use tonic::transport::Channel;
use vibectl_bench::procstat;
use vibectl_proto::vibectl_llm_proxy_client::VibectlLlmProxyClient;
use vibectl_proto::{execute_response, ExecuteRequest};
use vibectl_testkit::{
    server_command_ok, Fault, MockProvider, MockReply, MockUsage, ServerProcess,
};

/// Soak and abuse run against the server binary.
#[derive(Parser, Debug)]
#[command(name = "soak")]
struct Args {
    /// The `vibectl-server` binary.
    #[arg(long)]
    server: PathBuf,
    /// Minutes of traffic.
    #[arg(long, default_value_t = 5.0)]
    minutes: f64,
    /// Seconds of traffic before the baseline sample (allocator and pools settle).
    #[arg(long, default_value_t = 60.0)]
    warmup_secs: f64,
    /// Seconds between samples.
    #[arg(long, default_value_t = 5.0)]
    sample_secs: f64,
    /// Concurrent callers.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Where to write the samples (CSV: seconds, rss_kib, fds, threads).
    #[arg(long)]
    samples: Option<PathBuf>,
}

const REPLY: &str = "the soak reply has seven words";
const BAD_TOKENS: &[&str] = &[
    "",
    "not-a-jwt",
    "eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5IiwiaXNzIjoidmliZWN0bC1zZXJ2ZXIiLCJleHAiOjQxMDI0NDQ4MDB9.AAAA",
    "a.b.c.d",
];

/// What the callers saw, by kind.
#[derive(Default)]
struct Tally {
    clean_ok: AtomicU64,
    clean_failed: AtomicU64,
    faulty: AtomicU64,
    cancelled: AtomicU64,
    hostile: AtomicU64,
    bad_token_refused: AtomicU64,
    bad_token_admitted: AtomicU64,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("tokio runtime")?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let clean = MockProvider::start().await.context("clean mock")?;
    clean.set_recording(false);
    clean.set_default_reply(MockReply::text(REPLY).chunks(4));
    let faulty = MockProvider::start().await.context("faulty mock")?;
    faulty.set_recording(false);
    faulty.set_default_reply(
        MockReply::text(REPLY)
            .chunks(8)
            .chunk_interval(Duration::from_millis(5)),
    );

    let secret: String = (0..48).map(|_| fastrand::alphanumeric()).collect();
    let config = format!(
        "server:\n  host: 127.0.0.1\n  limits:\n    global: {{request_timeout_seconds: 3}}\n\
         jwt:\n  enabled: true\n  secret_key: \"{secret}\"\n\
         providers:\n  clean: {{wire: openai, base_url: \"{}\", api_key: test-key, max_retries: 0}}\n  \
         faulty: {{wire: anthropic, base_url: \"{}\", api_key: test-key, max_retries: 1}}\n\
         models:\n  - {{id: soak/clean, provider: clean, upstream: gpt-soak, prices: {{input: 1.0, output: 2.0}}}}\n  \
         - {{id: soak/faulty, provider: faulty, upstream: claude-soak, max_output_tokens: 256, prices: {{input: 3.0, output: 15.0}}}}\n",
        clean.openai_base_url(),
        faulty.anthropic_base_url(),
    );
    let server = ServerProcess::spawn(&args.server, &config, &[], &[])
        .map_err(|e| anyhow::anyhow!("server did not start: {e}"))?;
    let cfg_path = server.dir.path().join("config.yaml");
    let token = server_command_ok(
        &args.server,
        &cfg_path,
        server.dir.path(),
        &["generate-token", "soak-user", "--expires-in", "1d"],
    )
    .map_err(anyhow::Error::msg)?;
    let auth = format!("Bearer {}", token.trim());
    let channel = Channel::from_shared(server.url())?.connect().await?;
    let pid = server.pid();
    println!(
        "soak: server pid {pid} at {}, {} min, {} callers",
        server.url(),
        args.minutes,
        args.concurrency
    );

    let tally = Arc::new(Tally::default());
    let end = Instant::now() + Duration::from_secs_f64(args.minutes * 60.0);
    let mut callers = JoinSet::new();
    for _ in 0..args.concurrency {
        let client = VibectlLlmProxyClient::new(channel.clone());
        let (tally, auth) = (tally.clone(), auth.clone());
        callers.spawn(async move {
            while Instant::now() < end {
                one_call(client.clone(), &auth, &tally).await;
            }
        });
    }
    let faulty = Arc::new(faulty);
    let topper = tokio::spawn(keep_faults_queued(faulty.clone(), end));

    let samples = sample_until(pid, end, &args).await;
    while callers.join_next().await.is_some() {}
    topper.abort();
    // Let abandoned calls settle before the ledger is read.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = sample(pid);
    server.signal("TERM").context("stopping the server")?;
    let mut server = server;
    server.wait_timeout(Duration::from_secs(30));

    let usage = server_command_ok(
        &args.server,
        &cfg_path,
        server.dir.path(),
        &["usage", "--by", "model", "--json"],
    )
    .map_err(anyhow::Error::msg)?;
    let ledger: serde_json::Value = serde_json::from_str(&usage).context("usage --json")?;
    report(
        &args,
        &samples,
        after,
        &tally,
        &ledger,
        clean.request_count() as u64,
        faulty.request_count() as u64,
    )
}

/// Keeps a few scripted replies queued on the faulty mock: half normal, half faults.
async fn keep_faults_queued(mock: Arc<MockProvider>, end: Instant) {
    while Instant::now() < end {
        while mock.pending_replies() < 64 {
            let normal = MockReply::text(REPLY)
                .chunks(8)
                .chunk_interval(Duration::from_millis(5));
            let reply = match fastrand::u8(0..16) {
                0 => normal.fault(Fault::ResetMidStream { after_chunks: 2 }),
                1 => MockReply::failing(Fault::ServerError),
                2 => MockReply::failing(Fault::Overloaded),
                3 => MockReply::failing(Fault::RateLimited {
                    retry_after_secs: 1,
                }),
                4 => MockReply::failing(Fault::MalformedJson),
                5 => normal.fault(Fault::ErrorEventMidStream { after_chunks: 2 }),
                6 => normal.fault(Fault::StallMidStream { after_chunks: 1 }),
                7 => MockReply::failing(Fault::ContextLengthExceeded),
                _ => normal,
            };
            mock.push_reply(reply);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn request(
    model: &str,
    schema: Option<String>,
    auth: &str,
    timeout: Duration,
) -> tonic::Request<ExecuteRequest> {
    let mut r = tonic::Request::new(ExecuteRequest {
        system_fragments: vec!["You are terse.".into()],
        user_fragments: vec!["Say something about soak tests.".into()],
        model_name: Some(model.into()),
        response_model_schema: schema,
        request_id: String::new(),
    });
    r.set_timeout(timeout);
    if let Ok(v) = auth.parse() {
        r.metadata_mut().insert("authorization", v);
    }
    r
}

/// A schema nested `depth` levels deep (a compile-cost attack).
fn deep_schema(depth: usize) -> String {
    let mut s = String::from("{\"type\":\"string\"}");
    for _ in 0..depth {
        s = format!("{{\"type\":\"object\",\"properties\":{{\"a\":{s}}}}}");
    }
    s
}

/// A distinct schema of about `bytes` bytes (a memory attack on the schema cache).
fn big_schema(bytes: usize) -> String {
    let tag = fastrand::u64(..);
    let props: Vec<String> = (0..bytes / 40)
        .map(|i| format!("\"p{tag}_{i}\":{{\"type\":\"string\"}}"))
        .collect();
    format!(
        "{{\"type\":\"object\",\"properties\":{{{}}}}}",
        props.join(",")
    )
}

async fn one_call(mut c: VibectlLlmProxyClient<Channel>, auth: &str, t: &Tally) {
    let long = Duration::from_secs(10);
    match fastrand::u8(0..100) {
        // A valid call to the clean provider, plain or streamed: must succeed.
        0..=29 => {
            let ok = matches!(
                c.execute(request("soak/clean", None, auth, long)).await,
                Ok(r) if matches!(r.get_ref().result, Some(execute_response::Result::Success(_)))
            );
            bump(if ok { &t.clean_ok } else { &t.clean_failed });
        }
        30..=49 => {
            let ok = match c
                .stream_execute(request("soak/clean", None, auth, long))
                .await
            {
                Ok(resp) => drain(resp.into_inner()).await,
                Err(_) => false,
            };
            bump(if ok { &t.clean_ok } else { &t.clean_failed });
        }
        // The faulty provider, whatever it answers.
        50..=59 => {
            let _ = c.execute(request("soak/faulty", None, auth, long)).await;
            bump(&t.faulty);
        }
        60..=69 => {
            if let Ok(resp) = c
                .stream_execute(request("soak/faulty", None, auth, long))
                .await
            {
                drain(resp.into_inner()).await;
            }
            bump(&t.faulty);
        }
        // Cancelled mid-call and mid-stream.
        70..=77 => {
            let wait = Duration::from_millis(fastrand::u64(1..40));
            let _ = tokio::time::timeout(wait, c.execute(request("soak/faulty", None, auth, long)))
                .await;
            bump(&t.cancelled);
        }
        78..=85 => {
            if let Ok(resp) = c
                .stream_execute(request("soak/faulty", None, auth, long))
                .await
            {
                let mut s = resp.into_inner();
                let _ = s.message().await;
            }
            bump(&t.cancelled);
        }
        // Hostile schemas: oversized and distinct, or deeply nested.
        86..=88 => {
            let _ = c
                .execute(request("soak/clean", Some(big_schema(2 << 20)), auth, long))
                .await;
            bump(&t.hostile);
        }
        89..=91 => {
            let _ = c
                .execute(request("soak/clean", Some(deep_schema(2_000)), auth, long))
                .await;
            bump(&t.hostile);
        }
        // A bad token: refused, and never an answer.
        _ => {
            let bad = BAD_TOKENS[fastrand::usize(..BAD_TOKENS.len())];
            let r = c
                .execute(request("soak/clean", None, &format!("Bearer {bad}"), long))
                .await;
            match r {
                Err(s) if s.code() == tonic::Code::Unauthenticated => bump(&t.bad_token_refused),
                _ => bump(&t.bad_token_admitted),
            }
        }
    }
}

async fn drain(mut s: tonic::Streaming<vibectl_proto::StreamChunk>) -> bool {
    use vibectl_proto::stream_chunk::ChunkType;
    let mut ok = false;
    while let Ok(Some(chunk)) = s.message().await {
        match chunk.chunk_type {
            Some(ChunkType::Error(_)) => return false,
            Some(ChunkType::FinalMetrics(_)) => ok = true,
            _ => {}
        }
    }
    ok
}

fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// One reading of the server process.
#[derive(Clone, Copy, Debug, Default)]
struct Reading {
    secs: f64,
    rss_kib: u64,
    fds: u64,
    threads: u64,
}

fn sample(pid: u32) -> Reading {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |k: &str| procstat::status_field(&status, k).unwrap_or(0);
    Reading {
        secs: 0.0,
        rss_kib: field("VmRSS:"),
        fds: procstat::open_fds(pid),
        threads: field("Threads:"),
    }
}

async fn sample_until(pid: u32, end: Instant, args: &Args) -> Vec<Reading> {
    let start = Instant::now();
    let mut out = Vec::new();
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_secs_f64(args.sample_secs)).await;
        let mut r = sample(pid);
        r.secs = start.elapsed().as_secs_f64();
        println!(
            "soak: t={:>6.0}s rss={} KiB fds={} threads={}",
            r.secs, r.rss_kib, r.fds, r.threads
        );
        out.push(r);
    }
    out
}

fn model_row<'a>(ledger: &'a serde_json::Value, model: &str) -> Option<&'a serde_json::Value> {
    ledger.as_array()?.iter().find(|r| r["model"] == model)
}

fn report(
    args: &Args,
    samples: &[Reading],
    after: Reading,
    t: &Tally,
    ledger: &serde_json::Value,
    clean_requests: u64,
    faulty_requests: u64,
) -> anyhow::Result<()> {
    if let Some(path) = &args.samples {
        let mut csv = String::from("secs,rss_kib,fds,threads\n");
        for r in samples {
            csv.push_str(&format!(
                "{:.0},{},{},{}\n",
                r.secs, r.rss_kib, r.fds, r.threads
            ));
        }
        std::fs::write(path, csv).with_context(|| format!("writing {}", path.display()))?;
    }
    let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
    println!(
        "soak: calls clean ok {} failed {}, faulty {}, cancelled {}, hostile schemas {}, bad tokens refused {} admitted {}",
        load(&t.clean_ok), load(&t.clean_failed), load(&t.faulty), load(&t.cancelled),
        load(&t.hostile), load(&t.bad_token_refused), load(&t.bad_token_admitted)
    );
    let mut problems = Vec::new();
    let settled: Vec<&Reading> = samples
        .iter()
        .filter(|r| r.secs >= args.warmup_secs)
        .collect();
    match (settled.first(), settled.iter().map(|r| r.rss_kib).max()) {
        (Some(base), Some(peak)) => {
            let last_third = &settled[settled.len() * 2 / 3..];
            let late_rss = last_third.iter().map(|r| r.rss_kib).max().unwrap_or(0);
            let late_fds = last_third.iter().map(|r| r.fds).max().unwrap_or(0);
            let late_threads = last_third.iter().map(|r| r.threads).max().unwrap_or(0);
            println!(
                "soak: after warm-up rss {} -> peak {peak} (last third {late_rss}) KiB, fds {} -> {late_fds}, threads {} -> {late_threads}; after traffic rss {} fds {} threads {}",
                base.rss_kib, base.fds, base.threads, after.rss_kib, after.fds, after.threads
            );
            // Flat means: the last third of the run is no higher than the first sample after the
            // warm-up plus slack for allocator noise (25 % or 16 MiB of memory, 32 fds, 4 threads).
            if late_rss > base.rss_kib + (base.rss_kib / 4).max(16 * 1024) {
                problems.push(format!(
                    "RSS grew after warm-up: {} -> {late_rss} KiB",
                    base.rss_kib
                ));
            }
            if late_fds > base.fds + 32 {
                problems.push(format!(
                    "open fds grew after warm-up: {} -> {late_fds}",
                    base.fds
                ));
            }
            if late_threads > base.threads + 4 {
                problems.push(format!(
                    "threads grew after warm-up: {} -> {late_threads}",
                    base.threads
                ));
            }
        }
        _ => problems.push("no sample after the warm-up: run longer than --warmup-secs".into()),
    }
    if load(&t.bad_token_admitted) > 0 {
        problems.push(format!(
            "{} calls with a bad token were not refused",
            load(&t.bad_token_admitted)
        ));
    }
    if load(&t.clean_failed) > 0 {
        problems.push(format!(
            "{} valid calls to the clean provider failed",
            load(&t.clean_failed)
        ));
    }
    let per = MockUsage::for_text(REPLY);
    let row = model_row(ledger, "soak/clean");
    let get = |k: &str| row.and_then(|r| r[k].as_u64()).unwrap_or(0);
    println!(
        "soak: clean provider saw {clean_requests} requests; ledger {} requests, {} input, {} output tokens; faulty provider saw {faulty_requests}, ledger {}",
        get("requests"), get("input_tokens"), get("output_tokens"),
        model_row(ledger, "soak/faulty").map_or(serde_json::Value::Null, Clone::clone)
    );
    // Every request that reached the clean provider was answered in full, so the ledger must
    // hold exactly those calls and exactly the usage the provider reported for them.
    if get("requests") != clean_requests
        || get("input_tokens") != clean_requests * u64::from(per.input_tokens)
        || get("output_tokens") != clean_requests * u64::from(per.output_tokens)
    {
        problems.push(format!(
            "ledger for soak/clean differs from the provider: {} requests / {} in / {} out, provider {clean_requests} requests / {} in / {} out",
            get("requests"), get("input_tokens"), get("output_tokens"),
            clean_requests * u64::from(per.input_tokens), clean_requests * u64::from(per.output_tokens)
        ));
    }
    if problems.is_empty() {
        println!("soak: PASS");
        return Ok(());
    }
    for p in &problems {
        eprintln!("soak: FAIL: {p}");
    }
    bail!("{} problem(s)", problems.len())
}
