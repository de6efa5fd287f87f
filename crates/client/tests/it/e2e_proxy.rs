//! End to end through the real vibectl-server: plaintext, then TLS with tokens; setup-proxy
//! failure messages for a stopped server, a missing CA bundle, a missing, bad and expired token.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::support;

use std::time::{SystemTime, UNIX_EPOCH};

use support::{server_bin, server_cli, server_config, World};
use vibectl_testkit::ServerProcess;

const SECRET: &str = "client-e2e-secret-0123456789-abcdefghij";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vibe_through_a_plaintext_server() {
    let w = World::start().await;
    let server =
        ServerProcess::spawn(&server_bin(), &server_config(&w.mock, ""), &[], &[]).unwrap();
    let url = format!("vibectl-server-insecure://{}", server.addr);
    let run = w.vibectl(&["setup-proxy", "configure", "lab", &url]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("Default model: openai/gpt-4o"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains("claude-4-sonnet"),
        "aliases are listed: {run:?}"
    );
    assert!(run.stdout.contains("Round trip:"), "{run:?}");

    // An alias resolved by the server's alias map.
    let run = w
        .vibectl(&["config", "set", "llm.model", "claude-4-sonnet"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    w.plan(&["get", "services"], None);
    w.say("The web service listens on 80.");
    let run = w
        .vibectl(&["--show-metrics", "sub", "vibe", "get services"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("kubectl get services"), "{run:?}");
    assert!(
        run.stdout.contains("The web service listens on 80."),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains("[metrics] model=anthropic/claude-sonnet-4-0"),
        "{run:?}"
    );
    // The planner call carried the schema to the provider through the server.
    let plan_req = w.mock.requests()[0].body.to_string();
    assert!(plan_req.contains("action_type"), "{plan_req}");

    // An unknown model gets a did-you-mean with the server's models.
    let run = w.vibectl(&["--model", "claude-4-sonet", "vibe", "x"]).await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("did you mean claude-4-sonnet"),
        "{run:?}"
    );

    let run = w.vibectl(&["version"]).await;
    assert!(run.stdout.contains("server: vibectl-server"), "{run:?}");
    let run = w.vibectl(&["setup-proxy", "status"]).await;
    assert!(run.stdout.contains("Active profile: lab"), "{run:?}");

    // --no-proxy goes direct even with a profile active.
    w.say("direct answer");
    let run = w
        .vibectl(&["get", "pods", "--no-proxy", "--model", "gpt-4o"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_proxy_test_against_a_stopped_server() {
    let w = World::start().await;
    let server =
        ServerProcess::spawn(&server_bin(), &server_config(&w.mock, ""), &[], &[]).unwrap();
    let addr = server.addr;
    drop(server);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let run = w
        .vibectl(&[
            "setup-proxy",
            "test",
            &format!("vibectl-server-insecure://{addr}"),
        ])
        .await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("cannot reach vibectl-server")
            && run.stderr.contains("Connection refused"),
        "{run:?}"
    );
    // configure refuses to save a profile it cannot reach, unless told not to test.
    let url = format!("vibectl-server-insecure://{addr}");
    let run = w.vibectl(&["setup-proxy", "configure", "down", &url]).await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("--no-test"), "{run:?}");
    let run = w
        .vibectl(&["setup-proxy", "configure", "down", &url, "--no-test"])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(exp_offset: i64, secret: &str) -> String {
    let n = now() as i64;
    let claims = serde_json::json!({"sub": "alice", "iss": "vibectl-server", "iat": n - 7200,
        "exp": n + exp_offset, "jti": "e2e-token"});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_and_tokens_each_failure_has_its_own_message_then_vibe_works() {
    let w = World::start().await;
    let d = w.dir.path();
    let ca = vibectl_testkit::TestCa::create(&server_bin(), d).unwrap();
    let cfg = server_config(
        &w.mock,
        &format!(
            "jwt:\n  enabled: true\n  secret_key: {SECRET}\ntls:\n  enabled: true\n  cert_file: {}\n  key_file: {}\n",
            ca.server_cert.display(),
            ca.server_key.display()
        ),
    );
    let server = ServerProcess::spawn(&server_bin(), &cfg, &[], &[]).unwrap();
    assert!(server.tls);
    let cfg_path = d.join("server.yaml");
    std::fs::write(&cfg_path, &cfg).unwrap();
    let good = server_cli(
        &cfg_path,
        d,
        &["generate-token", "alice", "--expires-in", "1h"],
    )
    .trim()
    .to_owned();
    let bundle = ca.bundle.to_str().unwrap();
    let host = server.addr;

    // No CA bundle: the private CA is not trusted.
    let run = w
        .vibectl(&[
            "setup-proxy",
            "test",
            &format!("vibectl-server://{good}@{host}"),
        ])
        .await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("TLS verification failed") && run.stderr.contains("--ca-bundle"),
        "{run:?}"
    );
    assert!(!run.all().contains(&good), "the token is never printed");

    // With the bundle (from the environment) but no token.
    let ca_env = [("VIBECTL_CA_BUNDLE", bundle)];
    let run = w
        .vibectl_env(
            &["setup-proxy", "test", &format!("vibectl-server://{host}")],
            &ca_env,
        )
        .await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("requires authentication"), "{run:?}");

    // The token from VIBECTL_JWT_TOKEN and the bundle from VIBECTL_CA_BUNDLE.
    let run = w
        .vibectl_env(
            &["setup-proxy", "test", &format!("vibectl-server://{host}")],
            &[("VIBECTL_CA_BUNDLE", bundle), ("VIBECTL_JWT_TOKEN", &good)],
        )
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains("Connected to") && !run.all().contains(&good),
        "{run:?}"
    );

    // A token signed with another secret, and an expired one.
    let forged = token(3600, "some-other-secret-0123456789-abcdefghij");
    let run = w
        .vibectl_env(
            &[
                "setup-proxy",
                "test",
                &format!("vibectl-server://{forged}@{host}"),
            ],
            &ca_env,
        )
        .await;
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("refused the token"), "{run:?}");
    let expired = token(-3600, SECRET);
    let run = w
        .vibectl_env(
            &[
                "setup-proxy",
                "test",
                &format!("vibectl-server://{expired}@{host}"),
            ],
            &ca_env,
        )
        .await;
    assert_ne!(run.code, 0);
    assert!(
        run.stderr.contains("refused the token") && run.stderr.to_lowercase().contains("expired"),
        "{run:?}"
    );

    // Plain text against a TLS server.
    let run = w
        .vibectl(&[
            "setup-proxy",
            "test",
            &format!("vibectl-server-insecure://{good}@{host}"),
        ])
        .await;
    assert_ne!(run.code, 0);
    assert!(!run.all().contains(&good));

    // The real thing: profile with token file and CA bundle, then vibe through TLS.
    let jwt = d.join("alice.jwt");
    std::fs::write(&jwt, format!("{good}\n")).unwrap();
    let url = format!("vibectl-server://{host}");
    let run = w
        .vibectl(&[
            "setup-proxy",
            "configure",
            "prod",
            &url,
            "--jwt-path",
            jwt.to_str().unwrap(),
            "--ca-bundle",
            bundle,
        ])
        .await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("(TLS)"), "{run:?}");
    w.plan(&["delete", "pod", "web-1"], None);
    w.say("Deleted web-1.");
    let run = w.vibectl(&["--yes", "vibe", "delete pod web-1"]).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(w
        .kube
        .get(
            vibectl_testkit::fake_kube::Resource::Pods,
            "default",
            "web-1"
        )
        .is_none());
    // Status masks the token; the config file holding only paths is still private to the user.
    let run = w.vibectl(&["setup-proxy", "status"]).await;
    assert!(
        run.stdout.contains("JWT file:") && !run.stdout.contains(&good),
        "{run:?}"
    );
}
