//! Start-up, health, reflection, safety of the bind address, secrets in logs, graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::common;

use std::process::Command;
use std::time::Duration;

use common::*;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use vibectl_proto::stream_chunk::ChunkType;
use vibectl_testkit::{MockProvider, MockReply, ServerProcess};

#[tokio::test(flavor = "multi_thread")]
async fn health_and_reflection_are_served() {
    let (_mock, server) = start("", "").await;
    let channel = tonic::transport::Endpoint::from_shared(server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel.clone());
    for service in ["", "vibectl.llm_proxy.VibectlLLMProxy"] {
        let status = health
            .check(HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32, "service {service:?}");
    }

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    let mut refl = ServerReflectionClient::new(channel);
    let req = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut resp = refl
        .server_reflection_info(futures::stream::iter([req]))
        .await
        .unwrap()
        .into_inner();
    let msg = resp.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = msg.message_response else {
        panic!("unexpected reflection answer")
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert!(
        names.contains(&"vibectl.llm_proxy.VibectlLLMProxy"),
        "{names:?}"
    );
    assert!(names.contains(&"grpc.health.v1.Health"), "{names:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn non_loopback_bind_needs_an_explicit_flag_and_warns() {
    let mock = MockProvider::start().await.unwrap();
    let cfg = config_for(&mock, "", "").replace("host: 127.0.0.1", "host: 0.0.0.0");
    let err = ServerProcess::spawn(&server_bin(), &cfg, &[], &[]).unwrap_err();
    assert!(err.stderr.contains("refusing to bind 0.0.0.0"), "{err}");
    assert!(err.stderr.contains("--allow-insecure-public"), "{err}");
    assert!(!err.status.unwrap().success());

    let server =
        ServerProcess::spawn(&server_bin(), &cfg, &["--allow-insecure-public"], &[]).unwrap();
    assert!(server.addr.ip().is_unspecified());
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        server.stderr().contains("WITHOUT TLS"),
        "{}",
        server.stderr()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_config_is_refused_naming_every_key() {
    let cfg = "server:\n  default_model: gtp-4o\n  limits:\n    global: {max_concurrent_requests: 0}\nproviders:\n  openai: {api_key: k}\n";
    let err = ServerProcess::spawn(&server_bin(), cfg, &[], &[]).unwrap_err();
    assert!(
        err.stderr
            .contains("server.limits.global.max_concurrent_requests"),
        "{err}"
    );
    assert!(err.stderr.contains("server.default_model"), "{err}");
    assert!(err.stderr.contains("gpt-4o"), "did-you-mean: {err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn provider_keys_never_reach_the_logs() {
    let mock = MockProvider::start().await.unwrap();
    mock.set_api_key("sk-live-SECRET-4242");
    let cfg = format!(
        "server: {{log_level: trace, default_model: gpt-4o}}\nproviders:\n  openai: {{base_url: '{}'}}\n",
        mock.openai_base_url()
    );
    let server = ServerProcess::spawn(
        &server_bin(),
        &cfg,
        &[],
        &[("OPENAI_API_KEY", "sk-live-SECRET-4242")],
    )
    .unwrap();
    let mut c = client(&server).await;
    success(c.execute(request(None, "hi")).await.unwrap().get_ref());
    mock.push_reply(MockReply::failing(vibectl_testkit::Fault::AuthFailed));
    let resp = c.execute(request(None, "hi")).await.unwrap().into_inner();
    assert_eq!(error(&resp).error_code, "PROVIDER_AUTH_FAILED");
    std::thread::sleep(Duration::from_millis(100));
    let logs = server.stderr();
    assert!(logs.contains("provider configured"), "{logs}");
    assert!(!logs.contains("SECRET-4242"), "key leaked into logs");

    // `models` and `config show` mask keys too.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(
        &path,
        "providers:\n  openai: {api_key: sk-live-SECRET-4242}\n",
    )
    .unwrap();
    for args in [
        &["config", "show"][..],
        &["models"][..],
        &["config", "validate"][..],
    ] {
        let out = Command::new(server_bin())
            .arg("--config")
            .arg(&path)
            .args(args)
            .env_remove("OPENAI_API_KEY")
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains("SECRET-4242"), "{args:?}: {all}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_in_flight_streams_then_exits() {
    let (mock, mut server) = start("", "").await;
    let mut c = client(&server).await;
    mock.push_reply(
        MockReply::text("one two three four five")
            .chunks(5)
            .chunk_interval(Duration::from_millis(150)),
    );
    let mut s = c
        .stream_execute(request(Some("gpt-4o"), "slow"))
        .await
        .unwrap()
        .into_inner();
    let first = s.message().await.unwrap().unwrap();
    assert!(matches!(first.chunk_type, Some(ChunkType::TextChunk(_))));
    server.signal("TERM").unwrap();
    let mut kinds = Vec::new();
    while let Some(chunk) = s.message().await.unwrap() {
        kinds.push(match chunk.chunk_type.unwrap() {
            ChunkType::TextChunk(_) => "text",
            ChunkType::Complete(_) => "complete",
            ChunkType::FinalMetrics(_) => "metrics",
            ChunkType::Error(_) => "error",
        });
    }
    assert_eq!(
        kinds.last(),
        Some(&"metrics"),
        "the in-flight call finished: {kinds:?}"
    );
    assert!(!kinds.contains(&"error"));
    let status = server
        .wait_timeout(Duration::from_secs(5))
        .expect("exits after draining");
    assert!(status.success(), "{status}");
    assert!(server.stderr().contains("draining"), "{}", server.stderr());
}

#[test]
fn init_config_writes_a_valid_commented_file_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("server").join("config.yaml");
    let run = |args: &[&str]| {
        Command::new(server_bin())
            .arg("--config")
            .arg(&path)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(run(&["init-config"]).status.success());
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("# vibectl-server configuration"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let again = run(&["init-config"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert!(run(&["init-config", "--force"]).status.success());
    let ok = run(&["config", "validate"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let shown = run(&["config", "show", "server.port"]);
    assert_eq!(String::from_utf8_lossy(&shown.stdout).trim(), "50051");
    let typo = run(&["config", "show", "server.prot"]);
    assert!(String::from_utf8_lossy(&typo.stderr).contains("did you mean `server.port`"));
}
