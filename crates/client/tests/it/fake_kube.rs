//! The fake Kubernetes API works with the real kubectl.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use vibectl_testkit::fake_kube::{FakeKube, Resource};

fn kubectl(
    kubeconfig: &std::path::Path,
    args: &[&str],
    stdin: Option<&str>,
) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new("/usr/bin/kubectl")
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(args)
        .env("HOME", kubeconfig.parent().unwrap())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut pipe = child.stdin.take().unwrap();
    if let Some(s) = stdin {
        pipe.write_all(s.as_bytes()).unwrap();
    }
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_kubectl_lists_creates_scales_and_deletes() {
    let kube = FakeKube::start().await.unwrap();
    kube.add_pod("default", "web-1");
    kube.add_service("default", "web", 80);
    kube.add_deployment("default", "web", 2);
    let dir = tempfile::tempdir().unwrap();
    let kc = kube
        .write_kubeconfig(&dir.path().join("kubeconfig"))
        .unwrap();
    let k = |args: &'static [&'static str], stdin: Option<&'static str>| {
        let kc = kc.clone();
        tokio::task::spawn_blocking(move || kubectl(&kc, args, stdin))
    };

    let (code, out, err) = k(&["get", "pods", "-n", "default"], None).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("NAME") && out.contains("web-1") && out.contains("Running"),
        "{out}"
    );

    let (code, out, err) = k(&["get", "services"], None).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("web") && out.contains("80/TCP"), "{out}");

    let (code, out, err) = k(&["get", "deploy", "web", "-o", "json"], None)
        .await
        .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"replicas\": 2"), "{out}");

    let (code, _, err) = k(&["scale", "deployment", "web", "--replicas=3"], None)
        .await
        .unwrap();
    assert_eq!(code, 0, "{err}");
    let d = kube.get(Resource::Deployments, "default", "web").unwrap();
    assert_eq!(d.pointer("/spec/replicas").unwrap(), 3);

    let (code, _, err) = k(
        &[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"metadata":{"labels":{"tier":"front"}}}"#,
        ],
        None,
    )
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        kube.get(Resource::Deployments, "default", "web")
            .unwrap()
            .pointer("/metadata/labels/tier")
            .unwrap(),
        "front"
    );

    let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: api-1\nspec:\n  containers:\n  - name: main\n    image: nginx\n";
    let (code, out, err) = k(&["create", "-f", "-"], Some(manifest)).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pod/api-1 created"), "{out}");

    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {app: api}\n  template:\n    metadata:\n      labels: {app: api}\n    spec:\n      containers:\n      - name: main\n        image: nginx\n";
    let (code, out, err) = k(&["apply", "-f", "-"], Some(deploy)).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("deployment.apps/api created"), "{out}");
    let changed: &'static str = Box::leak(
        deploy
            .replace("replicas: 1", "replicas: 4")
            .into_boxed_str(),
    );
    let (code, out, err) = k(&["apply", "-f", "-"], Some(changed)).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("deployment.apps/api configured"), "{out}");
    assert_eq!(
        kube.get(Resource::Deployments, "default", "api")
            .unwrap()
            .pointer("/spec/replicas")
            .unwrap(),
        4
    );

    let (code, out, err) = k(&["delete", "pod", "web-1"], None).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"web-1\" deleted"), "{out}");
    assert_eq!(
        kube.names(Resource::Pods, "default"),
        vec!["api-1".to_owned()]
    );

    let (code, out, err) = k(&["get", "namespaces"], None).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("kube-system"), "{out}");

    let (code, _, err) = k(&["get", "pod", "nope"], None).await.unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("not found"), "{err}");
}

fn image(kube: &FakeKube, name: &str) -> String {
    kube.get(Resource::Deployments, "default", name)
        .and_then(|d| {
            d.pointer("/spec/template/spec/containers/0/image")
                .and_then(|i| i.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_kubectl_sees_revisions_and_rolls_back() {
    let kube = FakeKube::start().await.unwrap();
    kube.add_deployment("default", "web", 2);
    let dir = tempfile::tempdir().unwrap();
    let kc = kube
        .write_kubeconfig(&dir.path().join("kubeconfig"))
        .unwrap();
    let k = |args: &'static [&'static str]| {
        let kc = kc.clone();
        tokio::task::spawn_blocking(move || kubectl(&kc, args, None))
    };
    // One template so far: one revision, nothing to undo.
    let (code, out, err) = k(&["rollout", "history", "deployment/web"]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("REVISION") && out.contains("1 "), "{out}");
    let (code, _, err) = k(&["rollout", "undo", "deployment/web"]).await.unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("no rollout history found"), "{err}");
    // set image, then a restart: two more revisions; replica counts stay consistent.
    let (code, _, err) = k(&["set", "image", "deployment/web", "main=nginx:1.27"])
        .await
        .unwrap();
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = k(&[
        "annotate",
        "deployment/web",
        "kubernetes.io/change-cause=pin nginx 1.28",
    ])
    .await
    .unwrap();
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = k(&["set", "image", "deployment/web", "main=nginx:1.28"])
        .await
        .unwrap();
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = k(&["get", "rs"]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 4, "{out}");
    let (code, out, err) = k(&["rollout", "history", "deployment/web"]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    for rev in ["1 ", "2 ", "3 "] {
        assert!(out.lines().any(|l| l.starts_with(rev)), "{out}");
    }
    assert!(out.contains("pin nginx 1.28"), "{out}");
    let (code, out, err) = k(&["rollout", "history", "deployment/web", "--revision=2"])
        .await
        .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("revision #2") && out.contains("nginx:1.27") && !out.contains("nginx:1.28"),
        "{out}"
    );
    let (code, _, err) = k(&["rollout", "history", "deployment/web", "--revision=9"])
        .await
        .unwrap();
    assert_ne!(code, 0);
    assert!(
        err.contains("unable to find the specified revision"),
        "{err}"
    );
    // undo goes back to the previous template; that ReplicaSet becomes revision 4.
    let (code, out, err) = k(&["rollout", "undo", "deployment/web"]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("rolled back"), "{out}");
    assert_eq!(image(&kube, "web"), "nginx:1.27");
    let (_, out, _) = k(&["rollout", "history", "deployment/web"]).await.unwrap();
    assert!(!out.lines().any(|l| l.starts_with("2 ")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("4 ")), "{out}");
    // --to-revision picks one; the current one is skipped.
    let (code, _, err) = k(&["rollout", "undo", "deployment/web", "--to-revision=1"])
        .await
        .unwrap();
    assert_eq!(code, 0, "{err}");
    assert_eq!(image(&kube, "web"), "nginx");
    let (code, out, err) = k(&["rollout", "undo", "deployment/web", "--to-revision=5"])
        .await
        .unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("skipped rollback"), "{out}");
    let (code, _, err) = k(&["rollout", "undo", "deployment/web", "--to-revision=2"])
        .await
        .unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("unable to find specified revision 2"), "{err}");
    // A restart is a new template too; a paused deployment cannot be rolled back.
    let (code, _, err) = k(&["rollout", "restart", "deployment/web"]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = k(&["rollout", "history", "deployment/web"]).await.unwrap();
    assert!(out.lines().any(|l| l.starts_with("6 ")), "{out}");
    let (code, _, err) = k(&["rollout", "pause", "deployment/web"]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = k(&["rollout", "undo", "deployment/web"]).await.unwrap();
    assert_ne!(code, 0);
    assert!(err.contains("paused"), "{err}");
    // Deleting the deployment collects its ReplicaSets.
    let (code, _, err) = k(&["delete", "deployment", "web"]).await.unwrap();
    assert_eq!(code, 0, "{err}");
    assert!(kube.names(Resource::ReplicaSets, "default").is_empty());
}
