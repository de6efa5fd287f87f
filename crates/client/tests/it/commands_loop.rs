//! check, semiauto, modes, display options and the live commands (wait, port-forward), end to
//! end through the real binary.
use crate::support;

use serde_json::json;
use support::World;
use vibectl_testkit::fake_kube::Resource;

fn done(w: &World, code: i32, why: &str) {
    w.act(json!({"action_type": "DONE", "exit_code": code, "explanation": why}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_answers_with_each_of_the_reference_exit_codes() {
    let w = World::start().await;
    // A read-only step, then TRUE.
    w.plan(&["get", "deployment", "web"], None);
    done(&w, 0, "web has 2 ready replicas");
    let run = w.vibectl(&["check", "web has 2 ready replicas"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("TRUE: web has 2 ready replicas"),
        "{run:?}"
    );
    // The second plan saw what the first step printed.
    let second = w.requests().pop().unwrap();
    assert!(
        second.contains("Step 1: ran `kubectl get deployment web`"),
        "{second}"
    );
    for (code, word) in [(1, "FALSE"), (2, "POORLY POSED"), (3, "CANNOT DETERMINE")] {
        done(&w, code, "because");
        let run = w.vibectl(&["check", "something"]).await;
        assert_eq!(run.code, code, "{run:?}");
        assert!(run.stdout.contains(word), "{run:?}");
    }
    // A mutating plan ends the check (3) and never runs.
    w.plan(&["delete", "pod", "web-1"], None);
    let run = w.vibectl(&["--yes", "check", "web-1 can be deleted"]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("only runs read-only commands"),
        "{run:?}"
    );
    assert!(w.kube.get(Resource::Pods, "default", "web-1").is_some());
    // At most features.check_max_iterations steps.
    w.set("features.check_max_iterations", "2").await;
    for _ in 0..3 {
        w.act(json!({"action_type": "THOUGHT", "text": "hmm"}));
    }
    let before = w.llm_calls();
    let run = w.vibectl(&["check", "the moon is cheese"]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("within 2 steps"), "{run:?}");
    assert_eq!(w.llm_calls(), before + 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semiauto_confirms_every_step_and_offers_exit() {
    let w = World::start().await;
    w.plan(&["get", "pods"], None);
    let run = w.vibectl_tty(&["semiauto", "look around"], "e\n").await;
    assert_eq!(run.code, 0, "{run:?}");
    let all = run.all();
    assert!(
        all.contains("[e]xit") && all.contains("Exiting at your request"),
        "{all}"
    );
    // Nothing ran: no summary call followed the plan.
    assert_eq!(w.llm_calls(), 1);
    // Without a terminal, even a read-only step cannot be confirmed.
    w.plan(&["get", "pods"], None);
    let run = w.vibectl(&["semiauto", "look around"]).await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("needs confirmation"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modes_follow_the_reference_precedence() {
    let w = World::start().await;
    // Global confirmation_mode none: no question.
    w.set("security.confirmation_mode", "none").await;
    w.plan(&["delete", "pod", "web-1"], None);
    w.say("gone");
    let run = w.vibectl(&["vibe", "delete web-1"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(w.kube.get(Resource::Pods, "default", "web-1").is_none());
    // --mode manual beats the config: it asks (and there is no terminal).
    w.kube.add_pod("default", "web-2");
    w.plan(&["delete", "pod", "web-2"], None);
    let run = w
        .vibectl(&["--mode", "manual", "vibe", "delete web-2"])
        .await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(w.kube.get(Resource::Pods, "default", "web-2").is_some());
    // --mode semiauto asks even for a read.
    w.plan(&["get", "pods"], None);
    let run = w
        .vibectl(&["--mode", "semiauto", "vibe", "list pods"])
        .await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("needs confirmation"), "{run:?}");
    // --mode auto and --yes run it.
    w.plan(&["delete", "pod", "web-2"], None);
    w.say("gone");
    w.set("security.confirmation_mode", "per-command").await;
    let run = w.vibectl(&["--mode", "AUTO", "vibe", "delete web-2"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(w.kube.get(Resource::Pods, "default", "web-2").is_none());
    let run = w.vibectl(&["--mode", "sometimes", "vibe", "x"]).await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("manual") && run.stderr.contains("semiauto"),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn display_options_change_what_is_shown_and_called() {
    let w = World::start().await;
    // --no-show-vibe: kubectl's output, no model call.
    let run = w.vibectl(&["get", "pods", "--no-show-vibe"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("web-1"), "{run:?}");
    assert_eq!(w.mock.requests().len(), 0);
    // display.show_vibe false in the config does the same; --show-vibe turns it back on.
    w.set("display.show_vibe", "false").await;
    let run = w.vibectl(&["get", "pods"]).await;
    assert!(run.stdout.contains("web-1"), "{run:?}");
    assert_eq!(w.mock.requests().len(), 0);
    w.say("one pod");
    let run = w.vibectl(&["get", "pods", "--show-vibe"]).await;
    assert!(run.stdout.contains("one pod"), "{run:?}");
    // --show-metrics total prints one total line, sub one per call.
    w.say("one pod");
    let run = w
        .vibectl(&["--show-metrics", "total", "get", "--show-vibe", "pods"])
        .await;
    assert!(run.stderr.contains("[metrics] total: calls="), "{run:?}");
    assert!(!run.stderr.contains("[metrics] model="), "{run:?}");
    w.say("one pod");
    let run = w
        .vibectl(&["get", "pods", "--show-vibe", "--show-metrics", "sub"])
        .await;
    assert!(run.stderr.contains("[metrics] model="), "{run:?}");
    assert!(!run.stderr.contains("total:"), "{run:?}");
    // --show-raw-output prints kubectl's output before the summary; --no-show-kubectl hides
    // the command line.
    w.say("one pod");
    let run = w
        .vibectl(&[
            "--show-raw-output",
            "--no-show-kubectl",
            "get",
            "pods",
            "--show-vibe",
        ])
        .await;
    assert!(
        run.stdout.contains("web-1") && run.stdout.contains("one pod"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("Running:"), "{run:?}");
    // --verbose prints each call.
    w.say("one pod");
    let run = w
        .vibectl(&["--verbose", "get", "pods", "--show-vibe"])
        .await;
    assert!(run.stderr.contains("[debug] LLM call"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_is_updated_by_a_model_call_unless_frozen() {
    let w = World::start().await;
    w.plan(&["get", "services"], None);
    w.say("One service.");
    let run = w.vibectl(&["vibe", "get services"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(w.memory_calls(), 1);
    let mem = w.vibectl(&["memory", "show"]).await;
    assert!(mem.stdout.contains("ran `kubectl get services`"), "{mem:?}");
    // --freeze-memory: no memory call.
    w.plan(&["get", "pods"], None);
    w.say("One pod.");
    let run = w.vibectl(&["vibe", "get pods", "--freeze-memory"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(w.memory_calls(), 1);
    // memory freeze / unfreeze, and --unfreeze-memory for one command.
    assert_eq!(w.vibectl(&["memory", "freeze"]).await.code, 0);
    w.say("One pod.");
    w.vibectl(&["get", "pods"]).await;
    assert_eq!(w.memory_calls(), 1);
    w.say("One pod.");
    w.vibectl(&["get", "pods", "--unfreeze-memory"]).await;
    assert_eq!(w.memory_calls(), 2);
    assert_eq!(w.vibectl(&["memory", "unfreeze"]).await.code, 0);
    // memory update asks the model; the answer is sanitised and capped at memory.max_chars.
    w.set("memory.max_chars", "120").await;
    let secret = "ghp_abcdefghijklmnopqrstuvwxyz0123456789AB";
    w.mock.set_responder(None);
    w.say(&format!(
        "team moved to web2; key {secret}\x1b[2J{}",
        "x".repeat(500)
    ));
    let run = w
        .vibectl(&["memory", "update", "the", "team", "moved", "to", "web2"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let mem = w.vibectl(&["memory", "show"]).await;
    assert!(mem.stdout.contains("team moved to web2"), "{mem:?}");
    assert!(
        !mem.stdout.contains(secret) && !mem.stdout.contains('\x1b'),
        "{mem:?}"
    );
    assert!(mem.stdout.trim().chars().count() <= 120, "{mem:?}");
    // set from stdin is not a terminal here: TEXT is required.
    let run = w.vibectl(&["memory", "set"]).await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("--edit"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_and_port_forward_stop_on_their_bound() {
    let w = World::start().await;
    w.say("web is available.");
    let run = w
        .vibectl(&[
            "wait",
            "--for=condition=Available",
            "deployment/web",
            "--timeout=20s",
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("condition met"), "{run:?}");
    assert!(run.stdout.contains("web is available."), "{run:?}");
    // A wait that never ends stops at kubectl.timeout_seconds.
    w.set("kubectl.timeout_seconds", "3").await;
    w.say("still waiting");
    let run = w
        .vibectl(&["wait", "--for=delete", "pod/web-1", "--timeout=600s"])
        .await;
    assert_eq!(run.code, 124, "{run:?}");
    assert!(
        run.stderr.contains("stopped at its bound of 3 s"),
        "{run:?}"
    );
    // A port-forward runs until its bound, then ends cleanly.
    w.say("forwarded");
    let run = w
        .vibectl(&["port-forward", "pod/web-1", "0:80", "--no-show-vibe"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("stopped at its bound"), "{run:?}");
    // Its vibe form needs a yes, like every command that keeps running.
    w.plan(&["port-forward", "pod/web-1", "0:80"], None);
    let run = w
        .vibectl(&["port-forward", "vibe", "web-1 to a local port"])
        .await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("forwards local ports until Ctrl-C"),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_and_port_forward_stop_on_ctrl_c() {
    let w = World::start().await;
    for args in [
        &[
            "wait",
            "--for=delete",
            "pod/web-1",
            "--timeout=600s",
            "--no-show-vibe",
        ][..],
        &["port-forward", "pod/web-1", "0:80", "--no-show-vibe"][..],
    ] {
        let run = w.vibectl_tty(args, "\x03").await;
        assert_eq!(run.code, 130, "{args:?}: {run:?}");
        assert!(
            run.all().contains("interrupted (Ctrl-C)"),
            "{args:?}: {run:?}"
        );
    }
}
