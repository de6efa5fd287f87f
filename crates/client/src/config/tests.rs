use super::*;
use std::os::unix::fs::PermissionsExt;

fn fresh() -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config::load_from(dir.path().join("config.yaml")).unwrap();
    (dir, cfg)
}

#[test]
fn set_get_unset_round_trip() {
    let (dir, mut cfg) = fresh();
    cfg.set("llm.model", "claude-4-sonnet").unwrap();
    cfg.set("proxy.timeout_seconds", "45").unwrap();
    cfg.save().unwrap();
    let mut again = Config::load_from(dir.path().join("config.yaml")).unwrap();
    assert_eq!(again.text("llm.model").as_deref(), Some("claude-4-sonnet"));
    assert_eq!(again.int("proxy.timeout_seconds"), 45);
    assert_eq!(again.int("proxy.retry_attempts"), 3);
    assert!(again.unset("proxy.timeout_seconds").unwrap());
    assert_eq!(again.int("proxy.timeout_seconds"), 30);
    assert!(again.unset("proxy.timeout_seconds").is_ok());
}

#[test]
fn bad_values_name_key_and_example() {
    let (_d, mut cfg) = fresh();
    let e = cfg
        .set("proxy.retry_attempts", "11")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("proxy.retry_attempts") && e.contains("0 to 10") && e.contains("example"),
        "{e}"
    );
    let e = cfg
        .set("proxy.timout_seconds", "3")
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean proxy.timeout_seconds"), "{e}");
    let e = cfg
        .set("providers.anthropics.key", "x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown provider"), "{e}");
    let e = cfg
        .set("proxy.profiles.p.server_url", "http://x")
        .unwrap_err()
        .to_string();
    assert!(e.contains("vibectl-server-insecure://"), "{e}");
}

#[test]
fn secrets_make_the_file_private_and_are_masked() {
    let (dir, mut cfg) = fresh();
    let path = dir.path().join("config.yaml");
    cfg.set("llm.model", "x").unwrap();
    cfg.save().unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o644
    );
    cfg.set("providers.openai.key", "sk-abcdefghijklmnop")
        .unwrap();
    cfg.save().unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let shown = format!("{:?}", cfg.effective());
    assert!(!shown.contains("abcdefghijklmnop"), "{shown}");
}

#[test]
fn invalid_file_reports_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        "proxy:\n  timeout_seconds: 0\n  retry: 2\nllm:\n  model: m\n",
    )
    .unwrap();
    let e = Config::load_from(path).unwrap_err().to_string();
    assert!(
        e.contains("proxy.timeout_seconds") && e.contains("proxy.retry"),
        "{e}"
    );
}

#[test]
fn profiles_are_read() {
    let (_d, mut cfg) = fresh();
    cfg.set("proxy.profiles.prod.server_url", "vibectl-server://h:443")
        .unwrap();
    cfg.set("proxy.profiles.prod.ca_bundle_path", "/ca.pem")
        .unwrap();
    assert!(cfg
        .set("proxy.active", "nope")
        .unwrap_err()
        .to_string()
        .contains("profiles: prod"));
    cfg.set("proxy.active", "prod").unwrap();
    let p = &cfg.profiles()["prod"];
    assert_eq!(p.ca_bundle_path.as_deref(), Some("/ca.pem"));
    assert_eq!(cfg.active_profile().as_deref(), Some("prod"));
    assert!(cfg.remove("proxy.profiles.prod"));
    assert!(cfg.profiles().is_empty());
}

/// The config file the Python reference writes on first run (vibectl 0.11.6).
const REFERENCE_CONFIG: &str = "core:\n  kubeconfig: null\n  kubectl_command: kubectl\ndisplay:\n  show_iterations: true\n  show_kubectl: false\n  show_memory: true\n  show_metrics: none\n  show_raw_output: false\n  show_streaming: true\n  show_vibe: true\n  theme: default\nfeatures:\n  check_max_iterations: 10\n  intelligent_apply: true\n  intelligent_edit: true\n  max_correction_retries: 1\nlive_display:\n  default_filter_regex: null\n  max_lines: 20\n  save_dir: .\n  stream_buffer_max_lines: 100000\n  wrap_text: true\nllm:\n  max_retries: 2\n  model: claude-3.7-sonnet\n  retry_delay_seconds: 1.0\nmemory:\n  enabled: true\n  max_chars: 500\nmemory_content: null\nnetworking:\n  intermediate_port_range: null\nplugins:\n  precedence: []\nproviders:\n  anthropic:\n    key: null\n    key_file: null\n  ollama:\n    key: null\n    key_file: null\n  openai:\n    key: null\n    key_file: null\nproxy:\n  active: null\n  profiles:\n    prod:\n      server_url: vibectl-server://llm.example.com:443\n      ca_bundle_path: /etc/ca.crt\n      security:\n        sanitize_requests: true\n        audit_logging: true\n        confirmation_mode: per-command\n        audit_log_path: null\n        warn_sanitization: true\n  retry_attempts: 3\n  timeout_seconds: 30\nsystem:\n  custom_instructions: null\n  log_level: WARNING\nwarnings:\n  warn_no_output: true\n  warn_no_proxy: true\n  warn_sanitization: true\n";

#[test]
fn the_reference_clients_config_file_loads() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, REFERENCE_CONFIG).unwrap();
    let mut cfg = Config::load_from(path.clone()).unwrap();
    assert_eq!(cfg.text("llm.model").as_deref(), Some("claude-3.7-sonnet"));
    let metrics = |c: &Config| {
        crate::settings::Settings::resolve(c, None, &crate::settings::Overrides::default())
            .unwrap()
            .show_metrics
    };
    assert_eq!(
        metrics(&cfg),
        crate::settings::MetricsMode::None,
        "show_metrics: none is off"
    );
    assert!(!cfg.holds_secret(), "null keys are not secrets");
    assert_eq!(cfg.effective()["providers.openai.key"], Value::Null);
    assert_eq!(
        cfg.profiles()["prod"].ca_bundle_path.as_deref(),
        Some("/etc/ca.crt")
    );
    cfg.set("display.show_metrics", "all").unwrap();
    assert_eq!(metrics(&cfg), crate::settings::MetricsMode::All);
    cfg.save().unwrap();
    let again = Config::load_from(path).unwrap();
    assert_eq!(
        again.text("core.kubectl_command").as_deref(),
        Some("kubectl")
    );
}

#[test]
fn debug_output_never_shows_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, "providers:\n  openai:\n    key: sk-SECRET-99\n").unwrap();
    let cfg = Config::load_from(path).unwrap();
    assert!(!format!("{cfg:?}").contains("SECRET"));
}
