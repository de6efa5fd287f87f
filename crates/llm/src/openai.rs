//! OpenAI Chat Completions (`POST {base}/chat/completions`) and OpenAI-compatible servers
//! (Ollama, vLLM, llama.cpp, OpenRouter), JSON and SSE.
use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::http::{status_error, Endpoint, HttpClient, RetryPolicy};
use crate::provider::{CompletionRequest, StreamEvent};
use crate::sse::{SseEvent, Step};
use crate::wire::{from_json, to_json, HttpProvider, Wire};
use crate::{ProviderError, Secret, Usage};

/// The Chat Completions wire format.
#[derive(Debug, Default)]
pub struct OpenAi {
    /// OpenAI proper takes `max_completion_tokens`; compatible servers mostly only `max_tokens`.
    compatible: bool,
}

/// A client for one OpenAI or OpenAI-compatible endpoint.
pub type OpenAiProvider = HttpProvider<OpenAi>;

impl HttpProvider<OpenAi> {
    /// `base_url` including the version path (e.g. `https://api.openai.com/v1`).
    pub fn openai(
        client: HttpClient,
        base_url: &str,
        api_key: Option<&Secret>,
        retry: RetryPolicy,
        compatible: bool,
    ) -> Result<Self, ProviderError> {
        let bearer = api_key.map(|k| format!("Bearer {}", k.expose()));
        let headers: Vec<(&'static str, &str)> = bearer
            .as_deref()
            .map(|b| ("authorization", b))
            .into_iter()
            .collect();
        let url = format!("{}/chat/completions", base_url.trim_end_matches('/'));
        Ok(HttpProvider {
            endpoint: Endpoint::new(client, url, &headers, retry, classify)?,
            wire: OpenAi { compatible },
        })
    }
}

#[derive(Serialize)]
struct Part<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Content<'a> {
    Text(&'a str),
    Parts(Vec<Part<'a>>),
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: Content<'a>,
}

#[derive(Serialize)]
struct JsonSchemaFormat<'a> {
    name: &'static str,
    schema: &'a Value,
    strict: bool,
}

#[derive(Serialize)]
struct ResponseFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    json_schema: JsonSchemaFormat<'a>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<ResponseFormat<'a>>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct CachedDetails {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct UsageJson {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
    prompt_tokens_details: Option<CachedDetails>,
}

/// The usage of an answer or stream event in this format (its `usage` object), if it has one.
pub(crate) fn usage_of(usage: &Value) -> Option<Usage> {
    UsageJson::deserialize(usage).ok().map(|u| Usage::from(&u))
}

impl From<&UsageJson> for Usage {
    fn from(u: &UsageJson) -> Self {
        let n = |x: Option<u64>| x.map(|x| x.min(u64::from(u32::MAX)) as u32);
        let cached = n(u
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens));
        // OpenAI's prompt_tokens include cached ones; ours count uncached input separately.
        Usage {
            input_tokens: n(u.prompt_tokens).map(|p| p.saturating_sub(cached.unwrap_or(0))),
            output_tokens: n(u.completion_tokens),
            cache_write_tokens: None,
            cache_read_tokens: cached,
        }
    }
}

#[derive(Deserialize)]
struct AnswerMessage<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    refusal: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow)]
    message: Option<AnswerMessage<'a>>,
}

#[derive(Deserialize)]
struct ChatResponse<'a> {
    #[serde(borrow)]
    choices: Vec<Choice<'a>>,
    usage: Option<UsageJson>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ChunkChoice<'a> {
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow, default)]
    choices: Vec<ChunkChoice<'a>>,
    #[serde(default)]
    usage: Option<UsageJson>,
    #[serde(default)]
    error: Option<Value>,
}

impl Wire for OpenAi {
    const UNFINISHED: &'static str = "stream ended before [DONE]";

    fn encode(&self, req: &CompletionRequest, stream: bool) -> Result<Vec<u8>, ProviderError> {
        let mut messages: Vec<Message<'_>> = req
            .system
            .iter()
            .map(|t| Message {
                role: "system",
                content: Content::Text(t),
            })
            .collect();
        messages.push(Message {
            role: "user",
            content: Content::Parts(
                req.user
                    .iter()
                    .map(|t| Part {
                        kind: "text",
                        text: t,
                    })
                    .collect(),
            ),
        });
        let cap = Some(req.max_output_tokens);
        to_json(&ChatRequest {
            model: &req.model,
            messages,
            max_completion_tokens: cap.filter(|_| !self.compatible),
            max_tokens: cap.filter(|_| self.compatible),
            response_format: req.schema.as_deref().map(|schema| ResponseFormat {
                kind: "json_schema",
                json_schema: JsonSchemaFormat {
                    name: "response",
                    schema,
                    strict: false,
                },
            }),
            stream,
            // Without this, OpenAI streams report no usage at all.
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
            }),
        })
    }

    fn parse(&self, body: &[u8]) -> Result<(String, Usage), ProviderError> {
        let resp: ChatResponse<'_> = from_json(body)?;
        let Some(msg) = resp.choices.into_iter().next().and_then(|c| c.message) else {
            return Err(ProviderError::Protocol {
                message: "response has no choices[0].message".into(),
                detail: None,
            });
        };
        if let Some(refusal) = msg.refusal {
            return Err(ProviderError::BadRequest {
                status: 200,
                message: format!("model refused: {refusal}"),
            });
        }
        let text = msg.content.map(Cow::into_owned).unwrap_or_default();
        Ok((
            text,
            resp.usage.as_ref().map(Usage::from).unwrap_or_default(),
        ))
    }

    fn decode_event(ev: &SseEvent) -> Step {
        let data = ev.data.trim();
        if data == "[DONE]" {
            return Step::Finish;
        }
        if data.is_empty() {
            return Step::Skip;
        }
        let chunk: Chunk<'_> = match serde_json::from_str(data) {
            Ok(c) => c,
            Err(e) => {
                return Step::Fail(ProviderError::Protocol {
                    message: format!("malformed stream chunk: {e}"),
                    detail: None,
                })
            }
        };
        if let Some(err) = chunk.error {
            let message = err["message"].as_str().unwrap_or(data).to_owned();
            return Step::Fail(ProviderError::Unavailable {
                status: None,
                message: format!("error mid-stream: {message}"),
                detail: None,
            });
        }
        let piece = chunk
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.delta)
            .and_then(|d| d.content);
        // Some compatible servers (vLLM, llama.cpp) send usage on the last content chunk: keep both.
        let text = piece
            .filter(|p| !p.is_empty())
            .map(|p| StreamEvent::Text(p.into_owned()));
        let usage = chunk.usage.map(|u| StreamEvent::Usage(Usage::from(&u)));
        match (text, usage) {
            (Some(text), Some(usage)) => Step::EmitTwo(text, usage),
            (Some(one), None) | (None, Some(one)) => Step::Emit(one),
            (None, None) => Step::Skip,
        }
    }
}

/// Maps an OpenAI error response onto a provider error.
fn classify(
    status: reqwest::StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &str,
) -> ProviderError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let err = parsed.as_ref().map(|v| &v["error"]);
    let message = err
        .and_then(|e| e["message"].as_str())
        .unwrap_or(body)
        .to_owned();
    let code = err.and_then(|e| e["code"].as_str()).unwrap_or_default();
    let too_long = code == "context_length_exceeded"
        || message.contains("maximum context length")
        || status.as_u16() == 413;
    status_error(status, headers, message, too_long)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn compatible_servers_get_max_tokens_and_streams_ask_for_usage() {
        let req = CompletionRequest {
            model: "m".into(),
            system: vec!["s".into()],
            user: vec!["u1".into(), "u2".into()],
            schema: None,
            max_output_tokens: 50,
        };
        let official: Value =
            serde_json::from_slice(&OpenAi { compatible: false }.encode(&req, true).unwrap())
                .unwrap();
        assert_eq!(official["max_completion_tokens"], 50);
        assert!(official.get("max_tokens").is_none());
        assert_eq!(official["stream_options"]["include_usage"], true);
        assert_eq!(official["messages"][0]["content"], "s");
        assert_eq!(official["messages"][1]["content"][1]["text"], "u2");
        let compat: Value =
            serde_json::from_slice(&OpenAi { compatible: true }.encode(&req, false).unwrap())
                .unwrap();
        assert_eq!(compat["max_tokens"], 50);
        assert!(compat.get("stream").is_none());
    }

    fn decode_sse(body: &str, split: usize) -> Vec<Result<StreamEvent, ProviderError>> {
        crate::sse::decode_all::<OpenAi>(body.as_bytes(), split)
    }

    #[test]
    fn a_chunk_with_text_and_usage_yields_both() {
        // vLLM and llama.cpp put usage on the last content chunk.
        let body = concat!(
            "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n",
            "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}],",
            "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":2}}\n\n",
            "data: [DONE]\n\n",
        );
        for split in [1, 7, body.len()] {
            let events: Vec<StreamEvent> = decode_sse(body, split)
                .into_iter()
                .map(|e| e.unwrap())
                .collect();
            let usage = Usage {
                input_tokens: Some(7),
                output_tokens: Some(2),
                ..Default::default()
            };
            assert_eq!(
                events,
                [
                    StreamEvent::Text("Hel".into()),
                    StreamEvent::Text("lo".into()),
                    StreamEvent::Usage(usage),
                ],
                "split {split}"
            );
        }
    }

    #[test]
    fn cached_tokens_are_split_out_of_prompt_tokens() {
        let body = br#"{"choices":[{"message":{"role":"assistant","content":"hi \"there\""}}],"usage":{"prompt_tokens":100,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":60}}}"#;
        let (text, u) = OpenAi::default().parse(body).unwrap();
        assert_eq!(text, "hi \"there\"");
        assert_eq!(u.input_tokens, Some(40));
        assert_eq!(u.cache_read_tokens, Some(60));
        assert_eq!(u.prompt_tokens(), Some(100));
    }

    fn event(name: &str, data: &str) -> SseEvent {
        SseEvent {
            event: name.to_owned(),
            data: data.to_owned(),
            id: String::new(),
            retry: None,
        }
    }

    const CHUNK: &str = r#"{"choices":[{"delta":{"content":"hi"}}],"usage":{"prompt_tokens":3,"completion_tokens":1}}"#;
    const ANSWER: &str =
        r#"{"choices":[{"message":{"content":"hi"}}],"usage":{"prompt_tokens":3}}"#;

    proptest::proptest! {
        #[test]
        fn stream_chunks_never_panic_and_non_json_is_a_typed_error(data in ".*", name in ".*") {
            let step = OpenAi::decode_event(&event(&name, &data));
            let trimmed = data.trim();
            if trimmed != "[DONE]" && !trimmed.is_empty()
                && serde_json::from_str::<Value>(trimmed).is_err()
            {
                proptest::prop_assert!(
                    matches!(step, Step::Fail(ProviderError::Protocol { .. })),
                    "{data:?}"
                );
            }
        }

        #[test]
        fn truncated_stream_chunks_are_typed_errors(cut in 1usize..CHUNK.len()) {
            let step = OpenAi::decode_event(&event("", &CHUNK[..cut]));
            proptest::prop_assert!(
                matches!(step, Step::Fail(ProviderError::Protocol { .. })),
                "cut at {}", cut
            );
        }

        #[test]
        fn answers_never_panic_and_garbage_is_a_typed_error(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let parsed = OpenAi::default().parse(&body);
            if serde_json::from_slice::<Value>(&body).is_err() {
                proptest::prop_assert!(
                    matches!(parsed, Err(ProviderError::Protocol { .. })),
                    "{parsed:?}"
                );
            }
        }

        #[test]
        fn truncated_answers_are_typed_errors(cut in 0usize..ANSWER.len()) {
            let parsed = OpenAi::default().parse(&ANSWER.as_bytes()[..cut]);
            proptest::prop_assert!(
                matches!(parsed, Err(ProviderError::Protocol { .. })),
                "cut at {}: {:?}", cut, parsed
            );
        }

        #[test]
        fn error_bodies_never_panic(status in 400u16..600, body in ".*") {
            let status = reqwest::StatusCode::from_u16(status).unwrap();
            let err = classify(status, &reqwest::header::HeaderMap::new(), &body);
            proptest::prop_assert!(!err.is_retryable() || status.as_u16() == 429 || status.as_u16() >= 500 || status.as_u16() == 408);
        }
    }
}
