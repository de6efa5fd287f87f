//! `POST /v1/messages/count_tokens`: Anthropic's token counting. For a model of an Anthropic
//! provider the body goes to the provider's own endpoint, intact but for the model name (and
//! the key); for any other model the server answers an estimate ([`estimate`]) and says so in
//! `x-vibectl-token-count: estimate`. Authenticated, bounded and access-checked like
//! `/v1/messages`; it counts against the requests-per-minute limits only (as Anthropic's own
//! endpoint does: free, but rate limited), never against token limits or budgets, and writes
//! nothing to the ledger.
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde_json::{json, Value};
use tokio::time::timeout;
use vibectl_llm::ErrorCode;

use super::call::{self, FORWARDED};
use super::errors::{ApiError, Kind};
use super::{Api, HttpApi};
use crate::proxy::ProxyState;
use crate::telemetry;

/// The method name metrics see (the `api` label is `anthropic`).
pub const METHOD: &str = "anthropic.count_tokens";
/// The header that marks an answer as our estimate, not the provider's count.
pub const ESTIMATE_HEADER: &str = "x-vibectl-token-count";
/// The most of a provider's count answer we read.
const MAX_COUNT_ANSWER_BYTES: usize = 1024 * 1024;
/// Tokens an image (or PDF page source) counts in the estimate: Anthropic's figure for the
/// largest image it takes without resizing (about 1.15 megapixels / 750).
pub const IMAGE_TOKENS: u64 = 1600;

/// Handles `POST /v1/messages/count_tokens`; every failure is in Anthropic's shape.
pub(super) async fn count_tokens(State(st): State<Arc<HttpApi>>, req: Request) -> Response {
    match run(&st, req).await {
        Ok(resp) => resp,
        Err(e) => e.response(Api::Anthropic),
    }
}

async fn run(st: &HttpApi, req: Request) -> Result<Response, ApiError> {
    let (subject, headers, mut body) = call::accept(st, req).await?;
    let state = st.cell.get();
    let model = call::resolve(&state, &body)?;
    if !st.limiter.allows(&subject, &model) {
        telemetry::request(METHOD, &model.id, &subject, "refused");
        return Err(ApiError::new(
            Kind::Permission,
            crate::proxy::not_allowed(&subject, &model.id),
        ));
    }
    if !body.get("messages").is_some_and(Value::is_array) {
        return Err(ApiError::invalid(
            "messages: Field required (an array of messages, as for POST /v1/messages)",
        ));
    }
    let raw = call::provider_of(&state, &model)?;
    let limits = st.limiter.effective(&subject);
    st.limiter
        .admit_request(METHOD, &subject, &limits, &model)
        .await
        .map_err(|r| ApiError::from_refusal(&r))?;
    let started = Instant::now();
    let result = if raw.counts_tokens() {
        body["model"] = Value::String(model.upstream.clone());
        let mut extra = HeaderMap::new();
        for name in FORWARDED {
            for v in headers.get_all(name) {
                extra.append(name, v.clone());
            }
        }
        let upstream = Bytes::from(body.to_string());
        let limit = ProxyState::timeout_for(&limits);
        match timeout(
            limit,
            raw.count_tokens(upstream, &extra, MAX_COUNT_ANSWER_BYTES),
        )
        .await
        {
            Err(_) => Err((ErrorCode::Timeout.as_str(), call::timeout_error(limit))),
            Ok(Err(e)) => Err((e.code().as_str(), ApiError::from_provider(e))),
            Ok(Ok(answer)) => Ok(json_answer(answer, None)),
        }
    } else {
        let n = estimate(&body);
        Ok(json_answer(
            Bytes::from(json!({ "input_tokens": n }).to_string()),
            Some(HeaderValue::from_static("estimate")),
        ))
    };
    let status = match &result {
        Ok(_) => "ok",
        Err((code, _)) => {
            telemetry::error(code);
            "error"
        }
    };
    telemetry::request(METHOD, &model.id, &subject, status);
    telemetry::latency(METHOD, started.elapsed());
    result.map_err(|(_, e)| e)
}

fn json_answer(body: Bytes, estimate: Option<HeaderValue>) -> Response {
    let mut resp = (
        StatusCode::OK,
        [(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if let Some(v) = estimate {
        resp.headers_mut().insert(ESTIMATE_HEADER, v);
    }
    resp
}

/// The estimated input tokens of a Messages body: the UTF-8 bytes of its text divided by 4,
/// rounded up, plus [`IMAGE_TOKENS`] per image or document source. Text is every string in
/// `system` and `messages` (text, thinking, tool inputs, tool results) except the block and
/// role names and ids, and the compact JSON of `tools` and `tool_choice` (names,
/// descriptions, schemas). At least 1.
pub fn estimate(body: &Value) -> u64 {
    let mut t = Tally::default();
    for key in ["system", "messages"] {
        if let Some(v) = body.get(key) {
            t.walk(v);
        }
    }
    for key in ["tools", "tool_choice"] {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            t.bytes += v.to_string().len() as u64;
        }
    }
    (t.bytes.div_ceil(4) + t.images * IMAGE_TOKENS).max(1)
}

/// Text bytes and images seen.
#[derive(Default)]
struct Tally {
    bytes: u64,
    images: u64,
}

/// Keys whose values are framing, not text the model reads.
const NOT_TEXT: [&str; 7] = [
    "type",
    "role",
    "id",
    "tool_use_id",
    "cache_control",
    "signature",
    "citations",
];

impl Tally {
    fn walk(&mut self, v: &Value) {
        match v {
            Value::String(s) => self.bytes += s.len() as u64,
            Value::Array(a) => a.iter().for_each(|x| self.walk(x)),
            Value::Object(o) => {
                if matches!(
                    o.get("type").and_then(Value::as_str),
                    Some("image" | "document")
                ) && o
                    .get("source")
                    .is_some_and(|s| s.get("type") != Some(&json!("text")))
                {
                    self.images += 1;
                    return;
                }
                for (k, v) in o {
                    match k.as_str() {
                        k if NOT_TEXT.contains(&k) => {}
                        // A tool call's arguments are sent as JSON text.
                        "input" if v.is_object() => self.bytes += v.to_string().len() as u64,
                        _ => self.walk(v),
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_estimate_is_text_bytes_over_four_plus_images() {
        // "hi" (2) + "be terse" (8) = 10 bytes -> 3 tokens.
        let b = json!({"model": "m", "system": "be terse",
            "messages": [{"role": "user", "content": "hi"}]});
        assert_eq!(estimate(&b), 3);
        let b = json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "abcd", "cache_control": {"type": "ephemeral"}},
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo"}}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get", "input": {"a": 1}}]}]});
        // "abcd" 4 + "get" 3 + `{"a":1}` 7 = 14 bytes -> 4, plus one image.
        assert_eq!(estimate(&b), 4 + IMAGE_TOKENS);
        let tools = json!([{"name": "get", "input_schema": {"type": "object"}}]);
        let b = json!({"model": "m", "messages": [], "tools": tools});
        assert_eq!(estimate(&b), (tools.to_string().len() as u64).div_ceil(4));
        assert_eq!(estimate(&json!({"messages": []})), 1);
        // Multibyte text counts by bytes: 6 -> 2.
        assert_eq!(estimate(&json!({"messages": [{"content": "ééé"}]})), 2);
    }
}
