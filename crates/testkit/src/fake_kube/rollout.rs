//! The deployment controller, as far as `kubectl rollout history/undo` can see it: every
//! distinct pod template of a deployment is a ReplicaSet named `DEPLOY-HASH`, owned by the
//! deployment (a controller ownerReference) and numbered by the
//! `deployment.kubernetes.io/revision` annotation; returning to an old template reuses its
//! ReplicaSet with the next revision number, as the real controller does.
use serde_json::{json, Map, Value};

use super::store::{Resource, Store};

/// The label the controller adds to a ReplicaSet's selector and template.
pub const HASH_LABEL: &str = "pod-template-hash";
/// The revision annotation, on the deployment and on each ReplicaSet.
pub const REVISION: &str = "deployment.kubernetes.io/revision";
const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
const DESIRED: &str = "deployment.kubernetes.io/desired-replicas";
const MAX: &str = "deployment.kubernetes.io/max-replicas";
/// Deployment annotations the controller does not copy to its ReplicaSets.
const NOT_COPIED: &[&str] = &[
    REVISION,
    REVISION_HISTORY,
    DESIRED,
    MAX,
    "kubectl.kubernetes.io/last-applied-configuration",
    "deprecated.deployment.rollback.to",
];

/// A pod template as compared by the controller: without the hash label and without the
/// empty values a Go client serialises (`creationTimestamp: null`, `resources: {}`), which a
/// real API server would have defaulted away on both sides.
pub fn normalized(template: &Value) -> Value {
    let mut t = prune(template);
    if let Some(labels) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        labels.remove(HASH_LABEL);
    }
    prune(&t)
}

fn prune(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), prune(v)))
                .filter(|(_, v)| !is_empty(v))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(prune).collect()),
        other => other.clone(),
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// JSON with object keys sorted, so equal templates hash equally whatever their key order.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", json!(k), canonical(&m[*k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// The controller's pod-template-hash: FNV-1a of the template, in the alphabet Kubernetes
/// uses for generated names (no vowels, no confusable digits).
pub fn template_hash(template: &Value, collisions: u32) -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut h: u32 = 0x811c_9dc5;
    let text = format!("{}{collisions}", canonical(&normalized(template)));
    for b in text.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let mut out = String::new();
    let mut n = u64::from(h);
    for _ in 0..10 {
        out.push(char::from(ALPHABET[(n % 27) as usize]));
        n /= 27;
        if n == 0 {
            n = u64::from(h.rotate_left(7));
        }
    }
    out
}

fn revision_of(rs: &Value) -> i64 {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn owned_by(rs: &Value, uid: &str) -> bool {
    rs.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r.get("uid").and_then(Value::as_str) == Some(uid)
                    && r.get("controller").and_then(Value::as_bool) == Some(true)
            })
        })
}

fn str_at<'v>(v: &'v Value, ptr: &str) -> &'v str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

impl Store {
    /// The ReplicaSets the deployment `uid` controls in `namespace`.
    pub fn owned_replica_sets(&self, namespace: &str, uid: &str) -> Vec<Value> {
        self.list(Resource::ReplicaSets, Some(namespace))
            .into_iter()
            .filter(|rs| owned_by(rs, uid))
            .collect()
    }

    /// Brings deployment `name`'s ReplicaSets in line with its template: the current template's
    /// ReplicaSet (new, or an old one reused) has the highest revision and all the replicas,
    /// the others none; the deployment carries the current revision.
    pub fn reconcile_deployment(&mut self, namespace: &str, name: &str) {
        let Some(deploy) = self.get(Resource::Deployments, namespace, name) else {
            return;
        };
        let uid = str_at(&deploy, "/metadata/uid").to_owned();
        let template = deploy
            .pointer("/spec/template")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let replicas = deploy
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let owned = self.owned_replica_sets(namespace, &uid);
        let max_revision = owned.iter().map(revision_of).max().unwrap_or(0);
        let want = normalized(&template);
        let current = owned.iter().find(|rs| {
            rs.pointer("/spec/template")
                .is_some_and(|t| normalized(t) == want)
        });
        let annotations = copied_annotations(&deploy);
        let (current_name, revision) = match current {
            Some(rs) => {
                let rs_name = str_at(rs, "/metadata/name").to_owned();
                let old = revision_of(rs);
                let revision = if old == max_revision {
                    old
                } else {
                    max_revision + 1
                };
                let mut meta = annotations.clone();
                meta.insert(REVISION.into(), json!(revision.to_string()));
                if old != revision {
                    let history = rs
                        .pointer("/metadata/annotations")
                        .and_then(|a| a.get(REVISION_HISTORY))
                        .and_then(Value::as_str)
                        .map_or_else(|| old.to_string(), |h| format!("{h},{old}"));
                    meta.insert(REVISION_HISTORY.into(), json!(history));
                }
                self.set_replica_set(namespace, &rs_name, replicas, Some(meta));
                (rs_name, revision)
            }
            None => {
                let revision = max_revision + 1;
                let rs_name = self.create_replica_set(
                    namespace,
                    &deploy,
                    &template,
                    replicas,
                    annotations,
                    revision,
                );
                (rs_name, revision)
            }
        };
        for rs in self.owned_replica_sets(namespace, &uid) {
            let rs_name = str_at(&rs, "/metadata/name");
            if rs_name != current_name {
                let rs_name = rs_name.to_owned();
                self.set_replica_set(namespace, &rs_name, 0, None);
            }
        }
        let already = str_at(
            &deploy,
            &format!("/metadata/annotations/{}", escape(REVISION)),
        ) == revision.to_string();
        if !already {
            let patch = json!({"metadata": {"annotations": {REVISION: revision.to_string()}}});
            self.patch_quietly(Resource::Deployments, namespace, name, &patch);
        }
    }

    fn create_replica_set(
        &mut self,
        namespace: &str,
        deploy: &Value,
        template: &Value,
        replicas: i64,
        mut annotations: Map<String, Value>,
        revision: i64,
    ) -> String {
        let name = str_at(deploy, "/metadata/name");
        let (rs_name, hash) = (0..100u32)
            .map(|c| {
                let hash = template_hash(template, c);
                (format!("{name}-{hash}"), hash)
            })
            .find(|(n, _)| self.get(Resource::ReplicaSets, namespace, n).is_none())
            .unwrap_or_else(|| (format!("{name}-overflow"), "overflow".into()));
        let mut template = template.clone();
        let labels = template
            .pointer_mut("/metadata")
            .and_then(Value::as_object_mut)
            .map(|m| m.entry("labels").or_insert_with(|| json!({})));
        if let Some(Value::Object(l)) = labels {
            l.insert(HASH_LABEL.into(), json!(hash));
        }
        let mut selector = deploy
            .pointer("/spec/selector")
            .cloned()
            .unwrap_or_else(|| json!({}));
        if let Some(m) = selector.as_object_mut() {
            let ml = m.entry("matchLabels").or_insert_with(|| json!({}));
            if let Some(ml) = ml.as_object_mut() {
                ml.insert(HASH_LABEL.into(), json!(hash));
            }
        }
        let rs_labels = template
            .pointer("/metadata/labels")
            .cloned()
            .unwrap_or_else(|| json!({}));
        annotations.insert(REVISION.into(), json!(revision.to_string()));
        annotations.insert(DESIRED.into(), json!(replicas.to_string()));
        annotations.insert(MAX.into(), json!((replicas + 1).to_string()));
        let rs = json!({
            "metadata": {"name": rs_name, "namespace": namespace, "labels": rs_labels,
                "annotations": annotations,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                    "uid": str_at(deploy, "/metadata/uid"), "controller": true,
                    "blockOwnerDeletion": true}]},
            "spec": {"replicas": replicas, "selector": selector, "template": template},
        });
        let _ = self.create(Resource::ReplicaSets, namespace, rs);
        rs_name
    }

    fn set_replica_set(
        &mut self,
        namespace: &str,
        name: &str,
        replicas: i64,
        annotations: Option<Map<String, Value>>,
    ) {
        let mut patch = json!({"spec": {"replicas": replicas}});
        if let Some(a) = annotations {
            patch["metadata"] = json!({"annotations": a});
        }
        self.patch_quietly(Resource::ReplicaSets, namespace, name, &patch);
    }

    /// Removes the ReplicaSets deployment `uid` owned (the garbage collector's part).
    pub fn collect_replica_sets(&mut self, namespace: &str, uid: &str) {
        for rs in self.owned_replica_sets(namespace, uid) {
            let rs_name = str_at(&rs, "/metadata/name").to_owned();
            self.delete(Resource::ReplicaSets, namespace, &rs_name);
        }
    }
}

/// The deployment's annotations that its ReplicaSets carry too (`kubernetes.io/change-cause`,
/// ...).
fn copied_annotations(deploy: &Value) -> Map<String, Value> {
    deploy
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .map(|a| {
            a.iter()
                .filter(|(k, _)| !NOT_COPIED.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// A map key as one JSON-pointer segment.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// The ReplicaSet's status: every replica ready at once, like the deployment's.
pub fn replica_set_status(obj: &Value) -> Value {
    let replicas = obj
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    json!({"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
        "availableReplicas": replicas, "observedGeneration": 1})
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn deploy(store: &mut Store, image: &str) {
        let template = json!({"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "main", "image": image}]}});
        if store.get(Resource::Deployments, "default", "web").is_none() {
            store
                .create(
                    Resource::Deployments,
                    "default",
                    json!({"metadata": {"name": "web"}, "spec": {"replicas": 2,
                        "selector": {"matchLabels": {"app": "web"}}, "template": template}}),
                )
                .unwrap();
        } else {
            store.patch(
                Resource::Deployments,
                "default",
                "web",
                &json!({"spec": {"template": template}}),
            );
        }
    }

    fn revisions(store: &Store) -> Vec<(i64, String, i64)> {
        let mut out: Vec<(i64, String, i64)> = store
            .list(Resource::ReplicaSets, Some("default"))
            .iter()
            .map(|rs| {
                (
                    revision_of(rs),
                    str_at(rs, "/spec/template/spec/containers/0/image").to_owned(),
                    rs.pointer("/spec/replicas")
                        .and_then(Value::as_i64)
                        .unwrap(),
                )
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn each_new_template_is_a_new_revision_and_an_old_one_is_reused() {
        let mut s = Store::new();
        deploy(&mut s, "nginx:1.0");
        deploy(&mut s, "nginx:1.1");
        assert_eq!(
            revisions(&s),
            [(1, "nginx:1.0".into(), 0), (2, "nginx:1.1".into(), 2)]
        );
        // The same template again changes nothing.
        deploy(&mut s, "nginx:1.1");
        assert_eq!(s.list(Resource::ReplicaSets, None).len(), 2);
        // Back to the first: its ReplicaSet becomes revision 3.
        deploy(&mut s, "nginx:1.0");
        assert_eq!(
            revisions(&s),
            [(2, "nginx:1.1".into(), 0), (3, "nginx:1.0".into(), 2)]
        );
        let d = s.get(Resource::Deployments, "default", "web").unwrap();
        assert_eq!(
            str_at(
                &d,
                "/metadata/annotations/deployment.kubernetes.io~1revision"
            ),
            "3"
        );
        let rs = s.list(Resource::ReplicaSets, None);
        let reused = rs.iter().find(|r| revision_of(r) == 3).unwrap();
        assert_eq!(
            str_at(
                reused,
                "/metadata/annotations/deployment.kubernetes.io~1revision-history"
            ),
            "1"
        );
        assert!(str_at(reused, "/metadata/name").starts_with("web-"));
        assert_eq!(
            str_at(reused, "/spec/template/metadata/labels/pod-template-hash"),
            str_at(reused, "/spec/selector/matchLabels/pod-template-hash")
        );
    }

    #[test]
    fn templates_compare_without_the_hash_label_and_empty_values() {
        let a = json!({"metadata": {"labels": {"app": "web", HASH_LABEL: "x"}, "creationTimestamp": null},
            "spec": {"containers": [{"name": "main", "image": "nginx", "resources": {}}]}});
        let b = json!({"metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"image": "nginx", "name": "main"}]}});
        assert_eq!(normalized(&a), normalized(&b));
        assert_eq!(template_hash(&a, 0), template_hash(&b, 0));
        assert_ne!(template_hash(&a, 0), template_hash(&a, 1));
    }

    #[test]
    fn deleting_the_deployment_collects_its_replica_sets() {
        let mut s = Store::new();
        deploy(&mut s, "nginx:1.0");
        deploy(&mut s, "nginx:1.1");
        s.delete(Resource::Deployments, "default", "web");
        assert!(s.list(Resource::ReplicaSets, None).is_empty());
    }
}
