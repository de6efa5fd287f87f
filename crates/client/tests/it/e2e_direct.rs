//! End to end in direct mode: the real vibectl binary, the mock provider, the real kubectl and
//! the fake Kubernetes API.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::support;

use support::World;
use vibectl_testkit::fake_kube::Resource;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vibe_get_services_runs_kubectl_and_prints_the_summary() {
    let w = World::start().await;
    w.plan(&["get", "services"], None);
    w.say("One service, web, exposes port 80.");
    let run = w.vibectl(&["vibe", "get services"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("kubectl get services"), "{run:?}");
    assert!(
        run.stdout.contains("One service, web, exposes port 80."),
        "{run:?}"
    );
    // The summary call saw kubectl's real output.
    let reqs = w.requests();
    assert_eq!(reqs.len(), 2);
    let summary_req = reqs[1].clone();
    assert!(summary_req.contains("80/TCP"), "{summary_req}");
    // The planner call asked for structured output.
    let plan_req = reqs[0].clone();
    assert!(
        plan_req.contains("json_schema") && plan_req.contains("action_type"),
        "{plan_req}"
    );
    // Memory records the step.
    let mem = w.vibectl(&["memory", "show"]).await;
    assert!(mem.stdout.contains("kubectl get services"), "{mem:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planned_delete_needs_confirmation_and_runs_with_yes() {
    let w = World::start().await;
    w.plan(&["delete", "pod", "web-1"], None);
    let run = w.vibectl(&["vibe", "delete the web-1 pod"]).await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("needs confirmation") && run.stderr.contains("--yes"),
        "{run:?}"
    );
    assert!(w.kube.get(Resource::Pods, "default", "web-1").is_some());
    assert!(w.kube.mutations().is_empty(), "{:?}", w.kube.mutations());

    w.plan(&["delete", "pod", "web-1"], None);
    w.say("Deleted pod web-1.");
    let run = w.vibectl(&["--yes", "vibe", "delete the web-1 pod"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(w.kube.get(Resource::Pods, "default", "web-1").is_none());
    assert!(run.stdout.contains("Deleted pod web-1."), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shell_syntax_and_other_programs_are_refused_and_nothing_runs() {
    let w = World::start().await;
    let plans: [&[&str]; 5] = [
        &["get", "pods;", "delete", "pod", "web-1"],
        &["get", "pods", "|", "sh"],
        &["delete", "pod", "$(echo web-1)"],
        &["bash", "-c", "kubectl delete pod web-1"],
        &["get", "pods", "`id`"],
    ];
    for plan in plans {
        w.plan(plan, None);
        let before = w.llm_calls();
        let run = w.vibectl(&["--yes", "vibe", "do it"]).await;
        assert_ne!(run.code, 0, "{plan:?}: {run:?}");
        assert!(
            run.stderr.contains("Refused") && run.stderr.contains("nothing was run"),
            "{plan:?}: {run:?}"
        );
        // Only the planner call happened: no kubectl output was summarised.
        assert_eq!(w.llm_calls(), before + 1, "{plan:?}");
    }
    assert!(w.kube.mutations().is_empty(), "{:?}", w.kube.mutations());
    assert!(w.kube.get(Resource::Pods, "default", "web-1").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_plan_gets_one_corrective_retry_then_a_clear_error() {
    let w = World::start().await;
    w.say("I think you should list pods.");
    w.plan(&["get", "pods"], None);
    w.say("One pod, web-1, is running.");
    let run = w.vibectl(&["vibe", "show pods"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("asking once more"), "{run:?}");
    assert!(run.stdout.contains("web-1, is running"), "{run:?}");

    w.say("still not json");
    w.say("{\"action\": {\"action_type\": \"LAUNCH\"}}");
    let run = w.vibectl(&["vibe", "show pods"]).await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("did not produce a valid plan after a corrective retry"),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_go_through_stdin_and_scale_changes_the_cluster() {
    let w = World::start().await;
    let manifest = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: api-1\nspec:\n  containers:\n  - name: main\n    image: nginx\n";
    w.plan(&["create"], Some(manifest));
    w.say("Created pod api-1.");
    let run = w.vibectl(&["--yes", "vibe", "create an api pod"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("kubectl create -f -"), "{run:?}");
    assert!(w.kube.get(Resource::Pods, "default", "api-1").is_some());

    w.plan(&["scale", "deployment", "web", "--replicas=3"], None);
    w.say("Scaled.");
    let run = w.vibectl(&["--yes", "vibe", "scale web to 3"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let d = w.kube.get(Resource::Deployments, "default", "web").unwrap();
    assert_eq!(d.pointer("/spec/replicas").unwrap(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_failure_gets_a_recovery_suggestion() {
    let w = World::start().await;
    w.plan(&["get", "pod", "nope"], None);
    w.say("The pod does not exist; list pods with kubectl get pods.");
    let run = w.vibectl(&["vibe", "show pod nope"]).await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("not found"), "{run:?}");
    assert!(
        run.all().contains("list pods with kubectl get pods"),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_wrapper_summarises_and_raw_skips_the_model() {
    let w = World::start().await;
    w.say("Deployment web has 2 of 2 replicas ready.");
    let run = w
        .vibectl(&["get", "deployments", "--show-metrics", "all"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("2 of 2 replicas ready"), "{run:?}");
    assert!(
        run.stderr.contains("[metrics] model=openai/gpt-4o"),
        "{run:?}"
    );
    let calls = w.llm_calls();
    let run = w.vibectl(&["get", "--raw", "pods"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("web-1") && run.stdout.contains("Running"),
        "{run:?}"
    );
    assert_eq!(w.llm_calls(), calls);
    let run = w.vibectl(&["just", "get", "svc", "web"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("80/TCP"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_loops_until_done() {
    let w = World::start().await;
    w.plan(&["get", "pods"], None);
    w.say("web-1 is running.");
    w.mock.push_reply(vibectl_testkit::MockReply::text(
        r#"{"action": {"action_type": "THOUGHT", "text": "Everything looks healthy."}}"#,
    ));
    w.mock.push_reply(vibectl_testkit::MockReply::text(
        r#"{"action": {"action_type": "DONE", "exit_code": 0, "explanation": "All pods are running."}}"#,
    ));
    let run = w
        .vibectl(&[
            "auto",
            "make sure pods run",
            "--limit",
            "5",
            "--interval",
            "0",
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("web-1 is running."), "{run:?}");
    assert!(run.stdout.contains("Everything looks healthy."), "{run:?}");
    assert!(run.stdout.contains("All pods are running."), "{run:?}");
    assert_eq!(w.llm_calls(), 4);
    // The later plans saw what earlier steps did, through memory.
    let last = w.requests()[3].clone();
    assert!(last.contains("kubectl get pods"), "{last}");

    // The limit stops a loop that never says DONE.
    for _ in 0..2 {
        w.mock.push_reply(vibectl_testkit::MockReply::text(
            r#"{"action": {"action_type": "THOUGHT", "text": "thinking"}}"#,
        ));
    }
    let run = w
        .vibectl(&["auto", "loop", "--limit", "2", "--interval", "0"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("stopped after 2 steps"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_mode_with_anthropic() {
    let w = World::start().await;
    let url = w.mock.anthropic_base_url();
    w.vibectl(&["config", "set", "providers.anthropic.base_url", &url])
        .await;
    w.vibectl(&["config", "set", "llm.model", "claude-4-sonnet"])
        .await;
    w.plan(&["get", "deployments"], None);
    w.say("web has 2 replicas.");
    let run = w
        .vibectl_env(
            &["vibe", "how many replicas"],
            &[("ANTHROPIC_API_KEY", "test-key")],
        )
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("web has 2 replicas."), "{run:?}");
    let req = &w.mock.requests()[0];
    assert_eq!(req.header("x-api-key"), Some("test-key"));
    // Without any key the error says which variable to set.
    let run = w.vibectl(&["vibe", "x"]).await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("no API key for anthropic") && run.stderr.contains("ANTHROPIC_API_KEY"),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_running_kubectl_is_bounded_by_the_timeout() {
    let w = World::start().await;
    w.vibectl(&["config", "set", "kubectl.timeout_seconds", "1"])
        .await;
    w.plan(
        &[
            "wait",
            "--for=condition=Ready",
            "pod/web-1",
            "--timeout=120s",
        ],
        None,
    );
    w.say("The wait did not finish; check the pod's events.");
    let start = std::time::Instant::now();
    let run = w.vibectl(&["vibe", "wait for web-1"]).await;
    assert!(
        start.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("stopped after 1 s"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_the_user_is_asked() {
    let w = World::start().await;
    w.plan(&["delete", "pod", "web-1"], None);
    let run = w.vibectl_tty(&["vibe", "delete web-1"], "n\n").await;
    assert!(
        run.stdout
            .contains("About to run: kubectl delete pod web-1")
            && run.stdout.contains("Run it? [y]es, [N]o"),
        "{run:?}"
    );
    assert!(run.stdout.contains("Not run."), "{run:?}");
    assert!(w.kube.get(Resource::Pods, "default", "web-1").is_some());

    w.plan(&["delete", "pod", "web-1"], None);
    w.say("Deleted.");
    let run = w.vibectl_tty(&["vibe", "delete web-1"], "y\n").await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        w.kube.get(Resource::Pods, "default", "web-1").is_none(),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_auto() {
    let w = World::start().await;
    w.mock.push_reply(vibectl_testkit::MockReply::text(
        r#"{"action": {"action_type": "WAIT", "duration_seconds": 60}}"#,
    ));
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vibectl"));
    cmd.args(["auto", "wait for it", "--limit", "3", "--interval", "0"])
        .env("VIBECTL_CLIENT_CONFIG_DIR", w.config_dir())
        .env("HOME", w.dir.path())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (k, v) in &w.env {
        cmd.env(k, v);
    }
    let child = cmd.spawn().unwrap();
    let pid = child.id().to_string();
    let start = std::time::Instant::now();
    let out = tokio::task::spawn_blocking(move || {
        // Interrupt once the WAIT has started.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        std::process::Command::new("/bin/kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("Waiting 60 s") && stderr.contains("Interrupted"),
        "{stderr}"
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_mode_skips_confirmation_but_never_a_refusal() {
    let w = World::start().await;
    vibectl_testkit::script::Script::new()
        .command(&["delete", "pod", "web-1"])
        .say("Deleted web-1.")
        .command(&["get", "pods;", "delete", "svc", "web"])
        .push_onto(&w.mock);
    let run = w
        .vibectl(&["auto", "clean up", "--limit", "2", "--interval", "0"])
        .await;
    assert!(
        w.kube.get(Resource::Pods, "default", "web-1").is_none(),
        "{run:?}"
    );
    assert!(run.stderr.contains("Refused"), "{run:?}");
    assert_ne!(run.code, 0, "{run:?}");
    assert!(w.kube.get(Resource::Services, "default", "web").is_some());
}
