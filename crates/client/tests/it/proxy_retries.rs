//! The proxy model against a scripted in-process gRPC server: RESOURCE_EXHAUSTED is retried after
//! `retry-after-ms`, a limit that never lifts ends with its own message, streamed text arrives in
//! pieces with the final metrics, the Bearer token is sent, and server info is cached.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonic::{Request, Response, Status};
use vibectl_client::config::Config;
use vibectl_client::model::proxy::ProxyModel;
use vibectl_client::model::{LlmCall, ModelAccess, ModelError};
use vibectl_client::proxy::url::ProxyUrl;
use vibectl_client::proxy::{ProxyError, ProxyTarget};
use vibectl_proto::execute_response::Result as ExecResult;
use vibectl_proto::stream_chunk::ChunkType;
use vibectl_proto::vibectl_llm_proxy_server::{VibectlLlmProxy, VibectlLlmProxyServer};
use vibectl_proto::*;

#[derive(Default)]
struct Scripted {
    /// Execute calls refused before one succeeds (usize::MAX: always).
    refusals: usize,
    executes: AtomicUsize,
    infos: AtomicUsize,
    auth_seen: Mutex<Vec<String>>,
}

fn exhausted() -> Status {
    let mut s = Status::resource_exhausted("requests per minute exceeded");
    s.metadata_mut()
        .insert("limit-type", "rpm".parse().unwrap());
    s.metadata_mut()
        .insert("retry-after-ms", "300".parse().unwrap());
    s
}

fn metrics() -> ExecutionMetrics {
    ExecutionMetrics {
        duration_ms: 5,
        input_tokens: Some(10),
        output_tokens: Some(3),
        total_tokens: Some(13),
        cost_usd: Some(0.0001),
        retry_count: 0,
        timestamp: 0,
    }
}

struct Svc(Arc<Scripted>);

impl std::ops::Deref for Svc {
    type Target = Scripted;
    fn deref(&self) -> &Scripted {
        &self.0
    }
}

#[tonic::async_trait]
impl VibectlLlmProxy for Svc {
    async fn execute(
        &self,
        req: Request<ExecuteRequest>,
    ) -> Result<Response<ExecuteResponse>, Status> {
        let auth = req
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        self.auth_seen.lock().unwrap().push(auth);
        let n = self.executes.fetch_add(1, Ordering::SeqCst);
        if n < self.refusals {
            return Err(exhausted());
        }
        let r = req.into_inner();
        Ok(Response::new(ExecuteResponse {
            request_id: r.request_id,
            result: Some(ExecResult::Success(ExecuteSuccess {
                response_text: format!("model={}", r.model_name.unwrap_or_default()),
                metrics: Some(metrics()),
                actual_model_used: "openai/gpt-4o".into(),
            })),
        }))
    }

    type StreamExecuteStream = futures::stream::BoxStream<'static, Result<StreamChunk, Status>>;

    async fn stream_execute(
        &self,
        req: Request<ExecuteRequest>,
    ) -> Result<Response<Self::StreamExecuteStream>, Status> {
        let id = req.into_inner().request_id;
        let chunk = |c: ChunkType| {
            Ok(StreamChunk {
                request_id: id.clone(),
                chunk_type: Some(c),
            })
        };
        let items = vec![
            chunk(ChunkType::TextChunk("Hello ".into())),
            chunk(ChunkType::TextChunk("world".into())),
            chunk(ChunkType::Complete(StreamComplete {
                actual_model_used: "openai/gpt-4o".into(),
            })),
            chunk(ChunkType::FinalMetrics(metrics())),
        ];
        Ok(Response::new(Box::pin(futures::stream::iter(items))))
    }

    async fn get_server_info(
        &self,
        _: Request<GetServerInfoRequest>,
    ) -> Result<Response<GetServerInfoResponse>, Status> {
        self.infos.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(GetServerInfoResponse {
            available_models: vec![ModelInfo {
                model_id: "openai/gpt-4o".into(),
                aliases: vec!["gpt-4o".into()],
                ..Default::default()
            }],
            default_model: "openai/gpt-4o".into(),
            model_aliases: [("gpt-4o".to_owned(), "openai/gpt-4o".to_owned())].into(),
            server_version: "scripted".into(),
            ..Default::default()
        }))
    }
}

async fn serve(script: Arc<Scripted>) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(VibectlLlmProxyServer::new(Svc(script)))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    addr
}

fn target(dir: &tempfile::TempDir, addr: std::net::SocketAddr, retries: &str) -> ProxyTarget {
    let mut cfg = Config::load_from(dir.path().join("config.yaml")).unwrap();
    cfg.set("proxy.retry_attempts", retries).unwrap();
    let url = ProxyUrl::parse(&format!("vibectl-server-insecure://tok-0123456789@{addr}")).unwrap();
    ProxyTarget::from_url(url, &cfg, None, None).unwrap()
}

fn call() -> LlmCall {
    LlmCall {
        system: vec!["s".into()],
        user: vec!["u".into()],
        ..LlmCall::default()
    }
}

#[tokio::test]
async fn resource_exhausted_is_retried_after_retry_after_ms() {
    let script = Arc::new(Scripted {
        refusals: 2,
        ..Default::default()
    });
    let addr = serve(script.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let model = ProxyModel::connect(
        &target(&dir, addr, "3"),
        Some("gpt-4o".into()),
        Duration::ZERO,
    )
    .await
    .unwrap();
    let start = Instant::now();
    let answer = model.complete(&call()).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(600),
        "two waits of 300 ms: {:?}",
        start.elapsed()
    );
    assert_eq!(answer.text, "model=gpt-4o");
    assert_eq!(answer.metrics.total_tokens, Some(13));
    assert_eq!(script.executes.load(Ordering::SeqCst), 3);
    assert!(script
        .auth_seen
        .lock()
        .unwrap()
        .iter()
        .all(|a| a == "Bearer tok-0123456789"));
}

#[tokio::test]
async fn a_limit_that_never_lifts_ends_with_its_own_message() {
    let script = Arc::new(Scripted {
        refusals: usize::MAX,
        ..Default::default()
    });
    let addr = serve(script.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let model = ProxyModel::connect(&target(&dir, addr, "1"), None, Duration::ZERO)
        .await
        .unwrap();
    let err = model.complete(&call()).await.unwrap_err();
    assert!(
        matches!(err, ModelError::Proxy(ProxyError::LimitReached { .. })),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("limit: rpm") && text.contains("retry after 300 ms"),
        "{text}"
    );
    assert_eq!(
        script.executes.load(Ordering::SeqCst),
        2,
        "one try plus one retry"
    );
}

#[tokio::test]
async fn streamed_text_arrives_in_pieces_with_metrics() {
    let script = Arc::new(Scripted::default());
    let addr = serve(script).await;
    let dir = tempfile::tempdir().unwrap();
    let model = ProxyModel::connect(&target(&dir, addr, "0"), None, Duration::ZERO)
        .await
        .unwrap();
    let mut pieces = Vec::new();
    let mut sink = |t: &str| pieces.push(t.to_owned());
    let answer = model.stream(&call(), &mut sink).await.unwrap();
    assert_eq!(pieces, ["Hello ", "world"]);
    assert_eq!(answer.text, "Hello world");
    assert_eq!(answer.metrics.model, "openai/gpt-4o");
    assert_eq!(answer.metrics.cost_usd, Some(0.0001));
}

#[tokio::test]
async fn unknown_model_is_refused_with_the_servers_models() {
    let script = Arc::new(Scripted::default());
    let addr = serve(script).await;
    let dir = tempfile::tempdir().unwrap();
    let err = ProxyModel::connect(
        &target(&dir, addr, "0"),
        Some("gpt4o".into()),
        Duration::ZERO,
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("did you mean gpt-4o") && text.contains("openai/gpt-4o (gpt-4o)"),
        "{text}"
    );
}

#[tokio::test]
async fn server_info_is_cached_for_its_ttl() {
    use vibectl_client::proxy::info::server_info_cached_in;
    let script = Arc::new(Scripted::default());
    let addr = serve(script.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let client = target(&dir, addr, "0").connect().await.unwrap();
    let cache = Some(dir.path().join("server-info-cache.json"));
    let ttl = Duration::from_secs(300);
    let first = server_info_cached_in(&client, ttl, cache.clone())
        .await
        .unwrap();
    let second = server_info_cached_in(&client, ttl, cache.clone())
        .await
        .unwrap();
    assert_eq!(first, second);
    assert_eq!(
        script.infos.load(Ordering::SeqCst),
        1,
        "second answer came from the cache"
    );
    let text = std::fs::read_to_string(cache.as_ref().unwrap()).unwrap();
    assert!(
        !text.contains("tok-0123456789"),
        "the cache never holds the token"
    );
    server_info_cached_in(&client, Duration::ZERO, cache)
        .await
        .unwrap();
    assert_eq!(
        script.infos.load(Ordering::SeqCst),
        2,
        "a zero TTL always asks"
    );
}
