//! A fake Kubernetes API server that the real `kubectl` can talk to: discovery, namespaces, pods,
//! services, secrets, deployments and their ReplicaSets (get/list/create/delete/patch/put/scale;
//! merge and JSON patches), a deployment controller that numbers each pod template as a revision
//! (`kubectl rollout history/undo` work), server-side tables, pod logs (`kubectl logs`, `-f` that
//! ends or stays open), and a generated kubeconfig.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let kube = vibectl_testkit::fake_kube::FakeKube::start().await?;
//! kube.add_pod("default", "web-1");
//! let kubeconfig = kube.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"))?;
//! // kubectl --kubeconfig /tmp/kubeconfig get pods
//! # Ok(()) }
//! ```

mod api;
pub mod patch;
pub mod rollout;
pub mod store;
mod table;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use store::{Resource, Store};

/// State shared by the request handlers.
#[derive(Clone, Debug)]
pub struct Shared {
    store: Arc<Mutex<Store>>,
    logs: Arc<Mutex<std::collections::BTreeMap<(String, String), PodLog>>>,
}

/// A pod's log, as `kubectl logs` reads it.
#[derive(Clone, Debug, Default)]
pub struct PodLog {
    /// The log's text.
    pub text: String,
    /// With `--follow`, the stream stays open after the text (a pod still running) instead of
    /// ending (a pod that has finished).
    pub stay_open: bool,
}

impl Shared {
    pub(crate) fn log(&self, namespace: &str, pod: &str) -> Option<PodLog> {
        let logs = match self.logs.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        logs.get(&(namespace.to_owned(), pod.to_owned())).cloned()
    }
}

/// A running fake API server; stops when dropped.
#[derive(Debug)]
pub struct FakeKube {
    addr: SocketAddr,
    shared: Shared,
    stop: watch::Sender<bool>,
}

impl FakeKube {
    /// Starts the server on `127.0.0.1` with a free port, served by a tokio task.
    pub async fn start() -> std::io::Result<FakeKube> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Shared {
            store: Arc::new(Mutex::new(Store::new())),
            logs: Arc::default(),
        };
        let (stop, mut stop_rx) = watch::channel(false);
        let app = axum::Router::new()
            .fallback(api::handle)
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stop_rx.wait_for(|s| *s).await;
                })
                .await;
        });
        Ok(FakeKube { addr, shared, stop })
    }

    /// Adds an Opaque Secret with `data` (values given in plain text, stored base64-encoded).
    pub fn add_secret(&self, namespace: &str, name: &str, data: &[(&str, &str)]) {
        use base64::Engine as _;
        let data: serde_json::Map<String, Value> = data
            .iter()
            .map(|(k, v)| {
                let encoded = base64::engine::general_purpose::STANDARD.encode(v);
                ((*k).to_owned(), json!(encoded))
            })
            .collect();
        let _ = self.insert(
            Resource::Secrets,
            json!({"metadata": {"name": name, "namespace": namespace}, "type": "Opaque", "data": data}),
        );
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig pointing at this server (context `fake`, namespace `default`).
    pub fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\ncurrent-context: fake\nusers:\n- name: fake\n  user:\n    token: fake-token\n",
            self.url()
        )
    }

    /// Writes the kubeconfig to `path` and returns the path.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<PathBuf> {
        std::fs::write(path, self.kubeconfig())?;
        Ok(path.to_owned())
    }

    fn with_store<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        let mut guard = match self.shared.store.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        f(&mut guard)
    }

    /// Creates any supported object from its JSON (namespace taken from its metadata).
    pub fn insert(&self, resource: Resource, obj: Value) -> Result<Value, String> {
        let ns = obj
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_owned();
        self.with_store(|s| {
            let r = s.create(resource, &ns, obj).map_err(|e| e.2);
            s.mutations.clear();
            r
        })
    }

    /// Adds a namespace.
    pub fn add_namespace(&self, name: &str) {
        let _ = self.insert(Resource::Namespaces, json!({"metadata": {"name": name}}));
    }

    /// Adds a running pod.
    pub fn add_pod(&self, namespace: &str, name: &str) {
        let _ = self.insert(
            Resource::Pods,
            json!({"metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
                   "spec": {"containers": [{"name": "main", "image": "nginx"}]}}),
        );
    }

    /// Sets the log `kubectl logs` reads for a pod (which must exist to be read).
    pub fn set_pod_log(&self, namespace: &str, pod: &str, log: PodLog) {
        let mut logs = match self.shared.logs.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        logs.insert((namespace.to_owned(), pod.to_owned()), log);
    }

    /// Adds a ClusterIP service on `port`.
    pub fn add_service(&self, namespace: &str, name: &str, port: u16) {
        let _ = self.insert(
            Resource::Services,
            json!({"metadata": {"name": name, "namespace": namespace},
                   "spec": {"ports": [{"port": port, "protocol": "TCP"}], "selector": {"app": name}}}),
        );
    }

    /// Adds a deployment with `replicas`.
    pub fn add_deployment(&self, namespace: &str, name: &str, replicas: i64) {
        let _ = self.insert(
            Resource::Deployments,
            json!({"metadata": {"name": name, "namespace": namespace},
                   "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                            "template": {"metadata": {"labels": {"app": name}},
                                         "spec": {"containers": [{"name": "main", "image": "nginx"}]}}}}),
        );
    }

    /// One object, if it exists.
    pub fn get(&self, resource: Resource, namespace: &str, name: &str) -> Option<Value> {
        let ns = if resource.namespaced() { namespace } else { "" };
        self.with_store(|s| s.get(resource, ns, name))
    }

    /// Names of the objects of `resource` in `namespace`.
    pub fn names(&self, resource: Resource, namespace: &str) -> Vec<String> {
        let ns = resource.namespaced().then_some(namespace);
        self.with_store(|s| {
            s.list(resource, ns)
                .iter()
                .filter_map(|o| {
                    o.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect()
        })
    }

    /// Every mutating request received (`METHOD path`), oldest first.
    pub fn mutations(&self) -> Vec<String> {
        self.with_store(|s| s.mutations.clone())
    }
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
