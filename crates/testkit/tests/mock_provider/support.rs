//! Helpers shared by the mock provider tests.

use serde_json::{json, Value};
use vibectl_testkit::MockProvider;

/// A client that never goes through a proxy from the environment.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A started mock.
pub async fn mock() -> MockProvider {
    MockProvider::start().await.unwrap()
}

/// An OpenAI chat completions request.
pub fn openai(m: &MockProvider, c: &reqwest::Client, body: Value) -> reqwest::RequestBuilder {
    c.post(format!("{}/chat/completions", m.openai_base_url()))
        .bearer_auth("test-key")
        .json(&body)
}

/// An Anthropic messages request.
pub fn anthropic(m: &MockProvider, c: &reqwest::Client, body: Value) -> reqwest::RequestBuilder {
    c.post(format!("{}/v1/messages", m.anthropic_base_url()))
        .header("x-api-key", "test-key")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
}

/// A minimal OpenAI request body.
pub fn oa_body(stream: bool) -> Value {
    json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": stream})
}

/// A minimal Anthropic request body.
pub fn an_body(stream: bool) -> Value {
    json!({"model": "claude-sonnet-4", "max_tokens": 100, "stream": stream,
           "messages": [{"role": "user", "content": "hi"}]})
}

/// One parsed SSE event: (event name or "", raw data).
pub type Event = (String, String);

/// Parses a complete SSE body into events.
pub fn parse_sse(text: &str) -> Vec<Event> {
    assert!(
        text.ends_with("\n\n"),
        "SSE body must end with a blank line: {text:?}"
    );
    text.split("\n\n")
        .filter(|b| !b.is_empty())
        .map(|block| {
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(n) = line.strip_prefix("event: ") {
                    name = n.to_owned();
                } else if let Some(d) = line.strip_prefix("data: ") {
                    data = d.to_owned();
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            (name, data)
        })
        .collect()
}

/// The JSON data of an event.
pub fn data(e: &Event) -> Value {
    serde_json::from_str(&e.1).unwrap_or_else(|err| panic!("bad JSON {:?}: {err}", e.1))
}
