//! Across formats: an OpenAI request to an Anthropic model, or an Anthropic request to an
//! OpenAI (or OpenAI-compatible) model. Text, system prompts, multi-turn history, images,
//! tools and tool results, stop sequences, stop reasons and usage translate; what does not is a
//! 400 naming the field (the table is in docs/http-api.md).
mod answer;
mod request;
mod stream;

pub(super) use stream::StreamConv;

use serde_json::Value;
use vibectl_llm::{ModelSpec, WireFormat};

use super::errors::ApiError;
use super::Api;

/// The request for the provider, from a request of `api` (the other format) for `model`.
pub(super) fn request(
    api: Api,
    body: &Value,
    model: &ModelSpec,
    wire: WireFormat,
) -> Result<Value, ApiError> {
    match api {
        Api::OpenAi => request::openai_to_anthropic(body, model),
        Api::Anthropic => request::anthropic_to_openai(body, model, wire),
    }
}

/// The provider's whole answer (the other format), as `api` answers.
pub(super) fn answer(api: Api, body: &[u8], model: &ModelSpec) -> Result<Value, ApiError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::new(
            super::Kind::Upstream,
            format!("the provider's answer is not JSON: {e}"),
        )
    })?;
    Ok(match api {
        Api::OpenAi => answer::anthropic_to_openai(&v, model),
        Api::Anthropic => answer::openai_to_anthropic(&v, model),
    })
}

/// Anthropic `stop_reason` as OpenAI `finish_reason`.
fn finish_reason(stop: &str) -> &'static str {
    match stop {
        "max_tokens" => "length",
        "tool_use" => "tool_calls",
        "refusal" => "content_filter",
        _ => "stop",
    }
}

/// OpenAI `finish_reason` as Anthropic `stop_reason`.
fn stop_reason(finish: &str) -> &'static str {
    match finish {
        "length" => "max_tokens",
        "tool_calls" | "function_call" => "tool_use",
        "content_filter" => "refusal",
        _ => "end_turn",
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}
