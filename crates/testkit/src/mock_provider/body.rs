//! Response bodies: a fixed buffer, or a paced SSE stream that can end in a fault.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::time::Sleep;

use super::state::{Disconnect, Shared};

/// How a stream ends once all its events have been written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Finish the body normally.
    End,
    /// Fail the body, which makes hyper abort the TCP connection.
    Reset,
    /// Never send anything more (until the client goes away).
    Stall,
}

/// An SSE response body, written event by event with an optional pause between events.
pub(crate) struct SseBody {
    events: std::vec::IntoIter<Bytes>,
    interval: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    tail: Tail,
    flushed_before_tail: bool,
    finished: bool,
    chunks_sent: usize,
    bytes_sent: usize,
    total_chunks: usize,
    path: &'static str,
    shared: Arc<Shared>,
}

impl SseBody {
    /// A stream of `events` ending with `tail`; counts as an active stream until dropped.
    pub(crate) fn new(
        shared: Arc<Shared>,
        path: &'static str,
        events: Vec<Bytes>,
        interval: Duration,
        tail: Tail,
    ) -> Self {
        shared.active_streams.fetch_add(1, Ordering::Relaxed);
        SseBody {
            total_chunks: events.len(),
            events: events.into_iter(),
            interval,
            sleep: None,
            tail,
            flushed_before_tail: false,
            finished: false,
            chunks_sent: 0,
            bytes_sent: 0,
            path,
            shared,
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        if let Some(sleep) = self.sleep.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.sleep = None;
        }
        if let Some(event) = self.events.next() {
            self.chunks_sent += 1;
            self.bytes_sent += event.len();
            if !self.interval.is_zero() && (self.events.len() > 0 || self.tail != Tail::End) {
                self.sleep = Some(Box::pin(tokio::time::sleep(self.interval)));
            }
            return Poll::Ready(Some(Ok(Frame::data(event))));
        }
        if self.tail != Tail::End && !self.flushed_before_tail {
            // Yield once so hyper flushes the events already written before the fault.
            self.flushed_before_tail = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        match self.tail {
            Tail::End => {
                self.finished = true;
                Poll::Ready(None)
            }
            Tail::Reset => {
                self.finished = true;
                Poll::Ready(Some(Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "mock provider: injected connection reset",
                ))))
            }
            Tail::Stall => Poll::Pending,
        }
    }
}

impl Drop for SseBody {
    fn drop(&mut self) {
        self.shared.active_streams.fetch_sub(1, Ordering::Relaxed);
        if !self.finished {
            self.shared.record_disconnect(Disconnect {
                at: Instant::now(),
                path: self.path.to_owned(),
                streaming: true,
                chunks_sent: self.chunks_sent,
                bytes_sent: self.bytes_sent,
                total_chunks: self.total_chunks,
            });
        }
    }
}

/// The body type of every mock response.
pub(crate) enum MockBody {
    /// A complete body sent with `content-length`.
    Full(Option<Bytes>),
    /// A chunked SSE stream.
    Sse(Box<SseBody>),
}

impl MockBody {
    /// A complete body.
    pub(crate) fn full(b: impl Into<Bytes>) -> Self {
        MockBody::Full(Some(b.into()))
    }
}

impl http_body::Body for MockBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            MockBody::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            MockBody::Sse(s) => s.poll_next(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, MockBody::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            MockBody::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            MockBody::Full(None) => SizeHint::with_exact(0),
            MockBody::Sse(_) => SizeHint::default(),
        }
    }
}
