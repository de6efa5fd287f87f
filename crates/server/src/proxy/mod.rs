//! The `VibectlLLMProxy` service: request preparation, provider calls and metrics.
mod errors;
mod execute;
mod state;
mod stream;

pub use errors::CallError;
pub use state::{ProxyState, StateError};

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tonic::{Request, Response, Status};
use vibectl_proto::vibectl_llm_proxy_server::VibectlLlmProxy;
use vibectl_proto::{
    ExecuteRequest, ExecuteResponse, GetServerInfoRequest, GetServerInfoResponse, StreamChunk,
};

/// The gRPC service; cheap to clone.
#[derive(Clone, Debug)]
pub struct LlmProxyService {
    state: Arc<ProxyState>,
}

impl LlmProxyService {
    /// A service answering from `state`.
    pub fn new(state: Arc<ProxyState>) -> Self {
        LlmProxyService { state }
    }
}

/// The response stream of `StreamExecute`.
pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<StreamChunk, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl VibectlLlmProxy for LlmProxyService {
    async fn execute(
        &self,
        request: Request<ExecuteRequest>,
    ) -> Result<Response<ExecuteResponse>, Status> {
        Ok(execute::execute(&self.state, request.into_inner()).await)
    }

    type StreamExecuteStream = ChunkStream;

    async fn stream_execute(
        &self,
        request: Request<ExecuteRequest>,
    ) -> Result<Response<Self::StreamExecuteStream>, Status> {
        Ok(Response::new(stream::stream_execute(
            Arc::clone(&self.state),
            request.into_inner(),
        )))
    }

    async fn get_server_info(
        &self,
        _request: Request<GetServerInfoRequest>,
    ) -> Result<Response<GetServerInfoResponse>, Status> {
        Ok(Response::new(self.state.server_info()))
    }
}
