//! Server-sent events from a provider response, decoded one event at a time without buffering ahead.
use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

use crate::http::HttpClient;
use crate::provider::StreamEvent;
use crate::ProviderError;

/// One raw SSE event (`event:` name and `data:` payload).
pub type SseEvent = Event;

/// What a wire format makes of one SSE event.
pub enum Step {
    /// Yield this event.
    Emit(StreamEvent),
    /// Nothing to yield (keep-alives, bookkeeping events).
    Skip,
    /// The provider's end-of-message marker.
    Finish,
    /// A failure; the stream ends after yielding it.
    Fail(ProviderError),
}

/// Turns an SSE response into provider events. A body that ends without the wire format's
/// end-of-message marker yields `unfinished` as `PROVIDER_UNAVAILABLE`; transport errors are
/// classified by `client` (which sent the request).
pub fn event_stream<F>(
    resp: reqwest::Response,
    client: HttpClient,
    decode: F,
    unfinished: &'static str,
) -> BoxStream<'static, Result<StreamEvent, ProviderError>>
where
    F: FnMut(&SseEvent) -> Step + Send + 'static,
{
    decode_stream(
        resp.bytes_stream(),
        move |e| client.transport_error(e),
        decode,
        unfinished,
    )
}

/// [`event_stream`] over any byte stream: `transport` classifies the stream's own errors.
pub fn decode_stream<S, B, E, T, F>(
    bytes: S,
    transport: T,
    decode: F,
    unfinished: &'static str,
) -> BoxStream<'static, Result<StreamEvent, ProviderError>>
where
    S: Stream<Item = Result<B, E>> + Send + Unpin + 'static,
    B: AsRef<[u8]> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
    T: FnMut(E) -> ProviderError + Send + 'static,
    F: FnMut(&SseEvent) -> Step + Send + 'static,
{
    let sse = bytes.eventsource();
    futures::stream::unfold(Some((sse, decode, transport)), move |state| async move {
        let (mut sse, mut decode, mut transport) = state?;
        loop {
            let ev = match sse.next().await {
                None => {
                    let err = ProviderError::Unavailable {
                        status: None,
                        message: unfinished.into(),
                    };
                    return Some((Err(err), None));
                }
                Some(Err(EventStreamError::Transport(e))) => {
                    return Some((Err(transport(e)), None));
                }
                Some(Err(e)) => {
                    let err = ProviderError::Unavailable {
                        status: None,
                        message: format!("stream interrupted: {e}"),
                    };
                    return Some((Err(err), None));
                }
                Some(Ok(ev)) => ev,
            };
            match decode(&ev) {
                Step::Emit(item) => return Some((Ok(item), Some((sse, decode, transport)))),
                Step::Skip => continue,
                Step::Finish => return None,
                Step::Fail(err) => return Some((Err(err), None)),
            }
        }
    })
    .boxed()
}
