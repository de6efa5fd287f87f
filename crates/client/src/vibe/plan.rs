//! The planner's answer (docs/client-safety.md, "The plan format"): its JSON Schema and a strict parser.
use serde::Deserialize;
use serde_json::{json, Value};

/// One planned action.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(tag = "action_type")]
pub enum Action {
    /// Run kubectl.
    #[serde(rename = "COMMAND")]
    Command {
        /// kubectl arguments, verb first, without `kubectl`.
        commands: Vec<String>,
        /// Manifest sent on stdin with `-f -`.
        #[serde(default)]
        yaml_manifest: Option<String>,
        /// Why.
        #[serde(default)]
        explanation: Option<String>,
        /// Exit codes that count as success (default `[0]`).
        #[serde(default)]
        allowed_exit_codes: Option<Vec<i32>>,
    },
    /// The model is thinking aloud.
    #[serde(rename = "THOUGHT")]
    Thought {
        /// The thought.
        text: String,
    },
    /// A message for the user.
    #[serde(rename = "FEEDBACK")]
    Feedback {
        /// The message.
        message: String,
        /// Why.
        #[serde(default)]
        explanation: Option<String>,
        /// What to do.
        #[serde(default)]
        suggestion: Option<String>,
    },
    /// Pause before the next step.
    #[serde(rename = "WAIT")]
    Wait {
        /// How long.
        duration_seconds: f64,
    },
    /// The model cannot help.
    #[serde(rename = "ERROR")]
    Error {
        /// Why.
        message: String,
    },
    /// The goal is reached.
    #[serde(rename = "DONE")]
    Done {
        /// Exit code to end with.
        #[serde(default)]
        exit_code: Option<i32>,
        /// Why.
        #[serde(default)]
        explanation: Option<String>,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope {
    action: Action,
}

/// What is wrong with a planner answer, in words the corrective retry sends back to the model.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// Not JSON at all.
    #[error("the answer is not JSON: {0}")]
    NotJson(serde_json::Error),
    /// JSON, but not an object.
    #[error("the answer must be one JSON object with an `action` key")]
    NotObject,
    /// A top-level key besides `action`.
    #[error("unexpected top-level key `{0}`; only `action` is allowed")]
    ExtraKey(String),
    /// An action of an unknown type, or with missing or extra fields.
    #[error("the action is malformed: {0}")]
    Malformed(serde_json::Error),
    /// A COMMAND without arguments.
    #[error("COMMAND needs a non-empty `commands` list")]
    EmptyCommand,
    /// A WAIT of a negative or non-finite time.
    #[error("WAIT needs a non-negative `duration_seconds`")]
    BadWait,
}

/// Parses the model's answer; the error says what is wrong, for the corrective retry.
pub fn parse(text: &str) -> Result<Action, PlanError> {
    let body = strip_fences(text);
    let value: Value = serde_json::from_str(body).map_err(PlanError::NotJson)?;
    let Value::Object(map) = &value else {
        return Err(PlanError::NotObject);
    };
    if let Some(extra) = map.keys().find(|k| *k != "action") {
        return Err(PlanError::ExtraKey(extra.clone()));
    }
    let env: Envelope = serde_json::from_value(value).map_err(PlanError::Malformed)?;
    match &env.action {
        Action::Command { commands, .. } if commands.is_empty() => Err(PlanError::EmptyCommand),
        Action::Wait { duration_seconds }
            if !duration_seconds.is_finite() || *duration_seconds < 0.0 =>
        {
            Err(PlanError::BadWait)
        }
        _ => Ok(env.action),
    }
}

fn strip_fences(text: &str) -> &str {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

/// The JSON Schema sent as `response_model_schema` (and as native structured output directly).
pub fn schema() -> Value {
    let text = json!({"type": "string"});
    let opt_text = json!({"type": ["string", "null"]});
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["action"],
        "properties": {
            "action": {
                "oneOf": [
                    {"type": "object", "required": ["action_type", "commands"], "properties": {
                        "action_type": {"const": "COMMAND"},
                        "commands": {"type": "array", "items": text, "minItems": 1},
                        "yaml_manifest": opt_text, "explanation": opt_text,
                        "allowed_exit_codes": {"type": ["array", "null"], "items": {"type": "integer"}}}},
                    {"type": "object", "required": ["action_type", "text"], "properties": {
                        "action_type": {"const": "THOUGHT"}, "text": text}},
                    {"type": "object", "required": ["action_type", "message"], "properties": {
                        "action_type": {"const": "FEEDBACK"}, "message": text,
                        "explanation": opt_text, "suggestion": opt_text}},
                    {"type": "object", "required": ["action_type", "duration_seconds"], "properties": {
                        "action_type": {"const": "WAIT"}, "duration_seconds": {"type": "number", "minimum": 0}}},
                    {"type": "object", "required": ["action_type", "message"], "properties": {
                        "action_type": {"const": "ERROR"}, "message": text}},
                    {"type": "object", "required": ["action_type"], "properties": {
                        "action_type": {"const": "DONE"}, "exit_code": {"type": ["integer", "null"]},
                        "explanation": opt_text}}
                ]
            }
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_reference_shape() {
        let a = parse(r#"{"action": {"action_type": "COMMAND", "commands": ["get", "services", "-n", "web"], "yaml_manifest": null, "explanation": "List the services in web."}}"#).unwrap();
        assert!(matches!(a, Action::Command { ref commands, .. } if commands[1] == "services"));
        assert!(matches!(
            parse("```json\n{\"action\":{\"action_type\":\"DONE\"}}\n```").unwrap(),
            Action::Done { .. }
        ));
        assert!(matches!(
            parse(r#"{"action":{"action_type":"WAIT","duration_seconds":2}}"#).unwrap(),
            Action::Wait { .. }
        ));
    }

    #[test]
    fn refuses_everything_else() {
        for bad in [
            "not json",
            "[]",
            r#"{"action":{"action_type":"LAUNCH"}}"#,
            r#"{"action":{"action_type":"COMMAND"}}"#,
            r#"{"action":{"action_type":"COMMAND","commands":[]}}"#,
            r#"{"action":{"action_type":"THOUGHT","text":"x"},"extra":1}"#,
            r#"{"action":{"action_type":"WAIT","duration_seconds":-1}}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn schema_accepts_valid_and_rejects_invalid_plans() {
        let s = vibectl_llm::schema::CompiledSchema::compile(&schema().to_string()).unwrap();
        assert!(s
            .check(r#"{"action":{"action_type":"COMMAND","commands":["get","pods"]}}"#)
            .is_ok());
        assert!(s.check(r#"{"action":{"action_type":"COMMAND"}}"#).is_err());
        assert!(s
            .check(r#"{"action":{"action_type":"DONE"},"x":1}"#)
            .is_err());
    }
}
