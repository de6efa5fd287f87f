//! The OpenAI- and Anthropic-compatible HTTP APIs end to end, with the official Python SDKs as
//! clients against the real binary and the mock provider: non-stream and stream on both APIs,
//! usage on every call equal to the ledger's (cost exact), pass-through fidelity on the mock's
//! recording, tools round trips across formats, `/v1/models`, and gRPC still on the same port.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use vibectl_testkit::{MockProvider, MockReply, MockUsage};

use crate::common;
use crate::http_common::*;
use crate::limits_common::usage_until;

const U_OPENAI: MockUsage = MockUsage {
    input_tokens: 1234,
    output_tokens: 567,
    cache_read_tokens: 89,
    cache_write_tokens: 0,
};
const U_ANTHROPIC: MockUsage = MockUsage {
    input_tokens: 2000,
    output_tokens: 150,
    cache_read_tokens: 300,
    cache_write_tokens: 40,
};
/// Pico-USD of one call of each (prices in limits_common::MODELS).
const PICO_OPENAI: u64 = 1234 * 3_000_000 + 567 * 15_000_000 + 89 * 300_000;
const PICO_ANTHROPIC: u64 = 2000 * 800_000 + 150 * 4_000_000 + 300 * 80_000 + 40 * 1_000_000;

/// The ledger row (default grouping: day, subject, model, api) of `model` through `api`.
fn row<'a>(rows: &'a Value, model: &str, api: &str) -> &'a Value {
    rows.as_array()
        .unwrap()
        .iter()
        .find(|r| r["model"] == model && r["api"] == api)
        .unwrap_or_else(|| panic!("no ledger row for {model} through {api}: {rows}"))
}

/// Whether the ledger has a row of `model` through `api` with `n` requests.
fn has_row(v: &Value, model: &str, api: &str, n: u64) -> bool {
    v.as_array().is_some_and(|a| {
        a.iter()
            .any(|r| r["model"] == model && r["api"] == api && r["requests"] == n)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn openai_sdk_chat_and_streams_are_metered_like_grpc() {
    let mock = MockProvider::start().await.unwrap();
    mock.set_default_reply(MockReply::text("hello from the mock").usage(U_OPENAI));
    let server = spawn(&config(&mock, "", ""), &[]);
    let msgs =
        json!([{"role": "system", "content": "be terse"}, {"role": "user", "content": "hi"}]);

    let r = openai(
        &server,
        "unused",
        "chat",
        json!({"model": "metered", "messages": msgs}),
    )
    .await;
    let resp = &r["response"];
    assert_eq!(
        resp["choices"][0]["message"]["content"], "hello from the mock",
        "{r}"
    );
    assert_eq!(resp["usage"]["prompt_tokens"], 1234 + 89);
    assert_eq!(resp["usage"]["completion_tokens"], 567);

    let r = openai(
        &server,
        "unused",
        "chat",
        json!({"model": "metered", "messages": msgs,
        "stream": true, "stream_options": {"include_usage": true}}),
    )
    .await;
    let chunks = r["chunks"].as_array().unwrap_or_else(|| panic!("{r}"));
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "hello from the mock");
    let last = chunks.last().unwrap();
    assert_eq!(last["usage"]["completion_tokens"], 567, "{last}");
    assert_eq!(last["usage"]["prompt_tokens"], 1234 + 89);

    // Not asked for: no usage chunk reaches the caller, and the call is metered all the same.
    let r = openai(
        &server,
        "unused",
        "chat",
        json!({"model": "metered", "messages": msgs,
        "stream": true}),
    )
    .await;
    let chunks = r["chunks"].as_array().unwrap();
    assert!(chunks.len() >= 3, "{r}");
    assert!(chunks.iter().all(|c| c["usage"].is_null()), "{r}");

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 3);
    assert!(
        reqs.iter().all(|q| q.body["model"] == "metered-up"),
        "model resolved"
    );
    assert_eq!(reqs[2].body["stream_options"]["include_usage"], true);
    assert_eq!(reqs[0].header("authorization"), Some("Bearer test-key"));

    // gRPC on the same port, same ledger.
    let mut c = common::client(&server).await;
    c.execute(common::request(Some("metered"), "hi"))
        .await
        .unwrap();

    // One row per API: the three SDK calls as `openai`, the gRPC call as `grpc`.
    let rows = usage_until(&server, &[], |v| {
        has_row(v, "metered", "openai", 3) && has_row(v, "metered", "grpc", 1)
    });
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    let m = row(&rows, "metered", "openai");
    assert_eq!(m["requests"], 3, "{rows}");
    assert_eq!(m["errors"], 0);
    assert_eq!(m["subject"], "anonymous");
    assert_eq!(m["input_tokens"], 3 * 1234);
    assert_eq!(m["output_tokens"], 3 * 567);
    assert_eq!(m["cache_read_tokens"], 3 * 89);
    assert_eq!(m["cost_pico_usd"], 3 * PICO_OPENAI);
    let g = row(&rows, "metered", "grpc");
    assert_eq!(g["input_tokens"], 1234);
    // The gRPC call asks for the model's max_output_tokens (100), and a provider bills at most
    // what was asked for: the mock does too.
    assert_eq!(g["output_tokens"], 100);
    assert_eq!(g["cost_pico_usd"], PICO_OPENAI - (567 - 100) * 15_000_000);
    // `--api` keeps only that API's rows.
    let only = usage_until(&server, &["--api", "grpc"], |v| {
        v.as_array().is_some_and(|a| a.len() == 1)
    });
    assert_eq!(only[0]["api"], "grpc", "{only}");
}

#[tokio::test(flavor = "multi_thread")]
async fn anthropic_sdk_messages_with_the_exact_event_sequence_and_ledger_usage() {
    let mock = MockProvider::start().await.unwrap();
    mock.set_default_reply(MockReply::text("hello from claude").usage(U_ANTHROPIC));
    let server = spawn(&config(&mock, "", ""), &[]);
    // Room for the mock's 150 output tokens: a provider bills at most max_tokens.
    let kw = json!({"model": "metered-a", "max_tokens": 200, "system": "be terse",
        "messages": [{"role": "user", "content": "hi"}]});

    let r = anthropic(&server, "unused", "create", kw.clone()).await;
    let resp = &r["response"];
    assert_eq!(resp["content"][0]["text"], "hello from claude", "{r}");
    assert_eq!(resp["usage"]["input_tokens"], 2000);
    assert_eq!(resp["usage"]["cache_read_input_tokens"], 300);
    assert_eq!(resp["usage"]["cache_creation_input_tokens"], 40);

    let r = anthropic(&server, "unused", "events", kw.clone()).await;
    let types: Vec<&str> = r["events"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types.first(), Some(&"message_start"), "{types:?}");
    assert_eq!(types.last(), Some(&"message_stop"), "{types:?}");
    for t in [
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
    ] {
        assert!(types.contains(&t), "{t} missing from {types:?}");
    }
    let delta = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["usage"]["output_tokens"], 150);

    // The SDK's own stream helper (which checks the sequence) accumulates the same message.
    let r = anthropic_with(&server, "unused", "bearer", "final", kw, 0).await;
    assert_eq!(r["text"], "hello from claude", "{r}");
    assert_eq!(r["response"]["usage"]["output_tokens"], 150);

    let reqs = mock.requests();
    assert_eq!(reqs.len(), 3);
    assert!(reqs.iter().all(|q| q.body["model"] == "metered-a-up"));
    assert!(reqs
        .iter()
        .all(|q| q.header("x-api-key") == Some("test-key")));
    // The SDK's own anthropic-version arrives, not the server's default.
    let versions: Vec<_> = reqs.iter().map(|q| q.header("anthropic-version")).collect();
    assert!(versions[0].is_some_and(|v| v != vibectl_llm::anthropic::ANTHROPIC_VERSION));
    assert!(versions.iter().all(|v| *v == versions[0]), "{versions:?}");

    let rows = usage_until(&server, &[], |v| has_row(v, "metered-a", "anthropic", 3));
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    let m = row(&rows, "metered-a", "anthropic");
    assert_eq!(m["requests"], 3, "{rows}");
    assert_eq!(m["input_tokens"], 3 * 2000);
    assert_eq!(m["output_tokens"], 3 * 150);
    assert_eq!(m["cache_read_tokens"], 3 * 300);
    assert_eq!(m["cache_write_tokens"], 3 * 40);
    assert_eq!(m["cost_pico_usd"], 3 * PICO_ANTHROPIC);
}

/// `v` without `key`.
fn without(v: &Value, key: &str) -> Value {
    let mut v = v.clone();
    v.as_object_mut().unwrap().remove(key);
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn same_format_requests_pass_through_intact_but_model_and_key() {
    let mock = MockProvider::start().await.unwrap();
    let server = spawn(&config(&mock, "", ""), &[]);
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";
    let tools = json!([{"name": "get_pods", "description": "List pods",
        "input_schema": {"type": "object", "properties": {"namespace": {"type": "string"}}},
        "cache_control": {"type": "ephemeral"}}]);
    let kw = json!({"model": "metered-a", "max_tokens": 2048,
        "system": [{"type": "text", "text": "You are a kubectl helper.", "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": png}},
            {"type": "text", "text": "what is in the image?", "cache_control": {"type": "ephemeral"}}]}],
        "tools": tools, "tool_choice": {"type": "auto"},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "metadata": {"user_id": "u-42"}});
    let mut with_beta = kw.clone();
    with_beta["extra_headers"] =
        json!({"anthropic-beta": "prompt-caching-2024-07-31,token-efficient-tools-2025-02-19"});
    let r = anthropic(&server, "our-token-not-the-key", "create", with_beta).await;
    assert!(r["response"].is_object(), "{r}");
    let got = &mock.requests()[0];
    assert_eq!(got.body["model"], "metered-a-up");
    assert_eq!(
        without(&got.body, "model"),
        without(&kw, "model"),
        "body changed on the way"
    );
    assert_eq!(
        got.header("anthropic-beta"),
        Some("prompt-caching-2024-07-31,token-efficient-tools-2025-02-19")
    );
    assert_eq!(
        got.header("x-api-key"),
        Some("test-key"),
        "the provider key replaces ours"
    );
    assert!(got
        .headers
        .iter()
        .all(|(_, v)| !v.contains("our-token-not-the-key")));

    mock.clear_requests();
    let kw = json!({"model": "metered",
        "messages": [{"role": "developer", "content": "be terse"},
            {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{png}"), "detail": "low"}}]}],
        "tools": [{"type": "function", "function": {"name": "get_pods", "description": "List pods",
            "parameters": {"type": "object", "properties": {"namespace": {"type": "string"}}}, "strict": false}}],
        "tool_choice": "auto", "parallel_tool_calls": false, "seed": 7, "user": "u-42",
        "response_format": {"type": "text"}, "metadata": {"team": "sre"}, "store": false});
    let r = openai(&server, "our-token-not-the-key", "chat", kw.clone()).await;
    assert!(r["response"].is_object(), "{r}");
    let got = &mock.requests()[0];
    assert_eq!(got.body["model"], "metered-up");
    assert_eq!(
        without(&got.body, "model"),
        without(&kw, "model"),
        "body changed on the way"
    );
    assert_eq!(got.header("authorization"), Some("Bearer test-key"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_round_trips_within_and_across_formats() {
    let mock = MockProvider::start().await.unwrap();
    let server = spawn(&config(&mock, "", ""), &[]);
    let params = json!({"type": "object", "properties": {"namespace": {"type": "string"}}});

    // OpenAI SDK → Anthropic model: the tool call, then the tool's result.
    mock.push_reply(MockReply::text(r#"{"namespace":"default"}"#).usage(U_ANTHROPIC));
    let tools = json!([{"type": "function", "function": {"name": "get_pods", "description": "List pods", "parameters": params}}]);
    let first = json!([{"role": "system", "content": "be terse"}, {"role": "user", "content": "how many pods?"}]);
    let r = openai(
        &server,
        "t",
        "chat",
        json!({"model": "metered-a", "messages": first, "tools": tools,
        "tool_choice": {"type": "function", "function": {"name": "get_pods"}}}),
    )
    .await;
    let choice = &r["response"]["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls", "{r}");
    let call = &choice["message"]["tool_calls"][0];
    assert_eq!(call["function"]["name"], "get_pods");
    let args: Value =
        serde_json::from_str(call["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"namespace": "default"}));
    assert_eq!(r["response"]["usage"]["prompt_tokens"], 2000 + 300 + 40);
    let sent = &mock.requests()[0].body;
    assert_eq!(sent["system"][0]["text"], "be terse");
    assert_eq!(sent["tools"][0]["input_schema"], params);
    assert_eq!(
        sent["tool_choice"],
        json!({"type": "tool", "name": "get_pods"})
    );

    mock.push_reply(MockReply::text("3 pods"));
    let mut history = first.as_array().unwrap().clone();
    history.push(choice["message"].clone());
    history.push(json!({"role": "tool", "tool_call_id": call["id"], "content": "a b c"}));
    let r = openai(
        &server,
        "t",
        "chat",
        json!({"model": "metered-a", "messages": history, "tools": tools}),
    )
    .await;
    assert_eq!(
        r["response"]["choices"][0]["message"]["content"], "3 pods",
        "{r}"
    );
    let sent = &mock.requests()[1].body;
    assert_eq!(
        sent["messages"][1]["content"][0]["type"], "tool_use",
        "{sent}"
    );
    assert_eq!(sent["messages"][1]["content"][0]["id"], call["id"]);
    assert_eq!(sent["messages"][2]["content"][0]["type"], "tool_result");
    assert_eq!(sent["messages"][2]["content"][0]["tool_use_id"], call["id"]);

    // OpenAI SDK stream → Anthropic model: text, then the usage chunk asked for.
    mock.push_reply(MockReply::text("streamed across formats").usage(U_ANTHROPIC));
    let r = openai(
        &server,
        "t",
        "chat",
        json!({"model": "metered-a", "messages": first,
        "stream": true, "stream_options": {"include_usage": true}}),
    )
    .await;
    let chunks = r["chunks"].as_array().unwrap_or_else(|| panic!("{r}"));
    let text: String = chunks
        .iter()
        .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
        .collect();
    assert_eq!(text, "streamed across formats");
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 150);

    // Anthropic SDK → OpenAI model, non-stream and through the SDK's stream helper.
    mock.push_reply(MockReply::text("from gpt").usage(U_OPENAI));
    let kw = json!({"model": "metered", "max_tokens": 50, "system": "be terse",
        "messages": [{"role": "user", "content": "hi"}]});
    let r = anthropic(&server, "t", "create", kw.clone()).await;
    assert_eq!(r["response"]["content"][0]["text"], "from gpt", "{r}");
    assert_eq!(r["response"]["usage"]["input_tokens"], 1234);
    assert_eq!(r["response"]["usage"]["cache_read_input_tokens"], 89);
    assert_eq!(r["response"]["stop_reason"], "end_turn");
    let sent = &mock.requests()[3].body;
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": "be terse"})
    );
    assert_eq!(sent["max_completion_tokens"], 50);
    mock.push_reply(MockReply::text("streamed from gpt").usage(U_OPENAI));
    let r = anthropic(&server, "t", "final", kw).await;
    assert_eq!(r["text"], "streamed from gpt", "{r}");
    // The mock bills 567 output tokens, but never more than the max_tokens sent (50).
    assert_eq!(r["response"]["usage"]["output_tokens"], 50);

    // Anthropic SDK → Anthropic model: tool_use, then tool_result (pass-through).
    mock.push_reply(MockReply::text(r#"{"namespace":"kube-system"}"#));
    let atools = json!([{"name": "get_pods", "description": "List pods", "input_schema": params}]);
    let first = json!([{"role": "user", "content": "pods?"}]);
    let r = anthropic(
        &server,
        "t",
        "create",
        json!({"model": "metered-a", "max_tokens": 100,
        "messages": first, "tools": atools, "tool_choice": {"type": "tool", "name": "get_pods"}}),
    )
    .await;
    let block = &r["response"]["content"][0];
    assert_eq!(block["type"], "tool_use", "{r}");
    assert_eq!(block["input"], json!({"namespace": "kube-system"}));
    mock.push_reply(MockReply::text("2 pods"));
    let r = anthropic(&server, "t", "create", json!({"model": "metered-a", "max_tokens": 100,
        "tools": atools, "messages": [first[0], {"role": "assistant", "content": [block]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block["id"], "content": "x y"}]}]}))
    .await;
    assert_eq!(r["response"]["content"][0]["text"], "2 pods", "{r}");
}

#[tokio::test(flavor = "multi_thread")]
async fn models_are_listed_in_each_shape_with_aliases_over_http1_and_http2() {
    let mock = MockProvider::start().await.unwrap();
    let models = "  - id: aliased\n    provider: openai\n    aliases: [short]\n";
    let server = spawn(&config(&mock, "", models), &[]);
    let r = openai(&server, "t", "models", json!({})).await;
    let ids: Vec<&str> = r["models"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    for id in ["metered", "metered-a", "aliased", "short"] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
    let r = openai(&server, "t", "model", json!({"id": "short"})).await;
    assert_eq!(r["model"]["owned_by"], "openai", "{r}");
    let r = anthropic(&server, "t", "models", json!({})).await;
    let m = r["models"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .find(|m| m["id"] == "metered-a")
        .unwrap()
        .clone();
    assert_eq!(m["type"], "model");
    assert!(m["display_name"].is_string());

    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let resp = h2
        .get(format!("{}/v1/models", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), 200);
    let resp = reqwest::get(format!("{}/health", server.url()))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.text().await.unwrap(), r#"{"status":"ok"}"#);
}
