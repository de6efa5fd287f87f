//! Structured output: compiling a requested JSON Schema and checking answers against it.
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

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
    pub fn compile(text: &str) -> Result<Self, SchemaError> {
        let schema: Value = serde_json::from_str(text).map_err(|e| {
            SchemaError::Invalid(format!("response_model_schema is not valid JSON: {e}"))
        })?;
        if !schema.is_object() {
            return Err(SchemaError::Invalid(
                "response_model_schema must be a JSON object (a JSON Schema)".into(),
            ));
        }
        let validator = jsonschema::validator_for(&schema).map_err(|e| {
            SchemaError::Invalid(format!(
                "response_model_schema is not a valid JSON Schema: {e}"
            ))
        })?;
        Ok(CompiledSchema {
            schema: Arc::new(schema),
            validator,
        })
    }

    /// Checks a model's answer; returns the JSON text to hand back (code fences removed).
    pub fn check(&self, answer: &str) -> Result<String, AnswerError> {
        let body = strip_fences(answer);
        let value: Value = serde_json::from_str(body).map_err(AnswerError::NotJson)?;
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
            Err(AnswerError::Mismatch(problems))
        }
    }
}

/// Why a model's answer does not satisfy the requested schema.
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// The answer is not JSON at all.
    #[error("the model's answer is not JSON: {0}")]
    NotJson(serde_json::Error),
    /// The answer is JSON that breaks the schema (at most five places, each with its path).
    #[error("the model's answer does not match the schema: {}", .0.join("; "))]
    Mismatch(Vec<String>),
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

/// Why [`SchemaCache::get`] gave no compiled schema.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// The text is not a JSON Schema; the message says what is wrong.
    #[error("{0}")]
    Invalid(String),
    /// The compile task did not finish (the runtime is shutting down).
    #[error("the schema could not be compiled: {0}")]
    Aborted(String),
}

/// Compiled schemas by the SHA-256 of their text (clients send the same schema on every call),
/// bounded by the bytes of schema text kept. Compiling runs on the blocking pool, at most
/// [`SchemaCache::COMPILE_SLOTS`] at once, so hostile schemas cannot occupy the runtime's workers.
#[derive(Debug)]
pub struct SchemaCache {
    inner: Mutex<CacheInner>,
    max_bytes: usize,
    slots: tokio::sync::Semaphore,
    compiles: AtomicU64,
}

#[derive(Debug, Default)]
struct CacheInner {
    map: HashMap<[u8; 32], (Arc<CompiledSchema>, usize)>,
    /// Insertion order, oldest first: what is evicted when the byte budget is exceeded.
    order: VecDeque<[u8; 32]>,
    bytes: usize,
}

impl Default for SchemaCache {
    fn default() -> Self {
        SchemaCache::new(Self::DEFAULT_MAX_BYTES)
    }
}

impl SchemaCache {
    /// Bytes of schema text kept compiled by default (a compiled schema takes several times its
    /// text; typical schemas are a few KiB, so hundreds fit).
    pub const DEFAULT_MAX_BYTES: usize = 2 << 20;
    /// Schemas compiled at once; further compiles wait for a slot.
    pub const COMPILE_SLOTS: usize = 2;

    /// A cache keeping at most `max_bytes` of schema text compiled.
    pub fn new(max_bytes: usize) -> Self {
        SchemaCache {
            inner: Mutex::new(CacheInner::default()),
            max_bytes,
            slots: tokio::sync::Semaphore::new(Self::COMPILE_SLOTS),
            compiles: AtomicU64::new(0),
        }
    }

    /// How many schemas this cache has compiled (a refused call must not add to it).
    pub fn compiles(&self) -> u64 {
        self.compiles.load(Ordering::Relaxed)
    }

    /// Bytes of schema text held now.
    pub fn held_bytes(&self) -> usize {
        self.inner.lock().map_or(0, |g| g.bytes)
    }

    /// The compiled schema for `text`, compiling it (on the blocking pool) on first use.
    pub async fn get(&self, text: &str) -> Result<Arc<CompiledSchema>, SchemaError> {
        self.get_counted(text).await.map(|(c, _)| c)
    }

    /// Like [`SchemaCache::get`], and whether this call compiled it (for a metric).
    pub async fn get_counted(
        &self,
        text: &str,
    ) -> Result<(Arc<CompiledSchema>, bool), SchemaError> {
        let key: [u8; 32] = Sha256::digest(text.as_bytes()).into();
        if let Some(found) = self.lookup(&key) {
            return Ok((found, false));
        }
        let _slot = self
            .slots
            .acquire()
            .await
            .map_err(|e| SchemaError::Aborted(e.to_string()))?;
        // Another call may have compiled it while this one waited.
        if let Some(found) = self.lookup(&key) {
            return Ok((found, false));
        }
        self.compiles.fetch_add(1, Ordering::Relaxed);
        let owned = text.to_owned();
        let compiled = tokio::task::spawn_blocking(move || CompiledSchema::compile(&owned))
            .await
            .map_err(|e| SchemaError::Aborted(e.to_string()))??;
        let compiled = Arc::new(compiled);
        self.insert(key, Arc::clone(&compiled), text.len());
        Ok((compiled, true))
    }

    fn lookup(&self, key: &[u8; 32]) -> Option<Arc<CompiledSchema>> {
        let g = self.inner.lock().ok()?;
        g.map.get(key).map(|(c, _)| Arc::clone(c))
    }

    fn insert(&self, key: [u8; 32], compiled: Arc<CompiledSchema>, len: usize) {
        if len > self.max_bytes {
            return;
        }
        let Ok(mut g) = self.inner.lock() else {
            return;
        };
        if g.map.contains_key(&key) {
            return;
        }
        while g.bytes + len > self.max_bytes {
            let Some(old) = g.order.pop_front() else {
                break;
            };
            if let Some((_, n)) = g.map.remove(&old) {
                g.bytes -= n;
            }
        }
        g.map.insert(key, (compiled, len));
        g.order.push_back(key);
        g.bytes += len;
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
        assert!(s
            .check("{\"n\": \"x\"}")
            .unwrap_err()
            .to_string()
            .contains("/n"));
        assert!(s
            .check("not json")
            .unwrap_err()
            .to_string()
            .contains("not JSON"));
    }

    #[test]
    fn malformed_schemas_are_refused() {
        assert!(CompiledSchema::compile("{").is_err());
        assert!(CompiledSchema::compile("[1]").is_err());
        assert!(CompiledSchema::compile(r#"{"type": 12}"#).is_err());
    }

    #[tokio::test]
    async fn cache_returns_same_compiled_schema() {
        let c = SchemaCache::default();
        let a = c.get(SCHEMA).await.unwrap();
        let b = c.get(SCHEMA).await.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(c.compiles(), 1);
        assert!(matches!(c.get("{").await, Err(SchemaError::Invalid(_))));
    }

    #[tokio::test]
    async fn cache_is_bounded_by_bytes_and_evicts_the_oldest() {
        let c = SchemaCache::new(4 * SCHEMA.len());
        let schemas: Vec<String> = (0..10)
            .map(|i| SCHEMA.replace("\"n\"", &format!("\"n{i}\"")))
            .collect();
        for s in &schemas {
            c.get(s).await.unwrap();
            assert!(c.held_bytes() <= 4 * SCHEMA.len(), "{}", c.held_bytes());
        }
        assert_eq!(c.compiles(), 10);
        // The newest is still cached, the oldest was evicted and compiles again.
        c.get(&schemas[9]).await.unwrap();
        assert_eq!(c.compiles(), 10);
        c.get(&schemas[0]).await.unwrap();
        assert_eq!(c.compiles(), 11);
        // A schema larger than the whole cache is compiled but not kept.
        let tiny = SchemaCache::new(8);
        tiny.get(SCHEMA).await.unwrap();
        tiny.get(SCHEMA).await.unwrap();
        assert_eq!((tiny.compiles(), tiny.held_bytes()), (2, 0));
    }
}
