//! Whole answers across formats.
use serde_json::{json, Value};
use vibectl_llm::ModelSpec;

use super::{finish_reason, new_id, now_secs, stop_reason};

/// OpenAI usage from Anthropic usage (OpenAI's prompt tokens include cached ones).
pub(super) fn openai_usage(u: &Value) -> Value {
    let n = |k: &str| u[k].as_u64().unwrap_or(0);
    let cached = n("cache_read_input_tokens");
    let prompt = n("input_tokens") + cached + n("cache_creation_input_tokens");
    let out = n("output_tokens");
    json!({"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out,
        "prompt_tokens_details": {"cached_tokens": cached}})
}

/// Anthropic usage from OpenAI usage.
pub(super) fn anthropic_usage(u: &Value) -> Value {
    let cached = u["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .unwrap_or(0);
    let prompt = u["prompt_tokens"].as_u64().unwrap_or(0);
    json!({"input_tokens": prompt.saturating_sub(cached),
        "output_tokens": u["completion_tokens"].as_u64().unwrap_or(0),
        "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0})
}

/// An Anthropic message as an OpenAI chat completion.
pub(super) fn anthropic_to_openai(v: &Value, model: &ModelSpec) -> Value {
    let mut text = String::new();
    let mut calls = Vec::new();
    for b in v["content"].as_array().into_iter().flatten() {
        match b["type"].as_str() {
            Some("text") => text.push_str(b["text"].as_str().unwrap_or_default()),
            Some("tool_use") => calls.push(json!({"id": b["id"], "type": "function",
                "function": {"name": b["name"], "arguments": b["input"].to_string()}})),
            _ => {}
        }
    }
    let mut message = json!({"role": "assistant",
        "content": if text.is_empty() && !calls.is_empty() { Value::Null } else { json!(text) },
        "refusal": null});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    let finish = finish_reason(v["stop_reason"].as_str().unwrap_or("end_turn"));
    json!({
        "id": format!("chatcmpl-{}", v["id"].as_str().map_or_else(new_id, str::to_owned)),
        "object": "chat.completion",
        "created": now_secs(),
        "model": model.id,
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": null}],
        "usage": openai_usage(&v["usage"]),
    })
}

/// An OpenAI chat completion as an Anthropic message.
pub(super) fn openai_to_anthropic(v: &Value, model: &ModelSpec) -> Value {
    let choice = &v["choices"][0];
    let msg = &choice["message"];
    let mut content = Vec::new();
    if let Some(t) = msg["content"].as_str().filter(|t| !t.is_empty()) {
        content.push(json!({"type": "text", "text": t}));
    }
    for c in msg["tool_calls"].as_array().into_iter().flatten() {
        let args = c["function"]["arguments"].as_str().unwrap_or("{}");
        let input: Value = serde_json::from_str(args).unwrap_or_else(|_| json!({}));
        content.push(json!({"type": "tool_use", "id": c["id"], "name": c["function"]["name"], "input": input}));
    }
    json!({
        "id": format!("msg_{}", v["id"].as_str().map_or_else(new_id, str::to_owned)),
        "type": "message",
        "role": "assistant",
        "model": model.id,
        "content": content,
        "stop_reason": stop_reason(choice["finish_reason"].as_str().unwrap_or("stop")),
        "stop_sequence": null,
        "usage": anthropic_usage(&v["usage"]),
    })
}
