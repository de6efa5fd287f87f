//! Structured output: compiling a requested JSON Schema and checking answers against it.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::Value;

/// A JSON Schema compiled once and reused for every answer that must match it.
pub struct CompiledSchema {
    /// The schema document, sent to the provider.
    pub schema: Arc<Value>,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledSchema").finish_non_exhaustive()
    }
}

impl CompiledSchema {
    /// Parses and compiles a schema given as text; the error says what is wrong with it.
    pub fn compile(text: &str) -> Result<Self, String> {
        let schema: Value = serde_json::from_str(text)
            .map_err(|e| format!("response_model_schema is not valid JSON: {e}"))?;
        if !schema.is_object() {
            return Err("response_model_schema must be a JSON object (a JSON Schema)".into());
        }
        let validator = jsonschema::validator_for(&schema)
            .map_err(|e| format!("response_model_schema is not a valid JSON Schema: {e}"))?;
        Ok(CompiledSchema {
            schema: Arc::new(schema),
            validator,
        })
    }

    /// Checks a model's answer; returns the JSON text to hand back (code fences removed).
    pub fn check(&self, answer: &str) -> Result<String, String> {
        let body = strip_fences(answer);
        let value: Value = serde_json::from_str(body)
            .map_err(|e| format!("the model's answer is not JSON: {e}"))?;
        let problems: Vec<String> = self
            .validator
            .iter_errors(&value)
            .take(5)
            .map(|e| {
                let at = e.instance_path().to_string();
                let at = if at.is_empty() { "/".to_owned() } else { at };
                format!("at {at}: {e}")
            })
            .collect();
        if problems.is_empty() {
            Ok(body.to_owned())
        } else {
            Err(format!(
                "the model's answer does not match the schema: {}",
                problems.join("; ")
            ))
        }
    }
}

/// Removes a surrounding Markdown code fence, which some compatible servers add.
fn strip_fences(s: &str) -> &str {
    let t = s.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

/// Compiled schemas by their text: clients send the same schema on every call.
#[derive(Debug, Default)]
pub struct SchemaCache {
    inner: Mutex<HashMap<String, Arc<CompiledSchema>>>,
}

/// How many distinct schemas are kept before the cache starts over.
const SCHEMA_CACHE_CAP: usize = 256;

impl SchemaCache {
    /// The compiled schema for `text`, compiling it on first use.
    pub fn get(&self, text: &str) -> Result<Arc<CompiledSchema>, String> {
        if let Ok(map) = self.inner.lock() {
            if let Some(found) = map.get(text) {
                return Ok(Arc::clone(found));
            }
        }
        let compiled = Arc::new(CompiledSchema::compile(text)?);
        if let Ok(mut map) = self.inner.lock() {
            if map.len() >= SCHEMA_CACHE_CAP {
                map.clear();
            }
            map.insert(text.to_owned(), Arc::clone(&compiled));
        }
        Ok(compiled)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SCHEMA: &str =
        r#"{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}"#;

    #[test]
    fn valid_answer_passes_and_fences_are_removed() {
        let s = CompiledSchema::compile(SCHEMA).unwrap();
        assert_eq!(s.check(" {\"n\": 3} ").unwrap(), "{\"n\": 3}");
        assert_eq!(s.check("```json\n{\"n\": 3}\n```").unwrap(), "{\"n\": 3}");
    }

    #[test]
    fn invalid_answers_are_explained() {
        let s = CompiledSchema::compile(SCHEMA).unwrap();
        assert!(s.check("{\"n\": \"x\"}").unwrap_err().contains("/n"));
        assert!(s.check("not json").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn malformed_schemas_are_refused() {
        assert!(CompiledSchema::compile("{").is_err());
        assert!(CompiledSchema::compile("[1]").is_err());
        assert!(CompiledSchema::compile(r#"{"type": 12}"#).is_err());
    }

    #[test]
    fn cache_returns_same_compiled_schema() {
        let c = SchemaCache::default();
        let a = c.get(SCHEMA).unwrap();
        let b = c.get(SCHEMA).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
    }
}
