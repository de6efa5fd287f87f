//! Types shared by the two wire-format renderers.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use super::body::MockBody;

/// What the renderer needs to know about the request being answered.
pub(crate) struct ReqCtx<'a> {
    /// Unique number used to build response ids.
    pub(crate) id: u64,
    /// Unix timestamp (seconds) for OpenAI's `created`.
    pub(crate) created: u64,
    /// Model name echoed back (the request's `model`).
    pub(crate) model: &'a str,
    /// OpenAI: the request asked for `stream_options.include_usage`.
    pub(crate) include_usage: bool,
    /// Anthropic: the tool the request forces via `tool_choice`, if any.
    pub(crate) forced_tool: Option<&'a str>,
}

/// How a stream ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// All events, then the normal end of stream.
    Normal,
    /// Abort the TCP connection.
    Reset,
    /// Go silent, keeping the connection open.
    Stall,
    /// An in-stream error event, then end.
    ErrorEvent,
    /// A malformed data line after the preamble, then end.
    Malformed,
}

/// Which content deltas to send and how to end.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamPlan {
    /// Send at most this many content deltas.
    pub(crate) cut_after: usize,
    /// What happens after the deltas.
    pub(crate) ending: Ending,
}

/// Error answers, rendered by each format in its own way.
#[derive(Clone, Debug)]
pub(crate) enum ErrorKind {
    /// No key presented.
    MissingKey,
    /// Wrong key presented.
    BadKey,
    /// Scripted authentication failure.
    AuthFailed,
    /// 429 with `retry-after` seconds.
    RateLimited(u64),
    /// 500.
    Server,
    /// 529 (Anthropic) / 503 (OpenAI).
    Overloaded,
    /// 400: prompt too long.
    ContextLength,
    /// 400 with a message.
    BadRequest(String),
    /// 404 for an unknown route (`METHOD /path`).
    NotFound(String),
}

/// A complete `application/json` response.
pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response<MockBody> {
    let mut resp = Response::new(MockBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A `text/event-stream` response around `body`.
pub(crate) fn sse_response(body: MockBody) -> Response<MockBody> {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}
