//! `POST /v1/messages/count_tokens` with the official `anthropic` SDK against the real binary
//! and the mock: forwarded intact (but model and key) for an Anthropic model, our estimate
//! (marked by `x-vibectl-token-count: estimate`) for an OpenAI one; 401, 403, 404 and 400 in
//! Anthropic's shape; requests-per-minute counted, token limits and the ledger not; audited
//! and in the metrics with `api="anthropic"`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use vibectl_testkit::{Fault, MockProvider, MockReply};

use crate::http_common::*;
use crate::limits_common::usage_until;
use crate::secure::{auth_config, claims, mint, SECRET};

/// Five requests a minute, one token a minute (which a count must not need), and only the
/// `metered*` models.
const LIMITS: &str = "  limits:\n    global:\n      max_requests_per_minute: 5\n      \
                      max_tokens_per_minute: 1\n    models:\n      default: [\"metered*\"]\n";

const ANTHROPIC: [(&str, &str); 1] = [("anthropic-version", "2023-06-01")];

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn without_model(v: &Value) -> Value {
    let mut v = v.clone();
    v.as_object_mut().unwrap().remove("model");
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn counts_are_forwarded_for_anthropic_models_and_estimated_for_others() {
    let mock = MockProvider::start().await.unwrap();
    let metrics = free_port();
    let server = spawn(
        &config(&mock, LIMITS, ""),
        &["--metrics-port", &metrics.to_string()],
    );
    let tools = json!([{"name": "get_pods", "description": "List the pods",
        "input_schema": {"type": "object", "properties": {"namespace": {"type": "string"}}},
        "cache_control": {"type": "ephemeral"}}]);
    let kw = json!({"model": "metered-a",
        "system": [{"type": "text", "text": "You are a kubectl helper.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "how many pods run here?"}]},
            {"role": "assistant", "content": "Let me look."},
            {"role": "user", "content": "in kube-system"}],
        "tools": tools, "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 1024}});
    let mut with_beta = kw.clone();
    with_beta["extra_headers"] = json!({"anthropic-beta": "token-counting-2024-11-01"});

    // A model call needs more than the one token a minute: refused, and not counted.
    let r = anthropic(
        &server,
        "t",
        "create",
        json!({"model": "metered-a", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r["status"], 429, "{r}");
    assert!(
        r["body"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("(limit-type tokens)"),
        "{r}"
    );

    // Anthropic model: the provider counts; body intact but the model, our token swapped.
    let r = anthropic(&server, "our-token-not-the-key", "count", with_beta).await;
    // The mock: a word a token (system 5, messages 5 + 3 + 2, tools 1 + 3), and 3 a message
    // (3 messages); block types and schema types are no words.
    assert_eq!(
        r["response"],
        json!({"input_tokens": 5 + 10 + 4 + 9}),
        "{r}"
    );
    assert!(
        r["headers"].get("x-vibectl-token-count").is_none(),
        "a provider's count is no estimate: {r}"
    );
    let reqs = mock.requests();
    assert_eq!(reqs.len(), 1);
    let got = &reqs[0];
    assert_eq!(got.path, "/v1/messages/count_tokens");
    assert_eq!(got.body["model"], "metered-a-up");
    assert_eq!(without_model(&got.body), without_model(&kw), "body changed");
    assert_eq!(got.header("x-api-key"), Some("test-key"));
    assert_eq!(
        got.header("anthropic-beta"),
        Some("token-counting-2024-11-01")
    );
    assert!(got.header("anthropic-version").is_some());
    assert!(got
        .headers
        .iter()
        .all(|(_, v)| !v.contains("our-token-not-the-key")));

    // OpenAI model: our estimate, said so; the provider is not asked.
    let mut openai_kw = kw.clone();
    openai_kw["model"] = json!("metered");
    let r = anthropic(&server, "t", "count", openai_kw.clone()).await;
    let text_bytes = "You are a kubectl helper.".len()
        + "how many pods run here?".len()
        + "Let me look.".len()
        + "in kube-system".len()
        + tools.to_string().len()
        + json!({"type": "auto"}).to_string().len();
    let want = (text_bytes as u64).div_ceil(4);
    assert_eq!(r["response"], json!({"input_tokens": want}), "{r}");
    assert_eq!(r["headers"]["x-vibectl-token-count"], "estimate", "{r}");
    assert_eq!(mock.request_count(), 1, "an estimate asks no provider");

    // 403 (not in the subject's models), 404 (close matches), 400 (malformed, no messages):
    // Anthropic's shape, nothing reaches the provider, no request counted.
    let msgs = json!([{"role": "user", "content": "hi"}]);
    let r = anthropic(
        &server,
        "t",
        "count",
        json!({"model": "gpt-4o", "messages": msgs}),
    )
    .await;
    assert_eq!(r["status"], 403, "{r}");
    assert_eq!(r["body"]["type"], "error");
    assert_eq!(r["body"]["error"]["type"], "permission_error");
    let r = anthropic(
        &server,
        "t",
        "count",
        json!({"model": "meterd-a", "messages": msgs}),
    )
    .await;
    assert_eq!(r["status"], 404, "{r}");
    assert_eq!(r["body"]["error"]["type"], "not_found_error");
    assert!(
        r["body"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("metered-a"),
        "{r}"
    );
    for body in [
        "{\"model\": \"metered-a\", ",
        "[1]",
        r#"{"model": "metered-a", "messages": "hi"}"#,
        r#"{"model": "metered-a"}"#,
        r#"{"messages": []}"#,
    ] {
        let (status, _, text) = post(&server, "/v1/messages/count_tokens", &ANTHROPIC, body).await;
        assert_eq!(status, 400, "{body}: {text}");
        let v = json(&text);
        assert_eq!(v["type"], "error", "{text}");
        assert_eq!(v["error"]["type"], "invalid_request_error", "{text}");
    }
    assert_eq!(mock.request_count(), 1);

    // A provider's error comes back in Anthropic's shape, with its status.
    mock.push_reply(MockReply::failing(Fault::Overloaded));
    let r = anthropic(&server, "t", "count", kw.clone()).await;
    assert_eq!(r["status"], 529, "{r}");
    assert_eq!(r["body"]["error"]["type"], "overloaded_error", "{r}");

    // Counts count against the five requests a minute (the one-token-a-minute limit never
    // matters): in a burst of raw requests one is refused, with retry-after.
    let body = openai_kw.to_string();
    let mut passed = 0;
    let refused = loop {
        let (status, headers, text) = post(
            &server,
            "/v1/messages/count_tokens",
            &ANTHROPIC,
            body.clone(),
        )
        .await;
        if status != 200 {
            break (status, headers, text);
        }
        assert_eq!(json(&text)["input_tokens"], want, "{text}");
        passed += 1;
        assert!(
            passed <= 5,
            "six counts in a row passed a limit of five a minute"
        );
    };
    assert_eq!(refused.0, 429, "{}", refused.2);
    assert_eq!(json(&refused.2)["error"]["type"], "rate_limit_error");
    assert!(refused.2.contains("(limit-type rpm)"), "{}", refused.2);
    assert!(refused.1.contains_key("retry-after"));

    // The metrics have them, under the Anthropic API.
    let text = reqwest::get(format!("http://127.0.0.1:{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |status: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("vibectl_requests_total{")
                    && l.contains("api=\"anthropic\"")
                    && l.contains("method=\"anthropic.count_tokens\"")
                    && l.contains("model=\"metered\"")
                    && l.contains(&format!("status=\"{status}\""))
            })
            .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
    };
    assert_eq!(line("ok"), Some(f64::from(1 + passed)), "{text}");
    assert_eq!(line("refused"), Some(1.0), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn counts_need_our_token_as_bearer_or_x_api_key_and_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockProvider::start().await.unwrap();
    let server = spawn(&auth_config(&mock, dir.path(), false), &[]);
    let token = mint(
        &claims("counter"),
        Algorithm::HS256,
        SECRET.as_bytes(),
        None,
    );
    let kw = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi there"}]});

    let forged = mint(
        &claims("counter"),
        Algorithm::HS256,
        b"not-our-secret-0123456789abcdef",
        None,
    );
    for bad in [
        "not-a-token",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        &forged,
    ] {
        let r = anthropic(&server, bad, "count", kw.clone()).await;
        assert_eq!(r["status"], 401, "{bad}: {r}");
        assert_eq!(r["body"]["type"], "error");
        assert_eq!(r["body"]["error"]["type"], "authentication_error", "{r}");
    }
    for auth in ["api_key", "bearer"] {
        let r = anthropic_with(&server, &token, auth, "count", kw.clone(), 0).await;
        assert_eq!(r["response"], json!({"input_tokens": 2}), "{auth}: {r}");
        assert_eq!(r["headers"]["x-vibectl-token-count"], "estimate");
    }
    assert_eq!(mock.request_count(), 0);

    // The ledger has the one model call after them, and nothing of the counts.
    let r = openai(
        &server,
        &token,
        "chat",
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert!(r["response"].is_object(), "{r}");
    let rows = usage_until(&server, &[], |rows| {
        rows.as_array().is_some_and(|a| !a.is_empty())
    });
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        rows[0]["requests"], 1,
        "counts went to the ledger: {rows:?}"
    );

    // Every count is in the audit log under its path (written by a background thread).
    let mut lines: Vec<Value> = Vec::new();
    for _ in 0..200 {
        let audit = std::fs::read_to_string(dir.path().join("audit.log")).unwrap_or_default();
        lines = audit
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .filter(|v: &Value| v["method"] == "/v1/messages/count_tokens")
            .collect();
        if lines.len() >= 5 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let ok = lines.iter().filter(|v| v["event"] == "auth_ok").count();
    let failed = lines.iter().filter(|v| v["event"] == "auth_failed").count();
    assert_eq!((ok, failed), (2, 3), "{lines:?}");
    assert!(lines
        .iter()
        .filter(|v| v["event"] == "auth_ok")
        .all(|v| v["subject"] == "counter"));
}
