//! The reference's kubectl-style commands end to end: the real vibectl, the mock model, the real
//! kubectl on the fake API; each plain and in its vibe form.
use crate::support;

use serde_json::json;
use support::World;
use vibectl_testkit::fake_kube::Resource;

fn replicas(w: &World, name: &str) -> i64 {
    w.kube
        .get(Resource::Deployments, "default", name)
        .and_then(|d| d.pointer("/spec/replicas").and_then(|r| r.as_i64()))
        .unwrap_or(-1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_commands_run_kubectl_and_summarise() {
    let w = World::start().await;
    let cases: [(&[&str], &str); 6] = [
        (&["get", "pods"], "web-1"),
        (&["describe", "deployment", "web"], "web"),
        (&["events"], ""),
        (&["cluster-info"], "Kubernetes control plane"),
        (&["version", "--client"], "Client"),
        (
            &["rollout", "status", "deployment/web"],
            "successfully rolled out",
        ),
    ];
    for (args, seen) in cases {
        let summary = format!("summary of {}", args.join(" "));
        w.say(&summary);
        let run = w.vibectl(args).await;
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        assert!(run.stdout.contains(&summary), "{args:?}: {run:?}");
        let last = w.requests().pop().unwrap();
        assert!(
            last.contains(seen),
            "{args:?}: the summary call saw kubectl's output: {last}"
        );
    }
    assert!(w.kube.mutations().is_empty(), "{:?}", w.kube.mutations());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutating_commands_change_the_fake_cluster() {
    let w = World::start().await;
    for _ in 0..8 {
        w.say("Done.");
    }
    let ns = w.dir.path().join("ns.yaml");
    std::fs::write(
        &ns,
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team\n",
    )
    .unwrap();
    let run = w.vibectl(&["create", "-f", ns.to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(w.kube.get(Resource::Namespaces, "", "team").is_some());
    let run = w
        .vibectl(&["scale", "deployment/web", "--replicas=4"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(replicas(&w, "web"), 4);
    let run = w
        .vibectl(&[
            "patch",
            "deployment",
            "web",
            "-p",
            r#"{"spec":{"replicas":5}}"#,
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(replicas(&w, "web"), 5);
    let run = w.vibectl(&["rollout", "restart", "deployment/web"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let d = w.kube.get(Resource::Deployments, "default", "web").unwrap();
    assert!(d.to_string().contains("restartedAt"), "{d}");
    let run = w.vibectl(&["rollout", "pause", "deployment/web"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let d = w.kube.get(Resource::Deployments, "default", "web").unwrap();
    assert_eq!(d.pointer("/spec/paused"), Some(&json!(true)), "{d}");
    let run = w.vibectl(&["rollout", "resume", "deployment/web"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let manifest = w.dir.path().join("svc.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: api\n  namespace: default\nspec:\n  ports:\n  - port: 8080\n",
    )
    .unwrap();
    let run = w
        .vibectl(&["apply", "-f", manifest.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(w.kube.get(Resource::Services, "default", "api").is_some());
    let run = w.vibectl(&["delete", "pod", "web-1"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(w.kube.get(Resource::Pods, "default", "web-1").is_none());
}

const WEB_DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: REPLICAS\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: main\n        image: nginx\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_exits_as_kubectl_diff_does_and_still_summarises() {
    let w = World::start().await;
    let manifest = w.dir.path().join("web.yaml");
    let path = manifest.to_str().unwrap();
    // Differences found: kubectl diff exits 1, and so does vibectl, after the summary.
    std::fs::write(&manifest, WEB_DEPLOYMENT.replace("REPLICAS", "7")).unwrap();
    w.say("The live deployment would go from 2 to 7 replicas.");
    let run = w.vibectl(&["diff", "-f", path, "--show-raw-output"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("+  replicas: 7"), "{run:?}");
    assert!(run.stdout.contains("2 to 7 replicas"), "{run:?}");
    assert_eq!(replicas(&w, "web"), 2);
    assert!(w.kube.mutations().is_empty(), "{:?}", w.kube.mutations());
    // Without a summary too.
    let run = w.vibectl(&["diff", "-f", path, "--no-show-vibe"]).await;
    assert_eq!(run.code, 1, "{run:?}");
    // No differences (the manifest as applied): 0.
    std::fs::write(&manifest, WEB_DEPLOYMENT.replace("REPLICAS", "2")).unwrap();
    let applied = std::process::Command::new("kubectl")
        .args(["--kubeconfig", &w.env[0].1, "apply", "-f", path])
        .output()
        .unwrap();
    assert!(applied.status.success(), "{applied:?}");
    w.say("No changes.");
    let run = w.vibectl(&["diff", "-f", path]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("No changes."), "{run:?}");
    // kubectl's own error: its exit code (above 1), with the recovery suggestion.
    let plain = std::process::Command::new("kubectl")
        .args([
            "--kubeconfig",
            &w.env[0].1,
            "diff",
            "-f",
            "/nonexistent/x.yaml",
        ])
        .output()
        .unwrap();
    let kubectl_code = plain.status.code().unwrap();
    assert!(kubectl_code > 1, "{plain:?}");
    w.say("Check the path.");
    let run = w.vibectl(&["diff", "-f", "/nonexistent/x.yaml"]).await;
    assert_eq!(run.code, kubectl_code, "{run:?}");
    assert!(run.stderr.contains("does not exist"), "{run:?}");
    assert!(run.stdout.contains("Check the path."), "{run:?}");
    // The vibe form (reading a local file needs a yes): the planned diff's exit code, after
    // its summary.
    std::fs::write(&manifest, WEB_DEPLOYMENT.replace("REPLICAS", "5")).unwrap();
    w.plan(&["diff", "-f", path], None);
    w.say("It would scale web to 5.");
    let run = w
        .vibectl(&["diff", "vibe", "web.yaml against the cluster", "--yes"])
        .await;
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.contains("scale web to 5"), "{run:?}");
    std::fs::write(&manifest, WEB_DEPLOYMENT.replace("REPLICAS", "2")).unwrap();
    w.plan(&["diff", "-f", path], None);
    w.say("Nothing would change.");
    let run = w
        .vibectl(&["diff", "vibe", "web.yaml against the cluster", "--yes"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Nothing would change."), "{run:?}");
    assert_eq!(replicas(&w, "web"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_has_a_vibe_form_checked_by_the_policy() {
    let w = World::start().await;
    // Read-only plans run at once.
    let reads: [(&[&str], &[&str]); 5] = [
        (&["get"], &["get", "pods"]),
        (&["describe"], &["describe", "pod", "web-1"]),
        (&["events"], &["events"]),
        (&["cluster-info"], &["cluster-info"]),
        (
            &["rollout", "status"],
            &["rollout", "status", "deployment/web"],
        ),
    ];
    for (cmd, plan) in reads {
        w.plan(plan, None);
        w.say("vibe summary");
        let mut args: Vec<&str> = cmd.to_vec();
        args.extend(["vibe", "the web things"]);
        let run = w.vibectl(&args).await;
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        assert!(run.stdout.contains("vibe summary"), "{args:?}: {run:?}");
        // The planner was told which verb to use.
        let plan_req = w.requests().into_iter().rev().nth(1).unwrap();
        assert!(
            plan_req.contains(&format!("vibectl {} vibe", cmd.join(" "))),
            "{plan_req}"
        );
    }
    // Mutating plans need a yes: without a terminal nothing runs.
    w.plan(&["scale", "deployment/web", "--replicas=3"], None);
    let run = w.vibectl(&["scale", "vibe", "web to 3"]).await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("needs confirmation"), "{run:?}");
    assert_eq!(replicas(&w, "web"), 2);
    // With --yes (or --mode auto) they run.
    let plans: [(&[&str], &[&str]); 4] = [
        (&["scale"], &["scale", "deployment/web", "--replicas=3"]),
        (
            &["patch"],
            &[
                "patch",
                "deployment",
                "web",
                "-p",
                r#"{"spec":{"replicas":6}}"#,
            ],
        ),
        (
            &["rollout", "restart"],
            &["rollout", "restart", "deployment/web"],
        ),
        (&["create"], &["create"]),
    ];
    for (cmd, plan) in plans {
        let manifest = (plan == ["create"])
            .then_some("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ops\n");
        w.plan(plan, manifest);
        w.say("changed");
        let mut args = vec!["--mode", "auto"];
        args.extend(cmd);
        args.extend(["vibe", "do it"]);
        let run = w.vibectl(&args).await;
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
    }
    assert_eq!(replicas(&w, "web"), 6);
    assert!(w.kube.get(Resource::Namespaces, "", "ops").is_some());
    w.plan(&["delete", "pod", "web-1"], None);
    w.say("deleted");
    let run = w
        .vibectl(&["delete", "vibe", "the web-1 pod", "--yes"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(w.kube.get(Resource::Pods, "default", "web-1").is_none());
    // A plan with another verb than the command's is refused and never runs.
    w.plan(&["delete", "deployment", "web"], None);
    let run = w
        .vibectl(&["--yes", "get", "vibe", "the web deployment"])
        .await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("may only run `kubectl get`"), "{run:?}");
    assert!(w
        .kube
        .get(Resource::Deployments, "default", "web")
        .is_some());
    // Shell syntax stays refused in every vibe form.
    w.plan(&["delete", "pod", "x;", "rm", "-rf", "/"], None);
    let run = w.vibectl(&["--yes", "delete", "vibe", "x"]).await;
    assert!(run.stderr.contains("Refused"), "{run:?}");
    // An empty request is a usage error naming the fix.
    let run = w.vibectl(&["delete", "vibe"]).await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("vibectl delete vibe \""), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intelligent_apply_shows_the_diff_and_applies_only_after_yes() {
    let w = World::start().await;
    let manifest = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: 9\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: main\n        image: nginx\n";
    // No terminal: the diff is shown, nothing is applied.
    w.plan(&["apply"], Some(manifest));
    let run = w.vibectl(&["apply", "vibe", "web with 9 replicas"]).await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("+  replicas: 9"), "{run:?}");
    assert!(
        run.stderr.contains("kubectl diff against the live objects"),
        "{run:?}"
    );
    assert_eq!(replicas(&w, "web"), 2);
    assert!(w.kube.mutations().is_empty(), "{:?}", w.kube.mutations());
    // On a terminal, "n" keeps the cluster as it is.
    w.plan(&["apply"], Some(manifest));
    let run = w
        .vibectl_tty(&["apply", "vibe", "web with 9 replicas"], "n\n")
        .await;
    assert!(run.all().contains("replicas: 9"), "{run:?}");
    assert_eq!(replicas(&w, "web"), 2);
    assert!(w.kube.mutations().is_empty(), "{:?}", w.kube.mutations());
    // "y" applies it.
    w.plan(&["apply"], Some(manifest));
    w.say("Applied: web now has 9 replicas.");
    let run = w
        .vibectl_tty(&["apply", "vibe", "web with 9 replicas"], "y\n")
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(replicas(&w, "web"), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intelligent_edit_reads_the_object_drafts_shows_the_diff_and_asks() {
    let w = World::start().await;
    let edited = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\n  labels:\n    tier: frontend\nspec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: main\n        image: nginx\n";
    w.plan(&["get", "deployment", "web", "-o", "yaml"], None);
    w.plan(&["apply"], Some(edited));
    let run = w
        .vibectl(&["edit", "vibe", "label web tier=frontend"])
        .await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("+    tier: frontend"), "{run:?}");
    assert!(w.kube.mutations().is_empty(), "{:?}", w.kube.mutations());
    // The draft call saw the live object.
    let draft = w.requests().pop().unwrap();
    assert!(
        draft.contains("Live object") && draft.contains("nginx"),
        "{draft}"
    );
    // Confirmed with --yes, it is applied.
    w.plan(&["get", "deployment", "web", "-o", "yaml"], None);
    w.plan(&["apply"], Some(edited));
    w.say("Labelled.");
    let run = w
        .vibectl(&["--yes", "edit", "vibe", "label web tier=frontend"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let d = w.kube.get(Resource::Deployments, "default", "web").unwrap();
    assert_eq!(
        d.pointer("/metadata/labels/tier"),
        Some(&json!("frontend")),
        "{d}"
    );
    // A first step that is not a read is refused.
    w.plan(&["delete", "deployment", "web"], None);
    let run = w.vibectl(&["--yes", "edit", "vibe", "web"]).await;
    assert_ne!(run.code, 0);
    assert!(w
        .kube
        .get(Resource::Deployments, "default", "web")
        .is_some());
}
