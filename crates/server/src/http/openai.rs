//! `POST /v1/chat/completions`: OpenAI Chat Completions, non-stream and stream.
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::{call, Api, HttpApi};

/// Handles `POST /v1/chat/completions`.
pub(super) async fn chat_completions(State(st): State<Arc<HttpApi>>, req: Request) -> Response {
    call::serve(st, Api::OpenAi, req).await
}

/// Makes a streamed request report usage (every call is metered); true when the caller had
/// not asked for it, so its usage chunk is kept from the caller.
pub(super) fn ask_stream_usage(body: &mut Value) -> bool {
    let asked = body["stream_options"]["include_usage"].as_bool() == Some(true);
    if !asked {
        match body.get_mut("stream_options") {
            Some(Value::Object(o)) => {
                o.insert("include_usage".into(), Value::Bool(true));
            }
            _ => body["stream_options"] = json!({"include_usage": true}),
        }
    }
    !asked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_is_always_asked_for_and_hidden_only_when_the_caller_did_not() {
        let mut b = json!({"stream": true});
        assert!(ask_stream_usage(&mut b));
        assert_eq!(b["stream_options"]["include_usage"], true);
        let mut b = json!({"stream": true, "stream_options": {"include_usage": true}});
        assert!(!ask_stream_usage(&mut b));
        let mut b = json!({"stream_options": {"include_usage": false, "x": 1}});
        assert!(ask_stream_usage(&mut b));
        assert_eq!(b["stream_options"]["x"], 1);
    }
}
