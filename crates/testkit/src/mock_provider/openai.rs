//! OpenAI Chat Completions wire format: `POST /v1/chat/completions`.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use serde::Serialize;
use serde_json::{json, Value};

use super::body::MockBody;
use super::body::Tail;
use super::render::{json_response, Ending, ErrorKind, ReqCtx, StreamPlan};
use super::reply::{split_text, MockReply, MockUsage};

#[derive(Serialize)]
struct PromptDetails {
    cached_tokens: u32,
    audio_tokens: u32,
}

#[derive(Serialize)]
struct CompletionDetails {
    reasoning_tokens: u32,
    audio_tokens: u32,
    accepted_prediction_tokens: u32,
    rejected_prediction_tokens: u32,
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u32,
    completion_tokens: u32,
    total_tokens: u32,
    prompt_tokens_details: PromptDetails,
    completion_tokens_details: CompletionDetails,
}

impl Usage {
    fn from_mock(u: &MockUsage) -> Self {
        let prompt = u.input_tokens.saturating_add(u.cache_read_tokens);
        Usage {
            prompt_tokens: prompt,
            completion_tokens: u.output_tokens,
            total_tokens: prompt.saturating_add(u.output_tokens),
            prompt_tokens_details: PromptDetails {
                cached_tokens: u.cache_read_tokens,
                audio_tokens: 0,
            },
            completion_tokens_details: CompletionDetails {
                reasoning_tokens: 0,
                audio_tokens: 0,
                accepted_prediction_tokens: 0,
                rejected_prediction_tokens: 0,
            },
        }
    }
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
    refusal: Option<()>,
    annotations: [(); 0],
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    message: Message<'a>,
    logprobs: Option<()>,
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Completion<'a> {
    id: &'a str,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: Usage,
    service_tier: &'static str,
    system_fingerprint: Option<()>,
}

fn completion_id(ctx: &ReqCtx<'_>) -> String {
    format!("chatcmpl-mock{:016x}", ctx.id)
}

/// The non-streaming `chat.completion` body.
pub(crate) fn completion(ctx: &ReqCtx<'_>, reply: &MockReply) -> Result<Bytes, serde_json::Error> {
    let id = completion_id(ctx);
    let body = Completion {
        id: &id,
        object: "chat.completion",
        created: ctx.created,
        model: ctx.model,
        choices: [Choice {
            index: 0,
            message: Message {
                role: "assistant",
                content: &reply.text,
                refusal: None,
                annotations: [],
            },
            logprobs: None,
            finish_reason: "stop",
        }],
        usage: Usage::from_mock(&reply.usage),
        service_tier: "default",
        system_fingerprint: None,
    };
    serde_json::to_vec(&body).map(Bytes::from)
}

/// A body that claims to be JSON but is cut off in the middle.
pub(crate) fn malformed_completion(ctx: &ReqCtx<'_>) -> Bytes {
    Bytes::from(format!(
        "{{\"id\":\"{}\",\"object\":\"chat.completion\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"Hel",
        completion_id(ctx)
    ))
}

fn sse(v: &Value) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"data: ");
    // Serializing a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, v);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// The SSE events of a streamed completion and how the stream ends.
pub(crate) fn stream(ctx: &ReqCtx<'_>, reply: &MockReply, plan: StreamPlan) -> (Vec<Bytes>, Tail) {
    let id = completion_id(ctx);
    let chunk = |delta: Value, finish: Value| {
        let mut c = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": ctx.created,
            "model": ctx.model,
            "service_tier": "default",
            "system_fingerprint": null,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if ctx.include_usage {
            c["usage"] = Value::Null;
        }
        sse(&c)
    };
    let pieces = split_text(&reply.text, reply.chunks);
    let mut events = Vec::with_capacity(pieces.len() + 4);
    events.push(chunk(
        json!({"role": "assistant", "content": "", "refusal": null}),
        Value::Null,
    ));
    if plan.ending == Ending::Malformed {
        events.push(Bytes::from_static(
            b"data: {\"id\":\"chatcmpl-broken\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"delta\":{\"content\":\"Hel\n\n",
        ));
        return (events, Tail::End);
    }
    for piece in pieces.iter().take(plan.cut_after) {
        events.push(chunk(json!({"content": piece}), Value::Null));
    }
    match plan.ending {
        Ending::Normal => {
            events.push(chunk(json!({}), json!("stop")));
            if ctx.include_usage {
                let mut c = json!({
                    "id": id,
                    "object": "chat.completion.chunk",
                    "created": ctx.created,
                    "model": ctx.model,
                    "service_tier": "default",
                    "system_fingerprint": null,
                    "choices": [],
                });
                c["usage"] =
                    serde_json::to_value(Usage::from_mock(&reply.usage)).unwrap_or(Value::Null);
                events.push(sse(&c));
            }
            events.push(Bytes::from_static(b"data: [DONE]\n\n"));
            (events, Tail::End)
        }
        Ending::ErrorEvent => {
            events.push(sse(&error_body(&ErrorKind::Server)));
            (events, Tail::End)
        }
        Ending::Reset => (events, Tail::Reset),
        Ending::Stall => (events, Tail::Stall),
        Ending::Malformed => (events, Tail::End),
    }
}

fn err(message: &str, kind: &str, param: Option<&str>, code: Option<&str>) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

fn error_body(kind: &ErrorKind) -> Value {
    match kind {
        ErrorKind::MissingKey => err(
            "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        ),
        ErrorKind::BadKey | ErrorKind::AuthFailed => err(
            "Incorrect API key provided: sk-mock***. You can find your API key at https://platform.openai.com/account/api-keys.",
            "invalid_request_error",
            None,
            Some("invalid_api_key"),
        ),
        ErrorKind::RateLimited(secs) => err(
            &format!("Rate limit reached for requests in organization org-mock on requests per min (RPM): Limit 60, Used 60, Requested 1. Please try again in {secs}s. Visit https://platform.openai.com/account/rate-limits to learn more."),
            "requests",
            None,
            Some("rate_limit_exceeded"),
        ),
        ErrorKind::Server => err(
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
            None,
        ),
        ErrorKind::Overloaded => err(
            "The engine is currently overloaded, please try again later.",
            "server_error",
            None,
            None,
        ),
        ErrorKind::ContextLength => err(
            "This model's maximum context length is 128000 tokens. However, your messages resulted in 250000 tokens. Please reduce the length of the messages.",
            "invalid_request_error",
            Some("messages"),
            Some("context_length_exceeded"),
        ),
        ErrorKind::BadRequest(msg) => err(msg, "invalid_request_error", None, None),
        ErrorKind::NotFound(what) => err(
            &format!("Invalid URL ({what})"),
            "invalid_request_error",
            None,
            None,
        ),
    }
}

/// An OpenAI error response for `kind`.
pub(crate) fn error(kind: &ErrorKind) -> Response<MockBody> {
    let status = match kind {
        ErrorKind::MissingKey | ErrorKind::BadKey | ErrorKind::AuthFailed => {
            StatusCode::UNAUTHORIZED
        }
        ErrorKind::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::Server => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
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
