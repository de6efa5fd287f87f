//! Token authentication end to end: hostile tokens refused with UNAUTHENTICATED before the
//! provider is reached, valid ones (HS256, RS256 and EdDSA with `kid`) accepted on unary and
//! streaming calls, revocation picked up by a running server, and the audit log.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::common;
use crate::secure;

use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use jsonwebtoken::Algorithm;
use secure::*;
use tonic::Code;
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::ServerProcess;

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

async fn wait_for_audit(path: &Path, lines: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= lines || Instant::now() > deadline {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_tokens_are_refused_and_valid_ones_pass() {
    let AuthSetup {
        dir,
        mock,
        cfg_text,
        cfg,
    } = AuthSetup::new(true).await;
    let d = dir.path();
    let out = d.to_str().unwrap();
    cli_ok(
        &cfg,
        d,
        &[
            "generate-keypair",
            "--algorithm",
            "RS256",
            "--out-dir",
            out,
            "--name",
            "rsa",
        ],
    );
    cli_ok(
        &cfg,
        d,
        &[
            "generate-keypair",
            "--algorithm",
            "EdDSA",
            "--out-dir",
            out,
            "--name",
            "ed",
        ],
    );
    cli_ok(
        &cfg,
        d,
        &[
            "generate-keypair",
            "--algorithm",
            "EdDSA",
            "--out-dir",
            out,
            "--name",
            "other",
        ],
    );
    let rsa_pub = std::fs::read(d.join("rsa.pub")).unwrap();
    let rsa_key = std::fs::read(d.join("rsa.key")).unwrap();
    let ed_key = std::fs::read(d.join("ed.key")).unwrap();
    let other_key = std::fs::read(d.join("other.key")).unwrap();

    // Tokens revoked before the server starts (by jti and by subject).
    let revoked = issue(&cfg, d, "carol");
    cli_ok(&cfg, d, &["tokens", "revoke", &jti_of(&revoked)]);
    let revoked_sub = issue(&cfg, d, "mallory");
    cli_ok(&cfg, d, &["tokens", "revoke", "--subject", "mallory"]);
    let issued = issue(&cfg, d, "alice");

    let server = ServerProcess::spawn(&common::server_bin(), &cfg_text, &[], &[]).expect("server");
    let hs = |c: &serde_json::Value| mint(c, Algorithm::HS256, SECRET.as_bytes(), None);
    let good = claims("tester");
    let valid = hs(&good);
    let with = |k: &str, v: serde_json::Value| {
        let mut c = claims("tester");
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = claims("tester");
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let n = now();
    let parts: Vec<&str> = valid.split('.').collect();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64(&with("sub", "admin".into())),
        parts[2]
    );
    let alg_none = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64(&good)
    );
    let long = "a".repeat(10_000);

    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing header", None, "missing authorization header"),
        (
            "wrong scheme",
            Some("Basic dXNlcjpwYXNz".into()),
            "wrong scheme",
        ),
        ("garbage", Some(bearer("not-a-jwt")), "malformed token"),
        (
            "alg none",
            Some(bearer(&alg_none)),
            "algorithm `none` not accepted",
        ),
        (
            "HS256 keyed with the RSA public key",
            Some(bearer(&mint(&good, Algorithm::HS256, &rsa_pub, None))),
            "bad signature",
        ),
        (
            "HS256 keyed with the RSA public key, RSA kid",
            Some(bearer(&mint(
                &good,
                Algorithm::HS256,
                &rsa_pub,
                Some("rsa-1"),
            ))),
            "unknown key id",
        ),
        (
            "wrong secret",
            Some(bearer(&mint(
                &good,
                Algorithm::HS256,
                b"not-the-secret",
                None,
            ))),
            "bad signature",
        ),
        (
            "EdDSA signed by another key",
            Some(bearer(&mint(
                &good,
                Algorithm::EdDSA,
                &other_key,
                Some("ed-1"),
            ))),
            "bad signature",
        ),
        (
            "expired",
            Some(bearer(&hs(&with("exp", (n - 3600).into())))),
            "expired",
        ),
        (
            "nbf in the future",
            Some(bearer(&hs(&with("nbf", (n + 3600).into())))),
            "not yet valid",
        ),
        (
            "wrong issuer",
            Some(bearer(&hs(&with("iss", "someone-else".into())))),
            "wrong issuer",
        ),
        (
            "wrong audience",
            Some(bearer(&hs(&with("aud", "other-service".into())))),
            "wrong audience",
        ),
        (
            "no audience",
            Some(bearer(&hs(&without("aud")))),
            "missing claim aud",
        ),
        (
            "no exp",
            Some(bearer(&hs(&without("exp")))),
            "missing claim exp",
        ),
        ("tampered payload", Some(bearer(&tampered)), "bad signature"),
        ("revoked jti", Some(bearer(&revoked)), "revoked token"),
        (
            "revoked subject",
            Some(bearer(&revoked_sub)),
            "revoked subject",
        ),
        ("over-long token", Some(bearer(&long)), "token too long"),
    ];

    let mut c = plain_client(server.addr).await;
    let mut message = None;
    for (name, header, _) in &cases {
        let req = common::request(Some("gpt-4o"), "hi");
        let err = c
            .execute(with_auth(req.clone(), header.as_deref()))
            .await
            .expect_err(name);
        assert_eq!(err.code(), Code::Unauthenticated, "{name}: {err:?}");
        assert!(
            err.message().contains("generate-token"),
            "{name}: {}",
            err.message()
        );
        // One message for every reason: it never says which check failed.
        assert_eq!(
            message.get_or_insert_with(|| err.message().to_owned()),
            err.message(),
            "{name}"
        );
        let err = c
            .stream_execute(with_auth(req, header.as_deref()))
            .await
            .expect_err(name);
        assert_eq!(err.code(), Code::Unauthenticated, "{name} (stream)");
    }
    // The same table over both HTTP APIs (token counting too), as `Authorization: Bearer` and
    // as `x-api-key`.
    let mut http_message = None;
    for (name, header, _) in &cases {
        let as_key = header
            .as_deref()
            .map(|h| h.strip_prefix("Bearer ").unwrap_or(h).to_owned());
        for (path, body) in [
            (
                "/v1/chat/completions",
                r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
            ),
            (
                "/v1/messages",
                r#"{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}"#,
            ),
            (
                "/v1/messages/count_tokens",
                r#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
            ),
        ] {
            for (key, value) in [("authorization", header), ("x-api-key", &as_key)] {
                let mut headers = vec![("anthropic-version", "2023-06-01")];
                if let Some(v) = value.as_deref() {
                    headers.push((key, v));
                }
                let (status, _, text) =
                    crate::http_common::post(&server, path, &headers, body).await;
                assert_eq!(status, 401, "{name} {path} {key}: {text}");
                let v = crate::http_common::json(&text);
                assert_eq!(v["error"]["type"], "authentication_error", "{name}");
                let m = v["error"]["message"].as_str().unwrap().to_owned();
                assert_eq!(
                    http_message.get_or_insert_with(|| m.clone()),
                    &m,
                    "{name}: one message"
                );
            }
        }
    }
    assert_eq!(
        mock.request_count(),
        0,
        "the provider must never be reached"
    );

    // Valid tokens: HS256 minted here, HS256 from generate-token, RS256 and EdDSA with kid.
    let rs = mint(
        &claims("rsa-user"),
        Algorithm::RS256,
        &rsa_key,
        Some("rsa-1"),
    );
    let ed = mint(&claims("ed-user"), Algorithm::EdDSA, &ed_key, Some("ed-1"));
    for token in [&valid, &issued, &rs, &ed] {
        let resp = c
            .execute(with_auth(
                common::request(Some("gpt-4o"), "hi"),
                Some(&bearer(token)),
            ))
            .await
            .expect("valid token accepted");
        common::success(resp.get_ref());
    }
    let mut s = c
        .stream_execute(with_auth(
            common::request(Some("gpt-4o"), "hi"),
            Some(&bearer(&valid)),
        ))
        .await
        .expect("stream accepted")
        .into_inner();
    let mut chunks = 0;
    while s.message().await.expect("chunk").is_some() {
        chunks += 1;
    }
    assert!(chunks >= 2, "text, complete and metrics chunks");
    // Cached: the same token again still works.
    c.get_server_info(with_auth(GetServerInfoRequest {}, Some(&bearer(&valid))))
        .await
        .unwrap();
    assert_eq!(mock.request_count(), 5);

    // Health needs no token.
    let mut health = tonic_health::pb::health_client::HealthClient::new(
        tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
            .unwrap()
            .connect()
            .await
            .unwrap(),
    );
    health
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .expect("health is exempt");

    // The audit log has every case with its reason, and no token anywhere.
    let audit = wait_for_audit(&d.join("audit.log"), 5 + cases.len() * 6 + 6).await;
    let failed: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("\"auth_failed\""))
        .collect();
    for (name, _, reason) in &cases {
        assert!(
            failed.iter().any(|l| l.contains(reason)),
            "{name}: no `{reason}` in\n{audit}"
        );
    }
    assert!(audit.contains("\"auth_ok\""), "{audit}");
    // HTTP refusals are audited like gRPC ones, under their path.
    assert!(
        failed.iter().any(|l| l.contains("/v1/messages"))
            && failed.iter().any(|l| l.contains("/v1/chat/completions")),
        "{audit}"
    );
    assert!(audit.contains(&jti_of(&issued)));
    assert!(audit
        .lines()
        .any(|l| l.contains("\"revoked subject\"") && l.contains("mallory")));
    assert!(audit.contains("\"token_issued\"") && audit.contains("\"subject_revoked\""));
    let registry = std::fs::read_to_string(d.join("tokens.jsonl")).unwrap();
    let logs = format!(
        "{audit}\n{registry}\n{}\n{}",
        server.stderr(),
        server.stdout()
    );
    for (name, header, _) in &cases {
        if let Some(t) = header.as_deref().and_then(|h| h.strip_prefix("Bearer ")) {
            if t.len() > 20 {
                assert!(!logs.contains(t), "{name}: token text found in the logs");
            }
        }
    }
    for t in [&valid, &issued, &rs, &ed] {
        assert!(
            !logs.contains(t.as_str()),
            "a valid token leaked into the logs"
        );
        assert!(
            !logs.contains(t.split('.').nth(2).unwrap()),
            "a signature leaked into the logs"
        );
    }
    assert!(!logs.contains(SECRET), "the secret leaked into the logs");
}
