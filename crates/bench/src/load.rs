//! The load loops: closed loop, open loop and stream holding.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};
use vibectl_proto::stream_chunk::ChunkType;
use vibectl_proto::vibectl_llm_proxy_client::VibectlLlmProxyClient;
use vibectl_proto::{execute_response, ExecuteRequest};

use crate::procstat::{MachineReport, ProcReport, Tracker};
use crate::report::{HoldStats, Outcome, Recorder};
use crate::schedule::{Bound, Schedule};

/// Response metadata: server overhead in microseconds.
pub use vibectl_proto::wire::metadata::OVERHEAD_US as OVERHEAD_HEADER;
/// Response metadata: provider time in microseconds.
pub use vibectl_proto::wire::metadata::PROVIDER_TIME_US as PROVIDER_HEADER;

/// A gRPC client on one HTTP/2 connection.
pub type Client = VibectlLlmProxyClient<Channel>;

/// Opens `n` separate HTTP/2 connections to `url`.
pub async fn connect(url: &str, n: usize) -> anyhow::Result<Vec<Client>> {
    let endpoint = Endpoint::from_shared(url.to_owned())
        .with_context(|| format!("bad target `{url}`"))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .initial_connection_window_size(Some(4 * 1024 * 1024))
        .initial_stream_window_size(Some(1024 * 1024));
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot connect to {url}"))?;
        out.push(VibectlLlmProxyClient::new(channel).max_decoding_message_size(16 * 1024 * 1024));
    }
    Ok(out)
}

/// What every request sends.
#[derive(Clone, Debug)]
pub struct RequestSpec {
    /// `model_name`, or the server's default.
    pub model: Option<String>,
    /// System fragments.
    pub system: Vec<String>,
    /// User fragments.
    pub user: Vec<String>,
    /// Per-request deadline (sent as `grpc-timeout` and enforced locally).
    pub timeout: Duration,
    /// `authorization: Bearer …` value, for servers that require a token.
    pub authorization: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
}

impl RequestSpec {
    fn request(&self) -> tonic::Request<ExecuteRequest> {
        let mut r = tonic::Request::new(ExecuteRequest {
            system_fragments: self.system.clone(),
            user_fragments: self.user.clone(),
            model_name: self.model.clone(),
            response_model_schema: None,
            request_id: String::new(),
        });
        r.set_timeout(self.timeout);
        if let Some(auth) = &self.authorization {
            r.metadata_mut().insert("authorization", auth.clone());
        }
        r
    }
}

/// The error class of a gRPC status.
pub fn status_class(s: &tonic::Status) -> String {
    format!("grpc:{:?}", s.code())
}

fn failed(latency: Duration, code: impl Into<String>) -> Outcome {
    Outcome {
        latency,
        error: Some(code.into()),
        ..Outcome::default()
    }
}

/// One `Execute`; latency counts from `t0`.
pub async fn unary(client: &mut Client, spec: &RequestSpec, t0: Instant) -> Outcome {
    let sent = Instant::now();
    let res = tokio::time::timeout(spec.timeout, client.execute(spec.request())).await;
    let observed = sent.elapsed();
    let latency = t0.elapsed();
    let resp = match res {
        Err(_) => return failed(latency, "CLIENT_TIMEOUT"),
        Ok(Err(status)) => return failed(latency, status_class(&status)),
        Ok(Ok(r)) => r,
    };
    let md = resp.metadata();
    let num = |k: &str| {
        md.get(k)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let overhead_us = num(OVERHEAD_HEADER);
    let provider_us = num(PROVIDER_HEADER);
    let outside_provider_us = provider_us.map(|p| {
        u64::try_from(observed.as_micros())
            .unwrap_or(u64::MAX)
            .saturating_sub(p)
    });
    let error = match resp.into_inner().result {
        Some(execute_response::Result::Success(_)) => None,
        Some(execute_response::Result::Error(e)) => Some(e.error_code),
        None => Some("EMPTY_RESULT".to_owned()),
    };
    Outcome {
        latency,
        overhead_us,
        provider_us,
        outside_provider_us,
        error,
        ..Outcome::default()
    }
}

/// One `StreamExecute` read to its end; latency and time to first chunk count from `t0`.
pub async fn streaming(client: &mut Client, spec: &RequestSpec, t0: Instant) -> Outcome {
    let mut ttfc = None;
    let run = async {
        let mut s = client
            .stream_execute(spec.request())
            .await
            .map_err(|st| status_class(&st))?
            .into_inner();
        let mut complete = false;
        loop {
            match s.message().await {
                Ok(Some(c)) => match c.chunk_type {
                    Some(ChunkType::TextChunk(_)) => {
                        if ttfc.is_none() {
                            ttfc = Some(t0.elapsed());
                        }
                    }
                    Some(ChunkType::Complete(_)) => complete = true,
                    Some(ChunkType::Error(e)) => return Err(e.error_code),
                    Some(ChunkType::FinalMetrics(_)) | None => {}
                },
                Ok(None) if complete => return Ok(()),
                Ok(None) => return Err("STREAM_INCOMPLETE".to_owned()),
                Err(st) => return Err(status_class(&st)),
            }
        }
    };
    let res = tokio::time::timeout(spec.timeout, run).await;
    let latency = t0.elapsed();
    let error = match res {
        Err(_) => Some("CLIENT_TIMEOUT".to_owned()),
        Ok(Err(code)) => Some(code),
        Ok(Ok(())) => None,
    };
    Outcome {
        latency,
        ttfc,
        error,
        ..Outcome::default()
    }
}

async fn one(client: &mut Client, spec: &RequestSpec, t0: Instant, stream: bool) -> Outcome {
    if stream {
        streaming(client, spec, t0).await
    } else {
        unary(client, spec, t0).await
    }
}

/// What a closed or open run produced.
pub struct RunResult {
    /// Measurements of the measured window.
    pub rec: Recorder,
    /// Length of the measured window.
    pub elapsed: Duration,
    /// Watched processes.
    pub processes: Vec<ProcReport>,
    /// The whole machine's CPU over the window.
    pub machine: Option<MachineReport>,
}

/// Samples the watched processes every 20 ms until stopped; starts the CPU window at `mark_at`.
fn spawn_sampler(
    mut tracker: Tracker,
    mark_at: Instant,
) -> (tokio::task::JoinHandle<Tracker>, watch::Sender<bool>) {
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let handle = tokio::spawn(async move {
        if tracker.is_empty() {
            return tracker;
        }
        let mut marked = false;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tokio::select! {
                _ = stop_rx.wait_for(|s| *s) => break,
                _ = tick.tick() => {
                    tracker.poll();
                    if !marked && Instant::now() >= mark_at {
                        tracker.mark();
                        marked = true;
                    }
                }
            }
        }
        if !marked {
            tracker.mark();
        }
        tracker
    });
    (handle, stop_tx)
}

/// Closed loop: `concurrency` workers each sending back to back until the bound is reached.
pub async fn closed(
    clients: &[Client],
    spec: Arc<RequestSpec>,
    concurrency: u64,
    bound: Bound,
    warmup: Duration,
    stream: bool,
    tracker: Tracker,
) -> anyhow::Result<RunResult> {
    if clients.is_empty() || concurrency == 0 {
        bail!("need at least one connection and one worker");
    }
    let start = Instant::now();
    let measure_start = start + warmup;
    let end = match bound {
        Bound::Duration(d) => Some(measure_start + d),
        Bound::Count(_) => None,
    };
    let (sampler, stop) = spawn_sampler(tracker, measure_start);
    let tickets = Arc::new(AtomicU64::new(0));
    let mut set = JoinSet::new();
    for w in 0..concurrency {
        let mut client = clients[(w as usize) % clients.len()].clone();
        let spec = Arc::clone(&spec);
        let tickets = Arc::clone(&tickets);
        set.spawn(async move {
            let mut rec = Recorder::new()?;
            loop {
                let t0 = Instant::now();
                if end.is_some_and(|e| t0 >= e) {
                    break;
                }
                let measured = t0 >= measure_start;
                if let (true, Bound::Count(n)) = (measured, bound) {
                    if tickets.fetch_add(1, Ordering::Relaxed) >= n {
                        break;
                    }
                }
                let o = one(&mut client, &spec, t0, stream).await;
                if measured {
                    rec.record(&o);
                }
            }
            anyhow::Ok(rec)
        });
    }
    let mut rec = Recorder::new()?;
    while let Some(r) = set.join_next().await {
        rec.merge(&r.context("a worker panicked")??)?;
    }
    let elapsed = Instant::now().saturating_duration_since(measure_start);
    let _ = stop.send(true);
    let tracker = sampler.await.context("the sampler panicked")?;
    let (processes, machine) = tracker.finish(elapsed);
    Ok(RunResult {
        rec,
        elapsed,
        processes,
        machine,
    })
}

/// Open loop: requests launched on a fixed schedule whatever the completions; latency counts from
/// each request's scheduled time, so a stalled server cannot hide its queue (no coordinated omission).
#[allow(clippy::too_many_arguments)]
pub async fn open(
    clients: &[Client],
    spec: Arc<RequestSpec>,
    schedule: Schedule,
    bound: Bound,
    warmup: Duration,
    stream: bool,
    max_in_flight: u64,
    tracker: Tracker,
) -> anyhow::Result<RunResult> {
    if clients.is_empty() {
        bail!("need at least one connection");
    }
    let warm_n = schedule.count_in(warmup);
    let total = warm_n + bound.open_loop_count(&schedule);
    let start = Instant::now() + Duration::from_millis(20);
    let measure_start = start + schedule.offset(warm_n);
    let (sampler, stop) = spawn_sampler(tracker, measure_start);
    let (tx, mut rx) = mpsc::unbounded_channel::<Outcome>();
    let in_flight = Arc::new(AtomicU64::new(0));
    let handle = tokio::runtime::Handle::current();
    let clients = clients.to_vec();
    // A dedicated thread keeps the schedule to well under a millisecond (tokio timers tick in ms).
    let dispatcher = tokio::task::spawn_blocking(move || {
        for i in 0..total {
            let at = start + schedule.offset(i);
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            let measured = i >= warm_n;
            if in_flight.load(Ordering::Relaxed) >= max_in_flight {
                if measured {
                    let _ = tx.send(failed(Duration::ZERO, "CLIENT_BACKLOG_FULL"));
                }
                continue;
            }
            in_flight.fetch_add(1, Ordering::Relaxed);
            let mut client = clients[(i as usize) % clients.len()].clone();
            let spec = Arc::clone(&spec);
            let tx = tx.clone();
            let in_flight = Arc::clone(&in_flight);
            handle.spawn(async move {
                let sent = Instant::now();
                let mut o = one(&mut client, &spec, at, stream).await;
                o.send_lag = Some(sent.saturating_duration_since(at));
                in_flight.fetch_sub(1, Ordering::Relaxed);
                if measured {
                    let _ = tx.send(o);
                }
            });
        }
    });
    let mut rec = Recorder::new()?;
    let mut last = measure_start;
    while let Some(o) = rx.recv().await {
        rec.record(&o);
        last = Instant::now();
    }
    dispatcher.await.context("the dispatcher panicked")?;
    let elapsed = last.saturating_duration_since(measure_start);
    let _ = stop.send(true);
    let tracker = sampler.await.context("the sampler panicked")?;
    let (processes, machine) = tracker.finish(elapsed);
    Ok(RunResult {
        rec,
        elapsed,
        processes,
        machine,
    })
}

/// What holding streams produced.
pub struct HoldResult {
    /// Per-stream outcomes (latency = time to first chunk).
    pub rec: Recorder,
    /// Counters of the hold.
    pub stats: HoldStats,
    /// Watched processes (CPU over the hold window).
    pub processes: Vec<ProcReport>,
    /// The whole machine's CPU over the hold window.
    pub machine: Option<MachineReport>,
}

enum Held {
    Failed(String),
    Released { ttfc: Duration },
}

/// Opens `n` streams at once, waits until all delivered a first chunk (at most `open_timeout`),
/// holds them for `hold`, then drops them all (which cancels them on the server).
pub async fn hold(
    clients: &[Client],
    spec: Arc<RequestSpec>,
    n: u64,
    hold: Duration,
    open_timeout: Duration,
    mut tracker: Tracker,
) -> anyhow::Result<HoldResult> {
    if clients.is_empty() {
        bail!("need at least one connection");
    }
    let active = Arc::new(AtomicU64::new(0));
    let settled = Arc::new(AtomicU64::new(0));
    let ended_early = Arc::new(AtomicU64::new(0));
    let chunks = Arc::new(AtomicU64::new(0));
    let (release_tx, release_rx) = watch::channel(false);
    let start = Instant::now();
    let mut set = JoinSet::new();
    for i in 0..n {
        let mut client = clients[(i as usize) % clients.len()].clone();
        let spec = Arc::clone(&spec);
        let (active, settled, ended_early, chunks) = (
            Arc::clone(&active),
            Arc::clone(&settled),
            Arc::clone(&ended_early),
            Arc::clone(&chunks),
        );
        let mut release = release_rx.clone();
        set.spawn(async move {
            let t0 = Instant::now();
            let opening = async {
                let mut s = client
                    .stream_execute(spec.request())
                    .await
                    .map_err(|st| status_class(&st))?
                    .into_inner();
                loop {
                    match s.message().await {
                        Ok(Some(c)) => match c.chunk_type {
                            Some(ChunkType::TextChunk(_)) => return Ok((s, t0.elapsed())),
                            Some(ChunkType::Error(e)) => return Err(e.error_code),
                            _ => {}
                        },
                        Ok(None) => return Err("STREAM_ENDED_BEFORE_FIRST_CHUNK".to_owned()),
                        Err(st) => return Err(status_class(&st)),
                    }
                }
            };
            let (mut s, ttfc) = match tokio::time::timeout(open_timeout, opening).await {
                Err(_) => {
                    settled.fetch_add(1, Ordering::Relaxed);
                    return Held::Failed("CLIENT_OPEN_TIMEOUT".to_owned());
                }
                Ok(Err(code)) => {
                    settled.fetch_add(1, Ordering::Relaxed);
                    return Held::Failed(code);
                }
                Ok(Ok(x)) => x,
            };
            chunks.fetch_add(1, Ordering::Relaxed);
            active.fetch_add(1, Ordering::Relaxed);
            settled.fetch_add(1, Ordering::Relaxed);
            let outcome = loop {
                tokio::select! {
                    _ = release.wait_for(|r| *r) => break Held::Released { ttfc },
                    m = s.message() => match m {
                        Ok(Some(c)) => match c.chunk_type {
                            Some(ChunkType::TextChunk(_)) => {
                                chunks.fetch_add(1, Ordering::Relaxed);
                            }
                            Some(ChunkType::Error(e)) => break Held::Failed(e.error_code),
                            _ => {}
                        },
                        Ok(None) => {
                            ended_early.fetch_add(1, Ordering::Relaxed);
                            break Held::Released { ttfc };
                        }
                        Err(st) => break Held::Failed(status_class(&st)),
                    }
                }
            };
            active.fetch_sub(1, Ordering::Relaxed);
            drop(s);
            outcome
        });
    }
    // Opening: wait until every stream has its first chunk or failed.
    loop {
        tracker.poll();
        if settled.load(Ordering::Relaxed) >= n || start.elapsed() >= open_timeout {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let open_all = start.elapsed();
    let opened = active.load(Ordering::Relaxed) + ended_early.load(Ordering::Relaxed);
    // Holding.
    tracker.mark();
    let hold_start = Instant::now();
    let mut min_active = u64::MAX;
    let mut max_active = 0;
    loop {
        tracker.poll();
        let a = active.load(Ordering::Relaxed);
        min_active = min_active.min(a);
        max_active = max_active.max(a);
        if hold_start.elapsed() >= hold {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let held = hold_start.elapsed();
    let (processes, machine) = tracker.finish(held);
    let _ = release_tx.send(true);
    let mut rec = Recorder::new()?;
    let drained = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(r) = set.join_next().await {
            match r {
                Ok(Held::Released { ttfc }) => rec.record(&Outcome {
                    latency: ttfc,
                    ttfc: Some(ttfc),
                    ..Outcome::default()
                }),
                Ok(Held::Failed(code)) => rec.error(&code),
                Err(_) => rec.error("CLIENT_TASK_PANICKED"),
            }
        }
    })
    .await;
    if drained.is_err() {
        set.abort_all();
        rec.error("CLIENT_RELEASE_TIMEOUT");
    }
    Ok(HoldResult {
        rec,
        stats: HoldStats {
            requested: n,
            opened,
            open_all,
            held,
            min_active: if min_active == u64::MAX {
                0
            } else {
                min_active
            },
            max_active,
            ended_early: ended_early.load(Ordering::Relaxed),
            chunks: chunks.load(Ordering::Relaxed),
        },
        processes,
        machine,
    })
}
