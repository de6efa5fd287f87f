//! The binary's command-line surface: help with examples everywhere, config errors naming the key
//! and the expected form, setup-proxy messages for a non-gRPC port and a silent server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Command, Output};

fn vibectl(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vibectl"))
        .args(args)
        .env("VIBECTL_CLIENT_CONFIG_DIR", dir)
        .env("HOME", dir)
        .env_remove("VIBECTL_JWT_TOKEN")
        .env_remove("VIBECTL_CA_BUNDLE")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn every_command_has_examples_in_its_help() {
    let dir = tempfile::tempdir().unwrap();
    let commands: &[&[&str]] = &[
        &[],
        &["vibe"],
        &["auto"],
        &["just"],
        &["get"],
        &["describe"],
        &["logs"],
        &["events"],
        &["memory"],
        &["memory", "show"],
        &["memory", "set"],
        &["memory", "clear"],
        &["config"],
        &["config", "show"],
        &["config", "get"],
        &["config", "set"],
        &["config", "unset"],
        &["config", "path"],
        &["setup-proxy"],
        &["setup-proxy", "configure"],
        &["setup-proxy", "test"],
        &["setup-proxy", "status"],
        &["setup-proxy", "list"],
        &["setup-proxy", "set-active"],
        &["setup-proxy", "remove"],
        &["setup-proxy", "disable"],
        &["setup-proxy", "url"],
        &["version"],
        &["completion"],
    ];
    for c in commands {
        let mut args = c.to_vec();
        args.push("--help");
        let out = vibectl(dir.path(), &args);
        assert!(out.status.success(), "{c:?}");
        assert!(
            text(&out).contains("Example"),
            "{c:?} help has no examples:\n{}",
            text(&out)
        );
    }
}

#[test]
fn config_errors_name_the_key_and_the_expected_form() {
    let dir = tempfile::tempdir().unwrap();
    let out = vibectl(dir.path(), &["config", "set", "proxy.timeout_seconds", "0"]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("proxy.timeout_seconds") && t.contains("from 1 to 300") && t.contains("example"),
        "{t}"
    );
    let out = vibectl(dir.path(), &["config", "set", "display.colour", "never"]);
    assert!(
        text(&out).contains("did you mean display.color"),
        "{}",
        text(&out)
    );
    let out = vibectl(dir.path(), &["config", "set", "display.color", "sometimes"]);
    assert!(
        text(&out).contains("one of auto, always, never"),
        "{}",
        text(&out)
    );
    let out = vibectl(
        dir.path(),
        &["setup-proxy", "configure", "p", "https://llm.example.com"],
    );
    assert!(
        text(&out).contains("vibectl-server://TOKEN@llm.example.com:443"),
        "{}",
        text(&out)
    );
    // Nothing invalid was written.
    let out = vibectl(dir.path(), &["config", "show", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["proxy.timeout_seconds"], 30);
    assert_eq!(v["display.color"], "auto");
}

#[test]
fn hand_edited_config_problems_are_all_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "proxy:\n  retry_attempts: 99\nllm:\n  modle: x\n",
    )
    .unwrap();
    let out = vibectl(dir.path(), &["config", "show"]);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("proxy.retry_attempts: expected an integer from 0 to 10, got 99"),
        "{t}"
    );
    assert!(
        t.contains("llm.modle: unknown key (did you mean llm.model"),
        "{t}"
    );
}

#[test]
fn status_masks_the_token_and_url_builds_urls() {
    let dir = tempfile::tempdir().unwrap();
    let token = "eyJhbGciOiJIUzI1NiJ9.secret-payload.signature";
    let url = format!("vibectl-server://{token}@llm.example.com:443");
    let out = vibectl(
        dir.path(),
        &["setup-proxy", "configure", "prod", &url, "--no-test"],
    );
    assert!(out.status.success(), "{}", text(&out));
    for args in [
        &["setup-proxy", "status"][..],
        &["setup-proxy", "list"],
        &["config", "show"],
        &["config", "get", "proxy.profiles.prod.server_url"],
    ] {
        let t = text(&vibectl(dir.path(), args));
        assert!(!t.contains("secret-payload"), "{args:?}: {t}");
        assert!(t.contains("eyJh...***"), "{args:?}: {t}");
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dir.path().join("config.yaml"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let out = vibectl(
        dir.path(),
        &["setup-proxy", "url", "::1", "8080", "--insecure"],
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "vibectl-server-insecure://[::1]:8080"
    );
    let out = vibectl(dir.path(), &["setup-proxy", "disable"]);
    assert!(out.status.success());
    assert!(text(&vibectl(dir.path(), &["setup-proxy", "status"])).contains("Mode: direct"));
}

#[test]
fn setup_proxy_test_names_a_non_grpc_port_and_a_silent_server() {
    let dir = tempfile::tempdir().unwrap();
    // An HTTP/1 server that answers garbage to HTTP/2.
    let http = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let http_addr = http.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in http.incoming().flatten() {
            use std::io::Write;
            let mut s = s;
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n");
            // Keep the connection open so the client reads the reply, not a reset.
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_secs(5));
                drop(s);
            });
        }
    });
    let out = vibectl(
        dir.path(),
        &[
            "setup-proxy",
            "test",
            &format!("vibectl-server-insecure://{http_addr}"),
        ],
    );
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("does not offer the vibectl LLM proxy service")
            || t.contains("closed the connection before answering"),
        "{t}"
    );

    // A server that accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let _hold = std::thread::spawn(move || {
        let conns: Vec<_> = silent.incoming().take(4).collect();
        std::thread::sleep(std::time::Duration::from_secs(10));
        drop(conns);
    });
    let out = vibectl(
        dir.path(),
        &[
            "setup-proxy",
            "test",
            &format!("vibectl-server-insecure://{silent_addr}"),
            "--timeout",
            "1",
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("did not answer within 1s"),
        "{}",
        text(&out)
    );
}

#[test]
fn memory_and_completion() {
    let dir = tempfile::tempdir().unwrap();
    assert!(text(&vibectl(dir.path(), &["memory", "show"])).contains("empty"));
    vibectl(dir.path(), &["memory", "set", "we", "work", "in", "web"]);
    assert!(text(&vibectl(dir.path(), &["memory", "show"])).contains("we work in web"));
    vibectl(dir.path(), &["memory", "clear"]);
    assert!(text(&vibectl(dir.path(), &["memory", "show"])).contains("empty"));
    let out = vibectl(dir.path(), &["completion", "bash"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("setup-proxy"));
}
