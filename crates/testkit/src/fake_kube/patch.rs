//! The two patch formats the fake API applies: JSON merge patch (RFC 7386, also used for
//! strategic merge patches) and JSON patch (RFC 6902: add, remove, replace, test).
use serde_json::{Map, Value};

/// RFC 7386 JSON merge patch. Strategic merge directives (`$setElementOrder/containers`,
/// `$patch`, `$retainKeys`, ...) are not fields of the object and are dropped.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if k.starts_with('$') {
                continue;
            }
            if v.is_null() {
                t.remove(k);
            } else {
                merge(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Why a JSON patch could not be applied.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JsonPatchError {
    /// The body is not a list of operations.
    #[error("a JSON patch is a list of operations")]
    NotAList,
    /// An operation lacks `op` or `path`, or names an unknown op.
    #[error("operation {0} is not add, remove, replace or test with a path")]
    BadOperation(usize),
    /// The path's parent does not exist (or, for remove/replace, the path itself).
    #[error("path {0} does not exist")]
    Missing(String),
    /// A `test` operation failed.
    #[error("test of {0} failed")]
    TestFailed(String),
}

/// Applies RFC 6902 operations to `target`; on error `target` may be partly changed, so
/// callers patch a copy.
pub fn apply_json_patch(target: &mut Value, ops: &Value) -> Result<(), JsonPatchError> {
    let ops = ops.as_array().ok_or(JsonPatchError::NotAList)?;
    for (i, op) in ops.iter().enumerate() {
        let kind = op.get("op").and_then(Value::as_str);
        let path = op
            .get("path")
            .and_then(Value::as_str)
            .ok_or(JsonPatchError::BadOperation(i))?;
        let value = op.get("value").cloned().unwrap_or(Value::Null);
        match kind {
            Some("add") => add(target, path, value)?,
            Some("remove") => {
                remove(target, path)?;
            }
            Some("replace") => {
                remove(target, path)?;
                add(target, path, value)?;
            }
            Some("test") => {
                if target.pointer(path) != Some(&value) {
                    return Err(JsonPatchError::TestFailed(path.to_owned()));
                }
            }
            _ => return Err(JsonPatchError::BadOperation(i)),
        }
    }
    Ok(())
}

/// The parent pointer and the last segment (unescaped).
fn split(path: &str) -> Result<(&str, String), JsonPatchError> {
    let i = path
        .rfind('/')
        .ok_or_else(|| JsonPatchError::Missing(path.to_owned()))?;
    let last = path[i + 1..].replace("~1", "/").replace("~0", "~");
    Ok((&path[..i], last))
}

fn add(target: &mut Value, path: &str, value: Value) -> Result<(), JsonPatchError> {
    if path.is_empty() {
        *target = value;
        return Ok(());
    }
    let missing = || JsonPatchError::Missing(path.to_owned());
    let (parent, last) = split(path)?;
    match target.pointer_mut(parent).ok_or_else(missing)? {
        Value::Object(m) => {
            m.insert(last, value);
        }
        Value::Array(a) if last == "-" => a.push(value),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing())?;
            if i > a.len() {
                return Err(missing());
            }
            a.insert(i, value);
        }
        _ => return Err(missing()),
    }
    Ok(())
}

fn remove(target: &mut Value, path: &str) -> Result<Value, JsonPatchError> {
    let missing = || JsonPatchError::Missing(path.to_owned());
    let (parent, last) = split(path)?;
    match target.pointer_mut(parent).ok_or_else(missing)? {
        Value::Object(m) => m.remove(&last).ok_or_else(missing),
        Value::Array(a) => {
            let i: usize = last.parse().map_err(|_| missing())?;
            (i < a.len()).then(|| a.remove(i)).ok_or_else(missing)
        }
        _ => Err(missing()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_replaces_adds_removes_and_tests() {
        let mut v = json!({"metadata": {"annotations": {"a": "1"}}, "spec": {"template": {"x": 1}, "list": [1, 3]}});
        apply_json_patch(
            &mut v,
            &json!([
                {"op": "replace", "path": "/spec/template", "value": {"y": 2}},
                {"op": "replace", "path": "/metadata/annotations", "value": {"a~/b": "2"}},
                {"op": "add", "path": "/spec/list/1", "value": 2},
                {"op": "add", "path": "/spec/list/-", "value": 4},
                {"op": "remove", "path": "/spec/list/0"},
                {"op": "test", "path": "/spec/template/y", "value": 2},
            ]),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"metadata": {"annotations": {"a~/b": "2"}}, "spec": {"template": {"y": 2}, "list": [2, 3, 4]}})
        );
    }

    #[test]
    fn strategic_merge_directives_are_not_stored() {
        let mut v = json!({"spec": {"containers": [{"name": "main", "image": "a"}]}});
        merge(
            &mut v,
            &json!({"spec": {"$setElementOrder/containers": [{"name": "main"}],
                "containers": [{"name": "main", "image": "b"}]}}),
        );
        assert_eq!(
            v,
            json!({"spec": {"containers": [{"name": "main", "image": "b"}]}})
        );
    }

    #[test]
    fn hostile_json_patches_are_errors() {
        let mut v = json!({"a": {"b": 1}});
        for (ops, err) in [
            (json!({"op": "add"}), JsonPatchError::NotAList),
            (
                json!([{"op": "move", "path": "/a"}]),
                JsonPatchError::BadOperation(0),
            ),
            (json!([{"op": "add"}]), JsonPatchError::BadOperation(0)),
            (
                json!([{"op": "replace", "path": "/nope", "value": 1}]),
                JsonPatchError::Missing("/nope".into()),
            ),
            (
                json!([{"op": "add", "path": "/x/y/z", "value": 1}]),
                JsonPatchError::Missing("/x/y/z".into()),
            ),
            (
                json!([{"op": "test", "path": "/a/b", "value": 2}]),
                JsonPatchError::TestFailed("/a/b".into()),
            ),
        ] {
            assert_eq!(apply_json_patch(&mut v, &ops), Err(err), "{ops}");
        }
    }
}
