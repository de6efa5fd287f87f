//! A planned manifest (`yaml_manifest`, sent on stdin with `-f -`): checked to be Kubernetes
//! objects, and summarised for the confirmation.
use serde_yaml_ng::Value;

/// Largest manifest a plan may carry.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;
/// Most objects (documents and list items together) a manifest may hold.
pub const MAX_OBJECTS: usize = 200;

/// One object of a manifest, for the confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectRef {
    /// `kind`.
    pub kind: String,
    /// `metadata.name` (or `generateName` with a trailing `*`), `?` when absent.
    pub name: String,
    /// `metadata.namespace`, when set.
    pub namespace: Option<String>,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.kind, self.name)?;
        if let Some(ns) = &self.namespace {
            write!(f, " (namespace {ns})")?;
        }
        Ok(())
    }
}

/// Why a manifest is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Too large.
    #[error("the manifest is {0} bytes, over the {MAX_MANIFEST_BYTES}-byte limit")]
    TooLarge(usize),
    /// Not YAML.
    #[error("the manifest is not valid YAML: {0}")]
    Yaml(String),
    /// A document is not an object with apiVersion and kind.
    #[error(
        "document {0} of the manifest is not a Kubernetes object (it needs apiVersion and kind)"
    )]
    NotAnObject(usize),
    /// A kubeconfig, which kubectl would use as credentials if it were read as one.
    #[error("the manifest is a kubeconfig (kind: Config), not Kubernetes objects")]
    Kubeconfig,
    /// Control characters other than tab and line breaks.
    #[error("the manifest contains a control character ({0})")]
    Control(String),
    /// Nothing in it.
    #[error("the manifest holds no objects")]
    Empty,
    /// Too many objects.
    #[error("the manifest holds more than {MAX_OBJECTS} objects")]
    TooMany,
}

/// Checks that `text` is a stream of Kubernetes objects (lists expanded) and lists them.
pub fn check(text: &str) -> Result<Vec<ObjectRef>, ManifestError> {
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::TooLarge(text.len()));
    }
    if let Some(c) = text
        .chars()
        .find(|c| super::quote::is_control(*c) && !matches!(c, '\n' | '\t' | '\r'))
    {
        return Err(ManifestError::Control(super::quote::visible_char(c)));
    }
    let mut objects = Vec::new();
    for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = <Value as serde::Deserialize>::deserialize(doc)
            .map_err(|e| ManifestError::Yaml(e.to_string()))?;
        if value.is_null() {
            continue;
        }
        collect(&value, i + 1, &mut objects, 0)?;
        if objects.len() > MAX_OBJECTS {
            return Err(ManifestError::TooMany);
        }
    }
    if objects.is_empty() {
        return Err(ManifestError::Empty);
    }
    Ok(objects)
}

fn collect(
    v: &Value,
    doc: usize,
    out: &mut Vec<ObjectRef>,
    depth: usize,
) -> Result<(), ManifestError> {
    let text = |key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    let (Some(_), Some(kind)) = (text("apiVersion"), text("kind")) else {
        return Err(ManifestError::NotAnObject(doc));
    };
    if kind == "Config" || v.get("clusters").is_some() || v.get("users").is_some() {
        return Err(ManifestError::Kubeconfig);
    }
    if kind.ends_with("List") {
        let items = v.get("items").and_then(Value::as_sequence);
        if depth > 0 || items.is_none() {
            return Err(ManifestError::NotAnObject(doc));
        }
        for item in items.into_iter().flatten() {
            collect(item, doc, out, depth + 1)?;
            if out.len() > MAX_OBJECTS {
                return Err(ManifestError::TooMany);
            }
        }
        return Ok(());
    }
    let meta = v.get("metadata");
    let field = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str);
    let name = field("name")
        .map(str::to_owned)
        .or_else(|| field("generateName").map(|g| format!("{g}*")))
        .unwrap_or_else(|| "?".to_owned());
    out.push(ObjectRef {
        kind,
        name,
        namespace: field("namespace").map(str::to_owned),
    });
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn objects_and_lists_are_listed() {
        let m = "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: web}\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: b}}\n";
        let objs = check(m).unwrap();
        assert_eq!(objs.len(), 2);
        assert_eq!(objs[0].to_string(), "Pod a (namespace web)");
        assert_eq!(objs[1].to_string(), "Service b");
    }

    #[test]
    fn kubeconfigs_and_non_objects_are_refused() {
        let kubeconfig = "apiVersion: v1\nkind: Config\nusers:\n- name: x\n  user:\n    exec:\n      command: /tmp/evil\n";
        assert_eq!(check(kubeconfig), Err(ManifestError::Kubeconfig));
        let disguised = "apiVersion: v1\nkind: Pod\nusers:\n- name: x\n";
        assert_eq!(check(disguised), Err(ManifestError::Kubeconfig));
        assert!(matches!(
            check("just text"),
            Err(ManifestError::NotAnObject(1))
        ));
        assert!(matches!(
            check("- a\n- b"),
            Err(ManifestError::NotAnObject(1))
        ));
        assert!(matches!(check("a: [unclosed"), Err(ManifestError::Yaml(_))));
        assert_eq!(check(""), Err(ManifestError::Empty));
        assert!(matches!(
            check("kind: Pod\x1b[2K"),
            Err(ManifestError::Control(_))
        ));
        let big = "#".repeat(MAX_MANIFEST_BYTES + 1);
        assert!(matches!(check(&big), Err(ManifestError::TooLarge(_))));
        let many = "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\n---\n".repeat(MAX_OBJECTS + 1);
        assert_eq!(check(&many), Err(ManifestError::TooMany));
    }
}
