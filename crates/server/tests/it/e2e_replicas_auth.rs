//! Two replicas on one real `redis-server` with authentication on: per-subject limits keyed by
//! the verified token subject hold across both, and a revocation made with the CLI (registry in
//! Redis) is honoured by both.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::common;
use crate::secure;

use std::time::{Duration, Instant};

use common::*;
use secure::*;
use tonic::Code;
use vibectl_testkit::{MockProvider, RedisProcess, ServerProcess};

fn token(cfg: &std::path::Path, dir: &std::path::Path, sub: &str) -> String {
    cli_ok(cfg, dir, &["generate-token", sub, "--expires-in", "1h"])
        .trim()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn per_subject_limits_and_revocations_hold_across_replicas() {
    let redis = RedisProcess::start().unwrap();
    let mock = MockProvider::start().await.unwrap();
    let server_extra = "  default_model: gpt-4o\n  require_auth: true\n  limits:\n    global: {max_requests_per_minute: 100}\n    per_token:\n      alice: {max_requests_per_minute: 3}\n";
    let cfg = format!(
        "{}jwt:\n  secret_key: {SECRET}\n  revocation_poll_ms: 200\nstate:\n  backend: redis\n  redis_url: {}\n",
        config_for(&mock, server_extra, ""),
        redis.url()
    );
    let a = ServerProcess::spawn(&server_bin(), &cfg, &[], &[]).unwrap();
    let b = ServerProcess::spawn(&server_bin(), &cfg, &[], &[]).unwrap();
    let cfg_path = a.dir.path().join("config.yaml");
    let alice = token(&cfg_path, a.dir.path(), "alice");
    let bob = token(&cfg_path, a.dir.path(), "bob");
    let (mut ca, mut cb) = (plain_client(a.addr).await, plain_client(b.addr).await);
    let call = |t: &str| with_auth(request(None, "q"), Some(&bearer(t)));

    // alice: 3 a minute across both replicas; bob has the global 100.
    ca.execute(call(&alice)).await.unwrap();
    cb.execute(call(&alice)).await.unwrap();
    ca.execute(call(&alice)).await.unwrap();
    let s = cb.execute(call(&alice)).await.unwrap_err();
    assert_eq!(s.code(), Code::ResourceExhausted);
    assert_eq!(s.metadata().get("limit-type").unwrap(), "rpm");
    assert!(s.message().contains("`alice`"), "{}", s.message());
    cb.execute(call(&bob)).await.unwrap();

    // Revoked with the CLI: the registry is in Redis, so both replicas refuse bob within 2 s.
    let listed = cli_ok(&cfg_path, a.dir.path(), &["tokens", "list", "--json"]);
    assert!(listed.contains("\"bob\""), "{listed}");
    cli_ok(
        &cfg_path,
        a.dir.path(),
        &["tokens", "revoke", &jti_of(&bob)],
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut refused = [false, false];
    while Instant::now() < deadline && refused != [true, true] {
        for (i, c) in [&mut ca, &mut cb].into_iter().enumerate() {
            if let Err(s) = c.execute(call(&bob)).await {
                refused[i] |= s.code() == Code::Unauthenticated;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(refused, [true, true]);
    // The usage ledger (in Redis) knows both subjects, whichever replica served them.
    let out = cli_ok(
        &cfg_path,
        a.dir.path(),
        &["usage", "--by", "subject", "--json"],
    );
    let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
    let subjects: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["alice", "bob"]);
}
