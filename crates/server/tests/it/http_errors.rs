//! Errors of the HTTP APIs, each in its own shape and status, against the real binary: 404 with
//! close matches, malformed and oversized bodies (400, 413, the body bounded), 429 from our
//! limits and from provider throttling (the SDKs' own retry honouring `retry-after`), 529/503
//! for provider overload, and a failing stream ending in the format's error event.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use vibectl_testkit::{Fault, MockProvider, MockReply};

use crate::http_common::*;

const ANTHROPIC: [(&str, &str); 1] = [("anthropic-version", "2023-06-01")];

#[tokio::test(flavor = "multi_thread")]
async fn unknown_models_malformed_and_oversized_bodies_are_refused_in_each_shape() {
    let mock = MockProvider::start().await.unwrap();
    let server = spawn(&config(&mock, "", "http:\n  max_body_bytes: 4096\n"), &[]);

    let r = openai(
        &server,
        "t",
        "chat",
        json!({"model": "meterd",
        "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r["status"], 404, "{r}");
    assert_eq!(r["body"]["type"], "not_found_error", "{r}");
    assert!(
        r["body"]["message"]
            .as_str()
            .unwrap()
            .contains("did you mean metered"),
        "{r}"
    );
    let r = anthropic(
        &server,
        "t",
        "create",
        json!({"model": "meterd-a", "max_tokens": 5,
        "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r["status"], 404, "{r}");
    assert_eq!(r["body"]["type"], "error");
    assert_eq!(r["body"]["error"]["type"], "not_found_error");
    assert!(
        r["body"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("metered-a"),
        "{r}"
    );

    for (path, headers) in [
        ("/v1/chat/completions", &[][..]),
        ("/v1/messages", &ANTHROPIC[..]),
    ] {
        let (status, _, body) = post(&server, path, headers, "{\"model\": \"metered\", ").await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body.contains("not valid JSON"), "{body}");
        let (status, _, body) = post(&server, path, headers, "[1, 2]").await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("JSON object"), "{body}");
        let (status, _, body) = post(&server, path, headers, r#"{"messages": []}"#).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("`model` is required"), "{body}");
        let big = format!(r#"{{"model": "metered", "pad": "{}"}}"#, "x".repeat(8192));
        let (status, _, body) = post(&server, path, headers, big.clone()).await;
        assert_eq!(status, 413, "{body}");
        assert!(body.contains("http.max_body_bytes"), "{body}");
        // Without a content-length (chunked), the bound holds while reading.
        let chunks: Vec<Result<String, std::io::Error>> = big
            .as_bytes()
            .chunks(1000)
            .map(|c| Ok(String::from_utf8_lossy(c).into_owned()))
            .collect();
        let stream = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
        let (status, _, body) = post(&server, path, headers, stream).await;
        assert_eq!(status, 413, "{body}");
    }
    let (_, _, body) = post(&server, "/v1/messages", &ANTHROPIC, "{").await;
    assert_eq!(json(&body)["error"]["type"], "invalid_request_error");
    let (_, _, body) = post(&server, "/v1/messages", &ANTHROPIC, "x".repeat(5000)).await;
    assert_eq!(json(&body)["error"]["type"], "request_too_large");
    assert_eq!(mock.request_count(), 0, "nothing reached the provider");
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_throttling_is_a_429_the_sdks_retry_after_retry_after() {
    let mock = MockProvider::start().await.unwrap();
    let server = spawn(&config(&mock, "", ""), &[]);
    mock.push_reply(MockReply::failing(Fault::RateLimited {
        retry_after_secs: 1,
    }));
    mock.push_reply(MockReply::text("after the pause"));
    let r = openai_with(
        &server,
        "t",
        "chat",
        json!({"model": "metered",
        "messages": [{"role": "user", "content": "hi"}]}),
        2,
    )
    .await;
    assert_eq!(
        r["response"]["choices"][0]["message"]["content"], "after the pause",
        "{r}"
    );
    assert!(
        r["elapsed"].as_f64().unwrap() >= 1.0,
        "retry-after honoured: {r}"
    );
    assert_eq!(mock.request_count(), 2);

    mock.push_reply(MockReply::failing(Fault::RateLimited {
        retry_after_secs: 1,
    }));
    mock.push_reply(MockReply::text("after the pause too"));
    let r = anthropic_with(
        &server,
        "t",
        "api_key",
        "create",
        json!({"model": "metered-a",
        "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}),
        2,
    )
    .await;
    assert_eq!(
        r["response"]["content"][0]["text"], "after the pause too",
        "{r}"
    );
    assert!(
        r["elapsed"].as_f64().unwrap() >= 1.0,
        "retry-after honoured: {r}"
    );
    assert_eq!(mock.request_count(), 4);

    // Without retries the caller sees the 429 and its retry-after.
    mock.push_reply(MockReply::failing(Fault::RateLimited {
        retry_after_secs: 7,
    }));
    let r = openai(
        &server,
        "t",
        "chat",
        json!({"model": "metered",
        "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r["status"], 429, "{r}");
    assert_eq!(r["headers"]["retry-after"], "7");
    assert_eq!(r["body"]["type"], "rate_limit_error");
}

#[tokio::test(flavor = "multi_thread")]
async fn our_limits_are_a_429_with_retry_after_in_both_shapes() {
    let mock = MockProvider::start().await.unwrap();
    let server = spawn(&config(&mock, "", ""), &["--max-rpm", "1"]);
    let chat = r#"{"model": "metered", "messages": [{"role": "user", "content": "hi"}]}"#;
    let (status, _, body) = post(&server, "/v1/chat/completions", &[], chat).await;
    assert_eq!(status, 200, "{body}");
    let (status, headers, body) = post(&server, "/v1/chat/completions", &[], chat).await;
    assert_eq!(status, 429, "{body}");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "retry-after {wait}");
    let v = json(&body);
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("requests per minute"),
        "{v}"
    );
    let msg = r#"{"model": "metered-a", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}"#;
    let (status, headers, body) = post(&server, "/v1/messages", &ANTHROPIC, msg).await;
    assert_eq!(status, 429, "{body}");
    assert!(headers.contains_key("retry-after"));
    assert_eq!(json(&body)["error"]["type"], "rate_limit_error");
    assert_eq!(mock.request_count(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_overload_and_stream_failures_are_the_formats_own_errors() {
    let mock = MockProvider::start().await.unwrap();
    let server = spawn(&config(&mock, "", ""), &[]);
    mock.push_reply(MockReply::failing(Fault::Overloaded));
    let msg = r#"{"model": "metered-a", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}"#;
    let (status, _, body) = post(&server, "/v1/messages", &ANTHROPIC, msg).await;
    assert_eq!(status, 529, "{body}");
    assert_eq!(json(&body)["error"]["type"], "overloaded_error");
    mock.push_reply(MockReply::failing(Fault::Overloaded));
    let chat = r#"{"model": "metered", "messages": [{"role": "user", "content": "hi"}]}"#;
    let (status, _, body) = post(&server, "/v1/chat/completions", &[], chat).await;
    assert_eq!(status, 503, "{body}");

    // A provider error event mid-stream is forwarded; a cut connection becomes our error event.
    mock.push_reply(
        MockReply::text("one two three four").fault(Fault::ErrorEventMidStream { after_chunks: 1 }),
    );
    let smsg = r#"{"model": "metered-a", "max_tokens": 5, "stream": true, "messages": [{"role": "user", "content": "hi"}]}"#;
    let (status, _, body) = post(&server, "/v1/messages", &ANTHROPIC, smsg).await;
    assert_eq!(status, 200);
    assert!(body.contains("event: error"), "{body}");
    assert!(!body.contains("message_stop"), "{body}");
    mock.push_reply(
        MockReply::text("one two three four").fault(Fault::ResetMidStream { after_chunks: 1 }),
    );
    let schat =
        r#"{"model": "metered", "stream": true, "messages": [{"role": "user", "content": "hi"}]}"#;
    let (status, _, body) = post(&server, "/v1/chat/completions", &[], schat).await;
    assert_eq!(status, 200);
    let last = body.trim_end().lines().last().unwrap();
    let err = json(last.strip_prefix("data: ").unwrap());
    assert!(err["error"]["message"].is_string(), "{body}");
    assert!(
        !body.contains("[DONE]"),
        "never a truncated success: {body}"
    );
    // The same across formats: the Anthropic stream's error becomes an OpenAI error chunk.
    mock.push_reply(
        MockReply::text("one two three four").fault(Fault::ResetMidStream { after_chunks: 1 }),
    );
    let cross = r#"{"model": "metered-a", "stream": true, "messages": [{"role": "user", "content": "hi"}]}"#;
    let (_, _, body) = post(&server, "/v1/chat/completions", &[], cross).await;
    assert!(!body.contains("[DONE]"), "{body}");
    assert!(
        body.trim_end()
            .lines()
            .last()
            .unwrap()
            .contains("\"error\""),
        "{body}"
    );
}
