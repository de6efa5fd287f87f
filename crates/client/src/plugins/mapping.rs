//! One prompt mapping of a plugin, read as the reference reads it (Python truthiness, the
//! legacy planning/summary detection).
use serde_json::{Map, Value};

/// One plugin's mapping for one prompt key: the parts that replace the built-in prompt's
/// (description, focus_points, example_format, examples, command, task_description, ...).
#[derive(Clone, Debug, PartialEq)]
pub struct Mapping {
    /// The plugin it comes from.
    pub plugin: String,
    fields: Map<String, Value>,
}

/// Whether a value counts as given, as Python's truthiness decides for the reference.
pub(super) fn given(v: &Value) -> bool {
    match v {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Number(_) | Value::Bool(true) => true,
    }
}

impl Mapping {
    /// The mapping `fields` of plugin `plugin`.
    pub fn new(plugin: &str, fields: Map<String, Value>) -> Mapping {
        Mapping {
            plugin: plugin.to_owned(),
            fields,
        }
    }

    /// A field, when given (not null, not empty).
    pub fn value(&self, field: &str) -> Option<&Value> {
        self.fields.get(field).filter(|v| given(v))
    }

    /// A text field (a non-string value is shown as JSON).
    pub fn text(&self, field: &str) -> Option<String> {
        self.value(field).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    /// A list-of-lines field (`focus_points`, `example_format`); a single string is one line.
    pub fn lines(&self, field: &str) -> Vec<String> {
        match self.value(field) {
            Some(Value::Array(a)) => a
                .iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .collect(),
            Some(Value::String(s)) => vec![s.clone()],
            Some(other) => vec![other.to_string()],
            None => Vec::new(),
        }
    }

    fn flag(&self, name: &str) -> Option<bool> {
        let meta = self.fields.get("prompt_metadata")?.as_object()?;
        meta.get(name).map(given)
    }

    /// A planning prompt: `prompt_metadata.is_planning_prompt`, else (the reference's legacy
    /// rule) it has examples.
    pub fn is_planning_prompt(&self) -> bool {
        self.flag("is_planning_prompt").unwrap_or_else(|| {
            self.fields
                .get("examples")
                .is_some_and(|v| !v.is_null() && v.as_str() != Some(""))
        })
    }

    /// A summary prompt: `prompt_metadata.is_summary_prompt`, else it has focus_points or
    /// example_format.
    pub fn is_summary_prompt(&self) -> bool {
        self.flag("is_summary_prompt").unwrap_or_else(|| {
            ["focus_points", "example_format"].iter().any(|k| {
                self.fields
                    .get(*k)
                    .is_some_and(|v| !v.is_null() && v.as_str() != Some(""))
            })
        })
    }
}
