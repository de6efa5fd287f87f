//! instructions, theme, plugin, config info and a reference client config file, end to end.
use crate::support;

use support::World;

fn plugin_json(name: &str, version: &str, focus: &str) -> String {
    serde_json::json!({
        "plugin_metadata": {"name": name, "version": version, "description": "team style",
            "author": "ops", "compatible_vibectl_versions": ">=0.11.0,<1.0.0",
            "created_at": "2025-06-01T00:00:00Z"},
        "prompt_mappings": {"get_resource_summary": {
            "description": "Summarise for the on-call engineer.",
            "focus_points": [focus], "example_format": ["[bold]web[/bold] healthy"],
            "prompt_metadata": {"is_summary_prompt": true}}}
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instructions_feed_every_prompt() {
    let w = World::start().await;
    let run = w.vibectl(&["instructions", "show"]).await;
    assert!(run.stdout.contains("No custom instructions set"), "{run:?}");
    let run = w
        .vibectl(&["instructions", "set", "Always answer in French."])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = w.vibectl(&["instructions", "show"]).await;
    assert!(run.stdout.contains("Always answer in French."), "{run:?}");
    w.plan(&["get", "pods"], None);
    w.say("Un pod.");
    w.vibectl(&["vibe", "list pods"]).await;
    let reqs = w.requests();
    assert!(
        reqs.iter().all(|r| r.contains("Always answer in French.")),
        "{reqs:?}"
    );
    assert_eq!(w.vibectl(&["instructions", "clear"]).await.code, 0);
    let run = w.vibectl(&["instructions", "show"]).await;
    assert!(run.stdout.contains("No custom instructions set"), "{run:?}");
    let run = w.vibectl(&["instructions", "set"]).await;
    assert_ne!(run.code, 0, "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn themes_are_listed_and_set_from_a_small_set() {
    let w = World::start().await;
    let run = w.vibectl(&["theme", "list"]).await;
    for t in ["default", "dark", "light", "accessible"] {
        assert!(run.stdout.contains(t), "{run:?}");
    }
    assert_eq!(w.vibectl(&["theme", "set", "dark"]).await.code, 0);
    let run = w.vibectl(&["config", "get", "display.theme"]).await;
    assert_eq!(run.stdout.trim(), "dark");
    let run = w.vibectl(&["theme", "set", "neon"]).await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr
            .contains("Available themes: default, dark, light, accessible"),
        "{run:?}"
    );
    // The theme's colours are used when colour is on.
    w.set("display.color", "always").await;
    w.say("ok");
    let run = w.vibectl(&["get", "pods"]).await;
    assert!(run.stderr.contains("\x1b[1;96mRunning:"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_install_list_order_update_and_shape_prompts() {
    let w = World::start().await;
    let file = w.dir.path().join("team.json");
    std::fs::write(&file, plugin_json("team", "1.0.0", "crash loops first")).unwrap();
    let f = file.to_str().unwrap();
    let run = w.vibectl(&["plugin", "install", f]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(w
        .dir
        .path()
        .join(".config/vibectl/plugins/team-1.0.0.json")
        .exists());
    assert!(!run.stderr.contains("no effect"), "{run:?}");
    let run = w.vibectl(&["plugin", "install", f]).await;
    assert!(run.stderr.contains("--force"), "{run:?}");
    // A mapping of a reference key no step here uses is named at install, not dropped silently.
    let mut unused: serde_json::Value =
        serde_json::from_str(&plugin_json("patcher", "1.0.0", "x")).unwrap();
    unused["prompt_mappings"]["edit_patch_generation"] =
        serde_json::json!({"task_description": "Write a strategic merge patch."});
    let unused_file = w.dir.path().join("patcher.json");
    std::fs::write(&unused_file, unused.to_string()).unwrap();
    let run = w
        .vibectl(&["plugin", "install", unused_file.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("`edit_patch_generation`") && run.stderr.contains("no effect"),
        "{run:?}"
    );
    assert_eq!(w.vibectl(&["plugin", "uninstall", "patcher"]).await.code, 0);
    let run = w.vibectl(&["plugin", "list"]).await;
    assert!(
        run.stdout.contains("team 1.0.0") && run.stdout.contains("get_resource_summary"),
        "{run:?}"
    );
    // The summary prompt is the plugin's, in place of ours.
    w.say("ok");
    w.vibectl(&["get", "pods"]).await;
    let summary = support::text_of(&w.requests().pop().unwrap());
    assert!(
        summary.contains("Summarize kubectl output. Summarise for the on-call engineer.\n\nFocus on:\n- crash loops first")
            && summary.contains("Expected output format:\n[bold]web[/bold] healthy")
            && !summary.contains(support::BUILTIN_SUMMARY),
        "{summary}"
    );
    // A second plugin ordered first wins.
    let other = w.dir.path().join("other.json");
    std::fs::write(&other, plugin_json("other", "2.0.0", "image pulls first")).unwrap();
    let run = w
        .vibectl(&[
            "plugin",
            "install",
            other.to_str().unwrap(),
            "--precedence",
            "first",
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    let run = w.vibectl(&["plugin", "precedence", "list"]).await;
    assert!(run.stdout.contains("1. other"), "{run:?}");
    w.say("ok");
    w.vibectl(&["get", "pods"]).await;
    let summary = w.requests().pop().unwrap();
    assert!(
        summary.contains("image pulls first") && !summary.contains("crash loops"),
        "{summary}"
    );
    assert_eq!(
        w.vibectl(&["plugin", "precedence", "set", "team", "other"])
            .await
            .code,
        0
    );
    assert_eq!(
        w.vibectl(&["plugin", "precedence", "add", "third", "--position", "1"])
            .await
            .code,
        0
    );
    let run = w.vibectl(&["plugin", "precedence", "list"]).await;
    assert!(
        run.stdout.contains("1. third\n2. team\n3. other"),
        "{run:?}"
    );
    assert_eq!(
        w.vibectl(&["plugin", "precedence", "remove", "third"])
            .await
            .code,
        0
    );
    // update replaces the version; uninstall removes it and its precedence entry.
    std::fs::write(&file, plugin_json("team", "1.1.0", "crash loops first")).unwrap();
    let run = w.vibectl(&["plugin", "update", "team", f]).await;
    assert!(run.stdout.contains("1.1.0"), "{run:?}");
    assert!(!w
        .dir
        .path()
        .join(".config/vibectl/plugins/team-1.0.0.json")
        .exists());
    assert_eq!(w.vibectl(&["plugin", "uninstall", "team"]).await.code, 0);
    let run = w.vibectl(&["plugin", "precedence", "list"]).await;
    assert!(!run.stdout.contains("team"), "{run:?}");
    // Invalid plugins are refused before use, with the reference's reasons.
    let bad = w.dir.path().join("bad.json");
    let good = plugin_json("new", "1.0.0", "x");
    for (text, why) in [
        ("{not json".to_owned(), "not a valid vibectl plugin"),
        (
            good.replace("\"name\":\"new\"", "\"name\":\"../x\""),
            "must be letters",
        ),
        (
            good.replace("\"name\":\"new\"", "\"name\":\"\""),
            "Plugin metadata missing name",
        ),
        (
            good.replace("\"author\":\"ops\",", ""),
            "missing field `author`",
        ),
        (
            good.replace(
                "\"prompt_metadata\":{\"is_summary_prompt\":true}",
                "\"prompt_metadata\":{\"is_planning_prompt\":true}",
            ),
            "Planning prompt mapping 'get_resource_summary' missing examples",
        ),
        (
            good.replace(">=0.11.0,<1.0.0", ">=3.0"),
            "Plugin version compatibility check failed: Requires version >= 3.0, got 0.11.6",
        ),
    ] {
        std::fs::write(&bad, &text).unwrap();
        let run = w
            .vibectl(&["plugin", "install", bad.to_str().unwrap()])
            .await;
        assert_ne!(run.code, 0, "{text}");
        assert!(run.stderr.contains(why), "{text}: {run:?}");
        assert!(!w
            .dir
            .path()
            .join(".config/vibectl/plugins/new-1.0.0.json")
            .exists());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_info_and_sections() {
    let w = World::start().await;
    let run = w.vibectl(&["config", "info"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("Configuration file:") && run.stdout.contains("File exists: Yes"),
        "{run:?}"
    );
    let run = w.vibectl(&["config", "show", "llm"]).await;
    assert!(run.stdout.contains("llm.model: gpt-4o"), "{run:?}");
    assert!(!run.stdout.contains("display."), "{run:?}");
    let run = w.vibectl(&["config", "show", "nosuch"]).await;
    assert_ne!(run.code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reference_client_config_loads_and_behaves_the_same() {
    let w = World::start().await;
    let plugin = w.dir.path().join("team.json");
    std::fs::write(&plugin, plugin_json("team", "1.0.0", "crash loops first")).unwrap();
    assert_eq!(
        w.vibectl(&["plugin", "install", plugin.to_str().unwrap()])
            .await
            .code,
        0
    );
    // The file as the reference 0.11.6 writes it (its keys and layout), pointing at the mock.
    let cfg = format!(
        "core:\n  kubeconfig: null\n  kubectl_command: /usr/bin/kubectl\ndisplay:\n  theme: light\n  show_raw_output: false\n  show_vibe: true\n  show_kubectl: true\n  show_memory: true\n  show_iterations: true\n  show_metrics: none\n  show_streaming: true\nllm:\n  model: gpt-4o\n  max_retries: 2\n  retry_delay_seconds: 1.0\nproviders:\n  openai:\n    base_url: {}\nmemory:\n  enabled: true\n  max_chars: 500\nwarnings:\n  warn_no_output: true\n  warn_no_proxy: true\nlive_display:\n  max_lines: 20\n  wrap_text: true\n  stream_buffer_max_lines: 100000\n  default_filter_regex: null\n  save_dir: .\nfeatures:\n  intelligent_apply: true\n  intelligent_edit: true\n  max_correction_retries: 1\n  check_max_iterations: 10\nnetworking:\n  intermediate_port_range: 10000-11000\nplugins:\n  precedence:\n  - team\nsystem:\n  log_level: WARNING\n  custom_instructions: Prefer the web namespace.\nproxy:\n  active: null\n  profiles: {{}}\nmemory_content: The web team owns deployment web.\n",
        w.mock.openai_base_url()
    );
    std::fs::write(w.config_dir().join("config.yaml"), cfg).unwrap();
    let run = w.vibectl(&["config", "get", "display.theme"]).await;
    assert_eq!(run.stdout.trim(), "light", "{run:?}");
    w.plan(&["get", "pods"], None);
    w.say("One pod, web-1, running.");
    let run = w.vibectl(&["vibe", "how are the pods"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("One pod, web-1, running."), "{run:?}");
    let reqs = w.requests();
    // Memory and instructions reach the planner. A vibe step's summary is
    // `vibe_resource_summary` (as in the reference), which the plugin does not map.
    assert!(
        reqs[0].contains("The web team owns deployment web."),
        "{}",
        reqs[0]
    );
    assert!(reqs[0].contains("Prefer the web namespace."), "{}", reqs[0]);
    assert!(!reqs[1].contains("crash loops first"), "{}", reqs[1]);
    // `get`'s own summary is the plugin's.
    w.say("web-1 runs.");
    w.vibectl(&["get", "pods"]).await;
    let summary = w.requests().pop().unwrap();
    assert!(summary.contains("crash loops first"), "{summary}");
    // The memory was updated by the model and kept under memory.max_chars.
    let mem = w.vibectl(&["memory", "show"]).await;
    assert!(mem.stdout.contains("ran `kubectl get pods`"), "{mem:?}");
    assert!(mem.stdout.trim().chars().count() <= 500, "{mem:?}");
}
