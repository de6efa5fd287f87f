//! Shared set-up of the HTTP API tests: the official Python SDKs as clients (scripts in
//! `http_sdk/`), raw HTTP for what an SDK would not send, and a server config with priced
//! models and provider retries off (so a provider 429 reaches the caller at once).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use vibectl_testkit::{MockProvider, ServerProcess};

use crate::common::{config_for, server_bin};
use crate::limits_common::MODELS;

/// Config: both mock providers with `max_retries: 0`, the priced models, `server_extra` under
/// `server:` and `top_extra` at the top level.
pub fn config(mock: &MockProvider, server_extra: &str, top_extra: &str) -> String {
    format!(
        "{}{MODELS}{top_extra}",
        config_for(mock, server_extra, "    max_retries: 0")
    )
}

/// Starts the real server on `cfg` with `args`.
pub fn spawn(cfg: &str, args: &[&str]) -> ServerProcess {
    ServerProcess::spawn(&server_bin(), cfg, args, &[]).expect("server starts")
}

/// Runs `http_sdk/<script>` with `spec` and returns what it printed.
pub async fn sdk(script: &str, spec: Value) -> Value {
    let path = format!("{}/tests/it/http_sdk/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .arg(path)
            .arg(spec.to_string())
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{script} printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// One call through the `openai` SDK against `server`.
pub async fn openai(server: &ServerProcess, token: &str, op: &str, kwargs: Value) -> Value {
    openai_with(server, token, op, kwargs, 0).await
}

/// [`openai`] with the SDK's own retries.
pub async fn openai_with(
    server: &ServerProcess,
    token: &str,
    op: &str,
    kwargs: Value,
    max_retries: u32,
) -> Value {
    let spec = serde_json::json!({"base_url": format!("{}/v1", server.url()), "token": token,
        "op": op, "kwargs": kwargs, "max_retries": max_retries});
    sdk("openai_call.py", spec).await
}

/// One call through the `anthropic` SDK against `server` (token as `x-api-key`).
pub async fn anthropic(server: &ServerProcess, token: &str, op: &str, kwargs: Value) -> Value {
    anthropic_with(server, token, "api_key", op, kwargs, 0).await
}

/// [`anthropic`] with the auth style (`api_key` or `bearer`) and the SDK's own retries.
pub async fn anthropic_with(
    server: &ServerProcess,
    token: &str,
    auth: &str,
    op: &str,
    kwargs: Value,
    max_retries: u32,
) -> Value {
    let spec = serde_json::json!({"base_url": server.url(), "token": token, "auth": auth,
        "op": op, "kwargs": kwargs, "max_retries": max_retries});
    sdk("anthropic_call.py", spec).await
}

/// A raw POST of `body` to `path` with `headers`: status, headers and body text.
pub async fn post(
    server: &ServerProcess,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<reqwest::Body>,
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", server.url()))
        .header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.body(body).send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    (status, headers, resp.text().await.unwrap_or_default())
}

/// The JSON of a body text.
pub fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}
