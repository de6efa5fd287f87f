//! Provider faults become their documented error codes; retries; the server keeps serving and
//! leaks neither connections nor file descriptors.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::common;

use std::time::Duration;

use common::*;
use vibectl_testkit::{Fault, MockReply};

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn thread_count(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

const FAULTS: [(Fault, &str); 8] = [
    (
        Fault::RateLimited {
            retry_after_secs: 0,
        },
        "PROVIDER_RATE_LIMITED",
    ),
    (Fault::ServerError, "PROVIDER_UNAVAILABLE"),
    (Fault::Overloaded, "PROVIDER_UNAVAILABLE"),
    (Fault::AuthFailed, "PROVIDER_AUTH_FAILED"),
    (Fault::ContextLengthExceeded, "CONTEXT_LENGTH_EXCEEDED"),
    (
        Fault::ResetMidStream { after_chunks: 0 },
        "PROVIDER_UNAVAILABLE",
    ),
    (Fault::MalformedJson, "EXECUTION_FAILED"),
    (Fault::Stall, "TIMEOUT"),
];

#[tokio::test(flavor = "multi_thread")]
async fn every_fault_maps_to_its_code_and_nothing_leaks() {
    let (mock, server) = start(
        "  limits:\n    global:\n      request_timeout_seconds: 1\n",
        "    max_retries: 0\n",
    )
    .await;
    let mut c = client(&server).await;
    // Warm up the connection pool so descriptor counts compare like with like.
    for model in ["gpt-4o", "claude-4-sonnet"] {
        success(
            c.execute(request(Some(model), "warm"))
                .await
                .unwrap()
                .get_ref(),
        );
    }
    let fds_before = fd_count(server.pid());
    let threads_before = thread_count(server.pid());

    for round in 0..3 {
        for model in ["gpt-4o", "claude-4-sonnet"] {
            for (fault, code) in &FAULTS {
                mock.push_reply(MockReply::failing(fault.clone()));
                let resp = c
                    .execute(request(Some(model), "x"))
                    .await
                    .unwrap()
                    .into_inner();
                let e = error(&resp);
                assert_eq!(
                    e.error_code, *code,
                    "round {round} {model} {fault:?}: {e:?}"
                );
                assert!(!e.error_message.is_empty());
                assert!(
                    !e.error_message.contains("test-key")
                        && !e
                            .error_details
                            .clone()
                            .unwrap_or_default()
                            .contains("test-key"),
                    "no key in errors"
                );
            }
            success(
                c.execute(request(Some(model), "still fine"))
                    .await
                    .unwrap()
                    .get_ref(),
            );
        }
    }
    // Stalled upstream requests were abandoned at the timeout: nothing stays open on the mock.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(mock.active_streams(), 0);
    assert!(
        mock.open_connections() <= 8,
        "provider connections pile up: {}",
        mock.open_connections()
    );
    let fds_after = fd_count(server.pid());
    assert!(
        fds_after <= fds_before + 4,
        "server descriptors grew from {fds_before} to {fds_after}"
    );
    // Tokio's blocking pool may grow by a thread or two; a leak would grow with the 48 calls.
    let threads_after = thread_count(server.pid());
    assert!(
        threads_after <= threads_before + 4,
        "server threads grew from {threads_before} to {threads_after}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn transient_failures_are_retried_and_counted() {
    let (mock, server) = start("", "    max_retries: 2\n").await;
    let mut c = client(&server).await;
    for model in ["gpt-4o", "claude-4-sonnet"] {
        mock.push_reply(MockReply::failing(Fault::RateLimited {
            retry_after_secs: 0,
        }));
        mock.push_reply(MockReply::failing(Fault::Overloaded));
        mock.push_reply(MockReply::text("third time lucky"));
        let resp = c
            .execute(request(Some(model), "x"))
            .await
            .unwrap()
            .into_inner();
        let ok = success(&resp);
        assert_eq!(ok.response_text, "third time lucky");
        assert_eq!(ok.metrics.as_ref().unwrap().retry_count, 2, "{model}");

        // Permanent errors are not retried.
        let before = mock.request_count();
        mock.push_reply(MockReply::failing(Fault::AuthFailed));
        let resp = c
            .execute(request(Some(model), "x"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(error(&resp).error_code, "PROVIDER_AUTH_FAILED");
        assert_eq!(
            mock.request_count(),
            before + 1,
            "{model}: auth failure not retried"
        );

        // Retries run out.
        for _ in 0..3 {
            mock.push_reply(MockReply::failing(Fault::ServerError));
        }
        let resp = c
            .execute(request(Some(model), "x"))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(error(&resp).error_code, "PROVIDER_UNAVAILABLE");
        assert_eq!(mock.pending_replies(), 0, "{model}: 1 try + 2 retries");
    }
    // Streams retry before the first byte, too.
    mock.push_reply(MockReply::failing(Fault::ServerError));
    mock.push_reply(MockReply::text("streamed after retry"));
    let chunks = stream_all(&mut c, request(Some("gpt-4o"), "x")).await;
    let vibectl_proto::stream_chunk::ChunkType::FinalMetrics(m) =
        chunks.last().unwrap().chunk_type.as_ref().unwrap()
    else {
        panic!("metrics last")
    };
    assert_eq!(m.retry_count, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_beyond_the_cap_fails_fast_as_rate_limited() {
    let (mock, server) = start("", "    max_retries: 2\n").await;
    let mut c = client(&server).await;
    mock.push_reply(MockReply::failing(Fault::RateLimited {
        retry_after_secs: 3600,
    }));
    let resp = c
        .execute(request(Some("gpt-4o"), "x"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(error(&resp).error_code, "PROVIDER_RATE_LIMITED");
    assert_eq!(
        mock.request_count(),
        1,
        "an hour-long retry-after is not waited for"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_provider_is_unavailable() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let cfg = format!(
        "server: {{default_model: gpt-4o}}\nproviders:\n  openai: {{base_url: 'http://127.0.0.1:{port}/v1', api_key: k, max_retries: 1}}\n"
    );
    let server = vibectl_testkit::ServerProcess::spawn(&server_bin(), &cfg, &[], &[]).unwrap();
    let mut c = client(&server).await;
    let resp = c.execute(request(None, "x")).await.unwrap().into_inner();
    let e = error(&resp);
    assert_eq!(e.error_code, "PROVIDER_UNAVAILABLE");
    assert!(
        e.error_details
            .as_deref()
            .unwrap_or_default()
            .contains("connect"),
        "{e:?}"
    );
}
