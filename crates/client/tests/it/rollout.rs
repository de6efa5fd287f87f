//! `rollout history` and `rollout undo` end to end: the real vibectl, the mock model and the
//! real kubectl on the fake API, whose deployment controller numbers each pod template.
use crate::support;

use support::World;
use vibectl_testkit::fake_kube::Resource;

fn image(w: &World) -> String {
    w.kube
        .get(Resource::Deployments, "default", "web")
        .and_then(|d| {
            d.pointer("/spec/template/spec/containers/0/image")
                .and_then(|i| i.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// The `web` deployment at revision 2 (`nginx:1.27`), revision 1 being `nginx`.
async fn two_revisions() -> World {
    let w = World::start().await;
    let run = w
        .vibectl(&["just", "set", "image", "deployment/web", "main=nginx:1.27"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(image(&w), "nginx:1.27");
    w
}

/// PATCHes of the deployment so far (`set image` made one).
fn deployment_patches(w: &World) -> usize {
    w.kube
        .mutations()
        .iter()
        .filter(|m| m.starts_with("PATCH") && m.ends_with("/deployments/web"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_lists_the_revisions_and_shows_one() {
    let w = two_revisions().await;
    w.say("Two revisions; the current one runs nginx 1.27.");
    let run = w.vibectl(&["rollout", "history", "deployment/web"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("current one runs nginx 1.27"),
        "{run:?}"
    );
    let summary = w.requests().pop().unwrap();
    assert!(
        summary.contains("REVISION") && summary.contains("CHANGE-CAUSE"),
        "the summary call saw kubectl's table: {summary}"
    );
    w.say("Revision 1 ran plain nginx.");
    let run = w
        .vibectl(&[
            "rollout",
            "history",
            "deployment/web",
            "--revision=1",
            "--show-raw-output",
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("revision #1")
            && run.stdout.contains("Image:")
            && !run.stdout.contains("1.27"),
        "{run:?}"
    );
    // History is read-only: no confirmation, and nothing was written by it.
    assert_eq!(deployment_patches(&w), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn undo_asks_and_only_yes_rolls_back() {
    let w = two_revisions().await;
    // Without a terminal the question cannot be asked: nothing changes.
    let run = w.vibectl(&["rollout", "undo", "deployment/web"]).await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("undo the rollout"), "{run:?}");
    assert_eq!(image(&w), "nginx:1.27");
    // "n" on a terminal: cancelled, unchanged, no model call.
    let calls = w.llm_calls();
    let run = w
        .vibectl_tty(&["rollout", "undo", "deployment/web"], "n\n")
        .await;
    assert!(
        run.all()
            .contains("Are you sure you want to undo the rollout for deployment/web?"),
        "{run:?}"
    );
    assert!(run.all().contains("Operation cancelled"), "{run:?}");
    assert_eq!(image(&w), "nginx:1.27");
    assert_eq!(deployment_patches(&w), 1);
    assert_eq!(w.llm_calls(), calls);
    // "y": back to the previous revision's image, then summarised.
    w.say("Rolled web back to nginx.");
    let run = w
        .vibectl_tty(&["rollout", "undo", "deployment/web"], "y\n")
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(image(&w), "nginx");
    assert!(run.all().contains("Rolled web back to nginx."), "{run:?}");
    let summary = w.requests().pop().unwrap();
    assert!(summary.contains("rolled back"), "{summary}");
    // --yes skips the question; --to-revision picks the revision (nginx:1.27 is still 2; the
    // reused nginx ReplicaSet became 3).
    w.say("Back on 1.27.");
    let run = w
        .vibectl(&[
            "rollout",
            "undo",
            "deployment/web",
            "--to-revision=2",
            "--yes",
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(image(&w), "nginx:1.27");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_vibe_forms_plan_history_and_undo() {
    let w = two_revisions().await;
    // `rollout vibe`: the planner is told to plan `kubectl rollout ...`; history runs at once.
    w.plan(&["rollout", "history", "deployment/web"], None);
    w.say("Two revisions.");
    let run = w
        .vibectl(&["rollout", "vibe", "show the history of web"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let plan = w.requests().into_iter().rev().nth(1).unwrap();
    assert!(plan.contains("vibectl rollout vibe"), "{plan}");
    assert!(w.requests().pop().unwrap().contains("REVISION"));
    // An undo needs a yes: without a terminal nothing changes.
    w.plan(&["rollout", "undo", "deployment/web"], None);
    let run = w
        .vibectl(&["rollout", "vibe", "undo web to the previous version"])
        .await;
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("needs confirmation"), "{run:?}");
    assert_eq!(image(&w), "nginx:1.27");
    // With yes it runs.
    w.plan(&["rollout", "undo", "deployment/web"], None);
    w.say("Rolled back.");
    let run = w
        .vibectl_tty(
            &["rollout", "vibe", "undo web to the previous version"],
            "y\n",
        )
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(image(&w), "nginx");
    // `rollout undo vibe` may only plan `kubectl rollout undo`.
    w.plan(
        &["rollout", "undo", "deployment/web", "--to-revision=2"],
        None,
    );
    w.say("Back on 1.27.");
    let run = w
        .vibectl(&["--yes", "rollout", "undo", "vibe", "web to revision 2"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(image(&w), "nginx:1.27");
    w.plan(&["rollout", "restart", "deployment/web"], None);
    let run = w
        .vibectl(&["--yes", "rollout", "undo", "vibe", "web"])
        .await;
    assert!(
        run.stderr.contains("may only run `kubectl rollout undo`"),
        "{run:?}"
    );
}
