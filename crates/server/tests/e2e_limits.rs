//! Limits, budgets and the usage ledger, end to end: the real binary, the mock provider, and
//! (for replicas) real `redis-server` processes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::*;
use tonic::Code;
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::{MockProvider, MockReply, MockUsage, RedisProcess, ServerProcess};

/// Models with known prices (USD per million tokens) and output caps.
const MODELS: &str = "models:\n  - id: metered\n    provider: openai\n    upstream: metered-up\n    max_output_tokens: 100\n    prices: {input: 3, output: 15, cache_read: 0.3}\n  - id: metered-a\n    provider: anthropic\n    upstream: metered-a-up\n    max_output_tokens: 200\n    prices: {input: 0.8, output: 4, cache_read: 0.08, cache_write: 1}\n";

fn config(mock: &MockProvider, server_extra: &str, top_extra: &str) -> String {
    format!("{}{MODELS}{top_extra}", config_for(mock, server_extra, ""))
}

fn spawn(cfg: &str, args: &[&str]) -> ServerProcess {
    ServerProcess::spawn(&server_bin(), cfg, args, &[]).expect("server starts")
}

/// (limit-type, retry-after-ms) of a refusal.
fn refusal(s: &tonic::Status) -> (String, u64) {
    assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
    let md = s.metadata();
    let kind = md.get("limit-type").unwrap().to_str().unwrap().to_owned();
    let wait = md
        .get("retry-after-ms")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    (kind, wait)
}

/// Runs `vibectl-server usage ARGS --json` on a server's config and state dir.
fn usage_json(server: &ServerProcess, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(server_bin())
        .arg("--config")
        .arg(server.dir.path().join("config.yaml"))
        .arg("usage")
        .args(args)
        .arg("--json")
        .env("VIBECTL_SERVER_STATE_DIR", server.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls `usage` until `pred` holds (settlement is asynchronous), at most 5 s.
fn usage_until(
    server: &ServerProcess,
    args: &[&str],
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..100 {
        let v = usage_json(server, args);
        if pred(&v) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    usage_json(server, args)
}

#[tokio::test(flavor = "multi_thread")]
async fn rpm_refuses_the_next_call_with_a_retry_after_that_works() {
    let mock = MockProvider::start().await.unwrap();
    let server = spawn(
        &config(&mock, "", ""),
        &["--max-rpm", "3", "--max-concurrent", "7"],
    );
    let mut c = client(&server).await;
    let info = c
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    let limits = info.limits.unwrap();
    assert_eq!(limits.max_requests_per_minute, Some(3));
    assert_eq!(limits.max_concurrent_requests, Some(7));

    for _ in 0..2 {
        c.execute(request(Some("metered"), "hi")).await.unwrap();
    }
    stream_all(&mut c, request(Some("metered"), "hi")).await;
    let (kind, wait) = refusal(&c.execute(request(Some("metered"), "hi")).await.unwrap_err());
    assert_eq!(kind, "rpm");
    assert!((1..=60_000).contains(&wait), "retry-after-ms {wait}");
    // Streaming is refused the same way, before any chunk.
    let s = c
        .stream_execute(request(Some("metered"), "hi"))
        .await
        .unwrap_err();
    assert_eq!(refusal(&s).0, "rpm");
    tokio::time::sleep(Duration::from_millis(wait + 50)).await;
    c.execute(request(Some("metered"), "hi")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn per_subject_entries_override_global_key_by_key() {
    let mock = MockProvider::start().await.unwrap();
    let limits = "  limits:\n    global: {max_requests_per_minute: 100, max_input_length: 10000}\n    per_token:\n      anonymous: {max_requests_per_minute: 2, max_input_length: 50}\n";
    let server = spawn(&config(&mock, limits, ""), &[]);
    let mut c = client(&server).await;
    let long = "x".repeat(60);
    let resp = c
        .execute(request(Some("metered"), &long))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(error(&resp).error_code, "INVALID_REQUEST");
    c.execute(request(Some("metered"), "a")).await.unwrap();
    c.execute(request(Some("metered"), "b")).await.unwrap();
    let (kind, _) = refusal(&c.execute(request(Some("metered"), "c")).await.unwrap_err());
    assert_eq!(kind, "rpm");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrency_k_lets_exactly_k_of_k_plus_5_streams_through() {
    let mock = MockProvider::start().await.unwrap();
    mock.set_default_reply(
        MockReply::text("one two three four")
            .latency(Duration::from_millis(1500))
            .chunks(2),
    );
    let server = spawn(&config(&mock, "", ""), &["--max-concurrent", "3"]);
    let c = client(&server).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let mut c = c.clone();
        tasks.push(tokio::spawn(async move {
            match c.stream_execute(request(Some("metered"), "hi")).await {
                Ok(s) => {
                    let mut s = s.into_inner();
                    while s.message().await.unwrap().is_some() {}
                    Ok(())
                }
                Err(status) => Err(refusal(&status).0),
            }
        }));
    }
    let mut ok = 0;
    let mut refused = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => ok += 1,
            Err(kind) => refused.push(kind),
        }
    }
    assert_eq!(ok, 3, "refused: {refused:?}");
    assert_eq!(refused, vec!["concurrency"; 5]);
    // Slots are released when the streams end.
    let mut c = c.clone();
    mock.set_default_reply(MockReply::text("done"));
    c.execute(request(Some("metered"), "again")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_report_matches_mock_tokens_and_prices_and_survives_restart() {
    let mock = MockProvider::start().await.unwrap();
    let cfg = config(&mock, "", "");
    let mut server = spawn(&cfg, &[]);
    let mut c = client(&server).await;
    let u1 = MockUsage {
        input_tokens: 1234,
        output_tokens: 567,
        cache_read_tokens: 89,
        cache_write_tokens: 0,
    };
    let u2 = MockUsage {
        input_tokens: 2000,
        output_tokens: 150,
        cache_read_tokens: 300,
        cache_write_tokens: 40,
    };
    for _ in 0..3 {
        mock.push_reply(MockReply::text("answer one").usage(u1));
        c.execute(request(Some("metered"), "q")).await.unwrap();
    }
    for _ in 0..2 {
        mock.push_reply(MockReply::text("answer two").usage(u2));
        stream_all(&mut c, request(Some("metered-a"), "q")).await;
    }
    mock.push_reply(MockReply::failing(vibectl_testkit::Fault::AuthFailed));
    let resp = c
        .execute(request(Some("metered"), "q"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(error(&resp).error_code, "PROVIDER_AUTH_FAILED");

    // Exact costs from the price table (micro-USD per million tokens × tokens = pico-USD).
    let pico1: u64 = 3 * (1234 * 3_000_000 + 567 * 15_000_000 + 89 * 300_000);
    let pico2: u64 = 2 * (2000 * 800_000 + 150 * 4_000_000 + 300 * 80_000 + 40 * 1_000_000);
    let by_model = usage_until(&server, &["--by", "model"], |v| {
        v.as_array().is_some_and(|a| {
            a.len() == 2
                && a.iter()
                    .map(|r| r["requests"].as_u64().unwrap())
                    .sum::<u64>()
                    == 6
        })
    });
    let rows = by_model.as_array().unwrap();
    let m = &rows[0];
    assert_eq!(m["model"], "metered");
    assert_eq!(m["requests"], 4);
    assert_eq!(m["errors"], 1);
    assert_eq!(m["input_tokens"], 3 * 1234);
    assert_eq!(m["output_tokens"], 3 * 567);
    assert_eq!(m["cache_read_tokens"], 3 * 89);
    assert_eq!(m["cost_pico_usd"], pico1);
    assert_eq!(m["cost_micro_usd"], (pico1 + 500_000) / 1_000_000);
    let a = &rows[1];
    assert_eq!(a["model"], "metered-a");
    assert_eq!(a["requests"], 2);
    assert_eq!(a["input_tokens"], 2 * 2000);
    assert_eq!(a["cache_write_tokens"], 2 * 40);
    assert_eq!(a["cost_pico_usd"], pico2);

    // The same after a restart, grouped by subject.
    server.signal("TERM").unwrap();
    assert!(server.wait_timeout(Duration::from_secs(10)).is_some());
    let by_subject = usage_json(&server, &["--by", "subject", "--subject", "anonymous"]);
    let row = &by_subject.as_array().unwrap()[0];
    assert_eq!(row["subject"], "anonymous");
    assert_eq!(row["requests"], 6);
    assert_eq!(row["cost_pico_usd"], pico1 + pico2);
    let none = usage_json(&server, &["--subject", "nobody"]);
    assert!(none.as_array().unwrap().is_empty());
    // The table: one row per day, subject and model, and a total to the micro-dollar.
    let out = std::process::Command::new(server_bin())
        .arg("--config")
        .arg(server.dir.path().join("config.yaml"))
        .args(["usage", "--by", "model"])
        .env("VIBECTL_SERVER_STATE_DIR", server.dir.path())
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    let micro = (pico1 + pico2 + 500_000) / 1_000_000;
    let total = format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000);
    let last = table.lines().last().unwrap();
    assert!(
        last.starts_with("TOTAL") && last.ends_with(&total),
        "{table}"
    );
    assert!(
        table.lines().next().unwrap().starts_with("MODEL"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_disconnects_mid_stream_is_still_charged() {
    let mock = MockProvider::start().await.unwrap();
    let server = spawn(&config(&mock, "", ""), &[]);
    let mut c = client(&server).await;
    let usage = MockUsage {
        input_tokens: 500,
        output_tokens: 40,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
    };
    mock.push_reply(
        MockReply::text("word ".repeat(40))
            .usage(usage)
            .chunks(20)
            .chunk_interval(Duration::from_millis(200)),
    );
    let mut s = c
        .stream_execute(request(Some("metered-a"), "tell me"))
        .await
        .unwrap()
        .into_inner();
    let _first = s.message().await.unwrap().unwrap();
    let _second = s.message().await.unwrap().unwrap();
    drop(s);
    drop(c);
    let v = usage_until(&server, &[], |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    });
    let row = &v.as_array().unwrap()[0];
    assert_eq!(row["requests"], 1);
    // Input from the provider's report at the start of the stream; output at least what was sent.
    assert_eq!(row["input_tokens"], 500);
    let out = row["output_tokens"].as_u64().unwrap();
    assert!((1..40).contains(&out), "output tokens {out}");
    let expect = 500 * 800_000 + out * 4_000_000;
    assert_eq!(row["cost_pico_usd"], expect);
}

#[tokio::test(flavor = "multi_thread")]
async fn daily_budget_refuses_with_limit_type_budget() {
    let mock = MockProvider::start().await.unwrap();
    // Estimate per call: 1 input token + 100 output at $15/M = 1503 micro-USD; budget fits 3.
    let limits = "  limits:\n    global: {budget_usd_per_day: 0.0046}\n";
    let server = spawn(&config(&mock, limits, ""), &[]);
    let mut c = client(&server).await;
    mock.set_default_reply(MockReply::text("x").usage(MockUsage {
        input_tokens: 1,
        output_tokens: 100,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
    }));
    for _ in 0..3 {
        c.execute(request(Some("metered"), "q")).await.unwrap();
    }
    let (kind, wait) = refusal(&c.execute(request(Some("metered"), "q")).await.unwrap_err());
    assert_eq!(kind, "budget");
    assert!(wait <= 86_400_000);
}

fn redis_state(url: &str, policy: &str) -> String {
    format!("state:\n  backend: redis\n  redis_url: {url}\n  redis_timeout_ms: 300\n  on_redis_failure: {policy}\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_on_one_redis_hold_a_global_rpm_exactly() {
    let redis = RedisProcess::start().unwrap();
    let mock = MockProvider::start().await.unwrap();
    let limits = "  limits:\n    total: {max_requests_per_minute: 10}\n";
    let cfg = config(&mock, limits, &redis_state(&redis.url(), "closed"));
    let a = spawn(&cfg, &[]);
    let b = spawn(&cfg, &[]);
    let (ca, cb) = (client(&a).await, client(&b).await);
    let mut tasks = Vec::new();
    for i in 0..30 {
        let mut c = if i % 2 == 0 { ca.clone() } else { cb.clone() };
        tasks.push(tokio::spawn(async move {
            c.execute(request(Some("metered"), "q")).await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(s) => assert_eq!(refusal(&s).0, "rpm"),
        }
    }
    assert_eq!(ok, 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_calls_on_two_replicas_never_overspend_a_budget() {
    let redis = RedisProcess::start().unwrap();
    let mock = MockProvider::start().await.unwrap();
    // Estimate 1503 micro-USD a call (see above); actual 1 in + 100 out = 1503 micro-USD.
    let limits = "  limits:\n    total: {budget_usd_per_day: 0.02}\n";
    let cfg = config(&mock, limits, &redis_state(&redis.url(), "closed"));
    mock.set_default_reply(MockReply::text("x").usage(MockUsage {
        input_tokens: 1,
        output_tokens: 100,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
    }));
    let a = spawn(&cfg, &[]);
    let b = spawn(&cfg, &[]);
    let (ca, cb) = (client(&a).await, client(&b).await);
    let mut tasks = Vec::new();
    for i in 0..24 {
        let mut c = if i % 2 == 0 { ca.clone() } else { cb.clone() };
        tasks.push(tokio::spawn(async move {
            c.execute(request(Some("metered"), "q")).await
        }));
    }
    let mut ok = 0u64;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(s) => assert_eq!(refusal(&s).0, "budget"),
        }
    }
    // 20 000 micro-USD / 1503 = 13 calls fit; none beyond.
    assert_eq!(ok, 13);
    let v = usage_until(&a, &[], |v| {
        v.as_array().is_some_and(|r| {
            r.iter()
                .map(|x| x["requests"].as_u64().unwrap())
                .sum::<u64>()
                == ok
        })
    });
    let spent: u64 = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["cost_micro_usd"].as_u64().unwrap())
        .sum();
    assert!(spent <= 20_000, "spent {spent}");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_outage_follows_the_policy_and_recovers() {
    let mut redis = RedisProcess::start().unwrap();
    let mock = MockProvider::start().await.unwrap();
    let closed = spawn(
        &config(&mock, "", &redis_state(&redis.url(), "closed")),
        &[],
    );
    let open = spawn(&config(&mock, "", &redis_state(&redis.url(), "open")), &[]);
    let (mut cc, mut co) = (client(&closed).await, client(&open).await);
    cc.execute(request(Some("metered"), "q")).await.unwrap();
    co.execute(request(Some("metered"), "q")).await.unwrap();

    redis.kill();
    let s = cc.execute(request(Some("metered"), "q")).await.unwrap_err();
    assert_eq!(s.code(), Code::Unavailable, "{s:?}");
    assert_eq!(s.metadata().get("limit-type").unwrap(), "state-store");
    co.execute(request(Some("metered"), "q")).await.unwrap();
    assert!(closed.stderr().contains("state store unreachable"));

    redis.restart().unwrap();
    let mut back = false;
    for _ in 0..60 {
        if cc.execute(request(Some("metered"), "q")).await.is_ok() {
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(back, "calls pass again once redis is back");
    assert!(
        closed.stderr().contains("reachable again"),
        "{}",
        closed.stderr()
    );
}

/// GET `/metrics` over plain HTTP/1.0.
async fn scrape(port: u16) -> String {
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
fn sum(text: &str, name: &str, filter: &str) -> f64 {
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

#[tokio::test(flavor = "multi_thread")]
async fn a_call_estimated_above_the_whole_budget_still_runs_once_per_period() {
    let mock = MockProvider::start().await.unwrap();
    // The estimate (1512 micro-USD) is above the whole daily budget (1000): it is cut to the
    // budget, so the first call of the day runs (actual 1503), and the next is refused.
    let limits = "  limits:\n    global: {budget_usd_per_day: 0.001}\n";
    let server = spawn(&config(&mock, limits, ""), &[]);
    let mut c = client(&server).await;
    mock.set_default_reply(MockReply::text("x").usage(MockUsage {
        input_tokens: 1,
        output_tokens: 100,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
    }));
    c.execute(request(Some("metered"), "q")).await.unwrap();
    let (kind, wait) = refusal(&c.execute(request(Some("metered"), "q")).await.unwrap_err());
    assert_eq!(kind, "budget");
    assert!(wait <= 86_400_000);
}
