//! Proxy mode: calls go to vibectl-server over gRPC.
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use vibectl_proto::execute_response::Result as ExecResult;
use vibectl_proto::stream_chunk::ChunkType;
use vibectl_proto::{ExecuteError, ExecuteRequest, ExecutionMetrics};

use super::{CallMetrics, LlmAnswer, LlmCall, ModelAccess, ModelError, TextSink};
use crate::proxy::info::{server_info, ServerInfo};
use crate::proxy::{ProxyClient, ProxyTarget};

/// vibectl-server, connected.
#[derive(Debug)]
pub struct ProxyModel {
    client: ProxyClient,
    model: Option<String>,
    info: Option<ServerInfo>,
}

impl ProxyModel {
    /// Connects and, when a model is named, checks it against the server's models and aliases.
    pub async fn connect(
        target: &ProxyTarget,
        model: Option<String>,
        info_ttl: Duration,
    ) -> Result<Self, ModelError> {
        let client = target.connect().await?;
        let mut info = None;
        if let Some(name) = &model {
            let i = server_info(&client, info_ttl).await?;
            if !i.knows(name) {
                // The cache may be stale: ask once more before refusing.
                let fresh = server_info(&client, Duration::ZERO).await?;
                fresh
                    .check_model(name)
                    .map_err(|e| ModelError::Model(e.to_string()))?;
                info = Some(fresh);
            } else {
                info = Some(i);
            }
        }
        Ok(ProxyModel {
            client,
            model,
            info,
        })
    }

    /// The server's info (fetched if not yet known).
    pub async fn server_info(&self) -> Result<ServerInfo, ModelError> {
        match &self.info {
            Some(i) => Ok(i.clone()),
            None => Ok(self.client.server_info().await?.into()),
        }
    }

    fn request(&self, call: &LlmCall) -> ExecuteRequest {
        ExecuteRequest {
            system_fragments: call.system.clone(),
            user_fragments: call.user.clone(),
            model_name: self.model.clone(),
            response_model_schema: call.schema.as_ref().map(|s| s.to_string()),
            request_id: if call.request_id.is_empty() {
                uuid::Uuid::new_v4().to_string()
            } else {
                call.request_id.clone()
            },
        }
    }
}

fn server_error(e: ExecuteError) -> ModelError {
    let message = match e.error_details.filter(|d| !d.is_empty()) {
        Some(d) => format!("{} ({d})", e.error_message),
        None => e.error_message,
    };
    ModelError::Server {
        code: e.error_code,
        message,
    }
}

fn metrics(m: Option<ExecutionMetrics>, model: String, start: Instant) -> CallMetrics {
    let m = m.unwrap_or_default();
    CallMetrics {
        model,
        latency: start.elapsed(),
        input_tokens: m.input_tokens.map(i64::from),
        output_tokens: m.output_tokens.map(i64::from),
        total_tokens: m.total_tokens.map(i64::from),
        cost_usd: m.cost_usd,
    }
}

impl ModelAccess for ProxyModel {
    fn describe(&self) -> String {
        let t = self.client.target();
        match &t.profile {
            Some(p) => format!("proxy `{p}` ({})", t.url.masked()),
            None => format!("proxy {}", t.url.masked()),
        }
    }

    fn complete<'a>(&'a self, call: &'a LlmCall) -> BoxFuture<'a, Result<LlmAnswer, ModelError>> {
        Box::pin(async move {
            let start = Instant::now();
            let resp = self.client.execute(self.request(call)).await?;
            match resp.result {
                Some(ExecResult::Success(s)) => Ok(LlmAnswer {
                    text: s.response_text,
                    metrics: metrics(s.metrics, s.actual_model_used, start),
                }),
                Some(ExecResult::Error(e)) => Err(server_error(e)),
                None => Err(ModelError::Server {
                    code: vibectl_proto::wire::ErrorCode::ExecutionFailed.to_string(),
                    message: "the proxy sent an empty response".into(),
                }),
            }
        })
    }

    fn stream<'a>(
        &'a self,
        call: &'a LlmCall,
        sink: TextSink<'a>,
    ) -> BoxFuture<'a, Result<LlmAnswer, ModelError>> {
        Box::pin(async move {
            let start = Instant::now();
            let mut stream = self.client.stream_execute(self.request(call)).await?;
            let mut text = String::new();
            let mut model = String::new();
            let mut final_metrics = None;
            loop {
                let chunk = match stream.message().await {
                    Ok(Some(c)) => c,
                    Ok(None) => break,
                    Err(status) => return Err(self.client.stream_error(&status).into()),
                };
                match chunk.chunk_type {
                    Some(ChunkType::TextChunk(t)) => {
                        sink(&t);
                        text.push_str(&t);
                    }
                    Some(ChunkType::Complete(c)) => model = c.actual_model_used,
                    Some(ChunkType::FinalMetrics(m)) => final_metrics = Some(m),
                    Some(ChunkType::Error(e)) => return Err(server_error(e)),
                    None => {}
                }
            }
            Ok(LlmAnswer {
                text,
                metrics: metrics(final_metrics, model, start),
            })
        })
    }
}
