//! One subject through all three APIs: the ledger keeps a row per API (each with its `api`),
//! and the subject's budget counts the calls of every API together.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use vibectl_testkit::{MockProvider, MockReply, MockUsage};

use crate::common;
use crate::http_common::*;
use crate::limits_common::usage_until;
use crate::secure::{bearer, cli_ok, plain_client, with_auth, SECRET};

const USAGE: MockUsage = MockUsage {
    input_tokens: 1234,
    output_tokens: 567,
    cache_read_tokens: 89,
    cache_write_tokens: 0,
};

fn rows_of(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("not rows: {v}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_openai_and_anthropic_calls_are_three_rows_and_one_budget() {
    let mock = MockProvider::start().await.unwrap();
    mock.set_default_reply(MockReply::text("counted").usage(USAGE));
    // $0.027 a day for ursa. The calls cost (micro-USD): gRPC 5229 (its output capped at the
    // model's 100), OpenAI and Anthropic 12234 each: no two of them leave too little for a
    // next call, all three pass the budget (checked below from the rows).
    let server_extra =
        "  require_auth: true\n  limits:\n    per_token:\n      ursa: {budget_usd_per_day: 0.027}\n";
    let server = spawn(
        &config(
            &mock,
            server_extra,
            &format!("jwt:\n  secret_key: {SECRET}\n"),
        ),
        &[],
    );
    let cfg = server.dir.path().join("config.yaml");
    let ursa = cli_ok(
        &cfg,
        server.dir.path(),
        &["generate-token", "ursa", "--expires-in", "1h"],
    )
    .trim()
    .to_owned();

    let mut c = plain_client(server.addr).await;
    c.execute(with_auth(
        common::request(Some("metered"), "hi"),
        Some(&bearer(&ursa)),
    ))
    .await
    .unwrap();
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let r = openai(
        &server,
        &ursa,
        "chat",
        json!({"model": "metered", "messages": msgs}),
    )
    .await;
    assert!(r["response"].is_object(), "{r}");
    let r = anthropic(
        &server,
        &ursa,
        "create",
        json!({"model": "metered", "max_tokens": 1000, "messages": msgs}),
    )
    .await;
    assert!(r["response"].is_object(), "{r}");

    let rows = usage_until(&server, &["--subject", "ursa"], |v| {
        v.as_array().is_some_and(|a| a.len() == 3)
    });
    let rows = rows_of(&rows);
    let apis: Vec<&str> = rows.iter().map(|r| r["api"].as_str().unwrap()).collect();
    assert_eq!(apis, ["anthropic", "grpc", "openai"], "{rows:?}");
    for r in rows {
        assert_eq!(
            (&r["subject"], &r["model"], &r["requests"], &r["errors"]),
            (&json!("ursa"), &json!("metered"), &json!(1), &json!(0)),
            "{r}"
        );
        assert_eq!(r["input_tokens"], 1234, "{r}");
    }
    let cost = |api: &str| {
        rows.iter().find(|r| r["api"] == api).unwrap()["cost_micro_usd"]
            .as_u64()
            .unwrap()
    };
    let (g, o, a) = (cost("grpc"), cost("openai"), cost("anthropic"));
    assert_eq!(g, 5229, "{rows:?}");
    assert_eq!((o, a), (12234, 12234), "{rows:?}");
    // What a next call needs at least: its prompt bound at $3/M input plus one output token.
    let next = 200 * 3 + 15;
    assert!(
        g + o + next < 27_000 && g + a + next < 27_000 && o + a + next < 27_000,
        "two APIs' calls alone would refuse the next: {g} {o} {a}"
    );
    assert!(g + o + a > 27_000, "{g} {o} {a}");

    // So only a budget counting all three APIs refuses the next call, through any API.
    let r = openai(
        &server,
        &ursa,
        "chat",
        json!({"model": "metered", "messages": msgs}),
    )
    .await;
    assert_eq!(r["status"], 429, "{r}");
    let err = c
        .execute(with_auth(
            common::request(Some("metered"), "hi"),
            Some(&bearer(&ursa)),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err.metadata().get("limit-type").unwrap(),
        "budget",
        "{err:?}"
    );
    assert_eq!(
        mock.request_count(),
        3,
        "refused calls never reach the provider"
    );

    // The table shows the API column; `--by api` sums per API.
    let by_api = usage_until(&server, &["--by", "api"], |v| {
        v.as_array().is_some_and(|a| a.len() == 3)
    });
    assert_eq!(by_api[1]["api"], "grpc", "{by_api}");
    assert_eq!(by_api[1]["cost_micro_usd"], g);
    let out = cli_ok(&cfg, server.dir.path(), &["usage", "--api", "anthropic"]);
    let head = out.lines().next().unwrap_or_default();
    assert!(
        head.split_whitespace().eq([
            "DAY",
            "SUBJECT",
            "MODEL",
            "API",
            "REQUESTS",
            "ERRORS",
            "INPUT",
            "OUTPUT",
            "CACHE_READ",
            "CACHE_WRITE",
            "COST_USD"
        ]),
        "{out}"
    );
    assert_eq!(out.lines().count(), 3, "header, one row, total: {out}");
    assert!(out.lines().nth(1).unwrap().contains(" anthropic "), "{out}");
}

/// A budget that leaves room for fewer output tokens than a request asks for: the request the
/// provider gets asks for no more than the limits granted (in its own format's field), the
/// caller is told in `x-vibectl-output-tokens-cap`, and what is billed stays within it. A
/// caller with room left gets its body untouched.
#[tokio::test(flavor = "multi_thread")]
async fn http_calls_ask_the_provider_for_no_more_output_than_the_budget_grants() {
    let mock = MockProvider::start().await.unwrap();
    mock.set_default_reply(MockReply::text("capped").usage(USAGE));
    let msgs = json!([{"role": "user", "content": "hi"}]);
    // Each budget leaves, after the prompt bound, room for fewer output tokens than asked.
    let cases = [
        (
            0.0015,
            "/v1/chat/completions",
            json!({"model": "metered", "messages": msgs}),
            "max_completion_tokens",
            100,
        ),
        (
            0.0015,
            "/v1/chat/completions",
            json!({"model": "metered", "max_tokens": 90, "messages": msgs}),
            "max_tokens",
            90,
        ),
        (
            0.0005,
            "/v1/messages",
            json!({"model": "metered-a", "max_tokens": 150, "messages": msgs}),
            "max_tokens",
            150,
        ),
    ];
    for (budget, path, body, field, asked) in cases {
        let server_extra = format!(
            "  limits:\n    per_token:\n      anonymous: {{budget_usd_per_day: {budget}}}\n"
        );
        let server = spawn(&config(&mock, &server_extra, ""), &[]);
        let (status, headers, text) = post(
            &server,
            path,
            &[("anthropic-version", "2023-06-01")],
            body.to_string(),
        )
        .await;
        assert_eq!(status, 200, "{path}: {text}");
        let cap: u64 = headers
            .get("x-vibectl-output-tokens-cap")
            .unwrap_or_else(|| panic!("{path} {body}: no cap header: {headers:?}"))
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(cap >= 1 && cap < asked, "{path}: cap {cap} of {asked}");
        // The server's own time and the provider's, as gRPC's metadata has them.
        for h in ["x-vibectl-overhead-us", "x-vibectl-provider-us"] {
            let v = headers.get(h).unwrap_or_else(|| panic!("{path}: no {h}"));
            v.to_str().unwrap().parse::<u64>().unwrap();
        }
        let sent = mock.requests().last().unwrap().body.clone();
        assert_eq!(sent[field], cap, "{path}: the provider got {sent}");
        let usage = &json(&text)["usage"];
        let billed = usage["completion_tokens"]
            .as_u64()
            .or_else(|| usage["output_tokens"].as_u64())
            .unwrap();
        assert!(billed <= cap, "{path}: billed {billed} over the cap {cap}");
    }

    // Without a budget, nothing is capped and the body passes through as sent.
    let free = spawn(&config(&mock, "", ""), &[]);
    let (status, headers, text) = post(
        &free,
        "/v1/chat/completions",
        &[],
        json!({"model": "metered", "messages": msgs}).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{text}");
    assert!(headers.get("x-vibectl-output-tokens-cap").is_none());
    let sent = mock.requests().last().unwrap().body.clone();
    assert!(
        sent.get("max_completion_tokens").is_none() && sent.get("max_tokens").is_none(),
        "{sent}"
    );
}
