//! `StreamExecute`: text chunks as the provider produces them, then `complete`, then `final_metrics`.
//!
//! The response is a plain stream polled by the transport, with no task of its own: when the
//! client goes away the transport drops it, which drops the provider stream and with it the
//! upstream HTTP request, and the call's [`Charge`](crate::limits::Charge) inside it, which then
//! settles from the usage seen so far.
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use futures::stream::BoxStream;
use futures::StreamExt;
use tokio::time::{timeout_at, Instant as Deadline};
use vibectl_llm::{ErrorCode, ProviderError, StreamEvent, Usage};
use vibectl_proto::{stream_chunk::ChunkType, ExecuteRequest, StreamChunk, StreamComplete};

use super::execute::{metrics, prepare, Admitted};
use super::{CallError, ChunkStream, ProxyState};
use crate::limits::Limiter;
use crate::telemetry;

const METHOD: &str = "StreamExecute";
use tonic::Status;

struct Running {
    p: Admitted,
    events: BoxStream<'static, Result<StreamEvent, ProviderError>>,
    usage: Usage,
    retries: u32,
    /// Text so far, kept only when the answer must be checked against a schema.
    text: Option<String>,
}

enum Phase {
    Open(Box<Admitted>),
    Run(Box<Running>),
    Tail(VecDeque<StreamChunk>),
    Done,
}

struct Ctx {
    started: Instant,
    deadline: Deadline,
    timeout_secs: u64,
}

fn chunk(request_id: &str, c: ChunkType) -> StreamChunk {
    StreamChunk {
        request_id: request_id.to_owned(),
        chunk_type: Some(c),
    }
}

fn error_chunk(request_id: &str, e: &CallError) -> StreamChunk {
    chunk(request_id, ChunkType::Error(e.to_proto()))
}

impl Ctx {
    fn timeout_error(&self) -> CallError {
        CallError::new(
            ErrorCode::Timeout,
            format!(
                "the call did not finish within the request timeout of {}s",
                self.timeout_secs
            ),
        )
    }

    /// Advances the call by one chunk.
    async fn step(&self, phase: Phase) -> Option<(StreamChunk, Phase)> {
        match phase {
            Phase::Done => None,
            Phase::Tail(mut queue) => {
                let next = queue.pop_front()?;
                Some((next, Phase::Tail(queue)))
            }
            Phase::Open(mut p) => {
                p.charge.sent();
                let opened = timeout_at(self.deadline, p.provider.stream(&p.completion)).await;
                match opened {
                    Err(_) => {
                        p.charge.finish_err(ErrorCode::Timeout.as_str()).await;
                        Some((
                            error_chunk(&p.request_id, &self.timeout_error()),
                            Phase::Done,
                        ))
                    }
                    Ok(Err(e)) => {
                        let e = CallError::from(e);
                        p.charge.finish_err(e.code.as_str()).await;
                        Some((error_chunk(&p.request_id, &e), Phase::Done))
                    }
                    Ok(Ok(ps)) => {
                        let text = p.schema.as_ref().map(|_| String::new());
                        let run = Running {
                            p: *p,
                            events: ps.events,
                            usage: Usage::default(),
                            retries: ps.retry_count,
                            text,
                        };
                        Box::pin(self.run(Box::new(run))).await
                    }
                }
            }
            Phase::Run(run) => self.run(run).await,
        }
    }

    async fn run(&self, mut r: Box<Running>) -> Option<(StreamChunk, Phase)> {
        loop {
            let next = match timeout_at(self.deadline, r.events.next()).await {
                Err(_) => {
                    let e = self.timeout_error();
                    r.p.charge.finish_err(e.code.as_str()).await;
                    return Some((error_chunk(&r.p.request_id, &e), Phase::Done));
                }
                Ok(next) => next,
            };
            match next {
                Some(Ok(StreamEvent::Usage(u))) => {
                    r.usage.merge(u);
                    r.p.charge.usage(u);
                }
                Some(Ok(StreamEvent::Text(t))) => {
                    r.p.charge.text(&t);
                    if let Some(acc) = r.text.as_mut() {
                        acc.push_str(&t);
                    }
                    let c = chunk(&r.p.request_id, ChunkType::TextChunk(t));
                    return Some((c, Phase::Run(r)));
                }
                Some(Err(e)) => {
                    let e = CallError::from(e);
                    r.p.charge.finish_err(e.code.as_str()).await;
                    return Some((error_chunk(&r.p.request_id, &e), Phase::Done));
                }
                None => return Some(self.finish(*r).await),
            }
        }
    }

    async fn finish(&self, mut r: Running) -> (StreamChunk, Phase) {
        let failed = match (&r.p.schema, &r.text) {
            (Some(schema), Some(text)) => schema.check(text).err(),
            _ => None,
        };
        match failed {
            Some(_) => {
                r.p.charge
                    .finish_err(ErrorCode::SchemaValidationFailed.as_str())
                    .await
            }
            None => r.p.charge.finish_ok().await,
        }
        let id = r.p.request_id.as_str();
        if let Some(msg) = failed {
            let e = CallError::new(ErrorCode::SchemaValidationFailed, msg.to_string());
            return (error_chunk(id, &e), Phase::Done);
        }
        let complete = chunk(
            id,
            ChunkType::Complete(StreamComplete {
                actual_model_used: r.p.model.id.clone(),
            }),
        );
        let m = metrics(self.started, &r.p.model, &r.usage, r.retries);
        let tail = VecDeque::from([chunk(id, ChunkType::FinalMetrics(m))]);
        (complete, Phase::Tail(tail))
    }
}

/// Handles `StreamExecute`: a refusal by the limits is a gRPC status before any chunk. Also
/// gives the output tokens asked of the provider when the limits lowered them.
pub(crate) async fn stream_execute(
    state: Arc<ProxyState>,
    limiter: &Limiter,
    subject: &str,
    req: ExecuteRequest,
) -> Result<(ChunkStream, Option<u32>), Status> {
    let limits = limiter.effective(subject);
    let timeout = ProxyState::timeout_for(&limits);
    let ctx = Arc::new(Ctx {
        started: Instant::now(),
        deadline: Deadline::now() + timeout,
        timeout_secs: timeout.as_secs(),
    });
    let mut lowered = None;
    let first = match prepare(&state, &limits, req) {
        Ok(p) if !limiter.allows(subject, &p.model) => {
            telemetry::request(METHOD, &p.model.id, subject, "refused");
            return Err(Status::permission_denied(super::execute::not_allowed(
                subject,
                &p.model.id,
            )));
        }
        Ok(p) => {
            let mut p = p.admit(limiter, METHOD, subject, &limits, timeout).await?;
            match p.compile_schema(&state).await {
                Ok(()) => {
                    lowered = p.lowered_output();
                    Phase::Open(Box::new(p))
                }
                Err(e) => {
                    p.charge.finish_err(e.code.as_str()).await;
                    Phase::Tail(VecDeque::from([error_chunk(&p.request_id, &e)]))
                }
            }
        }
        Err((id, e)) => {
            telemetry::request(METHOD, "-", subject, "error");
            telemetry::error(e.code.as_str());
            Phase::Tail(VecDeque::from([error_chunk(&id, &e)]))
        }
    };
    let stream = futures::stream::unfold(first, move |phase| {
        let ctx = Arc::clone(&ctx);
        async move { ctx.step(phase).await.map(|(c, next)| (Ok(c), next)) }
    })
    .boxed();
    Ok((stream, lowered))
}
