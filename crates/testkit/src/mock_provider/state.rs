//! State shared between the [`super::MockProvider`] handle and the server tasks.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Instant;

use bytes::Bytes;
use tokio::sync::Notify;

use super::reply::MockReply;

/// How many requests the recorded-request log keeps (the oldest are dropped first).
pub const MAX_RECORDED_REQUESTS: usize = 1_000;
/// How many disconnects the disconnect log keeps (the oldest are dropped first).
const MAX_DISCONNECTS: usize = 10_000;

/// One request received by the mock, as recorded for assertions.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// When the request body had been read.
    pub received_at: Instant,
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Request path, e.g. `/v1/messages`.
    pub path: String,
    /// Headers in arrival order, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body parsed as JSON (`Null` if empty, a JSON string if it was not JSON).
    pub body: serde_json::Value,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A request whose client went away before the mock finished answering it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disconnect {
    /// When the mock noticed the client was gone.
    pub at: Instant,
    /// Request path of the abandoned request.
    pub path: String,
    /// Whether the response was an SSE stream that had started (false: the client left
    /// before the response headers were sent, e.g. during latency or a stall).
    pub streaming: bool,
    /// SSE events (including preamble events such as `message_start`) written before the disconnect.
    pub chunks_sent: usize,
    /// Body bytes written before the disconnect.
    pub bytes_sent: usize,
    /// SSE events the complete stream would have had (0 when not streaming).
    pub total_chunks: usize,
}

/// Locks a mutex, ignoring poisoning (the protected data stays consistent on panic).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Default)]
struct DisconnectLog {
    /// Absolute index of `entries[0]`.
    base: usize,
    entries: VecDeque<Disconnect>,
    /// Absolute index of the next disconnect `wait_for_disconnect` returns.
    cursor: usize,
}

/// Answers some requests itself, from their JSON body, before the scripted queue is used.
pub type Responder = Arc<dyn Fn(&[u8]) -> Option<MockReply> + Send + Sync>;

/// Everything the server tasks and the handle share.
pub(crate) struct Shared {
    api_key: RwLock<Bytes>,
    default_reply: Mutex<Arc<MockReply>>,
    responder: Mutex<Option<Responder>>,
    queue: Mutex<VecDeque<MockReply>>,
    queued: AtomicUsize,
    recording: AtomicBool,
    requests: Mutex<VecDeque<RecordedRequest>>,
    request_count: AtomicUsize,
    disconnects: Mutex<DisconnectLog>,
    disconnect_notify: Notify,
    pub(crate) open_connections: AtomicUsize,
    pub(crate) active_streams: AtomicUsize,
    ids: AtomicU64,
}

impl Shared {
    /// Fresh state: key `test-key`, default reply, recording on.
    pub(crate) fn new() -> Self {
        Shared {
            api_key: RwLock::new(Bytes::from_static(b"test-key")),
            default_reply: Mutex::new(Arc::new(MockReply::default())),
            responder: Mutex::new(None),
            queue: Mutex::new(VecDeque::new()),
            queued: AtomicUsize::new(0),
            recording: AtomicBool::new(true),
            requests: Mutex::new(VecDeque::new()),
            request_count: AtomicUsize::new(0),
            disconnects: Mutex::new(DisconnectLog::default()),
            disconnect_notify: Notify::new(),
            open_connections: AtomicUsize::new(0),
            active_streams: AtomicUsize::new(0),
            ids: AtomicU64::new(1),
        }
    }

    pub(crate) fn set_api_key(&self, key: &str) {
        let mut k = self.api_key.write().unwrap_or_else(PoisonError::into_inner);
        *k = Bytes::copy_from_slice(key.as_bytes());
    }

    /// Whether `presented` is the configured key.
    pub(crate) fn key_matches(&self, presented: &[u8]) -> bool {
        let k = self.api_key.read().unwrap_or_else(PoisonError::into_inner);
        k.as_ref() == presented
    }

    pub(crate) fn set_default_reply(&self, reply: MockReply) {
        *lock(&self.default_reply) = Arc::new(reply);
    }

    pub(crate) fn push_reply(&self, reply: MockReply) {
        let mut q = lock(&self.queue);
        q.push_back(reply);
        self.queued.store(q.len(), Ordering::Release);
    }

    pub(crate) fn pending_replies(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }

    pub(crate) fn set_responder(&self, r: Option<Responder>) {
        *lock(&self.responder) = r;
    }

    /// The responder's answer to this request body, if it has one (the queue is untouched).
    pub(crate) fn responder_reply(&self, body: &[u8]) -> Option<Arc<MockReply>> {
        let r = lock(&self.responder).clone()?;
        r(body).map(Arc::new)
    }

    /// The next scripted reply, or the default reply when the queue is empty.
    pub(crate) fn next_reply(&self) -> Arc<MockReply> {
        if self.queued.load(Ordering::Acquire) > 0 {
            let mut q = lock(&self.queue);
            if let Some(r) = q.pop_front() {
                self.queued.store(q.len(), Ordering::Release);
                return Arc::new(r);
            }
        }
        lock(&self.default_reply).clone()
    }

    pub(crate) fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    pub(crate) fn recording(&self) -> bool {
        self.recording.load(Ordering::Relaxed)
    }

    pub(crate) fn count_request(&self) {
        self.request_count.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn request_count(&self) -> usize {
        self.request_count.load(Ordering::Relaxed)
    }

    pub(crate) fn record(&self, req: RecordedRequest) {
        let mut log = lock(&self.requests);
        if log.len() >= MAX_RECORDED_REQUESTS {
            log.pop_front();
        }
        log.push_back(req);
    }

    pub(crate) fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.requests).iter().cloned().collect()
    }

    pub(crate) fn clear_requests(&self) {
        lock(&self.requests).clear();
    }

    /// A process-unique-enough suffix for response ids.
    pub(crate) fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn record_disconnect(&self, d: Disconnect) {
        {
            let mut log = lock(&self.disconnects);
            if log.entries.len() >= MAX_DISCONNECTS {
                log.entries.pop_front();
                log.base += 1;
            }
            log.entries.push_back(d);
        }
        self.disconnect_notify.notify_waiters();
    }

    pub(crate) fn disconnects(&self) -> Vec<Disconnect> {
        lock(&self.disconnects).entries.iter().cloned().collect()
    }

    /// The oldest disconnect not yet returned by this method, if any.
    fn take_unseen_disconnect(&self) -> Option<Disconnect> {
        let mut log = lock(&self.disconnects);
        let cursor = log.cursor.max(log.base);
        let d = log.entries.get(cursor - log.base).cloned()?;
        log.cursor = cursor + 1;
        Some(d)
    }

    /// Waits until a disconnect not yet returned is available, up to `timeout`.
    pub(crate) async fn wait_for_disconnect(
        &self,
        timeout: std::time::Duration,
    ) -> Option<Disconnect> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.disconnect_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(d) = self.take_unseen_disconnect() {
                return Some(d);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.take_unseen_disconnect();
            }
        }
    }
}
