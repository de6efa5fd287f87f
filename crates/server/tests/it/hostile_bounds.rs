//! Hostile requests against the real server: every field bounded before any work, the limiter
//! before the schema compiler, and memory that stays bounded under distinct maximum-size schemas.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use tonic::Code;
use vibectl_proto::{GetServerInfoRequest, StreamChunk};
use vibectl_testkit::{MockProvider, MockReply};

use crate::common::*;
use crate::e2e_metrics_reload::{scrape, sum};
use crate::limits_common::{config, spawn};

/// A valid JSON Schema of exactly `bytes` bytes, distinct for each `seed`, with many properties
/// and patterns (costly to compile).
fn schema(seed: usize, bytes: usize) -> String {
    let mut props = Vec::new();
    let mut len = 64;
    let mut i = 0;
    while len < bytes.saturating_sub(120) {
        let p = format!(
            "\"p{seed}_{i}\":{{\"type\":\"string\",\"pattern\":\"^[a-z]{{1,{}}}$\"}}",
            i % 50 + 1
        );
        len += p.len() + 1;
        props.push(p);
        i += 1;
    }
    let body = format!(
        "{{\"type\":\"object\",\"properties\":{{{}}},\"required\":[\"p{seed}_0\"]}}",
        props.join(",")
    );
    // Pad to the exact size with insignificant whitespace.
    let pad = bytes.saturating_sub(body.len());
    format!("{body}{}", " ".repeat(pad))
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn stream_error(chunks: &[StreamChunk]) -> &vibectl_proto::ExecuteError {
    match chunks.last().and_then(|c| c.chunk_type.as_ref()) {
        Some(vibectl_proto::stream_chunk::ChunkType::Error(e)) => e,
        other => panic!("expected an error chunk, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_fields_are_refused_naming_the_limit_and_its_key() {
    let mock = MockProvider::start().await.unwrap();
    let limits = "  limits:\n    global: {max_schema_bytes: 2048, max_fragments: 8}\n";
    let server = spawn(&config(&mock, limits, ""), &[]);
    let mut c = client(&server).await;
    let refused = |resp: &vibectl_proto::ExecuteResponse, needles: &[&str]| {
        let e = error(resp);
        assert_eq!(e.error_code, "INVALID_REQUEST", "{e:?}");
        for n in needles {
            assert!(
                e.error_message.contains(n),
                "{n} missing from {:?}",
                e.error_message
            );
        }
    };

    let mut r = request(Some("metered"), "q");
    r.request_id = "x".repeat(129);
    let resp = c.execute(r.clone()).await.unwrap().into_inner();
    refused(&resp, &["request_id", "128"]);
    assert!(
        resp.request_id.len() <= 36,
        "the long id is not echoed: {}",
        resp.request_id.len()
    );
    // Streams too: the id is not copied into the chunk.
    let chunks = stream_all(&mut c, r).await;
    assert_eq!(stream_error(&chunks).error_code, "INVALID_REQUEST");
    assert!(chunks.iter().all(|ch| ch.request_id.len() <= 36));
    let mut r = request(Some("metered"), "q");
    r.request_id = "bad\nid".into();
    refused(
        &c.execute(r).await.unwrap().into_inner(),
        &["request_id", "printable"],
    );
    let mut r = request(Some("metered"), "q");
    r.request_id = "x".repeat(128);
    let ok = c.execute(r).await.unwrap().into_inner();
    assert!(!success(&ok).response_text.is_empty());
    assert_eq!(ok.request_id, "x".repeat(128));

    let r = request(Some(&"m".repeat(300)), "q");
    refused(
        &c.execute(r).await.unwrap().into_inner(),
        &["model_name", "256"],
    );

    let mut r = request(Some("metered"), "q");
    r.user_fragments = vec!["q".into(); 9];
    refused(
        &c.execute(r).await.unwrap().into_inner(),
        &[
            "10 fragments",
            "limit of 8",
            "server.limits.global.max_fragments",
        ],
    );

    let mut r = request(Some("metered"), "q");
    r.response_model_schema = Some(schema(1, 2049));
    refused(
        &c.execute(r).await.unwrap().into_inner(),
        &[
            "2049 bytes",
            "limit of 2048",
            "server.limits.global.max_schema_bytes",
        ],
    );
    // A schema at the limit is compiled and used.
    mock.push_reply(MockReply::text("{\"p2_0\": \"a\"}"));
    let mut r = request(Some("metered"), "q");
    r.response_model_schema = Some(schema(2, 2048));
    success(&c.execute(r).await.unwrap().into_inner());

    // Without a configured max_input_length, the default fits the largest context in the
    // catalog (4 characters a token) and is announced.
    let info = c
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    let max = info.limits.unwrap().max_input_length.unwrap();
    assert!(max >= 4 * 1_000_000, "{max}");
    // None of the refused calls reached the provider.
    assert_eq!(mock.request_count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn calls_refused_by_a_limit_compile_no_schema() {
    let port = free_port();
    let mock = MockProvider::start().await.unwrap();
    mock.set_default_reply(MockReply::text("not json"));
    let server = spawn(
        &config(&mock, "", ""),
        &["--max-rpm", "5", "--metrics-port", &port.to_string()],
    );
    let mut c = client(&server).await;
    let mut refused = 0;
    for i in 0..40 {
        let mut r = request(Some("metered"), "q");
        r.response_model_schema = Some(schema(i, 60 * 1024));
        match c.execute(r).await {
            Ok(resp) => assert_eq!(error(resp.get_ref()).error_code, "SCHEMA_VALIDATION_FAILED"),
            Err(s) => {
                assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
                refused += 1;
            }
        }
    }
    assert_eq!(refused, 35);
    let text = scrape(port).await;
    assert_eq!(
        sum(&text, "vibectl_schema_compiles_total", ""),
        5.0,
        "{text}"
    );
}

/// 64 callers at once, each sending distinct maximum-size schemas, for a while: the server's
/// memory stays bounded (the cache holds a bounded number of bytes, compiles run two at a time).
#[tokio::test(flavor = "multi_thread")]
async fn distinct_maximum_size_schemas_keep_memory_bounded() {
    let mock = MockProvider::start().await.unwrap();
    mock.set_default_reply(MockReply::text("{}"));
    let server = spawn(&config(&mock, "", ""), &[]);
    let pid = server.pid();
    let c = client(&server).await;
    let before = rss_kib(pid);
    let until = Instant::now() + Duration::from_secs(20);
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(before));
    let sampler = {
        let peak = std::sync::Arc::clone(&peak);
        tokio::spawn(async move {
            while Instant::now() < until {
                peak.fetch_max(rss_kib(pid), std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for t in 0..64 {
        let mut c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut calls = 0usize;
            while Instant::now() < until {
                let mut r = request(Some("metered"), "q");
                r.response_model_schema = Some(schema(t * 100_000 + calls, 64 * 1024));
                let resp = c.execute(r).await.unwrap().into_inner();
                assert!(resp.result.is_some());
                calls += 1;
            }
            calls
        }));
    }
    let mut calls = 0;
    for t in tasks {
        calls += t.await.unwrap();
    }
    sampler.await.unwrap();
    let peak = peak.load(std::sync::atomic::Ordering::Relaxed);
    eprintln!("{calls} calls; RSS {before} KiB before, peak {peak} KiB");
    assert!(calls >= 64, "{calls}");
    assert!(peak < 200 * 1024, "RSS peaked at {peak} KiB");
}
