//! Scripting, recording, pacing, connection handling and the binary.

use std::time::{Duration, Instant};

use serde_json::Value;
use vibectl_testkit::MockReply;

use super::support::*;

#[tokio::test]
async fn scripted_replies_are_fifo_then_default() {
    let m = mock().await;
    m.push_reply(MockReply::text("first"));
    m.push_reply(MockReply::text("second"));
    assert_eq!(m.pending_replies(), 2);
    let c = client();
    let mut got = Vec::new();
    for _ in 0..3 {
        let v: Value = anthropic(&m, &c, an_body(false))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        got.push(v["content"][0]["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(got, ["first", "second", "Hello from the mock provider."]);
    assert_eq!(m.pending_replies(), 0);
}

#[tokio::test]
async fn requests_are_recorded_and_bounded() {
    let m = mock().await;
    let c = client();
    openai(&m, &c, oa_body(false))
        .header("X-Custom", "yes")
        .send()
        .await
        .unwrap();
    let reqs = m.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(reqs[0].header("x-custom"), Some("yes"));
    assert!(reqs[0]
        .headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == "Bearer test-key"));
    assert_eq!(reqs[0].body, oa_body(false));

    m.set_recording(false);
    openai(&m, &c, oa_body(false)).send().await.unwrap();
    assert_eq!(m.requests().len(), 1);
    assert_eq!(m.request_count(), 2);

    m.set_recording(true);
    m.clear_requests();
    for _ in 0..(vibectl_testkit::MAX_RECORDED_REQUESTS + 5) {
        c.get(format!("{}/health", m.anthropic_base_url()))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        m.request_count(),
        2 + vibectl_testkit::MAX_RECORDED_REQUESTS + 5
    );
    // Health checks are not recorded; model requests are, and the log stays bounded.
    assert!(m.requests().is_empty());
    let mut futs = Vec::new();
    for _ in 0..(vibectl_testkit::MAX_RECORDED_REQUESTS + 5) {
        futs.push(openai(&m, &c, oa_body(false)).send());
    }
    for r in futures::future::join_all(futs).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    assert_eq!(m.requests().len(), vibectl_testkit::MAX_RECORDED_REQUESTS);
}

#[tokio::test]
async fn latency_and_chunk_interval_pace_the_answer() {
    let m = mock().await;
    m.push_reply(MockReply::text("x").latency(Duration::from_millis(150)));
    let t = Instant::now();
    openai(&m, &client(), oa_body(false)).send().await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(150));

    // 1 role chunk + 4 deltas + finish + [DONE] = 7 events, 6 pauses of 30 ms.
    m.push_reply(MockReply::text("a b c d").chunk_interval(Duration::from_millis(30)));
    let t = Instant::now();
    let resp = openai(&m, &client(), oa_body(true)).send().await.unwrap();
    let headers_at = t.elapsed();
    resp.text().await.unwrap();
    assert!(
        headers_at < Duration::from_millis(100),
        "headers come first: {headers_at:?}"
    );
    assert!(
        t.elapsed() >= Duration::from_millis(180),
        "{:?}",
        t.elapsed()
    );
}

#[tokio::test]
async fn keep_alive_reuses_one_connection() {
    let m = mock().await;
    let c = client();
    for _ in 0..5 {
        openai(&m, &c, oa_body(false))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    assert_eq!(m.open_connections(), 1);
    drop(c);
    let deadline = Instant::now() + Duration::from_secs(2);
    while m.open_connections() != 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(m.open_connections(), 0);
    assert_eq!(m.active_streams(), 0);
}

#[tokio::test]
async fn unknown_route_is_404() {
    let m = mock().await;
    let resp = client()
        .post(format!("{}/v1/embeddings", m.anthropic_base_url()))
        .bearer_auth("test-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
}

#[tokio::test]
async fn binary_prints_its_address_and_serves() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_mock-provider"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--api-key",
            "k2",
            "--text",
            "bin reply",
        ])
        .args(["--no-recording", "--latency-ms", "1"])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    tokio::io::BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .unwrap();
    let base = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    let v: Value = client()
        .post(format!("{base}/v1/messages"))
        .header("x-api-key", "k2")
        .header("anthropic-version", "2023-06-01")
        .json(&an_body(false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["content"][0]["text"], "bin reply");
    child.kill().await.unwrap();
}
