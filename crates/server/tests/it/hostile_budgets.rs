//! Budgets that hold and stay usable, against the real server: reservations are upper bounds,
//! output is capped to what remains, and calls that end without a usage report (cancelled, reset)
//! are charged what the provider received.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tonic::Code;
use vibectl_testkit::{Fault, MockProvider, MockReply, MockUsage};

use crate::common::*;
use crate::limits_common::{config, refusal, spawn, usage_until, MODELS};

fn usage(input: u32, output: u32) -> MockUsage {
    MockUsage {
        input_tokens: input,
        output_tokens: output,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
    }
}

fn total(rows: &serde_json::Value, field: &str) -> u64 {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r[field].as_u64().unwrap())
        .sum()
}

/// 64 callers at once, each calling until refused, against a $0.01 daily budget: the ledger
/// never passes it (each reservation bounds its call, and the calls' reservations together fit).
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_calls_never_take_the_ledger_past_a_daily_budget() {
    let mock = MockProvider::start().await.unwrap();
    // "metered": $3 in, $15 out per million, 100 output tokens at most. The mock bills the
    // output asked for (capped to max_tokens, as a provider does): 100 tokens, $0.0015.
    mock.set_default_reply(
        MockReply::text("x")
            .usage(usage(10, 100))
            .latency(Duration::from_millis(100)),
    );
    let limits = "  limits:\n    global: {budget_usd_per_day: 0.01}\n";
    let server = spawn(&config(&mock, limits, ""), &[]);
    let c = client(&server).await;
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let mut c = c.clone();
        tasks.push(tokio::spawn(async move {
            let mut ok = 0u64;
            loop {
                match c.execute(request(Some("metered"), "q")).await {
                    Ok(r) => {
                        success(r.get_ref());
                        ok += 1;
                    }
                    Err(s) => {
                        assert_eq!(refusal(&s).0, "budget");
                        return ok;
                    }
                }
            }
        }));
    }
    let mut ok = 0;
    for t in tasks {
        ok += t.await.unwrap();
    }
    let rows = usage_until(&server, &[], |v| total(v, "requests") == ok);
    let spent = total(&rows, "cost_micro_usd");
    eprintln!("{ok} calls admitted, {spent} micro-USD spent of 10000");
    assert_eq!(total(&rows, "requests"), ok);
    assert!(
        spent <= 10_000,
        "the ledger passed the budget: {spent} micro-USD"
    );
    // The budget is used, not locked: at $0.00153 a call, at least 5 fit.
    assert!(ok >= 5, "{ok}");
}

/// Calls cancelled by their client and streams the provider cut: each is charged the prompt the
/// provider received, so the ledger's input tokens equal what reached the mock.
#[tokio::test(flavor = "multi_thread")]
async fn cancelled_and_reset_calls_are_charged_their_prompt() {
    let mock = MockProvider::start().await.unwrap();
    let cfg = format!("{}{MODELS}", config_for(&mock, "", "    max_retries: 0\n"));
    let server = spawn(&cfg, &[]);
    let mut c = client(&server).await;
    // The prompt estimate the server charges without a report: 4 characters a token.
    let user = "word ".repeat(800);
    let prompt_chars = "You are terse.".len() + user.len();
    let per_call = u32::try_from(prompt_chars.div_ceil(4)).unwrap();
    // Whole calls report exactly that, so every call that reached the mock counts the same.
    let whole = MockReply::text("fine answer").usage(usage(per_call, 2));
    let slow = whole.clone().latency(Duration::from_secs(5));
    let reset = MockReply::text("word ".repeat(20))
        .usage(usage(per_call, 20))
        .chunks(10)
        .fault(Fault::ResetMidStream { after_chunks: 3 });
    let mut cancelled = 0;
    for round in 0..3 {
        // A whole unary call and a whole stream.
        mock.push_reply(whole.clone());
        let mut cc = c.clone();
        success(
            cc.execute(request(Some("metered"), &user))
                .await
                .unwrap()
                .get_ref(),
        );
        mock.push_reply(whole.clone());
        stream_all(&mut cc, request(Some("metered"), &user)).await;
        // Cancelled while the provider thinks: unary and stream.
        for stream in [false, true] {
            mock.push_reply(slow.clone());
            let seen = mock.request_count();
            let mut cc = c.clone();
            let u = user.clone();
            let call = tokio::spawn(async move {
                if stream {
                    if let Ok(r) = cc.stream_execute(request(Some("metered"), &u)).await {
                        let _ = r.into_inner().message().await;
                    }
                } else {
                    let _ = cc.execute(request(Some("metered"), &u)).await;
                }
            });
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while mock.request_count() == seen {
                assert!(
                    std::time::Instant::now() < deadline,
                    "the call never reached the mock"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            call.abort();
            cancelled += 1;
        }
        // The provider resets a stream after some text.
        mock.push_reply(reset.clone());
        let mut s = c
            .stream_execute(request(Some("metered"), &user))
            .await
            .unwrap()
            .into_inner();
        while let Ok(Some(_)) = s.message().await {}
        eprintln!("round {round} done");
    }
    let reached = mock.requests().len() as u64;
    assert_eq!(reached, 15);
    let rows = usage_until(&server, &[], |v| total(v, "requests") == reached);
    assert_eq!(total(&rows, "requests"), reached, "{rows}");
    assert_eq!(
        total(&rows, "input_tokens"),
        reached * u64::from(per_call),
        "every call that reached the provider is charged its prompt: {rows}"
    );
    // Cancelled and reset calls are counted as not ended well.
    assert_eq!(total(&rows, "errors"), cancelled + 3, "{rows}");
}

/// A $0.05 budget keeps admitting $0.005 calls one after another until what remains no longer
/// covers one (the output of each is capped to what remains, not reserved at the model's cap).
#[tokio::test(flavor = "multi_thread")]
async fn a_small_budget_admits_calls_until_what_remains_does_not_cover_one() {
    let mock = MockProvider::start().await.unwrap();
    // gpt-4o: $2.50 in, $10 out per million: 1000 in + 250 out = $0.005.
    mock.set_default_reply(MockReply::text("x").usage(usage(1000, 250)));
    let limits = "  limits:\n    global: {budget_usd_per_day: 0.05}\n";
    let server = spawn(&config(&mock, limits, ""), &[]);
    let mut c = client(&server).await;
    let mut ok = 0u64;
    let refused = loop {
        match c.execute(request(Some("openai/gpt-4o"), "q")).await {
            Ok(r) => {
                success(r.get_ref());
                ok += 1;
                assert!(ok <= 10, "more calls than the budget pays for");
            }
            Err(s) => break s,
        }
    };
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert_eq!(refusal(&refused).0, "budget");
    assert_eq!(ok, 10, "ten $0.005 calls fit in $0.05");
    let rows = usage_until(&server, &[], |v| total(v, "requests") == ok);
    assert_eq!(total(&rows, "cost_micro_usd"), 50_000);
}

/// When a budget cannot pay for the model's whole output, the call still runs with `max_tokens`
/// lowered to what remains, and the caller is told in `x-vibectl-output-tokens-cap`.
#[tokio::test(flavor = "multi_thread")]
async fn a_budget_lowers_max_tokens_and_tells_the_caller() {
    let mock = MockProvider::start().await.unwrap();
    mock.set_default_reply(MockReply::text("x").usage(usage(1, 100)));
    // 1000 micro-USD; the prompt bound (111 tokens at $3/M) is 333; 667 left pay 44 output
    // tokens at $15/M.
    let limits = "  limits:\n    global: {budget_usd_per_day: 0.001}\n";
    let server = spawn(&config(&mock, limits, ""), &[]);
    let mut c = client(&server).await;
    let resp = c.execute(request(Some("metered"), "q")).await.unwrap();
    assert_eq!(
        resp.metadata()
            .get(vibectl_proto::wire::metadata::OUTPUT_TOKENS_CAP)
            .map(|v| v.to_str().unwrap().to_owned()),
        Some("44".to_owned())
    );
    let sent = &mock.requests()[0].body;
    let asked = sent["max_completion_tokens"]
        .as_u64()
        .or(sent["max_tokens"].as_u64());
    assert_eq!(asked, Some(44), "{sent}");
    let rows = usage_until(&server, &[], |v| total(v, "requests") == 1);
    assert!(total(&rows, "cost_micro_usd") <= 1_000, "{rows}");
    // Without a budget the header is absent.
    let server = spawn(&config(&mock, "", ""), &[]);
    let mut c = client(&server).await;
    let resp = c.execute(request(Some("metered"), "q")).await.unwrap();
    assert!(resp
        .metadata()
        .get(vibectl_proto::wire::metadata::OUTPUT_TOKENS_CAP)
        .is_none());
}
