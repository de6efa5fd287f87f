//! What a provider's HTTP API is made of, and the one [`Provider`] built on top of it.
use bytes::Bytes;
use futures::future::BoxFuture;

use crate::http::Endpoint;
use crate::provider::{Completion, CompletionRequest, Provider, ProviderStream};
use crate::sse::{event_stream, SseEvent, Step};
use crate::{ProviderError, Usage};

/// A wire format: how requests are encoded and answers and stream events decoded.
pub trait Wire: Send + Sync + std::fmt::Debug + 'static {
    /// Error message when a stream ends without the format's end-of-message marker.
    const UNFINISHED: &'static str;

    /// The JSON request body.
    fn encode(&self, req: &CompletionRequest, stream: bool) -> Result<Vec<u8>, ProviderError>;

    /// Text and usage of a whole (non-streamed) answer.
    fn parse(&self, body: &[u8]) -> Result<(String, Usage), ProviderError>;

    /// One server-sent event of a streamed answer.
    fn decode_event(ev: &SseEvent) -> Step;
}

/// A provider speaking wire format `W` to one endpoint.
#[derive(Debug)]
pub struct HttpProvider<W> {
    pub(crate) endpoint: Endpoint,
    pub(crate) wire: W,
}

fn encode_error(e: serde_json::Error) -> ProviderError {
    ProviderError::Protocol {
        message: format!("cannot encode request: {e}"),
        detail: None,
    }
}

/// Serializes a request body.
pub(crate) fn to_json<T: serde::Serialize>(body: &T) -> Result<Vec<u8>, ProviderError> {
    serde_json::to_vec(body).map_err(encode_error)
}

/// Parses a response body, naming what was wrong with it.
pub(crate) fn from_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| ProviderError::Protocol {
        message: format!("response is not valid JSON of the expected shape: {e}"),
        detail: None,
    })
}

impl<W: Wire> Provider for HttpProvider<W> {
    fn complete<'a>(
        &'a self,
        request: &'a CompletionRequest,
    ) -> BoxFuture<'a, Result<Completion, ProviderError>> {
        Box::pin(async move {
            let body = Bytes::from(self.wire.encode(request, false)?);
            let (resp, retry_count) = self.endpoint.post(body).await?;
            let bytes = crate::http::answer_body(resp, self.endpoint.client()).await?;
            let (text, usage) = self.wire.parse(&bytes)?;
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
            let body = Bytes::from(self.wire.encode(request, true)?);
            let (resp, retry_count) = self.endpoint.post(body).await?;
            Ok(ProviderStream {
                events: event_stream(
                    resp,
                    self.endpoint.client().clone(),
                    W::decode_event,
                    W::UNFINISHED,
                ),
                retry_count,
            })
        })
    }
}
