//! The reference's administrative commands on the real binary: `generate-certs`, `ca init`
//! options, `ca create-server-cert --force`, `ca status --days`, `ca check-expiry` exit codes,
//! `config set`, and `--state-dir`/`state.dir`/`$STATE_DIRECTORY` shared by every command.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vibectl-server"))
}

/// Runs ours with HOME in `home` and no config or state variables.
fn run(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("VIBECTL_SERVER_CONFIG")
        .env_remove("VIBECTL_SERVER_CONFIG_DIR")
        .env_remove("VIBECTL_SERVER_STATE_DIR")
        .env_remove("STATE_DIRECTORY")
        .env_remove("VIBECTL_JWT_SECRET");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn generate_certs_writes_a_self_signed_pair_and_needs_force_to_replace_it() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let out = run(
        h,
        &["generate-certs", "--hostname", "proxy.example.com"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    // Default place: beside the (default) config, as the reference keeps it.
    let certs = h.join(".config/vibectl/server/certs");
    let (cert, key) = (certs.join("server.crt"), certs.join("server.key"));
    let pem = std::fs::read(&cert).unwrap();
    let (_, p) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let c = p.parse_x509().unwrap();
    let sans = format!("{:?}", c.subject_alternative_name().unwrap().unwrap().value);
    for n in ["proxy.example.com", "localhost"] {
        assert!(sans.contains(n), "{sans}");
    }
    #[cfg(unix)]
    assert_eq!(mode(&key), 0o600);
    let again = run(h, &["generate-certs"], &[]);
    assert!(!again.status.success());
    assert!(text(&again).contains("--force"), "{}", text(&again));
    assert_eq!(std::fs::read(&cert).unwrap(), pem, "left alone");
    let forced = run(h, &["generate-certs", "--force"], &[]);
    assert!(forced.status.success(), "{}", text(&forced));
    assert_ne!(std::fs::read(&cert).unwrap(), pem);
    // Explicit paths.
    let (c2, k2) = (h.join("x/a.crt"), h.join("x/a.key"));
    let out = run(
        h,
        &[
            "generate-certs",
            "--cert-file",
            c2.to_str().unwrap(),
            "--key-file",
            k2.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success() && c2.exists() && k2.exists(),
        "{}",
        text(&out)
    );
}

#[test]
fn ca_commands_take_the_reference_options_and_check_expiry_exits_by_severity() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let dir = h.join("ca");
    let d = dir.to_str().unwrap();
    let out = run(
        h,
        &[
            "ca",
            "init",
            "--ca-dir",
            d,
            "--root-cn",
            "Acme Root",
            "--intermediate-cn",
            "Acme Int",
            "--organization",
            "Acme",
            "--country",
            "DE",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let pem = std::fs::read(dir.join("root-ca.crt")).unwrap();
    let (_, p) = x509_parser::pem::parse_x509_pem(&pem).unwrap();
    let subject = p.parse_x509().unwrap().subject().to_string();
    for part in ["CN=Acme Root", "O=Acme", "C=DE"] {
        assert!(subject.contains(part), "{subject}");
    }
    let again = run(h, &["ca", "init", "--ca-dir", d], &[]);
    assert!(!again.status.success() && text(&again).contains("--force"));
    let bad = run(
        h,
        &[
            "ca",
            "init",
            "--ca-dir",
            d,
            "--force",
            "--country",
            "Germany",
        ],
        &[],
    );
    assert!(!bad.status.success() && text(&bad).contains("--country"));

    let check = |days: &str| {
        run(
            h,
            &["ca", "check-expiry", "--ca-dir", d, "--days", days],
            &[],
        )
        .status
        .code()
    };
    assert_eq!(check("30"), Some(0), "a fresh CA is fine");
    let out = run(
        h,
        &[
            "ca",
            "create-server-cert",
            "proxy",
            "--ca-dir",
            d,
            "--validity-days",
            "10",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let again = run(
        h,
        &["ca", "create-server-cert", "proxy", "--ca-dir", d],
        &[],
    );
    assert!(
        !again.status.success() && text(&again).contains("--force"),
        "{}",
        text(&again)
    );
    // --days stays as an alias of --validity-days.
    let forced = run(
        h,
        &[
            "ca",
            "create-server-cert",
            "proxy",
            "--ca-dir",
            d,
            "--days",
            "10",
            "--force",
        ],
        &[],
    );
    assert!(forced.status.success(), "{}", text(&forced));
    assert_eq!(check("30"), Some(1), "expires within 30 days: warning");
    assert_eq!(check("5"), Some(0), "not within 5");
    let status = run(
        h,
        &["ca", "status", "--ca-dir", d, "-d", "30", "--json"],
        &[],
    );
    let v: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .any(|c| c["status"] == "expires soon"),
        "{v}"
    );
    // A certificate that cannot be read is critical; no CA at all is unknown.
    let broken = dir.join("server_certs/broken");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("broken.crt"), "not a certificate").unwrap();
    assert_eq!(check("5"), Some(2));
    let none = h.join("no-ca");
    let out = run(
        h,
        &["ca", "check-expiry", "--ca-dir", none.to_str().unwrap()],
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn config_set_types_validates_and_writes_atomically() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let file = h.join("server.yaml");
    let f = file.to_str().unwrap();
    for (k, v) in [
        ("server.port", "6000"),
        ("server.limits.global.max_requests_per_minute", "120"),
        ("jwt.enabled", "true"),
        ("tls.hostnames", "[proxy.example.com, 10.0.0.5]"),
    ] {
        let out = run(h, &["--config", f, "config", "set", k, v], &[]);
        assert!(out.status.success(), "{k}: {}", text(&out));
    }
    let show = |k: &str| {
        let o = run(h, &["--config", f, "config", "show", k], &[]);
        String::from_utf8_lossy(&o.stdout).trim().to_owned()
    };
    assert_eq!(show("server.port"), "6000");
    assert_eq!(show("jwt.enabled"), "true");
    assert!(show("tls.hostnames").contains("10.0.0.5"));
    #[cfg(unix)]
    assert_eq!(mode(&file), 0o600);
    let before = std::fs::read_to_string(&file).unwrap();
    for (k, v, want) in [
        ("server.port", "not-a-port", "server.port"),
        ("server.port", "70000", "server.port"),
        ("server.prot", "1", "did you mean `server.port`"),
        ("server.log_level", "LOUD", "server.log_level"),
        ("", "1", "not a config key"),
    ] {
        let out = run(h, &["--config", f, "config", "set", k, v], &[]);
        assert!(!out.status.success(), "{k}={v} accepted");
        assert!(text(&out).contains(want), "{k}={v}: {}", text(&out));
    }
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "refused sets change nothing"
    );
    // A secret is never echoed.
    let out = run(
        h,
        &[
            "--config",
            f,
            "config",
            "set",
            "jwt.secret_key",
            "s3cret-value-0123456789-0123456789",
        ],
        &[],
    );
    assert!(
        out.status.success() && !text(&out).contains("s3cret"),
        "{}",
        text(&out)
    );
    // A file that is not YAML is left alone.
    std::fs::write(&file, "server: [unclosed\n").unwrap();
    let out = run(
        h,
        &["--config", f, "config", "set", "server.port", "1"],
        &[],
    );
    assert!(!out.status.success() && text(&out).contains("not valid YAML"));
}

#[test]
fn every_command_finds_state_through_state_dir() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    let state = h.join("var-lib");
    let s = state.to_str().unwrap();
    // What serve under systemd would write ($STATE_DIRECTORY), tokens finds with --state-dir.
    let out = run(h, &["generate-token", "alice"], &[("STATE_DIRECTORY", s)]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(state.join("tokens.jsonl").exists() || state.join("jwt-secret").exists());
    let list = run(h, &["--state-dir", s, "tokens", "list"], &[]);
    assert!(text(&list).contains("alice"), "{}", text(&list));
    let elsewhere = run(h, &["tokens", "list"], &[]);
    assert!(
        !text(&elsewhere).contains("alice"),
        "the default state dir is elsewhere"
    );
    // state.dir in the config, so `--config` alone is enough.
    let cfg = h.join("server.yaml");
    std::fs::write(&cfg, format!("state:\n  dir: {s}\n")).unwrap();
    let list = run(
        h,
        &["--config", cfg.to_str().unwrap(), "tokens", "list"],
        &[],
    );
    assert!(text(&list).contains("alice"), "{}", text(&list));
    let ca = run(h, &["--config", cfg.to_str().unwrap(), "ca", "init"], &[]);
    assert!(
        ca.status.success() && state.join("ca/ca-bundle.crt").exists(),
        "{}",
        text(&ca)
    );
}
