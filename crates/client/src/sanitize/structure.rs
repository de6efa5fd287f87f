//! Pass 1: redaction on the parsed tree of JSON or YAML text.
//!
//! JSON is read into a `serde_yaml_ng::Value` too, which keeps key order, so
//! one walker serves both; JSON is written back as JSON, YAML as YAML.

use super::{is_marker, is_placeholder, is_secret_key, marker, Redactions};
use serde_yaml_ng::{Mapping, Value};

/// Walking stops below this depth; deeper values are left to the patterns.
const MAX_DEPTH: usize = 64;

/// At most this many YAML documents are read from one stream.
const MAX_DOCS: usize = 100_000;

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Keys of a kubeconfig `auth-provider.config` whose values are credentials.
const AUTH_PROVIDER_SECRET_KEYS: &[&str] =
    &["id-token", "refresh-token", "client-secret", "access-token"];

/// Keys of a kubeconfig `users[].user` whose values are credentials.
const KUBECONFIG_USER_KEYS: &[&str] = &[
    "token",
    "client-key-data",
    "client-certificate-data",
    "password",
];

/// What pass 1 made of the text.
pub(super) enum Outcome {
    /// It parsed and something was replaced: the re-serialised text.
    Replaced(String),
    /// It parsed (or holds nothing pass 1 looks for) and nothing needed
    /// replacing: keep it byte for byte.
    Unchanged,
    /// It is not a JSON document or a YAML stream of collections.
    NotStructured,
}

/// Runs pass 1 on `text`, counting into `counts`.
pub(super) fn redact(text: &str, counts: &mut Redactions) -> Outcome {
    if !text.contains("Secret") && !text.contains("Config") {
        return Outcome::Unchanged;
    }
    if flow_depth_exceeds(text, PARSER_DEPTH_LIMIT) {
        // Neither parser accepts it, and libyaml would spend quadratic time
        // finding that out on deeply nested flow mappings.
        return Outcome::NotStructured;
    }
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        if let Ok(mut value) = serde_json::from_str::<Value>(text) {
            let mut local = Redactions::default();
            walk(&mut value, 0, &mut local);
            return finish(local, counts, || write_json(text, &value));
        }
    }
    let Some(mut docs) = parse_yaml_stream(text) else {
        return Outcome::NotStructured;
    };
    let mut local = Redactions::default();
    for doc in &mut docs {
        walk(doc, 0, &mut local);
    }
    finish(local, counts, || write_yaml(text, &docs))
}

/// Turns the counts of a walk into an outcome, writing the text back only
/// when something was replaced.
fn finish(
    local: Redactions,
    counts: &mut Redactions,
    write: impl FnOnce() -> Option<String>,
) -> Outcome {
    if local.is_empty() {
        return Outcome::Unchanged;
    }
    match write() {
        Some(out) => {
            counts.merge(&local);
            Outcome::Replaced(out)
        }
        None => Outcome::NotStructured,
    }
}

/// Both parsers refuse nesting deeper than this.
const PARSER_DEPTH_LIMIT: usize = 128;

/// True when brackets nest deeper than `limit`. Brackets inside strings
/// count too, which can only overestimate the depth.
fn flow_depth_exceeds(text: &str, limit: usize) -> bool {
    let mut depth: usize = 0;
    for b in text.bytes() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Parses a YAML stream whose documents are all mappings or sequences
/// (empty documents are skipped). `None` when it fails or has a scalar.
fn parse_yaml_stream(text: &str) -> Option<Vec<Value>> {
    let mut docs = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        if i >= MAX_DOCS {
            return None;
        }
        // The iterator repeats a failure forever: stop at the first one.
        // (`singleton_map::deserialize` forwards `deserialize_any` as is, so
        // this is `Value::deserialize(de)` without naming serde's trait,
        // which would need `serde` as a direct dependency.)
        let value: Value = serde_yaml_ng::with::singleton_map::deserialize(de).ok()?;
        match untag(&value) {
            Value::Mapping(_) | Value::Sequence(_) => docs.push(value),
            Value::Null => {}
            _ => return None,
        }
    }
    if docs.is_empty() {
        None
    } else {
        Some(docs)
    }
}

fn untag(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => untag(&t.value),
        other => other,
    }
}

/// Writes JSON back in the shape of the original: compact when it was one
/// line, else pretty with the original's indent unit.
fn write_json(original: &str, value: &Value) -> Option<String> {
    let body = original.trim();
    let mut out = if body.contains('\n') {
        let pretty = serde_json::to_string_pretty(value).ok()?;
        let unit = json_indent_unit(body);
        if unit == "  " {
            pretty
        } else {
            reindent(&pretty, &unit)
        }
    } else {
        serde_json::to_string(value).ok()?
    };
    if original.ends_with('\n') {
        out.push('\n');
    }
    Some(out)
}

/// The indent unit of pretty JSON: the leading whitespace of its first
/// indented line (two spaces when none is found).
fn json_indent_unit(body: &str) -> String {
    for line in body.lines().skip(1) {
        let ws: String = line
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        if !ws.is_empty() && ws.len() <= 8 {
            return ws;
        }
    }
    "  ".to_string()
}

/// Re-indents serde_json's two-space pretty output with `unit`. Strings in
/// that output never hold raw newlines, so leading spaces are all indent.
fn reindent(pretty: &str, unit: &str) -> String {
    let mut out = String::with_capacity(pretty.len() * 2);
    for (i, line) in pretty.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let spaces = line.len() - line.trim_start_matches(' ').len();
        for _ in 0..spaces / 2 {
            out.push_str(unit);
        }
        out.push_str(&line[spaces - spaces % 2..]);
    }
    out
}

/// Writes YAML documents back, `---` between them (and first, when the
/// original started with one).
fn write_yaml(original: &str, docs: &[Value]) -> Option<String> {
    let mut out = String::with_capacity(original.len());
    if original.trim_start().starts_with("---") {
        out.push_str("---\n");
    }
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_yaml_ng::to_string(doc).ok()?);
    }
    if !original.ends_with('\n') && out.ends_with('\n') {
        out.pop();
    }
    Some(out)
}

/// Walks the tree, redacting Secrets and kubeconfigs wherever they sit.
fn walk(v: &mut Value, depth: usize, counts: &mut Redactions) {
    if depth > MAX_DEPTH {
        return;
    }
    match v {
        Value::Mapping(m) => {
            match m.get("kind").and_then(Value::as_str) {
                Some("Secret") => redact_secret(m, counts),
                Some("SecretList") => {
                    // Items of a raw API list carry no `kind` of their own.
                    if let Some(Value::Sequence(items)) = m.get_mut("items") {
                        for item in items.iter_mut() {
                            if let Value::Mapping(im) = item {
                                redact_secret(im, counts);
                            }
                        }
                    }
                }
                Some("Config") => redact_kubeconfig(m, counts),
                _ => {}
            }
            for (_, child) in m.iter_mut() {
                walk(child, depth + 1, counts);
            }
        }
        Value::Sequence(items) => {
            for child in items.iter_mut() {
                walk(child, depth + 1, counts);
            }
        }
        Value::Tagged(t) => walk(&mut t.value, depth + 1, counts),
        _ => {}
    }
}

/// True for values that hold nothing to redact: null, empty, a marker
/// (also a marker that an earlier pass left unquoted, which YAML reads as
/// a one-element sequence).
fn is_empty_or_marker(v: &Value) -> bool {
    match untag(v) {
        Value::Null => true,
        Value::String(s) => s.is_empty() || is_marker(s),
        Value::Sequence(items) => {
            items.is_empty()
                || (items.len() == 1
                    && matches!(&items[0], Value::String(s) if is_marker(&format!("[{s}]"))))
        }
        Value::Mapping(m) => m.is_empty(),
        _ => false,
    }
}

fn replace(v: &mut Value, kind: &'static str, counts: &mut Redactions) {
    if is_empty_or_marker(v) {
        return;
    }
    *v = Value::String(marker(kind));
    counts.add(kind);
}

/// Redacts every `data`/`stringData` value of a Secret (keys kept) and its
/// last-applied annotation.
fn redact_secret(m: &mut Mapping, counts: &mut Redactions) {
    for field in ["data", "stringData"] {
        match m.get_mut(field) {
            Some(Value::Mapping(data)) => {
                for (_, value) in data.iter_mut() {
                    replace(value, "secret-data", counts);
                }
            }
            Some(other) => replace(other, "secret-data", counts),
            None => {}
        }
    }
    if let Some(Value::Mapping(meta)) = m.get_mut("metadata") {
        if let Some(Value::Mapping(ann)) = meta.get_mut("annotations") {
            if let Some(v) = ann.get_mut(LAST_APPLIED) {
                replace(v, "secret-data", counts);
            }
        }
    }
}

/// Redacts the credentials of each `users[].user` of a kubeconfig.
fn redact_kubeconfig(m: &mut Mapping, counts: &mut Redactions) {
    const KIND: &str = "kubeconfig-credential";
    let Some(Value::Sequence(users)) = m.get_mut("users") else {
        return;
    };
    for entry in users.iter_mut() {
        let Some(Value::Mapping(user)) = entry.get_mut("user") else {
            continue;
        };
        for (key, value) in user.iter_mut() {
            let Some(k) = key.as_str() else { continue };
            let scalar = !matches!(value, Value::Mapping(_) | Value::Sequence(_));
            if KUBECONFIG_USER_KEYS.contains(&k) || (scalar && is_secret_key(k)) {
                replace(value, KIND, counts);
            }
        }
        if let Some(Value::Mapping(exec)) = user.get_mut("exec") {
            if let Some(Value::Sequence(env)) = exec.get_mut("env") {
                for var in env.iter_mut() {
                    if let Some(value) = var.get_mut("value") {
                        replace(value, KIND, counts);
                    }
                }
            }
        }
        if let Some(Value::Mapping(ap)) = user.get_mut("auth-provider") {
            if let Some(Value::Mapping(config)) = ap.get_mut("config") {
                for (key, value) in config.iter_mut() {
                    let Some(k) = key.as_str() else { continue };
                    let known = AUTH_PROVIDER_SECRET_KEYS.contains(&k);
                    // Other secret-named keys may hold a jsonpath template.
                    let template = value.as_str().is_some_and(is_placeholder);
                    if known || (is_secret_key(k) && !template) {
                        replace(value, KIND, counts);
                    }
                }
            }
        }
    }
}
