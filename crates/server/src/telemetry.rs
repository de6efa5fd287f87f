//! Prometheus metrics: recorded through the `metrics` facade (no-ops until enabled) and served as
//! text on `/metrics` from a separate listener (`--enable-metrics`, `--metrics-port`).
//!
//! Every call counts once in `vibectl_requests_total` with `status` one of `ok`, `error`,
//! `cancelled` (client went away) or `refused` (a limit), so requests = successes + errors +
//! refusals.
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::config::MetricsSection;
use crate::state::Tally;

static SUBJECT_LABEL: OnceLock<bool> = OnceLock::new();

const LATENCY_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

fn subject_label(subject: &str) -> String {
    if SUBJECT_LABEL.get().copied().unwrap_or(false) {
        subject.to_owned()
    } else {
        "-".to_owned()
    }
}

/// The API a call came through, from its method name: `grpc`, `openai` or `anthropic`.
pub fn api_of(method: &str) -> &'static str {
    crate::state::Api::of_method(method).as_str()
}

/// One finished (or refused) call.
pub fn request(method: &'static str, model: &str, subject: &str, status: &'static str) {
    counter!("vibectl_requests_total", "api" => api_of(method), "method" => method,
        "model" => model.to_owned(), "subject" => subject_label(subject), "status" => status)
    .increment(1);
}

/// A failed call, by `ExecuteError` code (or `CANCELLED`).
pub fn error(code: &str) {
    counter!("vibectl_errors_total", "code" => code.to_owned()).increment(1);
}

/// A call refused by a limit.
pub fn refusal(limit_type: &'static str) {
    counter!("vibectl_refusals_total", "limit_type" => limit_type).increment(1);
}

/// A response schema was compiled (refused calls compile none).
pub fn schema_compiled() {
    counter!("vibectl_schema_compiles_total").increment(1);
}

/// A state store call that failed.
pub fn store_error() {
    counter!("vibectl_state_store_errors_total").increment(1);
}

/// Calls in flight (admitted, not yet settled).
pub fn in_flight(delta: f64) {
    gauge!("vibectl_in_flight_requests").increment(delta);
}

/// Whole-call latency.
pub fn latency(method: &'static str, d: Duration) {
    histogram!("vibectl_request_duration_seconds", "api" => api_of(method), "method" => method)
        .record(d.as_secs_f64());
}

/// Time waiting for the provider, and what the server added on top (unary calls).
pub fn provider_and_overhead(provider: Duration, overhead: Duration) {
    histogram!("vibectl_provider_duration_seconds").record(provider.as_secs_f64());
    histogram!("vibectl_overhead_seconds").record(overhead.as_secs_f64());
}

/// Time to the first text chunk of a stream.
pub fn time_to_first_token(d: Duration) {
    histogram!("vibectl_time_to_first_token_seconds").record(d.as_secs_f64());
}

/// Tokens and cost of a settled call.
pub fn usage(model: &str, subject: &str, t: &Tally) {
    let s = subject_label(subject);
    for (kind, n) in [
        ("input", t.input_tokens),
        ("output", t.output_tokens),
        ("cache_read", t.cache_read_tokens),
        ("cache_write", t.cache_write_tokens),
    ] {
        if n > 0 {
            counter!("vibectl_tokens_total", "model" => model.to_owned(), "subject" => s.clone(), "kind" => kind)
                .increment(n);
        }
    }
    counter!("vibectl_cost_pico_usd_total", "model" => model.to_owned(), "subject" => s)
        .increment(t.cost_pico);
}

/// Client connections open now (`delta` +1 / -1).
pub fn open_connections(delta: f64) {
    gauge!("vibectl_open_connections").increment(delta);
}

/// A connection the transport closed: `handshake_timeout`, `evicted` or `over_capacity`.
pub fn connection_closed(reason: &'static str) {
    counter!("vibectl_connections_closed_total", "reason" => reason).increment(1);
}

/// Audit events dropped (queue full) or suppressed (one peer over its rate).
pub fn audit_lost(kind: &'static str, n: u64) {
    counter!("vibectl_audit_events_not_written_total", "kind" => kind).increment(n);
}

/// Installs the recorder and serves `/metrics`; returns the bound address.
pub async fn start(cfg: &MetricsSection) -> anyhow::Result<SocketAddr> {
    let _ = SUBJECT_LABEL.set(cfg.subject_label);
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &LATENCY_BUCKETS)
        .context("metrics buckets")?
        .install_recorder()
        .context("cannot install the metrics recorder")?;
    gauge!("vibectl_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    for kind in [
        "rpm",
        "concurrency",
        "tokens",
        "budget",
        "state-store",
        "overload",
    ] {
        counter!("vibectl_refusals_total", "limit_type" => kind).increment(0);
    }
    counter!("vibectl_state_store_errors_total").increment(0);
    counter!("vibectl_schema_compiles_total").increment(0);
    gauge!("vibectl_in_flight_requests").set(0.0);
    for reason in ["handshake_timeout", "evicted", "over_capacity"] {
        counter!("vibectl_connections_closed_total", "reason" => reason).increment(0);
    }
    let addr: SocketAddr = format!("{}:{}", cfg.bind, cfg.port)
        .parse()
        .or_else(|_| format!("[{}]:{}", cfg.bind, cfg.port).parse())
        .with_context(|| format!("metrics.bind `{}` is not an IP address", cfg.bind))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot bind the metrics listener on {addr}"))?;
    let local = listener.local_addr()?;
    let upkeep = handle.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let app = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || render(handle.clone())),
    );
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!("metrics listener stopped: {e}");
        }
    });
    Ok(local)
}

async fn render(h: PrometheusHandle) -> ([(&'static str, &'static str); 1], String) {
    ([("content-type", "text/plain; version=0.0.4")], h.render())
}
