//! Limits, budgets and the usage ledger, end to end: the real binary and the mock provider.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use crate::limits_common;

use std::time::Duration;

use common::*;
use limits_common::*;
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::{MockProvider, MockReply, MockUsage};

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
        // Within the model's 100-token cap (the mock, like a provider, bills no more).
        output_tokens: 67,
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
    let pico1: u64 = 3 * (1234 * 3_000_000 + 67 * 15_000_000 + 89 * 300_000);
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
    assert_eq!(m["output_tokens"], 3 * 67);
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

#[tokio::test(flavor = "multi_thread")]
async fn a_call_whose_output_cap_costs_more_than_the_budget_still_runs_capped() {
    let mock = MockProvider::start().await.unwrap();
    // The model's whole output (1500 micro-USD) costs more than the daily budget (1000): the
    // first call runs with its output capped to what remains after its prompt bound (44 tokens,
    // actual 663), and the next is refused (what remains no longer covers a prompt bound).
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

#[tokio::test(flavor = "multi_thread")]
async fn back_to_back_calls_never_trip_a_concurrency_of_one() {
    // The slot is released before the end of a call reaches the client.
    let mock = MockProvider::start().await.unwrap();
    let server = spawn(&config(&mock, "", ""), &["--max-concurrent", "1"]);
    let mut c = client(&server).await;
    for i in 0..20 {
        if i % 2 == 0 {
            c.execute(request(Some("metered"), "q")).await.unwrap();
        } else {
            stream_all(&mut c, request(Some("metered-a"), "q")).await;
        }
    }
}
