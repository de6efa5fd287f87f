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
    cfg.set("proxy.active", "prod").unwrap();
    let p = &cfg.profiles()["prod"];
    assert_eq!(p.ca_bundle_path.as_deref(), Some("/ca.pem"));
    assert_eq!(cfg.active_profile().as_deref(), Some("prod"));
    assert!(cfg.remove("proxy.profiles.prod"));
    assert!(cfg.profiles().is_empty());
}
