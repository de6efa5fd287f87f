//! Anthropic Messages API (`POST /v1/messages`), JSON and SSE.
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::http::{error_body, send_with_retry, status_error, transport_error, RetryPolicy};
use crate::provider::{Completion, CompletionRequest, Provider, ProviderStream, StreamEvent};
use crate::sse::{event_stream, SseEvent, Step};
use crate::{ProviderError, Secret, Usage};

/// API version header value sent on every call.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";
/// Name of the forced tool used for structured output.
const SCHEMA_TOOL: &str = "respond";

/// A client for one Anthropic endpoint.
#[derive(Debug)]
pub struct AnthropicProvider {
    client: reqwest::Client,
    url: String,
    api_key: Option<Secret>,
    retry: RetryPolicy,
}

impl AnthropicProvider {
    /// `base_url` without `/v1` (e.g. `https://api.anthropic.com`).
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        api_key: Option<Secret>,
        retry: RetryPolicy,
    ) -> Self {
        let base = base_url.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base);
        AnthropicProvider {
            client,
            url: format!("{base}/v1/messages"),
            api_key,
            retry,
        }
    }

    fn body(&self, req: &CompletionRequest, stream: bool) -> Value {
        let user: Vec<Value> = req
            .user
            .iter()
            .map(|t| json!({"type": "text", "text": t}))
            .collect();
        let mut body = json!({
            "model": req.model,
            "max_tokens": req.max_output_tokens,
            "messages": [{"role": "user", "content": user}],
        });
        if !req.system.is_empty() {
            let system: Vec<Value> = req
                .system
                .iter()
                .map(|t| json!({"type": "text", "text": t}))
                .collect();
            body["system"] = Value::Array(system);
        }
        if let Some(schema) = &req.schema {
            body["tools"] = json!([{
                "name": SCHEMA_TOOL,
                "description": "Respond with a JSON object that matches the input schema.",
                "input_schema": schema.as_ref(),
            }]);
            body["tool_choice"] = json!({"type": "tool", "name": SCHEMA_TOOL});
        }
        if stream {
            body["stream"] = Value::Bool(true);
        }
        body
    }

    async fn send(
        &self,
        req: &CompletionRequest,
        stream: bool,
    ) -> Result<(reqwest::Response, u32), ProviderError> {
        let body = Arc::new(serde_json::to_vec(&self.body(req, stream)).map_err(|e| {
            ProviderError::Protocol {
                message: format!("cannot encode request: {e}"),
            }
        })?);
        send_with_retry(&self.retry, || {
            let mut rb = self
                .client
                .post(&self.url)
                .header("anthropic-version", ANTHROPIC_VERSION)
                .header("content-type", "application/json")
                .body(body.as_ref().clone());
            if let Some(key) = &self.api_key {
                rb = rb.header("x-api-key", key.expose());
            }
            async move {
                let resp = rb.send().await.map_err(transport_error)?;
                if resp.status().is_success() {
                    return Ok(resp);
                }
                let status = resp.status();
                let headers = resp.headers().clone();
                let text = error_body(resp).await;
                Err(classify(status, &headers, &text))
            }
        })
        .await
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
        },
        "rate_limit_error" => ProviderError::RateLimited {
            retry_after: None,
            message,
        },
        "authentication_error" | "permission_error" => ProviderError::Auth {
            status: 401,
            message,
        },
        _ => ProviderError::Protocol { message },
    }
}

/// Decodes one Anthropic SSE event.
fn decode_event(ev: &SseEvent) -> Step {
    match ev.event.as_str() {
        "ping" | "content_block_stop" | "content_block_start" => return Step::Skip,
        "message_stop" => return Step::Finish,
        "error" => return Step::Fail(stream_error(&ev.data)),
        _ => {}
    }
    let v: Value = match serde_json::from_str(&ev.data) {
        Ok(v) => v,
        Err(e) => {
            return Step::Fail(ProviderError::Protocol {
                message: format!("malformed stream event `{}`: {e}", ev.event),
            })
        }
    };
    match ev.event.as_str() {
        "message_start" => Step::Emit(StreamEvent::Usage(usage_from(&v["message"]["usage"]))),
        // message_delta usage is cumulative: it replaces, never adds to, what came before.
        "message_delta" => Step::Emit(StreamEvent::Usage(usage_from(&v["usage"]))),
        "content_block_delta" => {
            let d = &v["delta"];
            match d["text"].as_str().or(d["partial_json"].as_str()) {
                Some(p) if !p.is_empty() => Step::Emit(StreamEvent::Text(p.to_owned())),
                _ => Step::Skip,
            }
        }
        _ => Step::Skip,
    }
}

fn usage_from(v: &Value) -> Usage {
    let n = |k: &str| v[k].as_u64().map(|x| x.min(u64::from(u32::MAX)) as u32);
    Usage {
        input_tokens: n("input_tokens"),
        output_tokens: n("output_tokens"),
        cache_write_tokens: n("cache_creation_input_tokens"),
        cache_read_tokens: n("cache_read_input_tokens"),
    }
}

fn parse_message(body: &[u8]) -> Result<(String, Usage), ProviderError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ProviderError::Protocol {
        message: format!("response is not valid JSON: {e}"),
    })?;
    let blocks = v["content"]
        .as_array()
        .ok_or_else(|| ProviderError::Protocol {
            message: "response has no `content` array".into(),
        })?;
    let mut text = String::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => text.push_str(&block["input"].to_string()),
            _ => {}
        }
    }
    Ok((text, usage_from(&v["usage"])))
}

impl Provider for AnthropicProvider {
    fn complete<'a>(
        &'a self,
        request: &'a CompletionRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let (resp, retry_count) = self.send(request, false).await?;
            let bytes = resp.bytes().await.map_err(transport_error)?;
            let (text, usage) = parse_message(&bytes)?;
            Ok(Completion {
                text,
                usage,
                retry_count,
            })
        })
    }

    fn stream<'a>(
        &'a self,
        request: &'a CompletionRequest,
    ) -> BoxFuture<'a, Result<ProviderStream, ProviderError>> {
        Box::pin(async move {
            let (resp, retry_count) = self.send(request, true).await?;
            let events = event_stream(resp, decode_event, "stream ended before message_stop");
            Ok(ProviderStream {
                events,
                retry_count,
            })
        })
    }
}
