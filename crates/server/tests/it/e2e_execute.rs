//! `Execute` and `GetServerInfo` end to end: real binary, real sockets, mock providers.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::common;

use common::*;
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::{MockReply, MockUsage};

#[tokio::test(flavor = "multi_thread")]
async fn openai_usage_and_cost_are_exact_with_cached_tokens() {
    let (mock, server) = start("  default_model: gpt-4o\n", "").await;
    mock.push_reply(MockReply::text("pong").usage(MockUsage {
        input_tokens: 1000,
        output_tokens: 200,
        cache_read_tokens: 5000,
        cache_write_tokens: 0,
    }));
    let mut c = client(&server).await;
    let resp = c.execute(request(Some("gpt-4o"), "ping")).await.unwrap();
    assert!(resp.metadata().get("x-vibectl-overhead-us").is_some());
    let resp = resp.into_inner();
    let ok = success(&resp);
    assert_eq!(ok.response_text, "pong");
    assert_eq!(ok.actual_model_used, "openai/gpt-4o");
    let m = ok.metrics.as_ref().unwrap();
    // OpenAI's prompt_tokens include the cached ones.
    assert_eq!(m.input_tokens, Some(6000));
    assert_eq!(m.output_tokens, Some(200));
    assert_eq!(m.total_tokens, Some(6200));
    // 1000 × $2.50 + 200 × $10 + 5000 × $1.25 per million = $0.010750
    assert_eq!(micro_usd(m.cost_usd), 10_750);
    assert_eq!(m.retry_count, 0);
    assert!(m.timestamp > 1_700_000_000);

    let sent = &mock.requests()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some("Bearer test-key"));
    assert_eq!(sent.body["model"], "gpt-4o");
    let msgs = sent.body["messages"].as_array().unwrap();
    assert_eq!(msgs[0]["role"], "system");
    assert_eq!(msgs[0]["content"], "You are terse.");
    assert_eq!(msgs[1]["role"], "user");
    assert_eq!(msgs[1]["content"][0]["text"], "ping");
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_usage_and_cost_include_cache_writes_and_reads() {
    let (mock, server) = start("", "").await;
    mock.push_reply(MockReply::text("pong").usage(MockUsage {
        input_tokens: 1000,
        output_tokens: 200,
        cache_read_tokens: 5000,
        cache_write_tokens: 100,
    }));
    let mut c = client(&server).await;
    let mut req = request(Some("claude-4-sonnet"), "first");
    req.user_fragments.push("second".into());
    req.system_fragments.push("Be kind.".into());
    let resp = c.execute(req).await.unwrap().into_inner();
    let ok = success(&resp);
    assert_eq!(ok.actual_model_used, "anthropic/claude-sonnet-4-0");
    let m = ok.metrics.as_ref().unwrap();
    assert_eq!(m.input_tokens, Some(6100));
    assert_eq!(m.output_tokens, Some(200));
    assert_eq!(m.total_tokens, Some(6300));
    // 1000 × $3 + 200 × $15 + 100 × $3.75 + 5000 × $0.30 per million = $0.007875
    assert_eq!(micro_usd(m.cost_usd), 7_875);

    let sent = &mock.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some("test-key"));
    assert!(sent.header("anthropic-version").is_some());
    assert_eq!(sent.body["model"], "claude-sonnet-4-0");
    assert_eq!(sent.body["system"][0]["text"], "You are terse.");
    assert_eq!(sent.body["system"][1]["text"], "Be kind.");
    let parts = sent.body["messages"][0]["content"].as_array().unwrap();
    assert_eq!(parts.len(), 2, "user fragments stay separate");
    assert_eq!(parts[1]["text"], "second");
}

#[tokio::test(flavor = "multi_thread")]
async fn model_resolution_errors_and_request_ids() {
    let (mock, server) = start("", "").await;
    let mut c = client(&server).await;

    let resp = c
        .execute(request(Some("claude-sonet-4"), "x"))
        .await
        .unwrap()
        .into_inner();
    let e = error(&resp);
    assert_eq!(e.error_code, "MODEL_NOT_FOUND");
    assert!(
        e.error_message.contains("did you mean"),
        "{}",
        e.error_message
    );
    assert!(
        e.error_message.contains("claude-sonnet-4"),
        "{}",
        e.error_message
    );
    assert!(!resp.request_id.is_empty(), "a fresh id is generated");
    uuid_like(&resp.request_id);

    let mut req = request(Some("gpt-4o"), "  ");
    req.request_id = "my-id-42".into();
    let resp = c.execute(req).await.unwrap().into_inner();
    assert_eq!(resp.request_id, "my-id-42");
    assert_eq!(error(&resp).error_code, "INVALID_REQUEST");

    let mut req = request(Some("gpt-4o"), "x");
    req.response_model_schema = Some("{not json".into());
    let resp = c.execute(req).await.unwrap().into_inner();
    assert_eq!(error(&resp).error_code, "INVALID_REQUEST");
    assert_eq!(mock.request_count(), 0, "nothing reached the provider");

    // No model and no server.default_model: the catalog default of the first configured provider.
    let resp = c.execute(request(None, "x")).await.unwrap().into_inner();
    assert_eq!(
        success(&resp).actual_model_used,
        "anthropic/claude-sonnet-5-5"
    );
}

fn uuid_like(s: &str) {
    assert_eq!(s.len(), 36, "{s}");
    assert_eq!(s.matches('-').count(), 4, "{s}");
}

#[tokio::test(flavor = "multi_thread")]
async fn input_over_max_input_length_is_refused_before_the_provider() {
    let (mock, server) = start("  limits:\n    global:\n      max_input_length: 20\n", "").await;
    let mut c = client(&server).await;
    let resp = c
        .execute(request(
            Some("gpt-4o"),
            "this is far longer than twenty characters",
        ))
        .await
        .unwrap()
        .into_inner();
    let e = error(&resp);
    assert_eq!(e.error_code, "INVALID_REQUEST");
    assert!(e.error_message.contains("max_input_length"));
    assert_eq!(mock.request_count(), 0);
}

const SCHEMA: &str = r#"{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}"#;

#[tokio::test(flavor = "multi_thread")]
async fn structured_output_uses_native_mechanisms_and_is_validated() {
    let (mock, server) = start("", "").await;
    let mut c = client(&server).await;

    // OpenAI: response_format json_schema.
    mock.push_reply(MockReply::text(r#"{"n": 7}"#));
    let mut req = request(Some("gpt-4o"), "a number");
    req.response_model_schema = Some(SCHEMA.into());
    let resp = c.execute(req.clone()).await.unwrap().into_inner();
    assert_eq!(success(&resp).response_text, r#"{"n": 7}"#);
    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent.body["response_format"]["type"], "json_schema");
    assert_eq!(
        sent.body["response_format"]["json_schema"]["schema"]["required"][0],
        "n"
    );

    // Anthropic: a forced tool whose input schema is the schema.
    mock.push_reply(MockReply::text(r#"{"n": 8}"#));
    req.model_name = Some("claude-4-sonnet".into());
    let resp = c.execute(req.clone()).await.unwrap().into_inner();
    let v: serde_json::Value = serde_json::from_str(&success(&resp).response_text).unwrap();
    assert_eq!(v["n"], 8);
    let sent = mock.requests().pop().unwrap();
    assert_eq!(sent.body["tool_choice"]["type"], "tool");
    assert_eq!(sent.body["tools"][0]["input_schema"]["required"][0], "n");

    // An answer that does not match fails with SCHEMA_VALIDATION_FAILED.
    mock.push_reply(MockReply::text(r#"{"n": "seven"}"#));
    req.model_name = Some("gpt-4o".into());
    let resp = c.execute(req).await.unwrap().into_inner();
    let e = error(&resp);
    assert_eq!(e.error_code, "SCHEMA_VALIDATION_FAILED");
    assert!(e.error_message.contains("/n"), "{}", e.error_message);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_info_lists_models_aliases_default_and_limits() {
    let (_mock, server) = start(
        "  default_model: claude-4-sonnet\n  name: team-proxy\n  limits:\n    global:\n      max_requests_per_minute: 60\n      request_timeout_seconds: 30\n",
        "",
    )
    .await;
    let mut c = client(&server).await;
    let info = c
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.default_model, "anthropic/claude-sonnet-4-0");
    assert_eq!(info.server_name, "team-proxy");
    assert_eq!(info.server_version, env!("CARGO_PKG_VERSION"));
    assert_eq!(
        info.model_aliases["claude-4-sonnet"],
        "anthropic/claude-sonnet-4-0"
    );
    assert_eq!(info.model_aliases["gpt-4o"], "openai/gpt-4o");
    let sonnet = info
        .available_models
        .iter()
        .find(|m| m.model_id == "anthropic/claude-sonnet-4-0")
        .unwrap();
    assert_eq!(sonnet.provider, "anthropic");
    assert!(sonnet.supports_streaming);
    assert_eq!(sonnet.max_context_length, Some(200_000));
    assert!(sonnet.aliases.contains(&"claude-4-sonnet".to_owned()));
    assert!(
        info.available_models.iter().all(|m| m.provider != "ollama"),
        "unconfigured providers are not offered"
    );
    let limits = info.limits.unwrap();
    assert_eq!(limits.max_requests_per_minute, Some(60));
    assert_eq!(limits.request_timeout_seconds, Some(30));
    assert_eq!(limits.max_concurrent_requests, None);
}
