//! Token interop with the Python reference (PyJWT, as the reference uses): HS256 with the same
//! secret and issuer `vibectl-server`, in both directions. Needs python3 with PyJWT
//! (`scripts/test-deps.sh` installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::common;
use crate::secure;

use std::process::Command;

use secure::*;
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::{MockProvider, ServerProcess};

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 runs (install it and PyJWT with scripts/test-deps.sh)");
    assert!(
        out.status.success(),
        "python3 failed (is PyJWT installed? run scripts/test-deps.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// What the reference's JWTAuthManager does: PyJWT, HS256, sub/iat/exp/iss/jti.
const MINT: &str = r#"
import sys, time, uuid, jwt
now = int(time.time())
print(jwt.encode({"sub": sys.argv[2], "iat": now, "exp": now + 3600, "iss": "vibectl-server",
                  "jti": str(uuid.uuid4())}, sys.argv[1], algorithm="HS256"))
"#;

const VERIFY: &str = r#"
import sys, jwt
claims = jwt.decode(sys.argv[2], sys.argv[1], algorithms=["HS256"], issuer="vibectl-server")
print(claims["sub"], claims["jti"] is not None, claims["exp"] > claims["iat"])
"#;

#[tokio::test(flavor = "multi_thread")]
async fn tokens_interoperate_with_pyjwt_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mock = MockProvider::start().await.unwrap();
    let cfg_text = format!(
        "{}jwt:\n  enabled: true\n  secret_key: {SECRET}\n  registry_file: {}/tokens.jsonl\n",
        common::config_for(&mock, "  default_model: gpt-4o\n", ""),
        d.display()
    );
    let cfg = d.join("config.yaml");
    std::fs::write(&cfg, &cfg_text).unwrap();
    let server = ServerProcess::spawn(&common::server_bin(), &cfg_text, &[], &[]).expect("server");
    let mut c = plain_client(server.addr).await;

    // Python → Rust: a reference-minted token is accepted.
    let py_token = python(MINT, &[SECRET, "py-user"]);
    c.get_server_info(with_auth(GetServerInfoRequest {}, Some(&bearer(&py_token))))
        .await
        .expect("PyJWT token accepted");
    let resp = c
        .execute(with_auth(
            common::request(Some("gpt-4o"), "hi"),
            Some(&bearer(&py_token)),
        ))
        .await
        .expect("PyJWT token accepted for Execute");
    common::success(resp.get_ref());
    // With another secret it is refused.
    let bad = python(MINT, &["some-other-secret", "py-user"]);
    let err = c
        .get_server_info(with_auth(GetServerInfoRequest {}, Some(&bearer(&bad))))
        .await
        .expect_err("wrong secret");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    // Rust → Python: a token from generate-token verifies with PyJWT.
    let ours = cli_ok(&cfg, d, &["generate-token", "alice", "--expires-in", "2h"]);
    assert_eq!(python(VERIFY, &[SECRET, ours.trim()]), "alice True True");
}
