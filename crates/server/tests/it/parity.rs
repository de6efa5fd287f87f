//! Drop-in parity with the Python reference server (vibectl 0.11.6): every command and option its
//! own `--help` lists is accepted by ours (with a value where the reference takes one), its
//! `--log-level` names work, and its `init-config` output and its documented example configs load
//! and validate unchanged. The reference is installed into `target/interop/refvenv` (by
//! `scripts/test-deps.sh`, or here on first use); nothing is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

const REFERENCE: &str = "vibectl==0.11.6";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/interop")
}

/// The reference's `vibectl-server`, installed once per checkout.
fn reference_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let venv = root().join("refvenv");
        let bin = venv.join("bin/vibectl-server");
        if bin.exists() {
            return bin;
        }
        std::fs::create_dir_all(root()).unwrap();
        let ok = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 runs")
            .success();
        assert!(
            ok,
            "python3 -m venv failed (scripts/test-deps.sh installs python3-venv)"
        );
        let ok = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check", REFERENCE])
            .status()
            .expect("pip runs")
            .success();
        assert!(ok, "could not install the reference {REFERENCE}");
        bin
    })
}

fn ours() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vibectl-server"))
}

/// Runs a binary with HOME (and so the default config dir) in `home`.
fn run_in(bin: &Path, home: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("VIBECTL_SERVER_CONFIG")
        .env_remove("VIBECTL_SERVER_CONFIG_DIR")
        .env_remove("VIBECTL_SERVER_STATE_DIR")
        .env_remove("VIBECTL_LOG_LEVEL")
        .env("COLUMNS", "200")
        .output()
        .expect("runs")
}

fn help(bin: &Path, path: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let mut args = path.to_vec();
    args.push("--help");
    let out = run_in(bin, home.path(), &args);
    assert!(
        out.status.success(),
        "{} {args:?}: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The lines of a help section (`Commands:`, `Options:`) up to the next heading.
fn section<'a>(text: &'a str, heading: &str) -> Vec<&'a str> {
    let mut lines = text.lines().skip_while(|l| l.trim() != heading);
    lines.next();
    lines
        .take_while(|l| l.is_empty() || l.starts_with(' '))
        .filter(|l| !l.trim().is_empty())
        .collect()
}

/// Subcommand names of a help text (click and clap both indent them by two).
fn commands(text: &str) -> Vec<String> {
    section(text, "Commands:")
        .iter()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .map(str::to_owned)
        .collect()
}

/// Options of a help text: long name (or short when it has none) → whether it takes a value.
fn options(text: &str) -> BTreeMap<String, bool> {
    let mut out = BTreeMap::new();
    for line in section(text, "Options:") {
        let t = line.trim_start();
        if !t.starts_with('-') {
            continue;
        }
        // "-d, --days INTEGER  text", "--force  text", "  -d, --days <DAYS>  text"
        let head = t.split("  ").next().unwrap_or(t);
        let mut name = None;
        let mut value = false;
        for tok in head.split([',', ' ']).filter(|s| !s.is_empty()) {
            if let Some(long) = tok.strip_prefix("--") {
                name = Some(format!("--{}", long.split('=').next().unwrap_or(long)));
            } else if tok.starts_with('-') && name.is_none() {
                name = Some(tok.to_owned());
            } else if !tok.starts_with('-') {
                value = true;
            }
        }
        if let Some(n) = name {
            out.insert(n, value);
        }
    }
    out
}

/// Every (command path, option) pair of the reference, from its own `--help`.
fn reference_surface() -> Vec<(Vec<String>, BTreeMap<String, bool>)> {
    let bin = reference_bin();
    let mut out = Vec::new();
    let mut todo: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = todo.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(bin, &args);
        for c in commands(&text) {
            let mut p = path.clone();
            p.push(c);
            todo.push(p);
        }
        out.push((path, options(&text)));
    }
    out
}

#[test]
fn every_reference_command_and_option_is_accepted() {
    let surface = reference_surface();
    let pairs: usize = surface.iter().map(|(_, o)| o.len().max(1)).sum();
    assert!(
        surface.len() >= 14 && pairs >= 90,
        "the reference's help was not read: {} commands, {pairs} pairs",
        surface.len()
    );
    let mut missing = Vec::new();
    for (path, opts) in &surface {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let home = tempfile::tempdir().unwrap();
        let mut with_help = args.clone();
        with_help.push("--help");
        let out = run_in(ours(), home.path(), &with_help);
        if !out.status.success() {
            missing.push(format!("command `{}`", path.join(" ")));
            continue;
        }
        let mine = options(&String::from_utf8_lossy(&out.stdout));
        for (opt, takes_value) in opts {
            match mine.get(opt) {
                None => missing.push(format!("`{} {opt}`", path.join(" "))),
                Some(v) if v != takes_value => missing.push(format!(
                    "`{} {opt}`: the reference {} a value",
                    path.join(" "),
                    if *takes_value { "takes" } else { "takes no" }
                )),
                Some(_) => {}
            }
        }
    }
    assert!(
        missing.is_empty(),
        "not accepted as the reference has them:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn reference_choices_are_accepted() {
    let serve_help = help(reference_bin(), &["serve"]);
    // The reference's --log-level names (DEBUG, INFO, WARNING, ERROR), any case.
    let levels = serve_help
        .split("--log-level [")
        .nth(1)
        .and_then(|s| s.split(']').next())
        .expect("the reference lists its log levels");
    for level in levels
        .split('|')
        .flat_map(|l| [l.to_owned(), l.to_lowercase()])
    {
        let home = tempfile::tempdir().unwrap();
        let out = run_in(
            ours(),
            home.path(),
            &["--log-level", &level, "config", "validate"],
        );
        assert!(
            out.status.success(),
            "--log-level {level}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let acme = help(reference_bin(), &["serve-acme"]);
    let mine = help(ours(), &["serve-acme"]);
    for choice in ["http-01", "dns-01", "tls-alpn-01"] {
        assert!(acme.contains(choice), "{acme}");
        assert!(mine.contains(choice), "{mine}");
    }
}

/// `config validate` of ours on `yaml`; returns (success, stdout + stderr).
fn validate(yaml: &str, env: &[(&str, &str)]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.yaml");
    std::fs::write(&file, yaml).unwrap();
    let mut cmd = Command::new(ours());
    cmd.arg("--config")
        .arg(&file)
        .args(["config", "validate"])
        .env("HOME", dir.path())
        .env("VIBECTL_SERVER_STATE_DIR", dir.path());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn reference_init_config_output_loads_and_keeps_its_meaning() {
    let home = tempfile::tempdir().unwrap();
    let out = run_in(reference_bin(), home.path(), &["init-config"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let file = home.path().join(".config/vibectl/server/config.yaml");
    let yaml = std::fs::read_to_string(&file).unwrap();
    assert!(yaml.contains("max_workers"), "{yaml}");
    let (ok, text) = validate(&yaml, &[]);
    assert!(ok, "{text}");
    assert!(
        !text.contains("unknown key"),
        "every reference key is known: {text}"
    );
    // Same meaning: read back through ours, from the same default place the reference wrote it.
    for (key, want) in [
        ("server.host", "0.0.0.0"),
        ("server.port", "50051"),
        ("server.max_workers", "10"),
        ("jwt.expiration_hours", "24"),
        ("tls.hsts.max_age", "31536000"),
    ] {
        let out = run_in(ours(), home.path(), &["config", "show", key]);
        assert!(
            out.status.success(),
            "{key}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want, "{key}");
    }
}

/// The server configs of the reference's documented examples
/// (examples/manifests/vibectl-server/configmap*.yaml in its repository): the same keys and
/// values, with `${...}` placeholders filled in as its demo scripts do.
const EXAMPLES: [(&str, &str); 4] = [
    (
        "configmap-ca.yaml",
        "server:\n  host: \"0.0.0.0\"\n  port: 50051\n  default_model: \"anthropic/claude-3-7-sonnet-latest\"\n  max_workers: 10\n  log_level: \"INFO\"\n\
tls:\n  enabled: true\n  cert_file: \"/ca-data/server_certs/localhost/localhost.crt\"\n  key_file: \"/ca-data/server_certs/localhost/localhost.key\"\n\
hsts:\n  enabled: true\n  max_age: 31536000\n  include_subdomains: false\n  preload: false\n\
acme:\n  enabled: false\n\
jwt:\n  enabled: true\n  secret_key: null\n  secret_key_file: \"/etc/vibectl/secret/jwt-secret\"\n  algorithm: \"HS256\"\n  issuer: \"vibectl-server\"\n  expiration_days: 30\n",
    ),
    (
        "configmap-acme.yaml",
        "server:\n  host: 0.0.0.0\n  port: 443\n  max_workers: 4\n  require_auth: true\n  log_level: DEBUG\n\
jwt:\n  enabled: true\n  issuer: vibectl-server-acme-demo\n  expiration_days: 30\n\
tls:\n  enabled: true\n  cert_file: /root/.config/vibectl/server/certs/server.crt\n  key_file: /root/.config/vibectl/server/certs/server.key\n\
hsts:\n  enabled: true\n  max_age: 31536000\n  include_subdomains: false\n  preload: false\n\
acme:\n  enabled: true\n  email: admin@vibectl.test\n  domains:\n    - vibectl.internal.test\n    - vibectl.example.test\n  directory_url: https://pebble:14000/dir\n  challenge:\n    type: tls-alpn-01\n  ca_cert_file: /pebble-ca/ca.crt\n",
    ),
    (
        "configmap-acme-http.yaml",
        "server:\n  host: 0.0.0.0\n  port: 8443\n  max_workers: 4\n  require_auth: true\n  log_level: DEBUG\n\
jwt:\n  enabled: true\n  issuer: vibectl-server-acme-http-demo\n  expiration_days: 30\n\
tls:\n  enabled: true\n  cert_file: /root/.config/vibectl/server/certs/server.crt\n  key_file: /root/.config/vibectl/server/certs/server.key\n\
hsts:\n  enabled: true\n  max_age: 31536000\n  include_subdomains: false\n  preload: false\n\
acme:\n  enabled: true\n  email: admin@vibectl.test\n  domains:\n    - vibectl.internal.test\n  directory_url: https://pebble:14000/dir\n  challenge:\n    type: http-01\n    http_port: 8080\n    http_host: 0.0.0.0\n  ca_cert_file: /pebble-ca/ca.crt\n",
    ),
    (
        "configmap-jwt.yaml",
        "jwt:\n  enabled: true\n  algorithm: \"HS256\"\n  expiration_days: 1\n",
    ),
];

#[test]
fn reference_example_configs_validate_unchanged() {
    for (name, yaml) in EXAMPLES {
        let (ok, text) = validate(
            yaml,
            &[
                ("VIBECTL_JWT_SECRET", "example-secret-0123456789abcdef"),
                ("ANTHROPIC_API_KEY", "example-key"),
            ],
        );
        assert!(ok, "{name}: {text}");
        // The examples put `hsts:` at the top level, where the reference ignores it too (it
        // reads tls.hsts); ours says so. Nothing else is unknown.
        for line in text.lines().filter(|l| l.contains("unknown key")) {
            assert!(line.contains("hsts"), "{name}: {line}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_ca_made_by_the_reference_serves_with_ours() {
    let home = tempfile::tempdir().unwrap();
    let ca = home.path().join("ca");
    let ca_arg = ca.display().to_string();
    let out = run_in(
        reference_bin(),
        home.path(),
        &["ca", "init", "--ca-dir", &ca_arg],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        ca.join("intermediate/ca.crt").exists(),
        "the reference's layout"
    );
    let mock = vibectl_testkit::MockProvider::start().await.unwrap();
    let cfg = crate::common::config_for(&mock, "  default_model: gpt-4o\n", "");
    let server = vibectl_testkit::ServerProcess::spawn_command(
        ours(),
        "serve-ca",
        &cfg,
        &["--ca-dir", &ca_arg, "--san", "127.0.0.1"],
        &[],
    )
    .expect("serve-ca with the reference's CA");
    let bundle = std::fs::read(ca.join("ca-bundle.crt")).unwrap();
    let ch = crate::secure::tls_channel(server.addr, Some(&bundle), None)
        .await
        .expect("trusted with the reference's bundle");
    vibectl_proto::vibectl_llm_proxy_client::VibectlLlmProxyClient::new(ch)
        .get_server_info(vibectl_proto::GetServerInfoRequest {})
        .await
        .unwrap();
    let out = run_in(
        ours(),
        home.path(),
        &["ca", "check-expiry", "--ca-dir", &ca_arg],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
