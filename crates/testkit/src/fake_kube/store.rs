//! The fake cluster's objects: namespaces, pods, services, secrets, deployments and their
//! ReplicaSets, kept as JSON.
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// One kind of object the fake API serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// `v1/namespaces` (cluster scoped).
    Namespaces,
    /// `v1/pods`.
    Pods,
    /// `v1/services`.
    Services,
    /// `v1/events` (always empty).
    Events,
    /// `apps/v1/deployments`.
    Deployments,
    /// `v1/secrets`.
    Secrets,
    /// `apps/v1/replicasets` (made by the deployment controller, rollout.rs).
    ReplicaSets,
}

impl Resource {
    /// Looks a resource up by its URL group and plural name.
    pub fn from_path(group: &str, plural: &str) -> Option<Resource> {
        match (group, plural) {
            ("", "namespaces") => Some(Resource::Namespaces),
            ("", "pods") => Some(Resource::Pods),
            ("", "services") => Some(Resource::Services),
            ("", "events") => Some(Resource::Events),
            ("", "secrets") => Some(Resource::Secrets),
            ("apps", "deployments") => Some(Resource::Deployments),
            ("apps", "replicasets") => Some(Resource::ReplicaSets),
            _ => None,
        }
    }

    /// Plural name.
    pub fn plural(self) -> &'static str {
        match self {
            Resource::Namespaces => "namespaces",
            Resource::Pods => "pods",
            Resource::Services => "services",
            Resource::Events => "events",
            Resource::Deployments => "deployments",
            Resource::Secrets => "secrets",
            Resource::ReplicaSets => "replicasets",
        }
    }

    /// `kind`.
    pub fn kind(self) -> &'static str {
        match self {
            Resource::Namespaces => "Namespace",
            Resource::Pods => "Pod",
            Resource::Services => "Service",
            Resource::Events => "Event",
            Resource::Deployments => "Deployment",
            Resource::Secrets => "Secret",
            Resource::ReplicaSets => "ReplicaSet",
        }
    }

    /// `apiVersion`.
    pub fn api_version(self) -> &'static str {
        match self {
            Resource::Deployments | Resource::ReplicaSets => "apps/v1",
            _ => "v1",
        }
    }

    /// Whether objects live in a namespace.
    pub fn namespaced(self) -> bool {
        self != Resource::Namespaces
    }
}

/// Key of one object: resource, namespace (empty for cluster scoped), name.
pub type Key = (Resource, String, String);

/// All objects, with a resource-version counter.
#[derive(Clone, Debug, Default)]
pub struct Store {
    objects: BTreeMap<Key, Value>,
    version: u64,
    /// Every mutating request seen, as `METHOD path`.
    pub mutations: Vec<String>,
}

/// Current time as RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

impl Store {
    /// A store holding the `default` and `kube-system` namespaces.
    pub fn new() -> Store {
        let mut s = Store::default();
        for ns in ["default", "kube-system"] {
            let _ = s.create(Resource::Namespaces, "", json!({"metadata": {"name": ns}}));
        }
        s.mutations.clear();
        s
    }

    /// Objects of `resource` in `namespace` (all namespaces when `None`), in name order.
    pub fn list(&self, resource: Resource, namespace: Option<&str>) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|((r, ns, _), _)| *r == resource && namespace.is_none_or(|n| n == ns))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// One object.
    pub fn get(&self, resource: Resource, namespace: &str, name: &str) -> Option<Value> {
        self.objects
            .get(&(resource, namespace.to_owned(), name.to_owned()))
            .cloned()
    }

    /// The current resource version.
    pub fn resource_version(&self) -> String {
        self.version.to_string()
    }

    fn bump(&mut self) -> String {
        self.version += 1;
        self.version.to_string()
    }

    /// Creates an object, filling metadata and status; `Err` is (HTTP status, reason, message).
    pub fn create(
        &mut self,
        resource: Resource,
        namespace: &str,
        mut obj: Value,
    ) -> Result<Value, (u16, &'static str, String)> {
        let name = obj
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if name.is_empty() {
            return Err((
                422,
                "Invalid",
                format!("{} name is required", resource.kind()),
            ));
        }
        if resource.namespaced() && self.get(Resource::Namespaces, "", namespace).is_none() {
            return Err((
                404,
                "NotFound",
                format!("namespaces \"{namespace}\" not found"),
            ));
        }
        let key = (
            resource,
            if resource.namespaced() {
                namespace.to_owned()
            } else {
                String::new()
            },
            name.clone(),
        );
        if self.objects.contains_key(&key) {
            return Err((
                409,
                "AlreadyExists",
                format!("{} \"{name}\" already exists", resource.plural()),
            ));
        }
        let rv = self.bump();
        let map =
            obj.as_object_mut()
                .ok_or((400, "BadRequest", "body must be an object".to_owned()))?;
        map.insert("apiVersion".into(), json!(resource.api_version()));
        map.insert("kind".into(), json!(resource.kind()));
        let meta = map.entry("metadata").or_insert_with(|| json!({}));
        if let Some(m) = meta.as_object_mut() {
            if resource.namespaced() {
                m.insert("namespace".into(), json!(namespace));
            }
            m.insert(
                "uid".into(),
                json!(format!("00000000-0000-4000-8000-{:012}", self.version)),
            );
            m.insert("resourceVersion".into(), json!(rv));
            m.insert("creationTimestamp".into(), json!(now_rfc3339()));
        }
        fill_status(resource, &mut obj);
        self.objects.insert(key, obj.clone());
        if resource == Resource::Deployments {
            self.reconcile_deployment(namespace, &name);
            return Ok(self.get(resource, namespace, &name).unwrap_or(obj));
        }
        Ok(obj)
    }

    /// Deletes an object (and, for a namespace, everything in it; for a deployment, its
    /// ReplicaSets).
    pub fn delete(&mut self, resource: Resource, namespace: &str, name: &str) -> Option<Value> {
        let obj = self
            .objects
            .remove(&(resource, namespace.to_owned(), name.to_owned()))?;
        if resource == Resource::Namespaces {
            self.objects.retain(|(_, ns, _), _| ns != name);
        }
        if resource == Resource::Deployments {
            let uid = obj
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .unwrap_or("");
            self.collect_replica_sets(namespace, uid);
        }
        self.bump();
        Some(obj)
    }

    /// Applies a JSON merge patch (strategic merge patches are treated the same); a changed
    /// deployment template makes a new revision.
    pub fn patch(
        &mut self,
        resource: Resource,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Option<Value> {
        self.patch_quietly(resource, namespace, name, patch)?;
        self.after_change(resource, namespace, name)
    }

    /// Applies an RFC 6902 JSON patch (`kubectl rollout undo` sends one); `Err` is (HTTP
    /// status, reason, message) and leaves the object as it was.
    pub fn json_patch(
        &mut self,
        resource: Resource,
        namespace: &str,
        name: &str,
        ops: &Value,
    ) -> Result<Option<Value>, (u16, &'static str, String)> {
        let Some(mut obj) = self.get(resource, namespace, name) else {
            return Ok(None);
        };
        super::patch::apply_json_patch(&mut obj, ops).map_err(|e| {
            (
                422,
                "Invalid",
                format!("the JSON patch was not applied: {e}"),
            )
        })?;
        let rv = self.bump();
        if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("resourceVersion".into(), json!(rv));
        }
        fill_status(resource, &mut obj);
        self.objects
            .insert((resource, namespace.to_owned(), name.to_owned()), obj);
        Ok(self.after_change(resource, namespace, name))
    }

    fn after_change(&mut self, resource: Resource, namespace: &str, name: &str) -> Option<Value> {
        if resource == Resource::Deployments {
            self.reconcile_deployment(namespace, name);
        }
        self.get(resource, namespace, name)
    }

    /// A merge patch without the controller's reaction (the controller's own writes).
    pub fn patch_quietly(
        &mut self,
        resource: Resource,
        namespace: &str,
        name: &str,
        patch: &Value,
    ) -> Option<Value> {
        let key = (resource, namespace.to_owned(), name.to_owned());
        let before = self.objects.get(&key)?.clone();
        let mut obj = before.clone();
        merge(&mut obj, patch);
        fill_status(resource, &mut obj);
        // As the real API server: a patch that changes nothing keeps the resourceVersion
        // (so `kubectl diff` of an applied manifest finds no differences).
        if obj != before {
            let rv = self.bump();
            if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
                m.insert("resourceVersion".into(), json!(rv));
            }
        }
        self.objects.insert(key, obj.clone());
        Some(obj)
    }

    /// Replaces an object's spec and metadata labels/annotations (PUT).
    pub fn replace(
        &mut self,
        resource: Resource,
        namespace: &str,
        name: &str,
        new: Value,
    ) -> Option<Value> {
        let mut patch = new;
        if let Some(m) = patch.as_object_mut() {
            m.remove("status");
        }
        self.patch(resource, namespace, name, &patch)
    }
}

fn fill_status(resource: Resource, obj: &mut Value) {
    let rs_status =
        (resource == Resource::ReplicaSets).then(|| super::rollout::replica_set_status(obj));
    let Some(map) = obj.as_object_mut() else {
        return;
    };
    match resource {
        Resource::Pods => {
            map.insert("status".into(), json!({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}], "containerStatuses": [{"name": "main", "ready": true, "restartCount": 0}]}));
        }
        Resource::Deployments => {
            let replicas = map
                .get("spec")
                .and_then(|s| s.get("replicas"))
                .and_then(Value::as_i64)
                .unwrap_or(1);
            // Every change is rolled out at once: observedGeneration follows generation.
            let generation = map
                .get("metadata")
                .and_then(|m| m.get("generation"))
                .and_then(Value::as_i64)
                .unwrap_or(1);
            map.insert("status".into(), json!({"replicas": replicas, "readyReplicas": replicas, "updatedReplicas": replicas, "availableReplicas": replicas,
                "observedGeneration": generation,
                "conditions": [{"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                               {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}));
        }
        Resource::Services => {
            let spec = map.entry("spec").or_insert_with(|| json!({}));
            if let Some(s) = spec.as_object_mut() {
                s.entry("type").or_insert(json!("ClusterIP"));
                s.entry("clusterIP").or_insert(json!("10.96.0.10"));
            }
        }
        Resource::Namespaces => {
            map.insert("status".into(), json!({"phase": "Active"}));
        }
        Resource::ReplicaSets => {
            map.insert("status".into(), rs_status.unwrap_or(Value::Null));
        }
        Resource::Events | Resource::Secrets => {}
    }
}

pub use super::patch::merge;
