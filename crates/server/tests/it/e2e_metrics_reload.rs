//! `/metrics` after a mixed run, and hot reload of limits (SIGHUP, a refused bad edit).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use crate::limits_common;

use std::time::Duration;

use common::*;
use limits_common::*;
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::{MockProvider, MockReply, ServerProcess};

/// GET `/metrics` over plain HTTP/1.0.
pub(crate) async fn scrape(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    assert!(
        out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200"),
        "{out}"
    );
    out
}

/// Sum of the samples of `name` whose labels contain `filter`.
pub(crate) fn sum(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_counters_are_consistent_after_a_mixed_run() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mock = MockProvider::start().await.unwrap();
    let server = spawn(
        &config(&mock, "", ""),
        &["--max-rpm", "5", "--metrics-port", &port.to_string()],
    );
    let mut c = client(&server).await;
    for _ in 0..3 {
        c.execute(request(Some("metered"), "q")).await.unwrap();
    }
    stream_all(&mut c, request(Some("metered-a"), "q")).await;
    mock.push_reply(MockReply::failing(vibectl_testkit::Fault::AuthFailed));
    c.execute(request(Some("metered"), "q")).await.unwrap();
    let resp = c
        .execute(request(Some("nope"), "q"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(error(&resp).error_code, "MODEL_NOT_FOUND");
    for _ in 0..4 {
        c.execute(request(Some("metered"), "q")).await.unwrap_err();
    }
    let text = scrape(port).await;
    let total = sum(&text, "vibectl_requests_total", "");
    let ok = sum(&text, "vibectl_requests_total", "status=\"ok\"");
    let errors = sum(&text, "vibectl_requests_total", "status=\"error\"");
    let refused = sum(&text, "vibectl_requests_total", "status=\"refused\"");
    assert_eq!(
        (total, ok, errors, refused),
        (10.0, 4.0, 2.0, 4.0),
        "{text}"
    );
    assert_eq!(total, ok + errors + refused);
    assert_eq!(
        sum(&text, "vibectl_refusals_total", "limit_type=\"rpm\""),
        4.0
    );
    assert_eq!(
        sum(&text, "vibectl_errors_total", "PROVIDER_AUTH_FAILED"),
        1.0
    );
    assert_eq!(sum(&text, "vibectl_errors_total", "MODEL_NOT_FOUND"), 1.0);
    assert_eq!(sum(&text, "vibectl_in_flight_requests", ""), 0.0);
    assert!(sum(&text, "vibectl_tokens_total", "kind=\"output\"") > 0.0);
    assert!(sum(&text, "vibectl_cost_pico_usd_total", "model=\"metered\"") > 0.0);
    assert_eq!(
        sum(&text, "vibectl_request_duration_seconds_count", ""),
        5.0
    );
    assert_eq!(
        sum(&text, "vibectl_time_to_first_token_seconds_count", ""),
        1.0
    );
    assert!(text.contains("vibectl_build_info{version="));
    assert!(text.contains("vibectl_state_store_errors_total 0"));
}

/// Waits until `needle` occurs `n` times in the server's log (5 s at most).
fn wait_log(server: &ServerProcess, needle: &str, n: usize) {
    for _ in 0..100 {
        if server.stderr().matches(needle).count() >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("`{needle}` x{n} not logged:\n{}", server.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_reload_on_sighup_and_a_bad_edit_is_refused() {
    let mock = MockProvider::start().await.unwrap();
    let loose = "  limits:\n    global: {max_requests_per_minute: 100}\n";
    let server = spawn(&config(&mock, loose, ""), &[]);
    let mut c = client(&server).await;
    for _ in 0..3 {
        c.execute(request(Some("metered"), "q")).await.unwrap();
    }
    let path = server.dir.path().join("config.yaml");
    let tight = "  limits:\n    global: {max_requests_per_minute: 50}\n    per_token:\n      anonymous: {max_requests_per_minute: 4}\n";
    std::fs::write(&path, config(&mock, tight, "")).unwrap();
    server.signal("HUP").unwrap();
    wait_log(&server, "configuration reloaded", 1);
    let info = c
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.limits.unwrap().max_requests_per_minute, Some(50));
    // The 3 calls before the reload count: one more passes, the next is refused.
    c.execute(request(Some("metered"), "q")).await.unwrap();
    let (kind, _) = refusal(&c.execute(request(Some("metered"), "q")).await.unwrap_err());
    assert_eq!(kind, "rpm");
    assert!(
        !server.stderr().contains("only after a restart"),
        "{}",
        server.stderr()
    );

    // A restart-only key changed with the limits: the limits apply, the key is named.
    let with_listener_change = format!("  max_calls_in_flight: 7\n{tight}");
    std::fs::write(&path, config(&mock, &with_listener_change, "")).unwrap();
    server.signal("HUP").unwrap();
    wait_log(&server, "configuration reloaded", 2);
    assert!(
        server
            .stderr()
            .contains("server.max_calls_in_flight changed and take effect only after a restart"),
        "{}",
        server.stderr()
    );

    std::fs::write(
        &path,
        config(
            &mock,
            "  limits:\n    global: {max_requests_per_minute: 0}\n",
            "",
        ),
    )
    .unwrap();
    server.signal("HUP").unwrap();
    wait_log(&server, "config reload refused", 1);
    assert!(server
        .stderr()
        .contains("max_requests_per_minute: must be >= 1"));
    let (kind, _) = refusal(&c.execute(request(Some("metered"), "q")).await.unwrap_err());
    assert_eq!(kind, "rpm");
}
