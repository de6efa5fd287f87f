//! Anthropic Messages API (`POST /v1/messages`), JSON and SSE.
use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::{status_error, Endpoint, HttpClient, RetryPolicy};
use crate::provider::{CompletionRequest, StreamEvent};
use crate::sse::{SseEvent, Step};
use crate::wire::{from_json, to_json, HttpProvider, Wire};
use crate::{ProviderError, Secret, Usage};

/// API version header value sent on every call.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Name of the forced tool used for structured output.
const SCHEMA_TOOL: &str = "respond";

/// The Anthropic Messages wire format.
#[derive(Debug, Default)]
pub struct Anthropic;

/// A client for one Anthropic endpoint.
pub type AnthropicProvider = HttpProvider<Anthropic>;

impl HttpProvider<Anthropic> {
    /// `base_url` with or without `/v1` (e.g. `https://api.anthropic.com`).
    pub fn anthropic(
        client: HttpClient,
        base_url: &str,
        api_key: Option<&Secret>,
        retry: RetryPolicy,
    ) -> Result<Self, ProviderError> {
        Ok(HttpProvider {
            endpoint: endpoint(client, base_url, "/v1/messages", api_key, retry)?,
            wire: Anthropic,
        })
    }
}

/// The endpoint at `path` (e.g. `/v1/messages/count_tokens`) of the Anthropic API at
/// `base_url` (with or without `/v1`), with the key and version headers.
pub(crate) fn endpoint(
    client: HttpClient,
    base_url: &str,
    path: &str,
    api_key: Option<&Secret>,
    retry: RetryPolicy,
) -> Result<Endpoint, ProviderError> {
    let base = base_url.trim_end_matches('/');
    let base = base.strip_suffix("/v1").unwrap_or(base);
    let mut headers = vec![("anthropic-version", ANTHROPIC_VERSION)];
    if let Some(key) = api_key {
        headers.push(("x-api-key", key.expose()));
    }
    Endpoint::new(client, format!("{base}{path}"), &headers, retry, classify)
}

#[derive(Serialize)]
struct TextBlock<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

fn text_blocks(parts: &[String]) -> Vec<TextBlock<'_>> {
    parts
        .iter()
        .map(|t| TextBlock {
            kind: "text",
            text: t,
        })
        .collect()
}

#[derive(Serialize)]
struct UserTurn<'a> {
    role: &'static str,
    content: Vec<TextBlock<'a>>,
}

#[derive(Serialize)]
struct Tool<'a> {
    name: &'static str,
    description: &'static str,
    input_schema: &'a Value,
}

#[derive(Serialize)]
struct ToolChoice {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'static str,
}

#[derive(Serialize)]
struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    messages: [UserTurn<'a>; 1],
    #[serde(skip_serializing_if = "Vec::is_empty")]
    system: Vec<TextBlock<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<[Tool<'a>; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<ToolChoice>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
}

#[derive(Deserialize, Default)]
struct UsageJson {
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_creation_input_tokens: Option<u64>,
    cache_read_input_tokens: Option<u64>,
}

/// The usage of an answer or stream event in this format (its `usage` object), if it has one.
pub(crate) fn usage_of(usage: &Value) -> Option<Usage> {
    UsageJson::deserialize(usage).ok().map(|u| Usage::from(&u))
}

impl From<&UsageJson> for Usage {
    fn from(u: &UsageJson) -> Self {
        let n = |x: Option<u64>| x.map(|x| x.min(u64::from(u32::MAX)) as u32);
        Usage {
            input_tokens: n(u.input_tokens),
            output_tokens: n(u.output_tokens),
            cache_write_tokens: n(u.cache_creation_input_tokens),
            cache_read_tokens: n(u.cache_read_input_tokens),
        }
    }
}

#[derive(Deserialize)]
struct Block<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(default)]
    input: Option<Value>,
}

#[derive(Deserialize)]
struct MessagesResponse<'a> {
    #[serde(borrow)]
    content: Vec<Block<'a>>,
    #[serde(default)]
    usage: UsageJson,
}

impl Wire for Anthropic {
    const UNFINISHED: &'static str = "stream ended before message_stop";

    fn encode(&self, req: &CompletionRequest, stream: bool) -> Result<Vec<u8>, ProviderError> {
        let schema = req.schema.as_deref();
        to_json(&MessagesRequest {
            model: &req.model,
            max_tokens: req.max_output_tokens,
            messages: [UserTurn {
                role: "user",
                content: text_blocks(&req.user),
            }],
            system: text_blocks(&req.system),
            tools: schema.map(|s| {
                [Tool {
                    name: SCHEMA_TOOL,
                    description: "Respond with a JSON object that matches the input schema.",
                    input_schema: s,
                }]
            }),
            tool_choice: schema.map(|_| ToolChoice {
                kind: "tool",
                name: SCHEMA_TOOL,
            }),
            stream,
        })
    }

    fn parse(&self, body: &[u8]) -> Result<(String, Usage), ProviderError> {
        let msg: MessagesResponse<'_> = from_json(body)?;
        let mut text = String::new();
        for block in &msg.content {
            match block.kind.as_ref() {
                "text" => text.push_str(block.text.as_deref().unwrap_or_default()),
                "tool_use" => match &block.input {
                    Some(input) => text.push_str(&input.to_string()),
                    None => text.push_str("{}"),
                },
                _ => {}
            }
        }
        Ok((text, Usage::from(&msg.usage)))
    }

    fn decode_event(ev: &SseEvent) -> Step {
        #[derive(Deserialize)]
        struct Delta<'a> {
            #[serde(borrow, default)]
            text: Option<Cow<'a, str>>,
            #[serde(borrow, default)]
            partial_json: Option<Cow<'a, str>>,
        }
        #[derive(Deserialize)]
        struct StartMessage {
            #[serde(default)]
            usage: UsageJson,
        }
        #[derive(Deserialize)]
        struct Event<'a> {
            #[serde(default)]
            message: Option<StartMessage>,
            #[serde(default)]
            usage: Option<UsageJson>,
            #[serde(borrow, default)]
            delta: Option<Delta<'a>>,
        }
        match ev.event.as_str() {
            "ping" | "content_block_stop" | "content_block_start" => return Step::Skip,
            "message_stop" => return Step::Finish,
            "error" => return Step::Fail(stream_error(&ev.data)),
            "message_start" | "message_delta" | "content_block_delta" => {}
            _ => return Step::Skip,
        }
        let v: Event<'_> = match serde_json::from_str(&ev.data) {
            Ok(v) => v,
            Err(e) => {
                return Step::Fail(ProviderError::Protocol {
                    message: format!("malformed stream event `{}`: {e}", ev.event),
                    detail: None,
                })
            }
        };
        match ev.event.as_str() {
            "message_start" => {
                let usage = v.message.map(|m| Usage::from(&m.usage)).unwrap_or_default();
                Step::Emit(StreamEvent::Usage(usage))
            }
            // message_delta usage is cumulative: it replaces, never adds to, what came before.
            "message_delta" => Step::Emit(StreamEvent::Usage(
                v.usage.as_ref().map(Usage::from).unwrap_or_default(),
            )),
            _ => match v.delta.and_then(|d| d.text.or(d.partial_json)) {
                Some(p) if !p.is_empty() => Step::Emit(StreamEvent::Text(p.into_owned())),
                _ => Step::Skip,
            },
        }
    }
}

/// Maps an Anthropic error response onto a provider error.
fn classify(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| v["error"]["message"].as_str())
        .unwrap_or(body)
        .to_owned();
    let lower = message.to_ascii_lowercase();
    let too_long = status.as_u16() == 413
        || lower.contains("prompt is too long")
        || lower.contains("context window")
        || lower.contains("context length");
    status_error(status, headers, message, too_long)
}

/// Maps an in-stream `error` event onto a provider error.
fn stream_error(data: &str) -> ProviderError {
    let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    let kind = v["error"]["type"].as_str().unwrap_or("api_error");
    let message = v["error"]["message"].as_str().unwrap_or(data).to_owned();
    match kind {
        "overloaded_error" | "api_error" => ProviderError::Unavailable {
            status: None,
            message: format!("{kind} mid-stream: {message}"),
            detail: None,
        },
        "rate_limit_error" => ProviderError::RateLimited {
            retry_after: None,
            message,
        },
        "authentication_error" | "permission_error" => ProviderError::Auth {
            status: 401,
            message,
        },
        _ => ProviderError::Protocol {
            message,
            detail: None,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;

    use super::*;

    #[test]
    fn request_keeps_roles_and_fragments_apart() {
        let req = CompletionRequest {
            model: "claude-x".into(),
            system: vec!["s1".into(), "s2".into()],
            user: vec!["u1".into(), "u2".into()],
            schema: Some(Arc::new(serde_json::json!({"type": "object"}))),
            max_output_tokens: 100,
        };
        let v: Value = serde_json::from_slice(&Anthropic.encode(&req, true).unwrap()).unwrap();
        assert_eq!(v["system"][1]["text"], "s2");
        assert_eq!(v["messages"][0]["content"][1]["text"], "u2");
        assert_eq!(v["tool_choice"]["name"], "respond");
        assert_eq!(v["tools"][0]["input_schema"]["type"], "object");
        assert_eq!(v["stream"], true);
        assert_eq!(v["max_tokens"], 100);
    }

    #[test]
    fn tool_use_input_becomes_the_text() {
        let body = br#"{"content":[{"type":"tool_use","id":"t","name":"respond","input":{"a":1}}],"usage":{"input_tokens":3,"output_tokens":4}}"#;
        let (text, usage) = Anthropic.parse(body).unwrap();
        assert_eq!(text, r#"{"a":1}"#);
        assert_eq!(usage.output_tokens, Some(4));
    }

    fn event(name: &str, data: &str) -> SseEvent {
        SseEvent {
            event: name.to_owned(),
            data: data.to_owned(),
            id: String::new(),
            retry: None,
        }
    }

    /// Events whose data is parsed, with a well-formed sample of each.
    const PARSED: [(&str, &str); 3] = [
        (
            "message_start",
            r#"{"type":"message_start","message":{"usage":{"input_tokens":5,"output_tokens":1}}}"#,
        ),
        (
            "message_delta",
            r#"{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":9}}"#,
        ),
        (
            "content_block_delta",
            r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}}"#,
        ),
    ];
    const ANSWER: &str =
        r#"{"content":[{"type":"text","text":"hi"}],"usage":{"input_tokens":3,"output_tokens":4}}"#;

    proptest::proptest! {
        #[test]
        fn stream_events_never_panic(
            name in "(message_start|message_delta|content_block_delta|message_stop|error|ping|content_block_start|[a-z_]{0,12})",
            data in ".*",
        ) {
            let step = Anthropic::decode_event(&event(&name, &data));
            let parsed = PARSED.iter().any(|(n, _)| *n == name);
            if parsed && serde_json::from_str::<Value>(&data).is_err() {
                proptest::prop_assert!(
                    matches!(step, Step::Fail(ProviderError::Protocol { .. })),
                    "{name} {data:?}"
                );
            }
        }

        #[test]
        fn truncated_stream_events_are_typed_errors(which in 0usize..3, cut in proptest::prelude::any::<proptest::sample::Index>()) {
            let (name, data) = PARSED[which];
            let data = &data[..cut.index(data.len())];
            let step = Anthropic::decode_event(&event(name, data));
            proptest::prop_assert!(matches!(step, Step::Fail(ProviderError::Protocol { .. })), "{name} {data:?}");
        }

        #[test]
        fn answers_never_panic_and_garbage_is_a_typed_error(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let parsed = Anthropic.parse(&body);
            if serde_json::from_slice::<Value>(&body).is_err() {
                proptest::prop_assert!(
                    matches!(parsed, Err(ProviderError::Protocol { .. })),
                    "{parsed:?}"
                );
            }
        }

        #[test]
        fn truncated_answers_are_typed_errors(cut in 0usize..ANSWER.len()) {
            let parsed = Anthropic.parse(&ANSWER.as_bytes()[..cut]);
            proptest::prop_assert!(
                matches!(parsed, Err(ProviderError::Protocol { .. })),
                "cut at {}: {:?}", cut, parsed
            );
        }

        #[test]
        fn error_bodies_and_error_events_never_panic(status in 400u16..600, body in ".*") {
            let status = reqwest::StatusCode::from_u16(status).unwrap();
            let _ = classify(status, &reqwest::header::HeaderMap::new(), &body);
            let _ = stream_error(&body);
        }
    }
}
