//! Wire-format shape tests: JSON bodies, SSE event order and usage numbers.

use serde_json::{json, Value};
use vibectl_testkit::{MockReply, MockUsage};

use super::support::*;

const CACHED: MockUsage = MockUsage {
    input_tokens: 100,
    output_tokens: 7,
    cache_read_tokens: 40,
    cache_write_tokens: 5,
};

#[tokio::test]
async fn openai_non_streaming_shape_and_usage() {
    let m = mock().await;
    m.push_reply(MockReply::text("Use kubectl get pods.").usage(CACHED));
    let resp = openai(&m, &client(), oa_body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let v: Value = resp.json().await.unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].as_u64().unwrap() > 1_600_000_000);
    assert_eq!(v["model"], "gpt-4o-mini");
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], "Use kubectl get pods.");
    assert_eq!(choice["message"]["refusal"], Value::Null);
    assert_eq!(choice["logprobs"], Value::Null);
    assert_eq!(choice["finish_reason"], "stop");
    let u = &v["usage"];
    assert_eq!(
        u["prompt_tokens"], 140,
        "prompt_tokens includes cached tokens"
    );
    assert_eq!(u["completion_tokens"], 7);
    assert_eq!(u["total_tokens"], 147);
    assert_eq!(u["prompt_tokens_details"]["cached_tokens"], 40);
    assert_eq!(u["prompt_tokens_details"]["audio_tokens"], 0);
    assert_eq!(u["completion_tokens_details"]["reasoning_tokens"], 0);
}

#[tokio::test]
async fn default_reply_and_default_usage() {
    let m = mock().await;
    let v: Value = openai(&m, &client(), oa_body(false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "Hello from the mock provider."
    );
    assert_eq!(v["usage"]["prompt_tokens"], 10);
    assert_eq!(v["usage"]["completion_tokens"], 5);
    m.set_default_reply(MockReply::text("changed"));
    let v: Value = openai(&m, &client(), oa_body(false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["message"]["content"], "changed");
    assert_eq!(v["usage"]["completion_tokens"], 1);
}

#[tokio::test]
async fn openai_stream_without_usage() {
    let m = mock().await;
    m.push_reply(MockReply::text("one two three four five").chunks(3));
    let resp = openai(&m, &client(), oa_body(true)).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = parse_sse(&resp.text().await.unwrap());
    // role chunk + 3 content chunks + finish chunk + [DONE]
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(events.last().unwrap().1, "[DONE]");
    let chunks: Vec<Value> = events[..5].iter().map(data).collect();
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["id"], chunks[0]["id"]);
        assert!(
            c.get("usage").is_none(),
            "no usage key without include_usage"
        );
    }
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    assert_eq!(chunks[0]["choices"][0]["delta"]["content"], "");
    let text: String = chunks[1..4]
        .iter()
        .map(|c| c["choices"][0]["delta"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, "one two three four five");
    assert_eq!(chunks[3]["choices"][0]["finish_reason"], Value::Null);
    assert_eq!(chunks[4]["choices"][0]["finish_reason"], "stop");
    assert_eq!(chunks[4]["choices"][0]["delta"], json!({}));
}

#[tokio::test]
async fn openai_stream_with_include_usage() {
    let m = mock().await;
    m.push_reply(MockReply::text("abc def").chunks(2).usage(CACHED));
    let mut body = oa_body(true);
    body["stream_options"] = json!({"include_usage": true});
    let text = openai(&m, &client(), body)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    assert_eq!(events.len(), 6, "{events:?}");
    assert_eq!(events[5].1, "[DONE]");
    let usage_chunk = data(&events[4]);
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["prompt_tokens"], 140);
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 7);
    assert_eq!(usage_chunk["usage"]["total_tokens"], 147);
    assert_eq!(
        usage_chunk["usage"]["prompt_tokens_details"]["cached_tokens"],
        40
    );
    for e in &events[..4] {
        assert_eq!(
            data(e)["usage"],
            Value::Null,
            "earlier chunks carry usage: null"
        );
    }
    assert_eq!(data(&events[3])["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn anthropic_non_streaming_shape_and_usage() {
    let m = mock().await;
    m.push_reply(MockReply::text("Scaled.").usage(CACHED));
    let resp = anthropic(&m, &client(), an_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-sonnet-4");
    assert_eq!(v["content"], json!([{"type": "text", "text": "Scaled."}]));
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["stop_sequence"], Value::Null);
    assert_eq!(
        v["usage"],
        json!({"input_tokens": 100, "output_tokens": 7,
               "cache_creation_input_tokens": 5, "cache_read_input_tokens": 40})
    );
}

#[tokio::test]
async fn anthropic_stream_event_order_and_usage() {
    let m = mock().await;
    m.push_reply(
        MockReply::text("Hello there, world")
            .chunks(3)
            .usage(CACHED),
    );
    let resp = anthropic(&m, &client(), an_body(true))
        .send()
        .await
        .unwrap();
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = parse_sse(&resp.text().await.unwrap());
    let names: Vec<&str> = events.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    for e in &events {
        assert_eq!(
            data(e)["type"],
            e.0.as_str(),
            "data.type matches the event name"
        );
    }
    let start = data(&events[0]);
    assert_eq!(start["message"]["content"], json!([]));
    assert_eq!(start["message"]["model"], "claude-sonnet-4");
    assert_eq!(
        start["message"]["usage"],
        json!({"input_tokens": 100, "output_tokens": 1,
               "cache_creation_input_tokens": 5, "cache_read_input_tokens": 40})
    );
    assert_eq!(
        data(&events[1])["content_block"],
        json!({"type": "text", "text": ""})
    );
    let text: String = events[3..6]
        .iter()
        .map(|e| {
            let d = data(e);
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, "Hello there, world");
    let delta = data(&events[7]);
    assert_eq!(
        delta["delta"],
        json!({"stop_reason": "end_turn", "stop_sequence": null})
    );
    assert_eq!(delta["usage"], json!({"output_tokens": 7}));
}

fn tool_body(stream: bool) -> Value {
    let mut b = an_body(stream);
    b["tools"] = json!([{"name": "plan", "description": "d", "input_schema": {"type": "object"}}]);
    b["tool_choice"] = json!({"type": "tool", "name": "plan"});
    b
}

#[tokio::test]
async fn anthropic_forced_tool_use() {
    let m = mock().await;
    let input = json!({"commands": [["get", "pods"]], "explanation": "list pods"});
    m.push_reply(MockReply::text(input.to_string()));
    let v: Value = anthropic(&m, &client(), tool_body(false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["stop_reason"], "tool_use");
    let block = &v["content"][0];
    assert_eq!(block["type"], "tool_use");
    assert!(block["id"].as_str().unwrap().starts_with("toolu_"));
    assert_eq!(block["name"], "plan");
    assert_eq!(block["input"], input);

    m.push_reply(MockReply::text(input.to_string()).chunks(5));
    let text = anthropic(&m, &client(), tool_body(true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    let start = data(&events[1]);
    assert_eq!(start["content_block"]["type"], "tool_use");
    assert_eq!(start["content_block"]["name"], "plan");
    assert_eq!(start["content_block"]["input"], json!({}));
    let deltas: Vec<Value> = events
        .iter()
        .filter(|e| e.0 == "content_block_delta")
        .map(data)
        .collect();
    assert_eq!(deltas.len(), 5);
    let json_text: String = deltas
        .iter()
        .map(|d| {
            assert_eq!(d["delta"]["type"], "input_json_delta");
            d["delta"]["partial_json"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(serde_json::from_str::<Value>(&json_text).unwrap(), input);
    let md = events
        .iter()
        .find(|e| e.0 == "message_delta")
        .map(data)
        .unwrap();
    assert_eq!(md["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn anthropic_count_tokens_counts_words_and_refuses_like_messages() {
    let m = mock().await;
    let c = client();
    let url = format!("{}/v1/messages/count_tokens", m.anthropic_base_url());
    let count = |body: Value, key: Option<&str>, version: bool| {
        let mut req = c.post(&url).json(&body);
        if let Some(k) = key {
            req = req.header("x-api-key", k);
        }
        if version {
            req = req.header("anthropic-version", "2023-06-01");
        }
        req.send()
    };
    // system 2 words, messages 3 + 1 words and 3 a message, tools 1 + 2 words.
    let body = json!({"model": "claude-sonnet-4", "system": "be terse",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "how are you"}]},
            {"role": "assistant", "content": "fine"}],
        "tools": [{"name": "get", "description": "get pods", "input_schema": {"type": "object"}}]});
    let resp = count(body.clone(), Some("test-key"), true).await.unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v, json!({"input_tokens": 2 + 4 + 6 + 3}));
    assert_eq!(m.requests()[0].path, "/v1/messages/count_tokens");
    assert_eq!(m.pending_replies(), 0);

    for (body, key, version, status, kind) in [
        (body.clone(), None, true, 401, "authentication_error"),
        (
            body.clone(),
            Some("wrong"),
            true,
            401,
            "authentication_error",
        ),
        (
            body.clone(),
            Some("test-key"),
            false,
            400,
            "invalid_request_error",
        ),
        (
            json!({"model": "m"}),
            Some("test-key"),
            true,
            400,
            "invalid_request_error",
        ),
        (
            json!({"messages": []}),
            Some("test-key"),
            true,
            400,
            "invalid_request_error",
        ),
    ] {
        let resp = count(body, key, version).await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{kind}");
        let v: Value = resp.json().await.unwrap();
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], kind, "{v}");
    }
    // A scripted fault is the answer, in Anthropic's shape.
    m.push_reply(MockReply::failing(vibectl_testkit::Fault::Overloaded));
    let resp = count(body, Some("test-key"), true).await.unwrap();
    assert_eq!(resp.status().as_u16(), 529);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "overloaded_error");
}
