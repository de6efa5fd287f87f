//! Files and secrets under hostile conditions, through the real binary: a token registry torn by
//! a crash mid-append, and HS256 secrets too short to be safe.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write as _;
use std::time::{Duration, Instant};

use tonic::Code;
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::{MockProvider, ServerProcess};

use crate::common;
use crate::secure::*;

/// A crash mid-append leaves half a line in the registry; the next revocation still takes effect
/// on the running server (before, it joined the torn line and was skipped while the CLI said
/// "revoked").
#[tokio::test(flavor = "multi_thread")]
async fn a_revocation_after_a_torn_append_takes_effect() {
    let AuthSetup {
        dir,
        mock: _mock,
        cfg_text,
        cfg,
    } = AuthSetup::new(false).await;
    let d = dir.path();
    let token = issue(&cfg, d, "carol");
    let server = ServerProcess::spawn(&common::server_bin(), &cfg_text, &[], &[]).expect("server");
    let mut c = plain_client(server.addr).await;
    let call = |t: &str| with_auth(GetServerInfoRequest {}, Some(&bearer(t)));
    c.get_server_info(call(&token)).await.expect("token works");

    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(d.join("tokens.jsonl"))
        .unwrap();
    f.write_all(br#"{"event":"issued","jti":"half-writ"#)
        .unwrap();
    drop(f);
    let out = cli_ok(&cfg, d, &["tokens", "revoke", &jti_of(&token)]);
    assert!(out.contains("revoked"), "{out}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.get_server_info(call(&token)).await {
            Err(e) if e.code() == Code::Unauthenticated => break,
            Ok(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(25)).await
            }
            other => panic!("the revocation after a torn line was lost: {other:?}"),
        }
    }
    let list = cli_ok(&cfg, d, &["tokens", "list", "--json"]);
    assert!(
        list.contains("carol") && !list.contains("half-writ"),
        "{list}"
    );
}

/// A damaged line in the middle of the registry: the server refuses to start, loudly.
#[tokio::test(flavor = "multi_thread")]
async fn a_corrupt_registry_refuses_to_start_with_the_fix() {
    let AuthSetup {
        dir,
        mock: _mock,
        cfg_text,
        cfg,
    } = AuthSetup::new(false).await;
    let d = dir.path();
    let token = issue(&cfg, d, "dave");
    cli_ok(&cfg, d, &["tokens", "revoke", &jti_of(&token)]);
    let reg = d.join("tokens.jsonl");
    let text = std::fs::read_to_string(&reg).unwrap();
    std::fs::write(&reg, text.replacen("dave", "evil", 1)).unwrap();
    let err = ServerProcess::spawn(&common::server_bin(), &cfg_text, &[], &[])
        .expect_err("a corrupt registry must not be served");
    let stderr = err.stderr;
    assert!(
        stderr.contains("tokens.jsonl") && stderr.contains("line 1"),
        "{stderr}"
    );
    assert!(stderr.contains("restore the file"), "{stderr}");
}

/// `jwt.secret_key: "a"` is refused by `config validate` and at start, with how to make one.
#[tokio::test(flavor = "multi_thread")]
async fn short_hs256_secrets_are_refused_at_start_and_by_validate() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockProvider::start().await.unwrap();
    let cfg_text = format!(
        "{}jwt:\n  enabled: true\n  secret_key: a\n",
        common::config_for(&mock, "", "")
    );
    let cfg = dir.path().join("config.yaml");
    std::fs::write(&cfg, &cfg_text).unwrap();
    let out = cli(&cfg, dir.path(), &["config", "validate"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "validate passed a 1-byte secret");
    assert!(
        stderr.contains("jwt.secret_key") && stderr.contains("at least 32"),
        "{stderr}"
    );
    assert!(stderr.contains("openssl rand"), "{stderr}");
    let err = ServerProcess::spawn(&common::server_bin(), &cfg_text, &[], &[])
        .expect_err("a 1-byte secret must not be served");
    assert!(err.stderr.contains("at least 32"), "{}", err.stderr);
    // The same from the environment, which `config validate` cannot see: refused at start.
    let ok_cfg = format!(
        "{}jwt:\n  enabled: true\n",
        common::config_for(&mock, "", "")
    );
    let err = ServerProcess::spawn(
        &common::server_bin(),
        &ok_cfg,
        &[],
        &[("VIBECTL_JWT_SECRET", "too-short")],
    )
    .expect_err("a 9-byte secret must not be served");
    assert!(
        err.stderr.contains("VIBECTL_JWT_SECRET") && err.stderr.contains("9 bytes"),
        "{}",
        err.stderr
    );
    // And `generate-token` refuses to sign with it.
    let out = cli(&cfg, dir.path(), &["generate-token", "x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 32"));
}
