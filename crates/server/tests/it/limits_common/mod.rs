//! Shared set-up of the limits tests: priced models, spawning, refusals, the usage command.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use tonic::Code;

use vibectl_testkit::{MockProvider, ServerProcess};

use crate::common::{config_for, server_bin};

/// Models with known prices (USD per million tokens) and output caps.
pub const MODELS: &str = "models:\n  - id: metered\n    provider: openai\n    upstream: metered-up\n    max_output_tokens: 100\n    prices: {input: 3, output: 15, cache_read: 0.3}\n  - id: metered-a\n    provider: anthropic\n    upstream: metered-a-up\n    max_output_tokens: 200\n    prices: {input: 0.8, output: 4, cache_read: 0.08, cache_write: 1}\n";

pub fn config(mock: &MockProvider, server_extra: &str, top_extra: &str) -> String {
    format!("{}{MODELS}{top_extra}", config_for(mock, server_extra, ""))
}

pub fn spawn(cfg: &str, args: &[&str]) -> ServerProcess {
    ServerProcess::spawn(&server_bin(), cfg, args, &[]).expect("server starts")
}

/// (limit-type, retry-after-ms) of a refusal.
pub fn refusal(s: &tonic::Status) -> (String, u64) {
    assert_eq!(s.code(), Code::ResourceExhausted, "{s:?}");
    let md = s.metadata();
    let kind = md.get("limit-type").unwrap().to_str().unwrap().to_owned();
    let wait = md
        .get("retry-after-ms")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    (kind, wait)
}

/// Runs `vibectl-server usage ARGS --json` on a server's config and state dir.
pub fn usage_json(server: &ServerProcess, args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(server_bin())
        .arg("--config")
        .arg(server.dir.path().join("config.yaml"))
        .arg("usage")
        .args(args)
        .arg("--json")
        .env("VIBECTL_SERVER_STATE_DIR", server.dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Polls `usage` until `pred` holds (settlement is asynchronous), at most 5 s.
pub fn usage_until(
    server: &ServerProcess,
    args: &[&str],
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    for _ in 0..100 {
        let v = usage_json(server, args);
        if pred(&v) {
            return v;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    usage_json(server, args)
}
