//! The request path in-process: an [`App`] built from a config and served on an ephemeral port,
//! a mock provider behind it, and a gRPC client: auth refusal, limit refusal, provider fault
//! mapping, settlement when the caller goes away. No binary is spawned.
use std::time::Duration;

use tonic::Code;
use vibectl_server::app::App;
use vibectl_server::cli::ServeArgs;
use vibectl_server::config::{ConfigSource, ServerConfig};
use vibectl_testkit::{Fault, MockProvider, MockReply};

use crate::common::{config_for, error, request, success};
use crate::secure::{bearer, claims, mint, plain_client, with_auth, AUDIENCE};

const SECRET: &str = "in-process-test-secret-of-at-least-32-bytes";

/// A served app: its address, the shutdown trigger and the serving task.
pub struct Running {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Running {
    /// Shuts it down and waits for the drain.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("drained in time")
            .unwrap()
            .unwrap();
    }
}

/// Builds an [`App`] from `yaml` and serves it on an ephemeral port.
pub async fn serve(yaml: &str) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let (cfg, warnings) = ServerConfig::parse(yaml).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let source = ConfigSource::Defaults(dir.path().join("config.yaml"));
    let app = App::build(cfg, source, ServeArgs::default()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.serve(listener, async {
        let _ = rx.await;
    }));
    Running {
        addr,
        stop: Some(tx),
        task,
        _dir: dir,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_refuses_before_the_provider_and_admits_a_good_token() {
    let mock = MockProvider::start().await.unwrap();
    let yaml = config_for(&mock, "  default_model: gpt-4o\n  require_auth: true\n", "")
        + &format!("jwt:\n  secret_key: {SECRET}\n  audience: [{AUDIENCE}]\n");
    let app = serve(&yaml).await;
    let mut c = plain_client(app.addr).await;
    for header in [None, Some("Bearer nope".to_owned())] {
        let err = c
            .execute(with_auth(request(None, "hi"), header.as_deref()))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unauthenticated, "{err:?}");
    }
    assert!(
        mock.requests().is_empty(),
        "a refused call reached the provider"
    );
    let token = mint(
        &claims("alice"),
        jsonwebtoken::Algorithm::HS256,
        SECRET.as_bytes(),
        None,
    );
    let ok = c
        .execute(with_auth(request(None, "hi"), Some(&bearer(&token))))
        .await
        .unwrap()
        .into_inner();
    success(&ok);
    assert_eq!(mock.requests().len(), 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_refuses_with_its_type_and_retry_hint() {
    let mock = MockProvider::start().await.unwrap();
    let yaml = config_for(
        &mock,
        "  default_model: gpt-4o\n  limits:\n    global:\n      max_requests_per_minute: 1\n",
        "",
    );
    let app = serve(&yaml).await;
    let mut c = plain_client(app.addr).await;
    success(&c.execute(request(None, "one")).await.unwrap().into_inner());
    let refused = c.execute(request(None, "two")).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    let meta = refused.metadata();
    assert_eq!(meta.get("limit-type").unwrap(), "rpm");
    let retry: u64 = meta
        .get("retry-after-ms")
        .unwrap()
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry > 0 && retry <= 60_000, "{retry}");
    assert_eq!(
        mock.requests().len(),
        1,
        "the refused call reached the provider"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_faults_map_to_their_codes() {
    let mock = MockProvider::start().await.unwrap();
    let yaml = config_for(&mock, "  default_model: gpt-4o\n", "    max_retries: 0\n");
    let app = serve(&yaml).await;
    let mut c = plain_client(app.addr).await;
    for (fault, code) in [
        (Fault::AuthFailed, "PROVIDER_AUTH_FAILED"),
        (Fault::ServerError, "PROVIDER_UNAVAILABLE"),
        (Fault::ContextLengthExceeded, "CONTEXT_LENGTH_EXCEEDED"),
        (Fault::MalformedJson, "EXECUTION_FAILED"),
    ] {
        mock.push_reply(MockReply::failing(fault));
        let resp = c.execute(request(None, "x")).await.unwrap().into_inner();
        let e = error(&resp);
        assert_eq!(e.error_code, code, "{e:?}");
        let details = e.error_details.clone().unwrap_or_default();
        assert!(
            !details.contains("127.0.0.1"),
            "internal address reached the caller: {details}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_call_settles_and_frees_its_slot() {
    let mock = MockProvider::start().await.unwrap();
    let yaml = config_for(
        &mock,
        "  default_model: gpt-4o\n  limits:\n    global:\n      max_concurrent_requests: 1\n",
        "",
    );
    let app = serve(&yaml).await;
    let mut c = plain_client(app.addr).await;
    mock.push_reply(MockReply::text("slow").latency(Duration::from_secs(30)));
    let mut slow = c.clone();
    let cancelled = tokio::time::timeout(
        Duration::from_millis(500),
        slow.execute(request(None, "slow one")),
    )
    .await;
    assert!(cancelled.is_err(), "the slow call should still be running");
    // The held slot is released once the server sees the caller go away.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match c.execute(request(None, "next")).await {
            Ok(r) => {
                success(&r.into_inner());
                break;
            }
            Err(s) if s.code() == Code::ResourceExhausted => {
                assert!(std::time::Instant::now() < deadline, "slot never freed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(s) => panic!("{s:?}"),
        }
    }
    app.stop().await;
}
