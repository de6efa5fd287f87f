//! Anthropic Messages wire format: `POST /v1/messages`.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use super::body::{MockBody, Tail};
use super::render::{json_response, Ending, ErrorKind, ReqCtx, StreamPlan};
use super::reply::{split_text, MockReply};

#[derive(Serialize)]
struct Usage {
    input_tokens: u32,
    cache_creation_input_tokens: u32,
    cache_read_input_tokens: u32,
    output_tokens: u32,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContentBlock<'a> {
    Text {
        text: &'a str,
    },
    ToolUse {
        id: String,
        name: &'a str,
        input: Value,
    },
}

#[derive(Serialize)]
struct Message<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    role: &'static str,
    model: &'a str,
    content: [ContentBlock<'a>; 1],
    stop_reason: &'static str,
    stop_sequence: Option<()>,
    usage: Usage,
}

fn message_id(ctx: &ReqCtx<'_>) -> String {
    format!("msg_mock{:016x}", ctx.id)
}

fn tool_use_id(ctx: &ReqCtx<'_>) -> String {
    format!("toolu_mock{:016x}", ctx.id)
}

/// The tool input for a forced tool call: the reply text parsed as JSON
/// (a text that is not a JSON object is wrapped as `{"text": TEXT}`).
fn tool_input(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ Value::Object(_)) => v,
        _ => json!({ "text": text }),
    }
}

/// The mock's token count of a Messages body: one token per whitespace-separated word of
/// every string in `system`, `messages` and `tools` (block types, roles and ids left out), and
/// 3 per message for its framing. Deterministic, and unlike the gateway's own estimate
/// (bytes / 4), so a test can tell which one answered.
pub(crate) fn count_tokens(body: &Value) -> u64 {
    fn words(v: &Value) -> u64 {
        match v {
            Value::String(s) => s.split_whitespace().count() as u64,
            Value::Array(a) => a.iter().map(words).sum(),
            Value::Object(o) => o
                .iter()
                .filter(|(k, _)| !matches!(k.as_str(), "type" | "role" | "id" | "tool_use_id"))
                .map(|(_, v)| words(v))
                .sum(),
            _ => 0,
        }
    }
    let messages = body["messages"].as_array().map_or(0, Vec::len) as u64;
    ["system", "messages", "tools"]
        .iter()
        .filter_map(|k| body.get(*k))
        .map(words)
        .sum::<u64>()
        + 3 * messages
}

/// The non-streaming `message` body.
pub(crate) fn message(ctx: &ReqCtx<'_>, reply: &MockReply) -> Result<Bytes, serde_json::Error> {
    let id = message_id(ctx);
    let (content, stop_reason) = match ctx.forced_tool {
        Some(name) => (
            ContentBlock::ToolUse {
                id: tool_use_id(ctx),
                name,
                input: tool_input(&reply.text),
            },
            "tool_use",
        ),
        None => (ContentBlock::Text { text: &reply.text }, "end_turn"),
    };
    let u = &reply.usage;
    let body = Message {
        id: &id,
        kind: "message",
        role: "assistant",
        model: ctx.model,
        content: [content],
        stop_reason,
        stop_sequence: None,
        usage: Usage {
            input_tokens: u.input_tokens,
            cache_creation_input_tokens: u.cache_write_tokens,
            cache_read_input_tokens: u.cache_read_tokens,
            output_tokens: u.output_tokens,
        },
    };
    serde_json::to_vec(&body).map(Bytes::from)
}

/// A body that claims to be JSON but is cut off in the middle.
pub(crate) fn malformed_message(ctx: &ReqCtx<'_>) -> Bytes {
    Bytes::from(format!(
        "{{\"id\":\"{}\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{{\"type\":\"text\",\"text\":\"Hel",
        message_id(ctx)
    ))
}

fn event(name: &str, data: &Value) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"event: ");
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\ndata: ");
    // Serializing a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, data);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The SSE events of a streamed message and how the stream ends.
pub(crate) fn stream(ctx: &ReqCtx<'_>, reply: &MockReply, plan: StreamPlan) -> (Vec<Bytes>, Tail) {
    let u = &reply.usage;
    let mut events = Vec::with_capacity(reply.chunks + 8);
    events.push(event(
        "message_start",
        &json!({"type": "message_start", "message": {
            "id": message_id(ctx), "type": "message", "role": "assistant", "model": ctx.model,
            "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {
                "input_tokens": u.input_tokens,
                "cache_creation_input_tokens": u.cache_write_tokens,
                "cache_read_input_tokens": u.cache_read_tokens,
                "output_tokens": 1,
            },
        }}),
    ));
    let tool_json;
    let (block, text, delta_type, delta_field, stop_reason) = match ctx.forced_tool {
        Some(name) => {
            tool_json = tool_input(&reply.text).to_string();
            (
                json!({"type": "tool_use", "id": tool_use_id(ctx), "name": name, "input": {}}),
                tool_json.as_str(),
                "input_json_delta",
                "partial_json",
                "tool_use",
            )
        }
        None => (
            json!({"type": "text", "text": ""}),
            reply.text.as_str(),
            "text_delta",
            "text",
            "end_turn",
        ),
    };
    events.push(event(
        "content_block_start",
        &json!({"type": "content_block_start", "index": 0, "content_block": block}),
    ));
    events.push(event("ping", &json!({"type": "ping"})));
    if plan.ending == Ending::Malformed {
        events.push(Bytes::from_static(
            b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\n\n",
        ));
        return (events, Tail::End);
    }
    for piece in split_text(text, reply.chunks)
        .into_iter()
        .take(plan.cut_after)
    {
        events.push(event(
            "content_block_delta",
            &json!({"type": "content_block_delta", "index": 0,
                    "delta": {"type": delta_type, delta_field: piece}}),
        ));
    }
    match plan.ending {
        Ending::Normal => {
            events.push(event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": 0}),
            ));
            events.push(event(
                "message_delta",
                &json!({"type": "message_delta",
                        "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                        "usage": {"output_tokens": u.output_tokens}}),
            ));
            events.push(event("message_stop", &json!({"type": "message_stop"})));
            (events, Tail::End)
        }
        Ending::ErrorEvent => {
            events.push(event("error", &error_body(&ErrorKind::Overloaded)));
            (events, Tail::End)
        }
        Ending::Reset => (events, Tail::Reset),
        Ending::Stall => (events, Tail::Stall),
        Ending::Malformed => (events, Tail::End),
    }
}

fn err(kind: &str, message: &str) -> Value {
    json!({"type": "error", "error": {"type": kind, "message": message}})
}

fn error_body(kind: &ErrorKind) -> Value {
    match kind {
        ErrorKind::MissingKey => err("authentication_error", "x-api-key header is required"),
        ErrorKind::BadKey | ErrorKind::AuthFailed => err("authentication_error", "invalid x-api-key"),
        ErrorKind::RateLimited(_) => err(
            "rate_limit_error",
            "This request would exceed the rate limit for your organization (mock) of 50 requests per minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later.",
        ),
        ErrorKind::Server => err("api_error", "Internal server error"),
        ErrorKind::Overloaded => err("overloaded_error", "Overloaded"),
        ErrorKind::ContextLength => err(
            "invalid_request_error",
            "prompt is too long: 250000 tokens > 200000 maximum",
        ),
        ErrorKind::BadRequest(msg) => err("invalid_request_error", msg),
        ErrorKind::NotFound(_) => err("not_found_error", "Not found"),
    }
}

/// An Anthropic error response for `kind`.
pub(crate) fn error(kind: &ErrorKind) -> Response<MockBody> {
    let status = match kind {
        ErrorKind::MissingKey | ErrorKind::BadKey | ErrorKind::AuthFailed => {
            StatusCode::UNAUTHORIZED
        }
        ErrorKind::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Server => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Overloaded => {
            StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE)
        }
        ErrorKind::ContextLength | ErrorKind::BadRequest(_) => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound(_) => StatusCode::NOT_FOUND,
    };
    let mut resp = json_response(status, Bytes::from(error_body(kind).to_string()));
    if let ErrorKind::RateLimited(secs) = kind {
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(http::header::RETRY_AFTER, v);
        }
    }
    resp
}
