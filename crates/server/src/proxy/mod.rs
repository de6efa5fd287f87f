//! The `VibectlLLMProxy` service: request preparation, provider calls and metrics.
mod errors;
mod execute;
mod state;
mod stream;

pub use errors::CallError;
pub use execute::not_allowed;
pub use state::{ProxyState, StateError};

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;

use crate::auth::Subject;
use crate::limits::Limiter;
use tonic::{Request, Response, Status};
use vibectl_proto::vibectl_llm_proxy_server::VibectlLlmProxy;
use vibectl_proto::{
    ExecuteRequest, ExecuteResponse, GetServerInfoRequest, GetServerInfoResponse, StreamChunk,
};

/// The gRPC service; cheap to clone.
#[derive(Clone, Debug)]
pub struct LlmProxyService {
    state: Arc<StateCell>,
    limiter: Arc<Limiter>,
}

/// The current [`ProxyState`], replaceable while calls run (hot reload): a call keeps the state
/// it started with.
#[derive(Debug)]
pub struct StateCell(arc_swap::ArcSwap<ProxyState>);

impl StateCell {
    /// A cell holding `state`.
    pub fn new(state: Arc<ProxyState>) -> Self {
        StateCell(arc_swap::ArcSwap::new(state))
    }

    /// The current state.
    pub fn get(&self) -> Arc<ProxyState> {
        self.0.load_full()
    }

    /// Replaces the state for calls that start from now on.
    pub fn set(&self, state: Arc<ProxyState>) {
        self.0.store(state);
    }
}

impl LlmProxyService {
    /// A service answering from `state`, counting calls with `limiter`.
    pub fn new(state: Arc<StateCell>, limiter: Arc<Limiter>) -> Self {
        LlmProxyService { state, limiter }
    }
}

/// The caller's subject: the one the auth layer verified, else `anonymous`.
fn subject_of<T>(request: &Request<T>) -> String {
    request.extensions().get::<Subject>().map_or_else(
        || Subject::anonymous().name().to_owned(),
        |s| s.name().to_owned(),
    )
}

/// The response stream of `StreamExecute`.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<StreamChunk, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl VibectlLlmProxy for LlmProxyService {
    async fn execute(
        &self,
        request: Request<ExecuteRequest>,
    ) -> Result<Response<ExecuteResponse>, Status> {
        let subject = subject_of(&request);
        execute::execute(
            &self.state.get(),
            &self.limiter,
            &subject,
            request.into_inner(),
        )
        .await
    }

    type StreamExecuteStream = ChunkStream;

    async fn stream_execute(
        &self,
        request: Request<ExecuteRequest>,
    ) -> Result<Response<Self::StreamExecuteStream>, Status> {
        let subject = subject_of(&request);
        let (stream, lowered) = stream::stream_execute(
            self.state.get(),
            &self.limiter,
            &subject,
            request.into_inner(),
        )
        .await?;
        let mut resp = Response::new(stream);
        if let Some(cap) = lowered {
            execute::output_cap_metadata(&mut resp, cap);
        }
        Ok(resp)
    }

    /// Lists only the models (and aliases) the caller may use under `server.limits.models`,
    /// as `/v1/models` does.
    async fn get_server_info(
        &self,
        request: Request<GetServerInfoRequest>,
    ) -> Result<Response<GetServerInfoResponse>, Status> {
        let state = self.state.get();
        let limits = self.limiter.limits();
        let access = &limits.models;
        if access.default.is_none() && access.per_token.is_empty() {
            return Ok(Response::new(state.server_info()));
        }
        let subject = subject_of(&request);
        Ok(Response::new(
            state.server_info_for(|m| access.allows(&subject, m)),
        ))
    }
}
