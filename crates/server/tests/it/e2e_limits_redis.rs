//! Limits and budgets across two replicas sharing one real `redis-server`, and what happens when
//! Redis goes away.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use crate::limits_common;

use std::time::Duration;

use common::*;
use limits_common::*;
use tonic::Code;
use vibectl_testkit::{MockProvider, MockReply, MockUsage, RedisProcess};

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
    // Reservation: the prompt bound (111 tokens at $3/M, 333 micro-USD) plus the output granted
    // (up to 100 at $15/M, 1500); actual 1 in + 100 out = 1503 micro-USD.
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
    // All at once: ten whole reservations (18 330) and an eleventh with its output capped to
    // what remains fit; calls that start after others settled may add one or two more, but the
    // ledger never passes the budget.
    assert!((11..=13).contains(&ok), "{ok}");
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
