//! `bare-relay`: the floor of vibectl-server's stack, for instruction-count comparisons
//! (scripts/bench-instructions.sh).
//!
//! A tonic server implementing only `VibectlLLMProxy::Execute`: each request becomes one reqwest
//! JSON POST to an OpenAI-style `/chat/completions` (the testkit mock), and the reply's text comes
//! back in an `ExecuteResponse`. No auth, limits, ledger, catalog, metrics, logging or retries.
//! Runtime flavour, HTTP/2 settings and HTTP client settings are those of `vibectl-server serve`,
//! so the difference between the two is the cost of our own logic.
//! Loopback only, both ways: it has no authentication and is meant for a mock provider.
use std::borrow::Cow;
use std::io::Write;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;
use serde::{Deserialize, Serialize};
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic::{Request, Response, Status};
use vibectl_proto::vibectl_llm_proxy_server::{VibectlLlmProxy, VibectlLlmProxyServer};
use vibectl_proto::{
    execute_response, ExecuteError, ExecuteRequest, ExecuteResponse, ExecuteSuccess,
    GetServerInfoRequest, GetServerInfoResponse, StreamChunk,
};

/// Bare gRPC-to-OpenAI relay: the same stack as vibectl-server without its logic.
#[derive(Parser, Debug)]
#[command(name = "bare-relay", version)]
struct Args {
    /// Address to listen on; loopback only (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// OpenAI-style base URL including the version path, e.g. http://127.0.0.1:8080/v1 (loopback).
    #[arg(long)]
    upstream: String,
    /// Bearer key sent upstream.
    #[arg(long, default_value = "test-key")]
    api_key: String,
    /// Upstream model when a request names none. A requested `provider/model` is sent as `model`.
    #[arg(long, default_value = "gpt-4o")]
    default_model: String,
    /// `max_completion_tokens` sent upstream (vibectl-server sends its model's cap, 4096 by default).
    #[arg(long, default_value_t = 4096)]
    max_completion_tokens: u32,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct ChatRequest<'a> {
    model: &'a str,
    messages: Vec<Message<'a>>,
    max_completion_tokens: u32,
}

#[derive(Deserialize)]
struct ChatResponse<'a> {
    #[serde(borrow)]
    choices: Vec<Choice<'a>>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow)]
    message: ChoiceMessage<'a>,
}

#[derive(Deserialize)]
struct ChoiceMessage<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

struct Relay {
    client: reqwest::Client,
    url: reqwest::Url,
    authorization: reqwest::header::HeaderValue,
    default_model: String,
    max_completion_tokens: u32,
}

impl Relay {
    async fn call(&self, req: &ExecuteRequest) -> Result<(String, String), String> {
        let model = match req.model_name.as_deref() {
            Some(m) if !m.is_empty() => m.rsplit_once('/').map_or(m, |(_, name)| name),
            _ => self.default_model.as_str(),
        };
        let messages = req
            .system_fragments
            .iter()
            .map(|t| Message {
                role: "system",
                content: t,
            })
            .chain(req.user_fragments.iter().map(|t| Message {
                role: "user",
                content: t,
            }))
            .collect();
        let body = serde_json::to_vec(&ChatRequest {
            model,
            messages,
            max_completion_tokens: self.max_completion_tokens,
        })
        .map_err(|e| format!("encoding: {e}"))?;
        let resp = self
            .client
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::AUTHORIZATION, self.authorization.clone())
            .body(body)
            .send()
            .await
            .map_err(|e| format!("upstream: {e}"))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| format!("upstream: {e}"))?;
        if !status.is_success() {
            return Err(format!("upstream status {status}"));
        }
        let parsed: ChatResponse<'_> =
            serde_json::from_slice(&bytes).map_err(|e| format!("upstream body: {e}"))?;
        let text = parsed
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.message.content)
            .map(Cow::into_owned)
            .unwrap_or_default();
        Ok((text, model.to_owned()))
    }
}

type ChunkStream = Pin<Box<dyn futures::Stream<Item = Result<StreamChunk, Status>> + Send>>;

#[tonic::async_trait]
impl VibectlLlmProxy for Relay {
    async fn execute(
        &self,
        request: Request<ExecuteRequest>,
    ) -> Result<Response<ExecuteResponse>, Status> {
        let req = request.into_inner();
        let result = match self.call(&req).await {
            Ok((response_text, actual_model_used)) => {
                execute_response::Result::Success(ExecuteSuccess {
                    response_text,
                    metrics: None,
                    actual_model_used,
                })
            }
            Err(error_message) => execute_response::Result::Error(ExecuteError {
                error_code: "RELAY_FAILED".to_owned(),
                error_message,
                error_details: None,
            }),
        };
        Ok(Response::new(ExecuteResponse {
            request_id: req.request_id,
            result: Some(result),
        }))
    }

    type StreamExecuteStream = ChunkStream;

    async fn stream_execute(
        &self,
        _request: Request<ExecuteRequest>,
    ) -> Result<Response<Self::StreamExecuteStream>, Status> {
        Err(Status::unimplemented("bare-relay only implements Execute"))
    }

    async fn get_server_info(
        &self,
        _request: Request<GetServerInfoRequest>,
    ) -> Result<Response<GetServerInfoResponse>, Status> {
        Err(Status::unimplemented("bare-relay only implements Execute"))
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The same runtime as `vibectl-server serve`: multi-threaded, one worker per CPU.
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        bail!("--listen must be a loopback address, got {}", args.listen);
    }
    let url = reqwest::Url::parse(&format!(
        "{}/chat/completions",
        args.upstream.trim_end_matches('/')
    ))
    .with_context(|| format!("bad --upstream `{}`", args.upstream))?;
    let loopback = url.host_str().is_some_and(|h| {
        let h = h.trim_start_matches('[').trim_end_matches(']');
        h.eq_ignore_ascii_case("localhost")
            || h.parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    });
    if !loopback || url.scheme() != "http" {
        bail!("--upstream must be http:// on a loopback address, got {url}");
    }
    // The same client settings as vibectl-llm's `http_client()`.
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .user_agent(concat!("vibectl-llm/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")?;
    let mut authorization =
        reqwest::header::HeaderValue::from_str(&format!("Bearer {}", args.api_key))
            .context("--api-key has characters a header cannot carry")?;
    authorization.set_sensitive(true);
    let relay = Relay {
        client,
        url,
        authorization,
        default_model: args.default_model,
        max_completion_tokens: args.max_completion_tokens,
    };

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot bind {}", args.listen))?;
    let local = listener.local_addr()?;
    let service = VibectlLlmProxyServer::new(relay).max_decoding_message_size(16 * 1024 * 1024);
    // The same HTTP/2 settings as `vibectl-server serve` (crates/server/src/serve.rs).
    let router = Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .initial_connection_window_size(Some(4 * 1024 * 1024))
        .initial_stream_window_size(Some(1024 * 1024))
        .add_service(service);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "bare-relay listening on {local} (plaintext)")?;
        out.flush()?;
    }
    router
        .serve_with_incoming_shutdown(incoming, shutdown_signal())
        .await
        .context("server error")?;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
