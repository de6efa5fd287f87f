//! Server-sent events from a provider response, decoded one event at a time without buffering ahead.
use eventsource_stream::{Event, EventStreamError, Eventsource};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

use crate::http::HttpClient;
use crate::provider::StreamEvent;
use crate::ProviderError;

/// One raw SSE event (`event:` name and `data:` payload).
pub type SseEvent = Event;

/// The largest SSE event accepted (all its lines), in bytes: the decoder buffers an event until
/// its blank line, so a provider that never ends one could make it buffer without bound. Real
/// events are a few KiB.
pub const MAX_SSE_EVENT_BYTES: usize = 1 << 20;

/// A transport error, or an event over [`MAX_SSE_EVENT_BYTES`].
#[derive(Debug)]
pub(crate) enum Guarded<E> {
    Transport(E),
    TooLong,
}

impl<E: std::fmt::Display> std::fmt::Display for Guarded<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Guarded::Transport(e) => e.fmt(f),
            Guarded::TooLong => f.write_str("event too long"),
        }
    }
}

/// Counts the bytes of the event being received (reset by a blank line).
#[derive(Default)]
struct EventLength {
    line: usize,
    event: usize,
    after_cr: bool,
}

impl EventLength {
    /// Whether `bytes` keep the current event within the bound.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        for &b in bytes {
            let cr_lf = self.after_cr && b == b'\n';
            self.after_cr = b == b'\r';
            if cr_lf {
                continue;
            }
            if b == b'\n' || b == b'\r' {
                if self.line == 0 {
                    self.event = 0;
                }
                self.line = 0;
            } else {
                self.line += 1;
                self.event += 1;
            }
        }
        self.event <= MAX_SSE_EVENT_BYTES
    }
}

/// `bytes` with an error in place of the first chunk that makes an event too long.
fn bounded<S, B, E>(bytes: S) -> impl Stream<Item = Result<B, Guarded<E>>> + Send + Unpin
where
    S: Stream<Item = Result<B, E>> + Send + Unpin,
    B: AsRef<[u8]>,
{
    let mut len = EventLength::default();
    let mut over = false;
    bytes.map(move |item| match item {
        Err(e) => Err(Guarded::Transport(e)),
        Ok(_) if over => Err(Guarded::TooLong),
        Ok(b) if len.feed(b.as_ref()) => Ok(b),
        Ok(_) => {
            over = true;
            Err(Guarded::TooLong)
        }
    })
}

/// The SSE events of `bytes`, none over [`MAX_SSE_EVENT_BYTES`].
pub(crate) fn bounded_events<S, B, E>(
    bytes: S,
) -> impl Stream<Item = Result<Event, EventStreamError<Guarded<E>>>> + Send + Unpin
where
    S: Stream<Item = Result<B, E>> + Send + Unpin,
    B: AsRef<[u8]>,
{
    bounded(bytes).eventsource()
}

/// The next event of a [`bounded_events`] stream. A body that ends here yields `unfinished`
/// as `PROVIDER_UNAVAILABLE`; `transport` classifies the byte stream's own errors.
pub(crate) async fn next_event<St, E, T>(
    sse: &mut St,
    transport: &mut T,
    unfinished: &'static str,
) -> Result<Event, ProviderError>
where
    St: Stream<Item = Result<Event, EventStreamError<Guarded<E>>>> + Unpin,
    E: std::fmt::Display,
    T: FnMut(E) -> ProviderError,
{
    match sse.next().await {
        None => Err(ProviderError::Unavailable {
            status: None,
            message: unfinished.into(),
            detail: None,
        }),
        Some(Err(EventStreamError::Transport(Guarded::Transport(e)))) => Err(transport(e)),
        Some(Err(EventStreamError::Transport(Guarded::TooLong))) => Err(ProviderError::Protocol {
            message: format!(
                "the provider sent a stream event over {MAX_SSE_EVENT_BYTES} bytes \
                 (the limit of one event); the stream was stopped"
            ),
            detail: None,
        }),
        Some(Err(e)) => Err(ProviderError::Unavailable {
            status: None,
            message: "stream interrupted: not a valid event stream".into(),
            detail: Some(e.to_string()),
        }),
        Some(Ok(ev)) => Ok(ev),
    }
}

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
    let sse = bounded_events(bytes);
    // The state carries an event still to yield: the second of a `Step::EmitTwo`.
    let start = Some((sse, decode, transport, None::<StreamEvent>));
    futures::stream::unfold(start, move |state| async move {
        let (mut sse, mut decode, mut transport, pending) = state?;
        if let Some(item) = pending {
            return Some((Ok(item), Some((sse, decode, transport, None))));
        }
        loop {
            let ev = match next_event(&mut sse, &mut transport, unfinished).await {
                Ok(ev) => ev,
                Err(err) => return Some((Err(err), None)),
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
/// bytes, and collects everything it yields (for tests and the fuzz targets in fuzz/).
pub fn decode_all<W: crate::wire::Wire>(
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
        Err(e) => vec![Err(ProviderError::Protocol {
            message: format!("cannot start a runtime to decode: {e}"),
            detail: None,
        })],
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use proptest::prelude::*;

    use super::*;
    use crate::anthropic::Anthropic;
    use crate::openai::OpenAi;

    /// A decoded stream ends either cleanly or with exactly one error, its last item.
    fn well_formed(items: &[Result<StreamEvent, ProviderError>]) -> bool {
        match items.iter().position(Result::is_err) {
            None => true,
            Some(i) => i == items.len() - 1,
        }
    }

    /// Bytes that look like SSE often enough to reach every decoder branch: well-formed events of
    /// both wire formats (arbitrary text, counts), end markers, comments, stray field lines and
    /// arbitrary bytes, the whole possibly cut short anywhere.
    fn sse_like() -> impl Strategy<Value = Vec<u8>> {
        let text = || any::<String>().prop_map(|t| serde_json::to_string(&t).unwrap());
        let n = || any::<u64>();
        let event = prop_oneof![
            text().prop_map(|t| format!("data: {{\"choices\":[{{\"delta\":{{\"content\":{t}}}}}]}}\n\n")),
            (text(), n(), n()).prop_map(|(t, i, o)| format!(
                "data: {{\"choices\":[{{\"delta\":{{\"content\":{t}}}}}],\
                 \"usage\":{{\"prompt_tokens\":{i},\"completion_tokens\":{o}}}}}\n\n"
            )),
            (n(), n()).prop_map(|(i, c)| format!(
                "data: {{\"choices\":[],\"usage\":{{\"prompt_tokens\":{i},\
                 \"prompt_tokens_details\":{{\"cached_tokens\":{c}}}}}}}\n\n"
            )),
            text().prop_map(|t| format!("data: {{\"error\":{{\"message\":{t}}}}}\n\n")),
            Just("data: [DONE]\n\n".to_owned()),
            text().prop_map(|t| format!(
                "event: content_block_delta\ndata: {{\"delta\":{{\"type\":\"text_delta\",\"text\":{t}}}}}\n\n"
            )),
            text().prop_map(|t| format!(
                "event: content_block_delta\ndata: {{\"delta\":{{\"partial_json\":{t}}}}}\n\n"
            )),
            (n(), n()).prop_map(|(i, c)| format!(
                "event: message_start\ndata: {{\"message\":{{\"usage\":{{\"input_tokens\":{i},\
                 \"cache_read_input_tokens\":{c}}}}}}}\n\n"
            )),
            n().prop_map(|o| format!("event: message_delta\ndata: {{\"usage\":{{\"output_tokens\":{o}}}}}\n\n")),
            text().prop_map(|t| format!(
                "event: error\ndata: {{\"error\":{{\"type\":\"overloaded_error\",\"message\":{t}}}}}\n\n"
            )),
            Just("event: ping\ndata: {}\n\n".to_owned()),
            Just("event: message_stop\ndata: {}\n\n".to_owned()),
            Just(": keep-alive\n\n".to_owned()),
            "(event|data|id|retry)?: ?[ -~]{0,40}\n\n?".prop_map(String::from),
        ];
        let piece = prop_oneof![
            8 => event.prop_map(String::into_bytes),
            1 => proptest::collection::vec(any::<u8>(), 0..16),
        ];
        (
            proptest::collection::vec(piece, 0..12),
            any::<proptest::sample::Index>(),
        )
            .prop_map(|(pieces, cut)| {
                let mut body = pieces.concat();
                // Half the time, cut short at an arbitrary byte.
                if cut.index(2) == 0 {
                    body.truncate(cut.index(body.len() + 1));
                }
                body
            })
    }

    #[test]
    fn an_endless_event_is_stopped_at_the_bound() {
        // One endless line, and an event of many short data lines: both stop with an error.
        let line = format!("data: {}", "x".repeat(MAX_SSE_EVENT_BYTES + 10));
        let lines = "data: xxxxxxxxxxxxxxx\r\n".repeat(MAX_SSE_EVENT_BYTES / 16);
        for body in [line, lines] {
            let items = decode_all::<OpenAi>(body.as_bytes(), 64 * 1024);
            let last = items.last().unwrap().as_ref().unwrap_err();
            assert_eq!(last.code(), crate::ErrorCode::ExecutionFailed, "{last}");
            assert!(last.to_string().contains("over 1048576 bytes"), "{last}");
        }
        // Many events, each small, pass however long the stream.
        let ok = "data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\r\n\r\n".repeat(40_000)
            + "data: [DONE]\n\n";
        let items = decode_all::<OpenAi>(ok.as_bytes(), 4096);
        assert_eq!(items.len(), 40_000);
        assert!(items.iter().all(Result::is_ok));
    }

    proptest! {
        #[test]
        fn decoders_never_panic_on_arbitrary_bytes(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            split in 1usize..64,
        ) {
            prop_assert!(well_formed(&decode_all::<OpenAi>(&body, split)));
            prop_assert!(well_formed(&decode_all::<Anthropic>(&body, split)));
        }

        #[test]
        fn decoders_never_panic_on_sse_like_bytes(body in sse_like(), split in 1usize..64) {
            prop_assert!(well_formed(&decode_all::<OpenAi>(&body, split)));
            prop_assert!(well_formed(&decode_all::<Anthropic>(&body, split)));
        }

        #[test]
        fn how_a_body_is_split_does_not_matter(body in sse_like(), split in 1usize..64) {
            let fmt = |items: Vec<Result<StreamEvent, ProviderError>>| format!("{items:?}");
            prop_assert_eq!(
                fmt(decode_all::<OpenAi>(&body, split)),
                fmt(decode_all::<OpenAi>(&body, body.len().max(1)))
            );
            prop_assert_eq!(
                fmt(decode_all::<Anthropic>(&body, split)),
                fmt(decode_all::<Anthropic>(&body, body.len().max(1)))
            );
        }
    }
}
