//! A mock LLM provider speaking the real OpenAI Chat Completions and Anthropic Messages
//! wire formats, with scripted replies, usage numbers, pacing and injected faults.
//!
//! Routes: `POST /v1/chat/completions` (OpenAI, `Authorization: Bearer KEY`),
//! `POST /v1/messages` (Anthropic, `x-api-key` + `anthropic-version`),
//! `POST /v1/messages/count_tokens` (Anthropic's token counting: `{"input_tokens": N}`, one
//! token per word of the text plus 3 per message), `GET /health`.
//! Every request to a model route (token counting included) that passes authentication
//! consumes one scripted reply (see [`MockProvider::push_reply`]), whose fault, if any, is the
//! answer; requests rejected for their key do not.

mod anthropic;
mod body;
mod openai;
mod render;
mod reply;
mod server;
mod state;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use reply::{Fault, MockReply, MockUsage};
pub use state::{Disconnect, RecordedRequest, Responder, MAX_RECORDED_REQUESTS};

use state::Shared;

/// A running mock provider; stops serving when shut down or dropped.
pub struct MockProvider {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl MockProvider {
    /// Starts a mock on `127.0.0.1` with an ephemeral port, served by a tokio task.
    pub async fn start() -> std::io::Result<MockProvider> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a mock listening on `addr`, served by a tokio task.
    pub async fn start_on(addr: SocketAddr) -> std::io::Result<MockProvider> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::new());
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, shared.clone(), stop_rx));
        Ok(MockProvider {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    /// The bound socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL for OpenAI clients, e.g. `http://127.0.0.1:PORT/v1`.
    pub fn openai_base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Base URL for Anthropic clients, e.g. `http://127.0.0.1:PORT`.
    pub fn anthropic_base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the API key requests must present (default `test-key`).
    pub fn set_api_key(&self, key: &str) {
        self.shared.set_api_key(key);
    }

    /// Sets the reply used when the scripted queue is empty.
    pub fn set_default_reply(&self, reply: MockReply) {
        self.shared.set_default_reply(reply);
    }

    /// Lets `responder` answer the requests it recognises (by their JSON body) without using
    /// the scripted queue; `None` removes it.
    pub fn set_responder(&self, responder: Option<Responder>) {
        self.shared.set_responder(responder);
    }

    /// Appends a scripted reply; each authenticated model request consumes one, in order.
    pub fn push_reply(&self, reply: MockReply) {
        self.shared.push_reply(reply);
    }

    /// Number of scripted replies not yet consumed.
    pub fn pending_replies(&self) -> usize {
        self.shared.pending_replies()
    }

    /// Turns request recording on or off (on by default; off for load tests).
    pub fn set_recording(&self, on: bool) {
        self.shared.set_recording(on);
    }

    /// The most recent recorded requests (at most [`MAX_RECORDED_REQUESTS`]), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.requests()
    }

    /// Forgets the recorded requests (the request count is kept).
    pub fn clear_requests(&self) {
        self.shared.clear_requests();
    }

    /// Number of HTTP requests received, including rejected ones and while recording is off.
    pub fn request_count(&self) -> usize {
        self.shared.request_count()
    }

    /// Requests whose client went away before the answer was complete, oldest first.
    pub fn disconnects(&self) -> Vec<Disconnect> {
        self.shared.disconnects()
    }

    /// Waits up to `timeout` for a disconnect not yet returned by this method (oldest first).
    pub async fn wait_for_disconnect(&self, timeout: Duration) -> Option<Disconnect> {
        self.shared.wait_for_disconnect(timeout).await
    }

    /// TCP connections currently open.
    pub fn open_connections(&self) -> usize {
        self.shared.open_connections.load(Ordering::Relaxed)
    }

    /// SSE responses currently being written.
    pub fn active_streams(&self) -> usize {
        self.shared.active_streams.load(Ordering::Relaxed)
    }

    /// Stops accepting, closes every open connection and waits for the server task.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockProvider {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

impl std::fmt::Debug for MockProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MockProvider")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}
