//! Streams across formats: Anthropic events as OpenAI chunks (then `[DONE]`), or OpenAI chunks
//! as Anthropic's event sequence (`message_start`, `ping`, `content_block_start/delta/stop`,
//! `message_delta` with cumulative usage, `message_stop`).
use std::collections::HashMap;

use serde_json::{json, Value};
use vibectl_llm::passthrough::RawEvent;
use vibectl_llm::ModelSpec;

use super::answer::{anthropic_usage, openai_usage};
use super::{finish_reason, new_id, now_secs, stop_reason};
use crate::http::call::frame;
use crate::http::errors::{ApiError, Kind};
use crate::http::Api;

/// Converts one provider stream into the caller's format, event by event.
pub(in crate::http) struct StreamConv(Conv);

enum Conv {
    ToOpenAi(ToOpenAi),
    ToAnthropic(ToAnthropic),
}

impl StreamConv {
    /// A converter for a caller of `api` (the provider speaks the other format);
    /// `include_usage`: an OpenAI caller asked for the usage chunk.
    pub(in crate::http) fn new(api: Api, model: &ModelSpec, include_usage: bool) -> Self {
        StreamConv(match api {
            Api::OpenAi => Conv::ToOpenAi(ToOpenAi {
                id: new_id(),
                created: now_secs(),
                model: model.id.clone(),
                include_usage,
                tools: HashMap::new(),
                next_tool: 0,
                usage: json!({}),
            }),
            Api::Anthropic => Conv::ToAnthropic(ToAnthropic {
                started: false,
                id: new_id(),
                model: model.id.clone(),
                open: None,
                next_index: 0,
                stop: "end_turn",
                usage: json!({}),
            }),
        })
    }

    /// The caller's bytes for one provider event (often none).
    pub(in crate::http) fn convert(&mut self, ev: &RawEvent) -> Result<Vec<u8>, ApiError> {
        match &mut self.0 {
            Conv::ToOpenAi(c) => c.convert(ev),
            Conv::ToAnthropic(c) => c.convert(ev),
        }
    }
}

fn parse(data: &str) -> Result<Value, ApiError> {
    serde_json::from_str(data).map_err(|e| {
        ApiError::new(
            Kind::Upstream,
            format!("the provider sent a malformed stream event: {e}"),
        )
    })
}

struct ToOpenAi {
    id: String,
    created: u64,
    model: String,
    include_usage: bool,
    /// Anthropic content block index → OpenAI tool call index.
    tools: HashMap<u64, u64>,
    next_tool: u64,
    usage: Value,
}

impl ToOpenAi {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Vec<u8> {
        let c = json!({"id": format!("chatcmpl-{}", self.id), "object": "chat.completion.chunk",
            "created": self.created, "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": null}]});
        frame("", &c.to_string())
    }

    fn merge_usage(&mut self, u: &Value) {
        if let (Some(into), Some(from)) = (self.usage.as_object_mut(), u.as_object()) {
            for (k, v) in from {
                if !v.is_null() {
                    into.insert(k.clone(), v.clone());
                }
            }
        }
    }

    fn convert(&mut self, ev: &RawEvent) -> Result<Vec<u8>, ApiError> {
        match ev.event.as_str() {
            "message_start" => {
                let v = parse(&ev.data)?;
                if let Some(id) = v["message"]["id"].as_str() {
                    self.id = id.to_owned();
                }
                self.merge_usage(&v["message"]["usage"]);
                Ok(self.chunk(json!({"role": "assistant", "content": ""}), None))
            }
            "content_block_start" => {
                let v = parse(&ev.data)?;
                let cb = &v["content_block"];
                if cb["type"] != "tool_use" {
                    return Ok(Vec::new());
                }
                let i = self.next_tool;
                self.next_tool += 1;
                self.tools.insert(v["index"].as_u64().unwrap_or(0), i);
                Ok(self.chunk(
                    json!({"tool_calls": [{"index": i, "id": cb["id"], "type": "function",
                        "function": {"name": cb["name"], "arguments": ""}}]}),
                    None,
                ))
            }
            "content_block_delta" => {
                let v = parse(&ev.data)?;
                let d = &v["delta"];
                match d["type"].as_str() {
                    Some("text_delta") => Ok(self.chunk(json!({"content": d["text"]}), None)),
                    Some("input_json_delta") => {
                        let block = v["index"].as_u64().unwrap_or(0);
                        let i = self.tools.get(&block).copied().unwrap_or(0);
                        Ok(self.chunk(
                            json!({"tool_calls": [{"index": i, "function": {"arguments": d["partial_json"]}}]}),
                            None,
                        ))
                    }
                    _ => Ok(Vec::new()),
                }
            }
            "message_delta" => {
                let v = parse(&ev.data)?;
                self.merge_usage(&v["usage"]);
                let finish =
                    finish_reason(v["delta"]["stop_reason"].as_str().unwrap_or("end_turn"));
                Ok(self.chunk(json!({}), Some(finish)))
            }
            "message_stop" => {
                let mut out = Vec::new();
                if self.include_usage {
                    let c = json!({"id": format!("chatcmpl-{}", self.id), "object": "chat.completion.chunk",
                        "created": self.created, "model": self.model, "choices": [],
                        "usage": openai_usage(&self.usage)});
                    out.extend(frame("", &c.to_string()));
                }
                out.extend(frame("", "[DONE]"));
                Ok(out)
            }
            _ => Ok(Vec::new()),
        }
    }
}

/// The content block open in the Anthropic output.
enum Open {
    Text,
    /// A tool call, by its OpenAI index.
    Tool(u64),
}

struct ToAnthropic {
    started: bool,
    id: String,
    model: String,
    open: Option<Open>,
    next_index: u64,
    stop: &'static str,
    usage: Value,
}

fn event(name: &str, v: &Value) -> Vec<u8> {
    frame(name, &v.to_string())
}

impl ToAnthropic {
    fn start(&mut self, out: &mut Vec<u8>) {
        if self.started {
            return;
        }
        self.started = true;
        out.extend(event(
            "message_start",
            &json!({"type": "message_start", "message": {
            "id": format!("msg_{}", self.id), "type": "message", "role": "assistant",
            "model": self.model, "content": [], "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 0, "output_tokens": 0}}}),
        ));
        out.extend(event("ping", &json!({"type": "ping"})));
    }

    fn close(&mut self, out: &mut Vec<u8>) {
        if self.open.take().is_some() {
            let index = self.next_index;
            self.next_index += 1;
            out.extend(event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }

    fn open(&mut self, out: &mut Vec<u8>, open: Open, block: Value) {
        self.close(out);
        self.open = Some(open);
        out.extend(event(
            "content_block_start",
            &json!({"type": "content_block_start",
            "index": self.next_index, "content_block": block}),
        ));
    }

    fn delta(&self, out: &mut Vec<u8>, delta: Value) {
        out.extend(event(
            "content_block_delta",
            &json!({"type": "content_block_delta",
            "index": self.next_index, "delta": delta}),
        ));
    }

    fn convert(&mut self, ev: &RawEvent) -> Result<Vec<u8>, ApiError> {
        let mut out = Vec::new();
        self.start(&mut out);
        if ev.end {
            self.close(&mut out);
            out.extend(event(
                "message_delta",
                &json!({"type": "message_delta",
                "delta": {"stop_reason": self.stop, "stop_sequence": null},
                "usage": anthropic_usage(&self.usage)}),
            ));
            out.extend(event("message_stop", &json!({"type": "message_stop"})));
            return Ok(out);
        }
        let v = parse(&ev.data)?;
        if v["usage"].is_object() {
            self.usage = v["usage"].clone();
        }
        let choice = &v["choices"][0];
        let d = &choice["delta"];
        if let Some(t) = d["content"].as_str().filter(|t| !t.is_empty()) {
            if !matches!(self.open, Some(Open::Text)) {
                self.open(&mut out, Open::Text, json!({"type": "text", "text": ""}));
            }
            self.delta(&mut out, json!({"type": "text_delta", "text": t}));
        }
        for tc in d["tool_calls"].as_array().into_iter().flatten() {
            let i = tc["index"].as_u64().unwrap_or(0);
            let same = matches!(self.open, Some(Open::Tool(j)) if j == i);
            if !same || tc["id"].is_string() {
                self.open(&mut out, Open::Tool(i), json!({"type": "tool_use",
                    "id": tc["id"].as_str().map_or_else(|| format!("toolu_{}", new_id()), str::to_owned),
                    "name": tc["function"]["name"], "input": {}}));
            }
            if let Some(args) = tc["function"]["arguments"]
                .as_str()
                .filter(|a| !a.is_empty())
            {
                self.delta(
                    &mut out,
                    json!({"type": "input_json_delta", "partial_json": args}),
                );
            }
        }
        if let Some(f) = choice["finish_reason"].as_str() {
            self.stop = stop_reason(f);
        }
        Ok(out)
    }
}
