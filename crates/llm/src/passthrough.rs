//! Raw pass-through calls for the gateway's OpenAI- and Anthropic-compatible HTTP APIs: a JSON
//! body in the provider's own format is posted with the provider's key and base URL (same
//! retries and error classification as [`HttpProvider`](crate::wire::HttpProvider)), the
//! answer is read with a size bound, and usage is read from the answer or the stream for
//! metering. Nothing here re-encodes the body.
use bytes::Bytes;
use futures::stream::BoxStream;
use futures::StreamExt;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::anthropic::{self, Anthropic, AnthropicProvider};
use crate::http::{Endpoint, HttpClient};
use crate::openai::{self, OpenAi, OpenAiProvider};
use crate::provider::StreamEvent;
use crate::registry::{ProviderSettings, WireFormat};
use crate::sse::{SseEvent, Step};
use crate::wire::Wire;
use crate::{ProviderError, Usage};

/// One provider's endpoint for raw JSON bodies in its own wire format.
#[derive(Clone, Debug)]
pub struct RawEndpoint {
    wire: WireFormat,
    endpoint: Endpoint,
    /// Anthropic's `/v1/messages/count_tokens` (other formats have no such endpoint).
    count_tokens: Option<Endpoint>,
}

/// A whole answer of a raw call.
#[derive(Clone, Debug)]
pub struct RawAnswer {
    /// The provider's JSON body, unchanged.
    pub body: Bytes,
    /// Usage read from the body (empty when it has none).
    pub usage: Usage,
    /// Retries needed.
    pub retry_count: u32,
}

/// One server-sent event of a raw stream, as the provider sent it.
#[derive(Debug)]
pub struct RawEvent {
    /// The `event:` name (empty when the provider sent none, as OpenAI does).
    pub event: String,
    /// The `data:` payload.
    pub data: String,
    /// The cumulative usage this event reports, if any.
    pub usage: Option<Usage>,
    /// Whether this is the format's end-of-message marker (`message_stop`, `[DONE]`).
    pub end: bool,
    /// The provider reported a failure in-stream with this event (forward it, then stop).
    pub error: Option<ProviderError>,
}

/// A raw stream: its events, and the retries it took to open it.
pub struct RawStream {
    /// Events in order; ends after the end marker or an error event, or with one `Err`
    /// (transport failure, or the body ended without the end marker).
    pub events: BoxStream<'static, Result<RawEvent, ProviderError>>,
    /// Retries made before the first byte.
    pub retry_count: u32,
}

impl std::fmt::Debug for RawStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawStream")
            .field("retry_count", &self.retry_count)
            .finish_non_exhaustive()
    }
}

impl RawEndpoint {
    /// The endpoint `settings` describe, on the shared `client`.
    pub fn new(settings: &ProviderSettings, client: HttpClient) -> Result<Self, ProviderError> {
        let key = settings.api_key.as_ref();
        let mut count_tokens = None;
        let endpoint = match settings.wire {
            WireFormat::Anthropic => {
                count_tokens = Some(anthropic::endpoint(
                    client.clone(),
                    &settings.base_url,
                    "/v1/messages/count_tokens",
                    key,
                    settings.retry,
                )?);
                AnthropicProvider::anthropic(client, &settings.base_url, key, settings.retry)?
                    .endpoint
            }
            WireFormat::Openai | WireFormat::OpenaiCompatible => {
                OpenAiProvider::openai(
                    client,
                    &settings.base_url,
                    key,
                    settings.retry,
                    settings.wire == WireFormat::OpenaiCompatible,
                )?
                .endpoint
            }
        };
        Ok(RawEndpoint {
            wire: settings.wire,
            endpoint,
            count_tokens,
        })
    }

    /// Whether the provider counts tokens itself (Anthropic's `/v1/messages/count_tokens`).
    pub fn counts_tokens(&self) -> bool {
        self.count_tokens.is_some()
    }

    /// Posts a token-count request (an Anthropic Messages body) to the provider's
    /// `/v1/messages/count_tokens` and returns its answer unchanged, at most `max_bytes` of it.
    pub async fn count_tokens(
        &self,
        body: Bytes,
        extra: &HeaderMap,
        max_bytes: usize,
    ) -> Result<Bytes, ProviderError> {
        let Some(endpoint) = &self.count_tokens else {
            return Err(ProviderError::Protocol {
                message: "this provider has no token-count endpoint".into(),
                detail: None,
            });
        };
        let (resp, _) = endpoint.post_with(body, extra).await?;
        read_bounded(resp, endpoint, max_bytes).await
    }

    /// The format bodies must be in.
    pub fn wire(&self) -> WireFormat {
        self.wire
    }

    /// Posts `body` (with `extra` headers, e.g. `anthropic-beta`) and reads the whole answer,
    /// at most `max_bytes` of it.
    pub async fn complete(
        &self,
        body: Bytes,
        extra: &HeaderMap,
        max_bytes: usize,
    ) -> Result<RawAnswer, ProviderError> {
        let (resp, retry_count) = self.endpoint.post_with(body, extra).await?;
        let body = read_bounded(resp, &self.endpoint, max_bytes).await?;
        let usage = answer_usage(self.wire, &body);
        Ok(RawAnswer {
            body,
            usage,
            retry_count,
        })
    }

    /// Posts `body` (which asks for a stream) and returns its events as they arrive.
    pub async fn stream(&self, body: Bytes, extra: &HeaderMap) -> Result<RawStream, ProviderError> {
        let (resp, retry_count) = self.endpoint.post_with(body, extra).await?;
        let client = self.endpoint.client().clone();
        let (decode, unfinished): (fn(&SseEvent) -> Step, &'static str) = match self.wire {
            WireFormat::Anthropic => (Anthropic::decode_event, Anthropic::UNFINISHED),
            _ => (OpenAi::decode_event, OpenAi::UNFINISHED),
        };
        let sse = crate::sse::bounded_events(resp.bytes_stream());
        let events = futures::stream::unfold(Some(sse), move |state| {
            let client = client.clone();
            async move {
                let mut sse = state?;
                let mut transport = |e| client.transport_error(e);
                let ev = match crate::sse::next_event(&mut sse, &mut transport, unfinished).await {
                    Ok(ev) => ev,
                    Err(err) => return Some((Err(err), None)),
                };
                // `message` is what an unnamed event is called; forward it unnamed, as sent.
                let event = if ev.event == "message" {
                    String::new()
                } else {
                    ev.event.clone()
                };
                let mut raw = RawEvent {
                    event,
                    data: ev.data.clone(),
                    usage: None,
                    end: false,
                    error: None,
                };
                match decode(&ev) {
                    Step::Emit(StreamEvent::Usage(u)) | Step::EmitTwo(_, StreamEvent::Usage(u)) => {
                        raw.usage = Some(u)
                    }
                    Step::Finish => raw.end = true,
                    Step::Fail(e) => raw.error = Some(e),
                    _ => {}
                }
                let next = (!raw.end && raw.error.is_none()).then_some(sse);
                Some((Ok(raw), next))
            }
        })
        .boxed();
        Ok(RawStream {
            events,
            retry_count,
        })
    }
}

/// Reads a whole answer of `endpoint`, refusing one over `max_bytes`.
async fn read_bounded(
    mut resp: reqwest::Response,
    endpoint: &Endpoint,
    max_bytes: usize,
) -> Result<Bytes, ProviderError> {
    let mut buf = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| endpoint.client().transport_error(e))?
    {
        if buf.len() + chunk.len() > max_bytes {
            return Err(ProviderError::Protocol {
                message: format!("the provider's answer is larger than {max_bytes} bytes"),
                detail: None,
            });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(buf))
}

/// The usage a whole answer in format `wire` reports (empty when none or unparseable).
pub fn answer_usage(wire: WireFormat, body: &[u8]) -> Usage {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return Usage::default();
    };
    let usage = &v["usage"];
    match wire {
        WireFormat::Anthropic => anthropic::usage_of(usage),
        _ => openai::usage_of(usage),
    }
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn usage_is_read_from_both_formats() {
        let a = br#"{"usage":{"input_tokens":7,"output_tokens":3,"cache_read_input_tokens":2}}"#;
        let u = answer_usage(WireFormat::Anthropic, a);
        assert_eq!(u.input_tokens, Some(7));
        assert_eq!(u.cache_read_tokens, Some(2));
        let o = br#"{"usage":{"prompt_tokens":9,"completion_tokens":4,"prompt_tokens_details":{"cached_tokens":3}}}"#;
        let u = answer_usage(WireFormat::Openai, o);
        assert_eq!((u.input_tokens, u.output_tokens), (Some(6), Some(4)));
        assert_eq!(
            answer_usage(WireFormat::Openai, b"not json"),
            Usage::default()
        );
    }
}
