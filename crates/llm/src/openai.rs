//! OpenAI Chat Completions (`POST {base}/chat/completions`) and OpenAI-compatible servers
//! (Ollama, vLLM, llama.cpp, OpenRouter), JSON and SSE.
use std::sync::Arc;

use futures::future::BoxFuture;
use serde_json::{json, Value};

use crate::http::{error_body, send_with_retry, status_error, transport_error, RetryPolicy};
use crate::provider::{Completion, CompletionRequest, Provider, ProviderStream, StreamEvent};
use crate::sse::{event_stream, SseEvent, Step};
use crate::{ProviderError, Secret, Usage};

/// A client for one OpenAI or OpenAI-compatible endpoint.
#[derive(Debug)]
pub struct OpenAiProvider {
    client: reqwest::Client,
    url: String,
    api_key: Option<Secret>,
    retry: RetryPolicy,
    /// OpenAI proper takes `max_completion_tokens`; compatible servers mostly only know `max_tokens`.
    compatible: bool,
}

impl OpenAiProvider {
    /// `base_url` including the version path (e.g. `https://api.openai.com/v1`).
    pub fn new(
        client: reqwest::Client,
        base_url: &str,
        api_key: Option<Secret>,
        retry: RetryPolicy,
        compatible: bool,
    ) -> Self {
        OpenAiProvider {
            client,
            url: format!("{}/chat/completions", base_url.trim_end_matches('/')),
            api_key,
            retry,
            compatible,
        }
    }

    fn body(&self, req: &CompletionRequest, stream: bool) -> Value {
        let mut messages: Vec<Value> = req
            .system
            .iter()
            .map(|t| json!({"role": "system", "content": t}))
            .collect();
        let user: Vec<Value> = req
            .user
            .iter()
            .map(|t| json!({"type": "text", "text": t}))
            .collect();
        messages.push(json!({"role": "user", "content": user}));
        let mut body = json!({"model": req.model, "messages": messages});
        let cap_key = if self.compatible {
            "max_tokens"
        } else {
            "max_completion_tokens"
        };
        body[cap_key] = json!(req.max_output_tokens);
        if let Some(schema) = &req.schema {
            body["response_format"] = json!({
                "type": "json_schema",
                "json_schema": {"name": "response", "schema": schema.as_ref(), "strict": false},
            });
        }
        if stream {
            body["stream"] = Value::Bool(true);
            // Without this, OpenAI streams report no usage at all.
            body["stream_options"] = json!({"include_usage": true});
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
                .header("content-type", "application/json")
                .body(body.as_ref().clone());
            if let Some(key) = &self.api_key {
                rb = rb.bearer_auth(key.expose());
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

fn usage_from(v: &Value) -> Option<Usage> {
    if !v.is_object() {
        return None;
    }
    let n = |x: &Value| x.as_u64().map(|x| x.min(u64::from(u32::MAX)) as u32);
    let prompt = n(&v["prompt_tokens"]);
    let cached = n(&v["prompt_tokens_details"]["cached_tokens"]);
    // OpenAI's prompt_tokens include cached ones; ours count uncached input separately.
    Some(Usage {
        input_tokens: prompt.map(|p| p.saturating_sub(cached.unwrap_or(0))),
        output_tokens: n(&v["completion_tokens"]),
        cache_write_tokens: None,
        cache_read_tokens: cached,
    })
}

fn parse_completion(body: &[u8]) -> Result<(String, Usage), ProviderError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| ProviderError::Protocol {
        message: format!("response is not valid JSON: {e}"),
    })?;
    let msg = &v["choices"][0]["message"];
    if !msg.is_object() {
        return Err(ProviderError::Protocol {
            message: "response has no choices[0].message".into(),
        });
    }
    if let Some(refusal) = msg["refusal"].as_str() {
        return Err(ProviderError::BadRequest {
            status: 200,
            message: format!("model refused: {refusal}"),
        });
    }
    let text = msg["content"].as_str().unwrap_or_default().to_owned();
    Ok((text, usage_from(&v["usage"]).unwrap_or_default()))
}

/// Decodes one OpenAI SSE `data:` line.
fn decode_event(ev: &SseEvent) -> Step {
    let data = ev.data.trim();
    if data == "[DONE]" {
        return Step::Finish;
    }
    if data.is_empty() {
        return Step::Skip;
    }
    let v: Value = match serde_json::from_str(data) {
        Ok(v) => v,
        Err(e) => {
            return Step::Fail(ProviderError::Protocol {
                message: format!("malformed stream chunk: {e}"),
            })
        }
    };
    if v["error"].is_object() {
        let message = v["error"]["message"].as_str().unwrap_or(data).to_owned();
        return Step::Fail(ProviderError::Unavailable {
            status: None,
            message: format!("error mid-stream: {message}"),
        });
    }
    if let Some(piece) = v["choices"][0]["delta"]["content"].as_str() {
        if !piece.is_empty() {
            return Step::Emit(StreamEvent::Text(piece.to_owned()));
        }
    }
    match usage_from(&v["usage"]) {
        Some(u) => Step::Emit(StreamEvent::Usage(u)),
        None => Step::Skip,
    }
}

impl Provider for OpenAiProvider {
    fn complete<'a>(
        &'a self,
        request: &'a CompletionRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let (resp, retry_count) = self.send(request, false).await?;
            let bytes = resp.bytes().await.map_err(transport_error)?;
            let (text, usage) = parse_completion(&bytes)?;
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
            Ok(ProviderStream {
                events: event_stream(resp, decode_event, "stream ended before [DONE]"),
                retry_count,
            })
        })
    }
}
