//! The HTTP/1.1 server: accept loop, routing, authentication and fault injection.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{header, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Deserialize;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::body::{MockBody, SseBody};
use super::render::{json_response, sse_response, Ending, ErrorKind, ReqCtx, StreamPlan};
use super::reply::{Fault, MockReply};
use super::state::{Disconnect, RecordedRequest, Shared};
use super::{anthropic, openai};

/// Accepts connections until `stop` changes, then aborts every open connection.
pub(crate) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    conns.spawn(serve_connection(stream, shared.clone()));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "mock provider: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
            },
        }
    }
    drop(listener);
    conns.shutdown().await;
}

/// Counts an open connection until dropped.
struct ConnGuard(Arc<Shared>);

impl Drop for ConnGuard {
    fn drop(&mut self) {
        self.0.open_connections.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn serve_connection(stream: TcpStream, shared: Arc<Shared>) {
    shared.open_connections.fetch_add(1, Ordering::Relaxed);
    let _guard = ConnGuard(shared.clone());
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req| handle(shared.clone(), req));
    // No header-read timeout: hyper would also apply it to idle keep-alive connections and
    // close pooled client connections under the client's feet.
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = conn.await {
        tracing::trace!(error = %e, "mock provider: connection ended with error");
    }
}

/// The two wire formats.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    OpenAi,
    Anthropic,
}

impl Format {
    fn path(self) -> &'static str {
        match self {
            Format::OpenAi => "/v1/chat/completions",
            Format::Anthropic => "/v1/messages",
        }
    }

    fn error(self, kind: &ErrorKind) -> Response<MockBody> {
        match self {
            Format::OpenAi => openai::error(kind),
            Format::Anthropic => anthropic::error(kind),
        }
    }
}

/// The fields of a request body the mock looks at.
#[derive(Deserialize)]
struct ReqInfo {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    max_tokens: Option<u32>,
    #[serde(default)]
    max_completion_tokens: Option<u32>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
    #[serde(default)]
    tools: Option<Vec<Value>>,
    #[serde(default)]
    tool_choice: Option<Value>,
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

impl ReqInfo {
    /// Anthropic: the tool named by `tool_choice` `{"type":"tool"}` (or the first tool for `"any"`).
    fn forced_tool(&self) -> Option<&str> {
        let tools = self.tools.as_ref().filter(|t| !t.is_empty())?;
        let choice = self.tool_choice.as_ref()?;
        match choice.get("type").and_then(Value::as_str)? {
            "tool" => choice.get("name").and_then(Value::as_str),
            "any" => tools.first()?.get("name").and_then(Value::as_str),
            _ => None,
        }
    }
}

/// Records a service future that ends before producing a response (client gone, shutdown).
struct PendingGuard<'a> {
    shared: &'a Shared,
    path: &'static str,
    armed: bool,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            self.shared.record_disconnect(Disconnect {
                at: Instant::now(),
                path: self.path.to_owned(),
                streaming: false,
                chunks_sent: 0,
                bytes_sent: 0,
                total_chunks: 0,
            });
        }
    }
}

fn record(shared: &Shared, parts: &http::request::Parts, body: &Bytes) {
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
    };
    shared.record(RecordedRequest {
        received_at: Instant::now(),
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        headers,
        body,
    });
}

/// The authentication error for this request, if any.
fn auth_error(shared: &Shared, format: Format, headers: &http::HeaderMap) -> Option<ErrorKind> {
    let presented = match format {
        Format::OpenAi => headers
            .get(header::AUTHORIZATION)
            .map(|v| v.as_bytes().strip_prefix(b"Bearer ").unwrap_or(b"")),
        Format::Anthropic => headers.get("x-api-key").map(|v| v.as_bytes()),
    };
    match presented {
        None => Some(ErrorKind::MissingKey),
        Some(k) if shared.key_matches(k) => None,
        Some(_) => Some(ErrorKind::BadKey),
    }
}

async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, io::Error> {
    shared.count_request();
    let format = match (req.method(), req.uri().path()) {
        (&Method::POST, "/v1/messages/count_tokens" | "/messages/count_tokens") => {
            return count_tokens(shared, req).await;
        }
        (&Method::POST, "/v1/chat/completions" | "/chat/completions") => Format::OpenAi,
        (&Method::POST, "/v1/messages" | "/messages") => Format::Anthropic,
        (&Method::GET, "/health" | "/healthz") => {
            return Ok(json_response(
                StatusCode::OK,
                Bytes::from_static(b"{\"status\":\"ok\"}"),
            ));
        }
        (m, p) => {
            let what = format!("{m} {p}");
            return Ok(
                if p.starts_with("/v1/messages") || req.headers().contains_key("x-api-key") {
                    anthropic::error(&ErrorKind::NotFound(what))
                } else {
                    openai::error(&ErrorKind::NotFound(what))
                },
            );
        }
    };
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(io::Error::other)?.to_bytes();
    if shared.recording() {
        record(&shared, &parts, &body);
    }
    if let Some(kind) = auth_error(&shared, format, &parts.headers) {
        return Ok(format.error(&kind));
    }
    if format == Format::Anthropic && !parts.headers.contains_key("anthropic-version") {
        return Ok(format.error(&ErrorKind::BadRequest(
            "anthropic-version: header is required".to_owned(),
        )));
    }
    let info: ReqInfo = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => {
            let msg = match format {
                Format::OpenAi => {
                    format!("We could not parse the JSON body of your request. ({e})")
                }
                Format::Anthropic => format!("There was an error parsing the body: {e}"),
            };
            return Ok(format.error(&ErrorKind::BadRequest(msg)));
        }
    };
    let mut reply = shared
        .responder_reply(&body)
        .unwrap_or_else(|| shared.next_reply());
    // Like a real provider, never bill more output than the request allowed.
    if let Some(cap) = info.max_tokens.or(info.max_completion_tokens) {
        if reply.usage.output_tokens > cap {
            Arc::make_mut(&mut reply).usage.output_tokens = cap;
        }
    }
    let mut guard = PendingGuard {
        shared: &shared,
        path: format.path(),
        armed: true,
    };
    if !reply.latency.is_zero() {
        tokio::time::sleep(reply.latency).await;
    }
    let result = respond(&shared, format, &info, &reply).await;
    guard.armed = false;
    result
}

/// `POST /v1/messages/count_tokens`: checked like `/v1/messages` (key, version, JSON, `model`
/// and `messages`), then consumes one scripted reply, whose fault (if any) is the answer;
/// otherwise `{"input_tokens": N}` with N from [`anthropic::count_tokens`].
async fn count_tokens(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, io::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(io::Error::other)?.to_bytes();
    if shared.recording() {
        record(&shared, &parts, &body);
    }
    let format = Format::Anthropic;
    if let Some(kind) = auth_error(&shared, format, &parts.headers) {
        return Ok(format.error(&kind));
    }
    if !parts.headers.contains_key("anthropic-version") {
        return Ok(format.error(&ErrorKind::BadRequest(
            "anthropic-version: header is required".to_owned(),
        )));
    }
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            let msg = format!("There was an error parsing the body: {e}");
            return Ok(format.error(&ErrorKind::BadRequest(msg)));
        }
    };
    for (field, ok) in [
        ("model", v.get("model").is_some_and(Value::is_string)),
        ("messages", v.get("messages").is_some_and(Value::is_array)),
    ] {
        if !ok {
            let msg = format!("{field}: Field required");
            return Ok(format.error(&ErrorKind::BadRequest(msg)));
        }
    }
    let reply = shared
        .responder_reply(&body)
        .unwrap_or_else(|| shared.next_reply());
    if !reply.latency.is_zero() {
        tokio::time::sleep(reply.latency).await;
    }
    let kind = match &reply.fault {
        None => None,
        Some(Fault::RateLimited { retry_after_secs }) => {
            Some(ErrorKind::RateLimited(*retry_after_secs))
        }
        Some(Fault::ServerError | Fault::ErrorEventMidStream { .. }) => Some(ErrorKind::Server),
        Some(Fault::Overloaded) => Some(ErrorKind::Overloaded),
        Some(Fault::AuthFailed) => Some(ErrorKind::AuthFailed),
        Some(Fault::ContextLengthExceeded) => Some(ErrorKind::ContextLength),
        Some(Fault::Stall | Fault::StallMidStream { .. }) => std::future::pending().await,
        Some(Fault::ResetMidStream { .. }) => {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "mock provider: injected connection reset",
            ))
        }
        Some(Fault::MalformedJson) => {
            return Ok(json_response(
                StatusCode::OK,
                Bytes::from_static(b"{\"input_tokens\": "),
            ))
        }
    };
    if let Some(kind) = kind {
        return Ok(format.error(&kind));
    }
    let out = serde_json::json!({ "input_tokens": anthropic::count_tokens(&v) });
    Ok(json_response(StatusCode::OK, Bytes::from(out.to_string())))
}

async fn respond(
    shared: &Arc<Shared>,
    format: Format,
    info: &ReqInfo,
    reply: &MockReply,
) -> Result<Response<MockBody>, io::Error> {
    let streaming = info.stream.unwrap_or(false);
    let ctx = ReqCtx {
        id: shared.next_id(),
        created: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0),
        model: info.model.as_deref().unwrap_or("mock-model"),
        include_usage: info
            .stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false),
        forced_tool: match format {
            Format::Anthropic => info.forced_tool(),
            Format::OpenAi => None,
        },
    };
    let all = usize::MAX;
    let plan = match &reply.fault {
        None => StreamPlan {
            cut_after: all,
            ending: Ending::Normal,
        },
        Some(Fault::RateLimited { retry_after_secs }) => {
            return Ok(format.error(&ErrorKind::RateLimited(*retry_after_secs)))
        }
        Some(Fault::ServerError) => return Ok(format.error(&ErrorKind::Server)),
        Some(Fault::Overloaded) => return Ok(format.error(&ErrorKind::Overloaded)),
        Some(Fault::AuthFailed) => return Ok(format.error(&ErrorKind::AuthFailed)),
        Some(Fault::ContextLengthExceeded) => return Ok(format.error(&ErrorKind::ContextLength)),
        Some(Fault::Stall) => std::future::pending().await,
        Some(Fault::ResetMidStream { after_chunks }) => {
            if !streaming {
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionReset,
                    "mock provider: injected connection reset",
                ));
            }
            StreamPlan {
                cut_after: *after_chunks,
                ending: Ending::Reset,
            }
        }
        Some(Fault::StallMidStream { after_chunks }) => {
            if !streaming {
                std::future::pending().await
            }
            StreamPlan {
                cut_after: *after_chunks,
                ending: Ending::Stall,
            }
        }
        Some(Fault::ErrorEventMidStream { after_chunks }) => {
            if !streaming {
                return Ok(format.error(&ErrorKind::Server));
            }
            StreamPlan {
                cut_after: *after_chunks,
                ending: Ending::ErrorEvent,
            }
        }
        Some(Fault::MalformedJson) => {
            if !streaming {
                let body = match format {
                    Format::OpenAi => openai::malformed_completion(&ctx),
                    Format::Anthropic => anthropic::malformed_message(&ctx),
                };
                return Ok(json_response(StatusCode::OK, body));
            }
            StreamPlan {
                cut_after: 0,
                ending: Ending::Malformed,
            }
        }
    };
    if !streaming {
        let body = match format {
            Format::OpenAi => openai::completion(&ctx, reply),
            Format::Anthropic => anthropic::message(&ctx, reply),
        }
        .map_err(io::Error::other)?;
        return Ok(json_response(StatusCode::OK, body));
    }
    let (events, tail) = match format {
        Format::OpenAi => openai::stream(&ctx, reply, plan),
        Format::Anthropic => anthropic::stream(&ctx, reply, plan),
    };
    let body = SseBody::new(
        shared.clone(),
        format.path(),
        events,
        reply.chunk_interval,
        tail,
    );
    Ok(sse_response(MockBody::Sse(Box::new(body))))
}
