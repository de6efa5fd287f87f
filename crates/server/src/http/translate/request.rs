//! Requests across formats.
use serde_json::{json, Map, Value};
use vibectl_llm::{ModelSpec, WireFormat};

use crate::http::errors::ApiError;

fn refuse(what: &str, why: &str) -> ApiError {
    ApiError::invalid(format!(
        "`{what}` cannot be translated for this model ({why}); see docs/http-api.md, \
         \"What translates\""
    ))
}

/// OpenAI chat keys that translate, or are dropped because they change nothing we keep.
const OPENAI_KEYS: [&str; 14] = [
    "model",
    "messages",
    "max_tokens",
    "max_completion_tokens",
    "temperature",
    "top_p",
    "stop",
    "stream",
    "stream_options",
    "tools",
    "tool_choice",
    "parallel_tool_calls",
    "user",
    "n",
];

/// Text of an OpenAI `content` that must be text only (system, developer, tool).
fn openai_text(content: &Value, what: &str) -> Result<String, ApiError> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        Value::Array(parts) => {
            let mut out = Vec::new();
            for p in parts {
                match (p["type"].as_str(), p["text"].as_str()) {
                    (Some("text"), Some(t)) => out.push(t.to_owned()),
                    _ => return Err(refuse(what, "only text parts translate here")),
                }
            }
            Ok(out.join("\n"))
        }
        _ => Err(ApiError::invalid(format!(
            "`{what}` must be a string or an array of parts"
        ))),
    }
}

/// An OpenAI `image_url` as an Anthropic image source.
fn image_source(url: &str) -> Result<Value, ApiError> {
    if let Some(rest) = url.strip_prefix("data:") {
        let (meta, data) = rest
            .split_once(',')
            .ok_or_else(|| ApiError::invalid("an image data URL has no `,`"))?;
        let media = meta
            .strip_suffix(";base64")
            .ok_or_else(|| refuse("image_url", "only base64 data URLs translate"))?;
        return Ok(json!({"type": "base64", "media_type": media, "data": data}));
    }
    Ok(json!({"type": "url", "url": url}))
}

/// User content in Anthropic blocks.
fn user_blocks(content: &Value) -> Result<Vec<Value>, ApiError> {
    match content {
        Value::String(s) => Ok(vec![json!({"type": "text", "text": s})]),
        Value::Array(parts) => parts
            .iter()
            .map(|p| match p["type"].as_str() {
                Some("text") => Ok(json!({"type": "text", "text": p["text"]})),
                Some("image_url") => {
                    let url = p["image_url"]["url"]
                        .as_str()
                        .ok_or_else(|| ApiError::invalid("an image_url part has no url"))?;
                    Ok(json!({"type": "image", "source": image_source(url)?}))
                }
                Some(other) => Err(refuse(
                    &format!("messages[].content[].type={other}"),
                    "no Anthropic equivalent",
                )),
                None => Err(ApiError::invalid("a content part has no `type`")),
            })
            .collect(),
        _ => Err(ApiError::invalid(
            "user `content` must be a string or an array of parts",
        )),
    }
}

/// Appends `blocks` as a turn of `role`, merging into the previous turn of the same role.
fn push_turn(turns: &mut Vec<Value>, role: &str, blocks: Vec<Value>) {
    if blocks.is_empty() {
        return;
    }
    if let Some(last) = turns.last_mut() {
        if last["role"] == role {
            if let Some(a) = last["content"].as_array_mut() {
                a.extend(blocks);
                return;
            }
        }
    }
    turns.push(json!({"role": role, "content": blocks}));
}

/// An OpenAI Chat Completions request as an Anthropic Messages request.
pub(super) fn openai_to_anthropic(body: &Value, model: &ModelSpec) -> Result<Value, ApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::invalid("the body must be an object"))?;
    for (k, v) in obj {
        if !OPENAI_KEYS.contains(&k.as_str()) && !v.is_null() {
            return Err(refuse(k, "no Anthropic equivalent"));
        }
    }
    if body["n"].as_u64().is_some_and(|n| n != 1) {
        return Err(refuse("n", "Anthropic answers one choice"));
    }
    let messages = body["messages"]
        .as_array()
        .ok_or_else(|| ApiError::invalid("`messages` is required and must be an array"))?;
    let mut system = Vec::new();
    let mut turns: Vec<Value> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or_default();
        match role {
            "system" | "developer" => {
                let t = openai_text(&m["content"], "messages[].content")?;
                system.push(json!({"type": "text", "text": t}));
            }
            "user" => push_turn(&mut turns, "user", user_blocks(&m["content"])?),
            "assistant" => {
                let mut blocks = Vec::new();
                let text = openai_text(&m["content"], "messages[].content")?;
                if !text.is_empty() {
                    blocks.push(json!({"type": "text", "text": text}));
                }
                for c in m["tool_calls"].as_array().into_iter().flatten() {
                    let args = c["function"]["arguments"].as_str().unwrap_or("{}");
                    let input: Value =
                        serde_json::from_str(if args.trim().is_empty() { "{}" } else { args })
                            .map_err(|_| {
                                ApiError::invalid(format!(
                                    "messages[{i}].tool_calls[].function.arguments is not JSON"
                                ))
                            })?;
                    blocks.push(json!({"type": "tool_use", "id": c["id"], "name": c["function"]["name"], "input": input}));
                }
                push_turn(&mut turns, "assistant", blocks);
            }
            "tool" => {
                let t = openai_text(&m["content"], "messages[].content")?;
                let id = m["tool_call_id"].as_str().ok_or_else(|| {
                    ApiError::invalid(format!("messages[{i}] (tool) has no tool_call_id"))
                })?;
                push_turn(
                    &mut turns,
                    "user",
                    vec![json!({"type": "tool_result", "tool_use_id": id, "content": t})],
                );
            }
            other => {
                return Err(refuse(
                    &format!("messages[{i}].role={other}"),
                    "no Anthropic equivalent",
                ))
            }
        }
    }
    let max = body["max_completion_tokens"]
        .as_u64()
        .or_else(|| body["max_tokens"].as_u64())
        .unwrap_or(u64::from(model.max_output_tokens));
    let mut out = Map::new();
    out.insert("model".into(), json!(model.upstream));
    out.insert("max_tokens".into(), json!(max));
    out.insert("messages".into(), Value::Array(turns));
    if !system.is_empty() {
        out.insert("system".into(), Value::Array(system));
    }
    for k in ["temperature", "top_p", "stream"] {
        if !body[k].is_null() {
            out.insert(k.into(), body[k].clone());
        }
    }
    match &body["stop"] {
        Value::Null => {}
        Value::String(s) => {
            out.insert("stop_sequences".into(), json!([s]));
        }
        v @ Value::Array(_) => {
            out.insert("stop_sequences".into(), v.clone());
        }
        _ => return Err(ApiError::invalid("`stop` must be a string or an array")),
    }
    if let Some(user) = body["user"].as_str() {
        out.insert("metadata".into(), json!({"user_id": user}));
    }
    if let Some(tools) = body["tools"].as_array() {
        let mut list = Vec::new();
        for t in tools {
            if t["type"] != "function" {
                return Err(refuse("tools[].type", "only function tools translate"));
            }
            let f = &t["function"];
            let mut tool = json!({"name": f["name"], "input_schema":
                if f["parameters"].is_null() { json!({"type": "object"}) } else { f["parameters"].clone() }});
            if let Some(d) = f["description"].as_str() {
                tool["description"] = json!(d);
            }
            list.push(tool);
        }
        out.insert("tools".into(), Value::Array(list));
    }
    let mut choice = match &body["tool_choice"] {
        Value::Null => None,
        Value::String(s) => Some(match s.as_str() {
            "auto" => json!({"type": "auto"}),
            "required" => json!({"type": "any"}),
            "none" => json!({"type": "none"}),
            _ => return Err(ApiError::invalid(format!("unknown tool_choice `{s}`"))),
        }),
        v => match v["function"]["name"].as_str() {
            Some(name) => Some(json!({"type": "tool", "name": name})),
            None => return Err(ApiError::invalid("tool_choice must name a function")),
        },
    };
    if body["parallel_tool_calls"] == Value::Bool(false) {
        let c = choice.get_or_insert_with(|| json!({"type": "auto"}));
        c["disable_parallel_tool_use"] = json!(true);
    }
    if let Some(c) = choice {
        out.insert("tool_choice".into(), c);
    }
    Ok(Value::Object(out))
}

/// Anthropic Messages keys that translate, or are dropped because they change nothing we keep.
const ANTHROPIC_KEYS: [&str; 11] = [
    "model",
    "messages",
    "system",
    "max_tokens",
    "temperature",
    "top_p",
    "stop_sequences",
    "stream",
    "tools",
    "tool_choice",
    "metadata",
];

/// Text of Anthropic content that must be text only (system, tool results).
fn anthropic_text(content: &Value, what: &str) -> Result<String, ApiError> {
    match content {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        Value::Array(blocks) => {
            let mut out = Vec::new();
            for b in blocks {
                match (b["type"].as_str(), b["text"].as_str()) {
                    (Some("text"), Some(t)) => out.push(t.to_owned()),
                    _ => return Err(refuse(what, "only text blocks translate here")),
                }
            }
            Ok(out.join("\n"))
        }
        _ => Err(ApiError::invalid(format!(
            "`{what}` must be a string or an array of blocks"
        ))),
    }
}

/// An Anthropic image block as an OpenAI `image_url` part.
fn image_part(b: &Value) -> Result<Value, ApiError> {
    let s = &b["source"];
    let url = match s["type"].as_str() {
        Some("base64") => format!(
            "data:{};base64,{}",
            s["media_type"].as_str().unwrap_or("image/png"),
            s["data"].as_str().unwrap_or_default()
        ),
        Some("url") => s["url"].as_str().unwrap_or_default().to_owned(),
        _ => {
            return Err(refuse(
                "image.source.type",
                "only base64 and url images translate",
            ))
        }
    };
    Ok(json!({"type": "image_url", "image_url": {"url": url}}))
}

/// An Anthropic Messages request as an OpenAI Chat Completions request.
pub(super) fn anthropic_to_openai(
    body: &Value,
    model: &ModelSpec,
    wire: WireFormat,
) -> Result<Value, ApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::invalid("the body must be an object"))?;
    for (k, v) in obj {
        if !ANTHROPIC_KEYS.contains(&k.as_str()) && !v.is_null() {
            return Err(refuse(k, "no OpenAI equivalent"));
        }
    }
    let mut messages = Vec::new();
    let system = anthropic_text(&body["system"], "system")?;
    if !system.is_empty() {
        messages.push(json!({"role": "system", "content": system}));
    }
    let turns = body["messages"]
        .as_array()
        .ok_or_else(|| ApiError::invalid("`messages` is required and must be an array"))?;
    for (i, m) in turns.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or_default();
        let blocks = match &m["content"] {
            Value::String(s) => vec![json!({"type": "text", "text": s})],
            Value::Array(a) => a.clone(),
            _ => {
                return Err(ApiError::invalid(format!(
                    "messages[{i}].content must be a string or blocks"
                )))
            }
        };
        match role {
            "user" => {
                let mut parts = Vec::new();
                for b in &blocks {
                    match b["type"].as_str() {
                        Some("text") => parts.push(json!({"type": "text", "text": b["text"]})),
                        Some("image") => parts.push(image_part(b)?),
                        Some("tool_result") => {
                            if b["is_error"] == Value::Bool(true) {
                                return Err(refuse(
                                    "tool_result.is_error",
                                    "OpenAI tool messages have no error flag",
                                ));
                            }
                            messages.push(json!({"role": "tool", "tool_call_id": b["tool_use_id"],
                                "content": anthropic_text(&b["content"], "tool_result.content")?}));
                        }
                        Some(other) => {
                            return Err(refuse(
                                &format!("messages[{i}].content[].type={other}"),
                                "no OpenAI equivalent",
                            ))
                        }
                        None => return Err(ApiError::invalid("a content block has no `type`")),
                    }
                }
                if !parts.is_empty() {
                    messages.push(json!({"role": "user", "content": parts}));
                }
            }
            "assistant" => {
                let mut text = String::new();
                let mut calls = Vec::new();
                for b in &blocks {
                    match b["type"].as_str() {
                        Some("text") => text.push_str(b["text"].as_str().unwrap_or_default()),
                        Some("tool_use") => calls.push(json!({"id": b["id"], "type": "function",
                            "function": {"name": b["name"], "arguments": b["input"].to_string()}})),
                        // Earlier reasoning is the provider's own; another provider cannot use it.
                        Some("thinking" | "redacted_thinking") => {}
                        Some(other) => {
                            return Err(refuse(
                                &format!("messages[{i}].content[].type={other}"),
                                "no OpenAI equivalent",
                            ))
                        }
                        None => return Err(ApiError::invalid("a content block has no `type`")),
                    }
                }
                let mut msg = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) }});
                if !calls.is_empty() {
                    msg["tool_calls"] = Value::Array(calls);
                }
                messages.push(msg);
            }
            other => {
                return Err(refuse(
                    &format!("messages[{i}].role={other}"),
                    "no OpenAI equivalent",
                ))
            }
        }
    }
    let mut out = Map::new();
    out.insert("model".into(), json!(model.upstream));
    out.insert("messages".into(), Value::Array(messages));
    let max = body["max_tokens"]
        .as_u64()
        .unwrap_or(u64::from(model.max_output_tokens));
    let max_key = if wire == WireFormat::Openai {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    out.insert(max_key.into(), json!(max));
    for k in ["temperature", "top_p"] {
        if !body[k].is_null() {
            out.insert(k.into(), body[k].clone());
        }
    }
    if body["stream"] == Value::Bool(true) {
        out.insert("stream".into(), json!(true));
        out.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if !body["stop_sequences"].is_null() {
        out.insert("stop".into(), body["stop_sequences"].clone());
    }
    if let Some(user) = body["metadata"]["user_id"].as_str() {
        out.insert("user".into(), json!(user));
    }
    if let Some(tools) = body["tools"].as_array() {
        let mut list = Vec::new();
        for t in tools {
            if t["type"].as_str().is_some_and(|k| k != "custom") {
                return Err(refuse(
                    "tools[].type",
                    "Anthropic server tools have no OpenAI equivalent",
                ));
            }
            let mut f = json!({"name": t["name"], "parameters": t["input_schema"]});
            if let Some(d) = t["description"].as_str() {
                f["description"] = json!(d);
            }
            list.push(json!({"type": "function", "function": f}));
        }
        out.insert("tools".into(), Value::Array(list));
    }
    let c = &body["tool_choice"];
    if !c.is_null() {
        let choice = match c["type"].as_str() {
            Some("auto") => json!("auto"),
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => json!({"type": "function", "function": {"name": c["name"]}}),
            _ => return Err(ApiError::invalid("unknown tool_choice type")),
        };
        out.insert("tool_choice".into(), choice);
        if c["disable_parallel_tool_use"] == Value::Bool(true) {
            out.insert("parallel_tool_calls".into(), json!(false));
        }
    }
    Ok(Value::Object(out))
}
