//! Shared set-up for the server's end-to-end tests: the real binary, the mock provider, a client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use tonic::transport::Channel;
use vibectl_proto::vibectl_llm_proxy_client::VibectlLlmProxyClient;
use vibectl_proto::{execute_response, ExecuteRequest, ExecuteResponse, StreamChunk};
use vibectl_testkit::{MockProvider, ServerProcess};

/// The server binary under test.
pub fn server_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vibectl-server"))
}

/// Config YAML that serves both mock providers, with `extra` appended under `server:`.
pub fn config_for(mock: &MockProvider, server_extra: &str, provider_extra: &str) -> String {
    format!(
        "server:\n  host: 127.0.0.1\n  shutdown_grace_seconds: 5\n{server_extra}\
         providers:\n  openai:\n    base_url: {}\n    api_key: test-key\n{provider_extra}\
         \n  anthropic:\n    base_url: {}\n    api_key: test-key\n{provider_extra}\n",
        mock.openai_base_url(),
        mock.anthropic_base_url(),
    )
}

/// Starts the mock provider and a server pointing at it.
pub async fn start(server_extra: &str, provider_extra: &str) -> (MockProvider, ServerProcess) {
    let mock = MockProvider::start().await.expect("mock provider");
    let cfg = config_for(&mock, server_extra, provider_extra);
    let server = ServerProcess::spawn(&server_bin(), &cfg, &[], &[]).expect("server starts");
    (mock, server)
}

/// A gRPC client for `server`.
pub async fn client(server: &ServerProcess) -> VibectlLlmProxyClient<Channel> {
    VibectlLlmProxyClient::connect(server.url())
        .await
        .expect("connect")
}

/// A request with one system and one user fragment for `model`.
pub fn request(model: Option<&str>, user: &str) -> ExecuteRequest {
    ExecuteRequest {
        system_fragments: vec!["You are terse.".into()],
        user_fragments: vec![user.into()],
        model_name: model.map(str::to_owned),
        response_model_schema: None,
        request_id: String::new(),
    }
}

/// The success of a response, or a panic naming the error.
pub fn success(resp: &ExecuteResponse) -> &vibectl_proto::ExecuteSuccess {
    match &resp.result {
        Some(execute_response::Result::Success(s)) => s,
        other => panic!("expected success, got {other:?}"),
    }
}

/// The error code of a response, or a panic.
pub fn error(resp: &ExecuteResponse) -> &vibectl_proto::ExecuteError {
    match &resp.result {
        Some(execute_response::Result::Error(e)) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Reads a whole `StreamExecute` response.
pub async fn stream_all(
    client: &mut VibectlLlmProxyClient<Channel>,
    req: ExecuteRequest,
) -> Vec<StreamChunk> {
    let mut s = client
        .stream_execute(req)
        .await
        .expect("stream")
        .into_inner();
    let mut out = Vec::new();
    while let Some(c) = s.message().await.expect("stream message") {
        out.push(c);
    }
    out
}

/// Micro-USD from a float cost, rounded (cost_usd is a double on the wire).
pub fn micro_usd(cost: Option<f64>) -> i64 {
    (cost.expect("cost set") * 1_000_000.0).round() as i64
}
