//! The deployment files in deploy/: the systemd unit passes `systemd-analyze verify` (and its
//! offline security review), the Kubernetes manifests pass `kubectl apply --dry-run=client`
//! against a discovery-only API, and the configs they carry validate with our binary.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn ours() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vibectl-server"))
}

fn validate(config: &Path, env: &[(&str, &str)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(ours());
    cmd.arg("--config")
        .arg(config)
        .args(["--state-dir"])
        .arg(dir.path())
        .args(["config", "validate"])
        .env("HOME", dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{}: {text}", config.display());
    assert!(
        !text.contains("unknown key"),
        "{}: {text}",
        config.display()
    );
    text
}

#[test]
fn systemd_unit_verifies_and_is_sandboxed() {
    let unit = std::fs::read_to_string(deploy().join("systemd/vibectl-server.service")).unwrap();
    for want in [
        "User=vibectl-server",
        "StateDirectory=vibectl-server",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.contains(want), "the unit has {want}");
    }
    // verify checks that ExecStart exists: point it at the binary under test.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("vibectl-server.service");
    std::fs::write(
        &copy,
        unit.replace(
            "/usr/local/bin/vibectl-server",
            &ours().display().to_string(),
        ),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .expect("systemd-analyze (scripts/test-deps.sh installs systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "{stderr}");
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--threshold=20"])
        .arg(&copy)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "exposure above 2.0:\n{text}");
    // The config it starts with validates, with the state where StateDirectory= puts it.
    validate(
        &deploy().join("systemd/config.yaml"),
        &[("STATE_DIRECTORY", "/var/lib/vibectl-server")],
    );
}

/// Discovery for the kinds in deploy/kubernetes, and 404 for every object (nothing exists yet),
/// which is all `kubectl apply --dry-run=client` asks of a server.
async fn discovery_api() -> (String, tokio::task::JoinHandle<()>) {
    use axum::extract::Request;
    use axum::response::IntoResponse;
    use serde_json::json;

    fn resources(group_version: &str, list: &[(&str, &str, bool)]) -> serde_json::Value {
        let rs: Vec<_> = list
            .iter()
            .map(|(name, kind, namespaced)| {
                json!({"name": name, "singularName": "", "namespaced": namespaced, "kind": kind,
                "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
            })
            .collect();
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": rs})
    }
    async fn handle(req: Request) -> axum::response::Response {
        let path = req.uri().path().trim_end_matches('/').to_owned();
        let body = match path.as_str() {
            "/version" => json!({"major": "1", "minor": "32", "gitVersion": "v1.32.0"}),
            "/api" => json!({"kind": "APIVersions", "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
            "/apis" => json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": [
                {"name": "apps", "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"}},
                {"name": "policy", "versions": [{"groupVersion": "policy/v1", "version": "v1"}],
                 "preferredVersion": {"groupVersion": "policy/v1", "version": "v1"}}]}),
            "/api/v1" => resources(
                "v1",
                &[
                    ("namespaces", "Namespace", false),
                    ("configmaps", "ConfigMap", true),
                    ("secrets", "Secret", true),
                    ("services", "Service", true),
                ],
            ),
            "/apis/apps/v1" => resources("apps/v1", &[("deployments", "Deployment", true)]),
            "/apis/policy/v1" => resources(
                "policy/v1",
                &[("poddisruptionbudgets", "PodDisruptionBudget", true)],
            ),
            _ => {
                return (
                    http::StatusCode::NOT_FOUND,
                    axum::Json(
                        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                        "reason": "NotFound", "code": 404, "message": "not found"}),
                    ),
                )
                    .into_response()
            }
        };
        axum::Json(body).into_response()
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(handle);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

/// The `config.yaml` a ConfigMap manifest carries.
fn configmap_config(path: &Path) -> String {
    let v: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["data"]["config.yaml"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn kubernetes_manifests_apply_and_carry_a_valid_config() {
    let (url, _api) = discovery_api().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster: {{server: \"{url}\"}}\n\
             contexts:\n- name: fake\n  context: {{cluster: fake, user: fake}}\ncurrent-context: fake\n\
             users:\n- name: fake\n  user: {{token: fake}}\n"
        ),
    )
    .unwrap();
    let k8s = deploy().join("kubernetes");
    let run = |path: PathBuf| {
        let kubeconfig = kubeconfig.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                Command::new("kubectl")
                    .args([
                        "apply",
                        "--dry-run=client",
                        "--validate=false",
                        "-o",
                        "name",
                        "-f",
                    ])
                    .arg(&path)
                    .env("KUBECONFIG", &kubeconfig)
                    .env("HOME", kubeconfig.parent().unwrap())
                    .output()
                    .expect("kubectl (scripts/test-deps.sh installs it)")
            })
            .await
            .unwrap()
        }
    };
    let out = run(k8s.clone()).await;
    let names = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{names}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "namespace/vibectl",
        "configmap/vibectl-server-config",
        "secret/vibectl-server",
        "deployment.apps/vibectl-server",
        "service/vibectl-server",
        "poddisruptionbudget.policy/vibectl-server",
    ] {
        assert!(names.contains(want), "{want} in:\n{names}");
    }
    let out = run(k8s.join("redis")).await;
    let names = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        names.contains("deployment.apps/vibectl-redis") && names.contains("service/vibectl-redis")
    );

    // What the Deployment relies on: gRPC probes on the serving port, a drain longer than the grace.
    let d: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(k8s.join("deployment.yaml")).unwrap())
            .unwrap();
    let c = &d["spec"]["template"]["spec"]["containers"][0];
    for probe in ["startupProbe", "readinessProbe", "livenessProbe"] {
        assert_eq!(c[probe]["grpc"]["port"].as_u64(), Some(50051), "{probe}");
    }
    let grace = d["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        .as_u64()
        .unwrap();
    let config = configmap_config(&k8s.join("configmap.yaml"));
    let (cfg, _) = vibectl_server::config::ServerConfig::parse(&config).unwrap();
    assert!(
        grace > cfg.server.shutdown_grace_seconds + 5,
        "grace {grace}"
    );
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, &config).unwrap();
    validate(
        &file,
        &[("VIBECTL_JWT_SECRET", "k8s-secret-0123456789abcdef")],
    );
    // The Redis variant the comment describes validates too.
    let redis = config.replace(
        "backend: embedded",
        "backend: redis\n  redis_url: redis://vibectl-redis.vibectl.svc:6379/0",
    );
    std::fs::write(&file, &redis).unwrap();
    let (cfg, _) = vibectl_server::config::ServerConfig::parse(&redis).unwrap();
    assert_eq!(
        cfg.state.backend,
        vibectl_server::config::StateBackend::Redis
    );
    validate(
        &file,
        &[("VIBECTL_JWT_SECRET", "k8s-secret-0123456789abcdef")],
    );
}
