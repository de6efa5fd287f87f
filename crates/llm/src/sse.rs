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
    /// Yield these two events, in order (e.g. text and usage from one chunk).
    EmitTwo(StreamEvent, StreamEvent),
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
    // The state carries an event still to yield: the second of a `Step::EmitTwo`.
    let start = Some((sse, decode, transport, None::<StreamEvent>));
    futures::stream::unfold(start, move |state| async move {
        let (mut sse, mut decode, mut transport, pending) = state?;
        if let Some(item) = pending {
            return Some((Ok(item), Some((sse, decode, transport, None))));
        }
        loop {
            let ev = match sse.next().await {
                None => {
                    let err = ProviderError::Unavailable {
                        status: None,
                        message: unfinished.into(),
                        detail: None,
                    };
                    return Some((Err(err), None));
                }
                Some(Err(EventStreamError::Transport(e))) => {
                    return Some((Err(transport(e)), None));
                }
                Some(Err(e)) => {
                    let err = ProviderError::Unavailable {
                        status: None,
                        message: "stream interrupted: not a valid event stream".into(),
                        detail: Some(e.to_string()),
                    };
                    return Some((Err(err), None));
                }
                Some(Ok(ev)) => ev,
            };
            let (item, pending) = match decode(&ev) {
                Step::Emit(item) => (item, None),
                Step::EmitTwo(first, second) => (first, Some(second)),
                Step::Skip => continue,
                Step::Finish => return None,
                Step::Fail(err) => return Some((Err(err), None)),
            };
            return Some((Ok(item), Some((sse, decode, transport, pending))));
        }
    })
    .boxed()
}

/// Runs `body` through [`decode_stream`] with wire format `W`'s decoder, in pieces of `split`
/// bytes, and collects everything it yields.
#[cfg(test)]
pub(crate) fn decode_all<W: crate::wire::Wire>(
    body: &[u8],
    split: usize,
) -> Vec<Result<StreamEvent, ProviderError>> {
    let pieces: Vec<Result<Vec<u8>, std::convert::Infallible>> =
        body.chunks(split.max(1)).map(|c| Ok(c.to_vec())).collect();
    let stream = decode_stream(
        futures::stream::iter(pieces),
        |e| match e {},
        W::decode_event,
        W::UNFINISHED,
    );
    match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt.block_on(stream.collect()),
        Err(e) => panic!("no runtime: {e}"),
    }
}
