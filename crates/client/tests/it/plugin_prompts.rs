//! Plugins replace the built-in prompts' parts, as the reference applies `prompt_mappings`:
//! what the mock model received is asserted, for summaries, planning prompts, the custom
//! prompts (memory_update, recovery_suggestions) and `plugins.precedence`.
use crate::support;

use serde_json::{json, Value};
use support::{text_of, World, BUILTIN_PLANNER, BUILTIN_SUMMARY};
use vibectl_testkit::fake_kube::Resource;

fn plugin(name: &str, mappings: Value) -> Value {
    json!({
        "plugin_metadata": {"name": name, "version": "1.0.0", "description": "d", "author": "a",
            "compatible_vibectl_versions": ">=0.11.0", "created_at": "2025-06-01T00:00:00Z"},
        "prompt_mappings": mappings
    })
}

async fn install(w: &World, p: &Value) {
    let name = p
        .pointer("/plugin_metadata/name")
        .unwrap()
        .as_str()
        .unwrap();
    let file = w.dir.path().join(format!("{name}.json"));
    std::fs::write(&file, p.to_string()).unwrap();
    let run = w
        .vibectl(&["plugin", "install", file.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
}

fn last_request(w: &World) -> String {
    text_of(&w.requests().pop().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planning_mapping_replaces_the_planner_and_the_verb_is_implied() {
    let w = World::start().await;
    w.vibectl(&["just", "set", "image", "deployment/web", "main=nginx:1.27"])
        .await;
    install(
        &w,
        &plugin(
            "rollbacks",
            json!({"rollout_plan": {
                "command": "rollout",
                "description": "rolling back deployments for the web team",
                "examples": [["web to the previous version",
                    {"action_type": "COMMAND", "commands": ["undo", "deployment/web"],
                     "explanation": "previous revision"}]],
                "prompt_metadata": {"is_planning_prompt": true}}}),
        ),
    )
    .await;
    // The model answers as the plugin's prompt asks: the arguments after `kubectl rollout`.
    w.plan(&["undo", "deployment/web"], None);
    w.say("Rolled back.");
    let run = w
        .vibectl(&[
            "--yes",
            "rollout",
            "vibe",
            "undo web to the previous version",
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let plan = text_of(&w.requests().into_iter().rev().nth(1).unwrap());
    assert!(
        plan.contains("You are planning arguments for the 'kubectl rollout' command,\nwhich is used for rolling back deployments for the web team.")
            && plan.contains("- Target: \"web to the previous version\"")
            && plan.contains("\"undo\"")
            && !plan.contains(BUILTIN_PLANNER)
            && !plan.contains("commands start with"),
        "{plan}"
    );
    assert!(
        run.stderr.contains("kubectl rollout undo deployment/web"),
        "{run:?}"
    );
    let image = w
        .kube
        .get(Resource::Deployments, "default", "web")
        .unwrap()
        .pointer("/spec/template/spec/containers/0/image")
        .cloned();
    assert_eq!(image, Some(json!("nginx")));
    // Other keys keep the built-in prompts.
    w.plan(&["get", "pods"], None);
    w.say("pods");
    w.vibectl(&["get", "vibe", "the pods"]).await;
    let plan = text_of(&w.requests().into_iter().rev().nth(1).unwrap());
    assert!(plan.contains(BUILTIN_PLANNER), "{plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vibe_plan_and_its_summary_are_replaced() {
    let w = World::start().await;
    install(
        &w,
        &plugin(
            "ops",
            json!({
                "vibe_plan": {"description": "careful read-only operations",
                    "examples": [["list pods", {"action_type": "COMMAND", "commands": ["get", "pods"]}]]},
                "vibe_resource_summary": {"description": "Answer like a pager alert.",
                    "focus_points": ["severity"], "example_format": ["SEV2: web degraded"]},
                "get_resource_summary": {"description": "not used by vibe steps",
                    "focus_points": ["nothing"]}
            }),
        ),
    )
    .await;
    w.plan(&["get", "pods"], None);
    w.say("SEV4: all fine");
    let run = w.vibectl(&["vibe", "list pods"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let reqs = w.requests();
    let plan = text_of(&reqs[reqs.len() - 2]);
    assert!(
        plan.contains("'kubectl vibe' command,\nwhich is used for careful read-only operations")
            && !plan.contains(BUILTIN_PLANNER),
        "{plan}"
    );
    let summary = text_of(&reqs[reqs.len() - 1]);
    assert!(
        summary.contains(
            "Summarize kubectl output. Answer like a pager alert.\n\nFocus on:\n- severity"
        ) && summary.contains("Expected output format:\nSEV2: web degraded")
            && !summary.contains("not used by vibe steps")
            && !summary.contains(BUILTIN_SUMMARY),
        "{summary}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn precedence_picks_between_two_plugins_mapping_the_same_key() {
    let w = World::start().await;
    let summary = |text: &str| {
        json!({"scale_summary": {"description": text, "focus_points": ["replicas"],
            "prompt_metadata": {"is_summary_prompt": true}}})
    };
    install(&w, &plugin("alpha", summary("ALPHA wording"))).await;
    install(&w, &plugin("beta", summary("BETA wording"))).await;
    let cases: [(&[&str], &str, &str); 3] = [
        // No precedence: the reference uses its directory order; ours is by name.
        (&[], "ALPHA wording", "BETA wording"),
        (&["beta", "alpha"], "BETA wording", "ALPHA wording"),
        (&["alpha", "beta"], "ALPHA wording", "BETA wording"),
    ];
    for (order, used, unused) in cases {
        if !order.is_empty() {
            let mut args = vec!["plugin", "precedence", "set"];
            args.extend(order);
            assert_eq!(w.vibectl(&args).await.code, 0);
        }
        w.say("scaled");
        let run = w
            .vibectl(&["scale", "deployment/web", "--replicas=3"])
            .await;
        assert_eq!(run.code, 0, "{run:?}");
        let req = last_request(&w);
        assert!(
            req.contains(used) && !req.contains(unused) && !req.contains(BUILTIN_SUMMARY),
            "{order:?}: {req}"
        );
    }
    // A first plugin whose mapping is not a summary prompt: the built-in one is used (as in
    // the reference), not the next plugin's.
    install(
        &w,
        &plugin(
            "gamma",
            json!({"scale_summary": {"description": "GAMMA", "prompt_metadata": {"is_summary_prompt": false}}}),
        ),
    )
    .await;
    assert_eq!(
        w.vibectl(&["plugin", "precedence", "set", "gamma", "alpha"])
            .await
            .code,
        0
    );
    w.say("scaled");
    w.vibectl(&["scale", "deployment/web", "--replicas=2"])
        .await;
    let req = last_request(&w);
    assert!(
        req.contains(BUILTIN_SUMMARY) && !req.contains("ALPHA") && !req.contains("GAMMA"),
        "{req}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_update_recovery_and_check_mappings_replace_their_parts() {
    let w = World::start().await;
    install(
        &w,
        &plugin(
            "team",
            json!({
                "memory_update": {"system_instructions": "Keep the memory as a list of tickets.",
                    "user_template": "Tickets so far: {current_memory} / new: {update_text}"},
                "recovery_suggestions": {"task_description": "You are the web team's runbook.",
                    "context_instructions": "Answer with a runbook step number."},
                "check_plan": {"task_description": "You judge the web team's predicates.",
                    "context_instructions": "Decide from the pods only."}
            }),
        ),
    )
    .await;
    let run = w
        .vibectl(&["memory", "update", "TICKET-7 opened for web"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let mem = w
        .mock
        .requests()
        .iter()
        .map(|r| text_of(&r.body.to_string()))
        .rfind(|b| b.contains(support::MEMORY_MARKER))
        .unwrap();
    assert!(
        mem.contains("Keep the memory as a list of tickets.")
            && mem.contains("Tickets so far:  / new: TICKET-7 opened for web")
            && !mem.contains("Based on the user's new information"),
        "{mem}"
    );
    // A failing command: the recovery prompt is the plugin's.
    w.say("Step 4: check the name.");
    let run = w.vibectl(&["get", "pod", "nosuch"]).await;
    assert_ne!(run.code, 0, "{run:?}");
    let rec = last_request(&w);
    assert!(
        rec.contains("You are the web team's runbook.")
            && rec.contains("Answer with a runbook step number.")
            && !rec.contains("A kubectl command failed."),
        "{rec}"
    );
    // `check`: the plugin's task replaces ours (the reference reads these fields with getattr,
    // so there they are ignored; ours applies them as its code intends).
    w.act(json!({"action_type": "DONE", "exit_code": 0, "explanation": "web-1 runs"}));
    let run = w.vibectl(&["check", "web-1 is running"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let check = last_request(&w);
    assert!(
        check.contains("You judge the web team's predicates.")
            && check.contains("Decide from the pods only.")
            && !check.contains("You are vibectl check."),
        "{check}"
    );
}
