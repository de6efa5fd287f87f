//! Revocation picked up by a running server, and the generated secret shared by the CLI and the
//! server.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::common;
use crate::secure;

use std::time::{Duration, Instant};

use secure::*;
use tonic::Code;
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::{MockProvider, ServerProcess};

#[tokio::test(flavor = "multi_thread")]
async fn a_running_server_honours_revocation_quickly() {
    let AuthSetup {
        dir,
        mock: _mock,
        cfg_text,
        cfg,
    } = AuthSetup::new(false).await;
    let d = dir.path();
    let server = ServerProcess::spawn(&common::server_bin(), &cfg_text, &[], &[]).expect("server");
    let mut c = plain_client(server.addr).await;
    let token = issue(&cfg, d, "bob");
    let other = issue(&cfg, d, "bob-2");
    let call = |t: &str| with_auth(GetServerInfoRequest {}, Some(&bearer(t)));
    c.get_server_info(call(&token))
        .await
        .expect("fresh token works");

    let started = Instant::now();
    let listed = cli_ok(&cfg, d, &["tokens", "revoke", &jti_of(&token)]);
    assert!(listed.contains("revoked token"), "{listed}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.get_server_info(call(&token)).await {
            Err(e) if e.code() == Code::Unauthenticated => break,
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(25)).await
            }
            other => panic!("revocation not honoured: {other:?}"),
        }
    }
    eprintln!("revocation honoured after {:?}", started.elapsed());
    c.get_server_info(call(&other))
        .await
        .expect("other tokens unaffected");

    cli_ok(&cfg, d, &["tokens", "revoke", "--subject", "bob-2"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while c.get_server_info(call(&other)).await.is_ok() {
        assert!(Instant::now() < deadline, "subject revocation not honoured");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let fresh = issue(&cfg, d, "bob-2");
    tokio::time::sleep(Duration::from_millis(1100)).await; // iat must be after the revocation second
    let fresh2 = issue(&cfg, d, "bob-2");
    c.get_server_info(call(&fresh2))
        .await
        .expect("tokens issued after a subject revocation work");
    drop(fresh);

    let list: serde_json::Value =
        serde_json::from_str(&cli_ok(&cfg, d, &["tokens", "list", "--json"])).unwrap();
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    let revoked = |jti: &str| {
        rows.iter().find(|r| r["jti"] == jti).unwrap()["revoked"]
            .as_bool()
            .unwrap()
    };
    assert!(revoked(&jti_of(&token)) && revoked(&jti_of(&other)) && !revoked(&jti_of(&fresh2)));
    let table = cli_ok(&cfg, d, &["tokens", "list"]);
    assert!(
        table.contains("SUBJECT") && table.contains("bob-2") && table.contains("revoked"),
        "{table}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_generated_secret_is_persisted_and_shared_by_cli_and_server() {
    let state = tempfile::tempdir().unwrap();
    let s = state.path();
    let missing = s.join("no-config.yaml");
    let token_file = s.join("alice.jwt");
    let out = cli(
        &missing,
        s,
        &[
            "generate-token",
            "alice",
            "--output",
            token_file.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("generated") && stderr.contains("jwt-secret"),
        "{stderr}"
    );
    assert!(
        out.stdout.is_empty(),
        "with --output nothing goes to stdout"
    );
    #[cfg(unix)]
    for f in ["alice.jwt", "jwt-secret", "tokens.jsonl", "audit.log"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(s.join(f)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    let token = std::fs::read_to_string(&token_file).unwrap();

    let mock = MockProvider::start().await.unwrap();
    let cfg = common::config_for(&mock, "  default_model: gpt-4o\n", "");
    let server = ServerProcess::spawn(
        &common::server_bin(),
        &cfg,
        &["--require-auth"],
        &[("VIBECTL_SERVER_STATE_DIR", s.to_str().unwrap())],
    )
    .expect("server");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !server.stderr().contains("jwt-secret") {
        assert!(
            Instant::now() < deadline,
            "the server says where its secret is:\n{}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut c = plain_client(server.addr).await;
    c.get_server_info(with_auth(
        GetServerInfoRequest {},
        Some(&bearer(token.trim())),
    ))
    .await
    .expect("token from generate-token accepted");
    let err = c
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(!server.stderr().contains(token.trim()));
}
