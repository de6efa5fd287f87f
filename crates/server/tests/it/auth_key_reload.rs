//! JWT verification keys follow a config reload: a key added to `jwt.verification_keys` is
//! accepted and a removed one refused, without a restart (and the token cache keeps nothing alive).
#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::common;
use crate::secure;

use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use secure::*;
use tonic::Code;
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::{MockProvider, ServerProcess};

/// Polls until a call with `token` gets `want` (Ok or the error code), for up to 10 s.
async fn until(server: &ServerProcess, token: &str, want: Result<(), Code>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut c = plain_client(server.addr).await;
        let got = c
            .get_server_info(with_auth(GetServerInfoRequest {}, Some(&bearer(token))))
            .await
            .map(|_| ())
            .map_err(|s| s.code());
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "still {got:?}, wanted {want:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verification_keys_are_reloaded_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let old_secret = "old-secret-0123456789-abcdefghijklmnopq";
    let old_file = dir.path().join("old.key");
    std::fs::write(&old_file, old_secret).unwrap();
    let mock = MockProvider::start().await.unwrap();
    let base = format!(
        "{}jwt:\n  enabled: true\n  secret_key: {SECRET}\n  audience: {AUDIENCE}\n",
        common::config_for(&mock, "", "")
    );
    let server = ServerProcess::spawn(&common::server_bin(), &base, &[], &[]).expect("server");
    let config = server.dir.path().join("config.yaml");

    let current = mint(&claims("alice"), Algorithm::HS256, SECRET.as_bytes(), None);
    let old = mint(
        &claims("bob"),
        Algorithm::HS256,
        old_secret.as_bytes(),
        Some("old"),
    );
    until(&server, &current, Ok(())).await;
    until(&server, &old, Err(Code::Unauthenticated)).await;

    // Rotation: the old key becomes a verification key; its tokens work after SIGHUP.
    let with_old = format!(
        "{base}  verification_keys:\n    - {{kid: old, algorithm: HS256, secret_key_file: {}}}\n",
        old_file.display()
    );
    std::fs::write(&config, &with_old).unwrap();
    server.signal("HUP").unwrap();
    until(&server, &old, Ok(())).await;
    until(&server, &current, Ok(())).await;

    // Retired: removed from the set, its (cached) tokens stop working.
    std::fs::write(&config, &base).unwrap();
    server.signal("HUP").unwrap();
    until(&server, &old, Err(Code::Unauthenticated)).await;
    until(&server, &current, Ok(())).await;

    // A broken key file is refused as a whole and the running keys stay.
    let broken = with_old.replace(&old_file.display().to_string(), "/nonexistent/key");
    std::fs::write(&config, broken).unwrap();
    server.signal("HUP").unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    until(&server, &current, Ok(())).await;
    until(&server, &old, Err(Code::Unauthenticated)).await;
    assert!(
        server.stderr().contains("config reload refused"),
        "{}",
        server.stderr()
    );
}
