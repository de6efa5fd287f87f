//! The accept loop: each accepted socket takes a gate slot or is closed at once; accept errors
//! (out of descriptors) back off instead of spinning.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::gate::{Closed, Gate, Guarded, Pending};

/// How long the loop pauses after an accept error that is not the peer's doing (EMFILE,
/// ENFILE, ENOBUFS): the condition needs a connection to close, not a retry.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// A listener and its gate.
#[derive(Debug)]
pub struct Acceptor {
    listener: TcpListener,
    gate: Arc<Gate>,
    last_warning: std::sync::Mutex<Option<Instant>>,
}

impl Acceptor {
    /// Accepts on `listener` through `gate`.
    pub fn new(listener: TcpListener, gate: Arc<Gate>) -> Self {
        Acceptor {
            listener,
            gate,
            last_warning: std::sync::Mutex::new(None),
        }
    }

    /// The gate (for tests and metrics).
    pub fn gate(&self) -> &Arc<Gate> {
        &self.gate
    }

    /// The next connection that got a slot.
    pub async fn next(&self) -> (TcpStream, SocketAddr, Pending) {
        loop {
            let (tcp, peer) = match self.listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    use std::io::ErrorKind::{ConnectionAborted, ConnectionReset, Interrupted};
                    // A peer that left before accept is no reason to wait.
                    if !matches!(e.kind(), ConnectionAborted | ConnectionReset | Interrupted) {
                        if self.may_warn() {
                            tracing::warn!(
                                "accept failed: {e}; pausing accepts (is the open-file limit \
                                 too low for server.connections.max_open?)"
                            );
                        }
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                    continue;
                }
            };
            match self.gate.admit().await {
                Some(pending) => {
                    let _ = tcp.set_nodelay(true);
                    return (tcp, peer, pending);
                }
                None => {
                    crate::telemetry::connection_closed(Closed::Refused.as_str());
                    tracing::debug!(%peer, "connection refused: {}", Closed::Refused.message());
                    drop(tcp);
                }
            }
        }
    }
}

impl Acceptor {
    /// One accept warning every 10 s at most: the condition repeats with every attempt.
    fn may_warn(&self) -> bool {
        let Ok(mut last) = self.last_warning.lock() else {
            return false;
        };
        let now = Instant::now();
        if last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(10)) {
            return false;
        }
        *last = Some(now);
        true
    }
}

/// Plaintext connections, for `serve_with_incoming_shutdown`.
pub type PlainIncoming = ReceiverStream<Result<Guarded<TcpStream>, std::io::Error>>;

/// Accepts plaintext connections; stops (closing the listener) when the stream is dropped.
///
/// A connection goes to the HTTP/2 server only once it has sent something (a client sends its
/// preface first): until then it is a small task, so a flood of silent sockets costs no
/// protocol state and is accepted, and evicted, at the rate of the accept loop.
pub fn plain_incoming(acceptor: Acceptor) -> PlainIncoming {
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, _peer, pending) = tokio::select! {
                () = tx.closed() => return,
                next = acceptor.next() => next,
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let outcome = tokio::select! {
                    ready = tcp.readable() => ready.map_err(|_| None),
                    why = pending.closed() => Err(Some(why)),
                };
                match outcome {
                    Ok(()) => {
                        let _ = tx.send(Ok(pending.guard(tcp))).await;
                    }
                    Err(Some(why)) => {
                        crate::telemetry::connection_closed(why.as_str());
                        tracing::debug!("connection closed: {}", why.message());
                    }
                    Err(None) => {}
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
