//! Connection slots: the cap on open connections, the bounded pool of connections still in
//! their handshake (full: the oldest is closed for the newest, so a flood of silent sockets
//! cannot lock out a client that talks), and [`Guarded`], the IO wrapper that closes a
//! connection which has not sent the HTTP/2 preface before its deadline.
use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};
use tonic::transport::server::Connected;

/// Bytes of the HTTP/2 client preface (`PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`, RFC 9113 section 3.4).
pub const PREFACE_LEN: usize = 24;

/// The connection slots of one listener.
#[derive(Debug)]
pub struct Gate {
    open: Arc<Semaphore>,
    max_open: usize,
    max_pending: usize,
    timeout: Duration,
    pending: Mutex<BTreeMap<u64, CancellationToken>>,
    next_id: AtomicU64,
}

/// Why a connection was closed by the gate (the `reason` label of
/// `vibectl_connections_closed_total`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// Still silent at the handshake deadline.
    HandshakeTimeout,
    /// Closed for a newer connection while the pending pool was full.
    Evicted,
    /// Accepted while every slot held a connection past its handshake.
    Refused,
}

impl Closed {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::HandshakeTimeout => "handshake_timeout",
            Closed::Evicted => "evicted",
            Closed::Refused => "over_capacity",
        }
    }

    /// What the closing error says (and the audit log, for TLS).
    pub fn message(self) -> &'static str {
        match self {
            Closed::HandshakeTimeout => {
                "no TLS handshake and HTTP/2 preface within server.connections.handshake_timeout_seconds"
            }
            Closed::Evicted => {
                "closed for a newer connection: server.connections.max_pending connections were \
                 in their handshake"
            }
            Closed::Refused => "server.connections.max_open connections are open",
        }
    }

    /// The error a read returns after the gate closed the connection.
    pub fn error(self) -> io::Error {
        let kind = match self {
            Closed::HandshakeTimeout => io::ErrorKind::TimedOut,
            Closed::Evicted | Closed::Refused => io::ErrorKind::ConnectionAborted,
        };
        io::Error::new(kind, self.message())
    }
}

impl Gate {
    /// A gate of `max_open` slots, of which at most `max_pending` before the handshake ends;
    /// `timeout` is the handshake deadline.
    pub fn new(max_open: usize, max_pending: usize, timeout: Duration) -> Arc<Gate> {
        crate::telemetry::open_connections(0.0);
        Arc::new(Gate {
            open: Arc::new(Semaphore::new(max_open)),
            max_open,
            max_pending: max_pending.clamp(1, max_open.max(1)),
            timeout,
            pending: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
        })
    }

    /// Connections open now (pending or not).
    pub fn open_now(&self) -> usize {
        self.max_open - self.open.available_permits()
    }

    /// Connections in their handshake now.
    pub fn pending_now(&self) -> usize {
        self.pending_map().len()
    }

    fn pending_map(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, CancellationToken>> {
        // The map stays consistent under any panic (single inserts and removes).
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the oldest pending connection; false when none is pending.
    fn evict_oldest(&self) -> bool {
        let oldest = self.pending_map().pop_first();
        match oldest {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// A slot for a just-accepted connection: free, or made by closing the oldest pending
    /// connection; `None` when every slot holds a connection past its handshake (the caller
    /// closes the new one).
    pub async fn admit(self: &Arc<Self>) -> Option<Pending> {
        let permit = match Arc::clone(&self.open).try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => return None,
            Err(TryAcquireError::NoPermits) => {
                if !self.evict_oldest() {
                    return None;
                }
                // The evicted connection gives its slot back as soon as its task runs.
                let wait = Arc::clone(&self.open).acquire_owned();
                tokio::time::timeout(Duration::from_secs(1), wait)
                    .await
                    .ok()?
                    .ok()?
            }
        };
        let token = CancellationToken::new();
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let evicted = {
            let mut map = self.pending_map();
            let evicted = if map.len() >= self.max_pending {
                map.pop_first()
            } else {
                None
            };
            map.insert(id, token.clone());
            evicted
        };
        if let Some((_, old)) = evicted {
            old.cancel();
        }
        crate::telemetry::open_connections(1.0);
        Some(Pending {
            slot: Slot { _permit: permit },
            ticket: Some(Ticket {
                gate: Arc::clone(self),
                id,
                token,
            }),
            deadline: Instant::now() + self.timeout,
        })
    }
}

/// Holds one of the gate's slots; gives it back when dropped.
#[derive(Debug)]
struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Drop for Slot {
    fn drop(&mut self) {
        crate::telemetry::open_connections(-1.0);
    }
}

/// Membership of the pending pool; leaves it when dropped.
#[derive(Debug)]
struct Ticket {
    gate: Arc<Gate>,
    id: u64,
    token: CancellationToken,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.gate.pending_map().remove(&self.id);
    }
}

/// An admitted connection before its handshake: its slot, its place in the pending pool and
/// its deadline.
#[derive(Debug)]
pub struct Pending {
    slot: Slot,
    ticket: Option<Ticket>,
    deadline: Instant,
}

impl Pending {
    /// Resolves when the connection must be closed: its deadline passed or a newer connection
    /// took its place. For work the connection does before [`Pending::guard`] (the TLS handshake).
    pub async fn closed(&self) -> Closed {
        let Some(t) = &self.ticket else {
            return std::future::pending().await;
        };
        tokio::select! {
            () = tokio::time::sleep_until(self.deadline) => Closed::HandshakeTimeout,
            () = t.token.cancelled() => Closed::Evicted,
        }
    }

    /// Wraps the connection's stream: reads fail once the deadline passes or the connection is
    /// evicted, until the first [`PREFACE_LEN`] bytes have been read.
    pub fn guard<IO>(self, io: IO) -> Guarded<IO> {
        let watch = self.ticket.map(|ticket| Watch {
            sleep: Box::pin(tokio::time::sleep_until(self.deadline)),
            cancelled: Box::pin(ticket.token.clone().cancelled_owned()),
            ticket,
            seen: 0,
        });
        Guarded {
            io,
            watch,
            _slot: self.slot,
        }
    }
}

#[derive(Debug)]
struct Watch {
    sleep: Pin<Box<Sleep>>,
    cancelled: Pin<Box<WaitForCancellationFutureOwned>>,
    ticket: Ticket,
    seen: usize,
}

impl Watch {
    fn poll_closed(&mut self, cx: &mut Context<'_>) -> Option<Closed> {
        if self.ticket.token.is_cancelled() || self.cancelled.as_mut().poll(cx).is_ready() {
            return Some(Closed::Evicted);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            return Some(Closed::HandshakeTimeout);
        }
        None
    }
}

/// A connection stream holding its slot; before the preface it is closed at the deadline or
/// for a newer connection.
#[derive(Debug)]
pub struct Guarded<IO> {
    io: IO,
    watch: Option<Watch>,
    _slot: Slot,
}

impl<IO> Guarded<IO> {
    /// The wrapped stream.
    pub fn get_ref(&self) -> &IO {
        &self.io
    }

    /// Whether the connection is still before its preface.
    pub fn is_pending(&self) -> bool {
        self.watch.is_some()
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(w) = &mut this.watch {
            if let Some(why) = w.poll_closed(cx) {
                this.watch = None;
                crate::telemetry::connection_closed(why.as_str());
                tracing::debug!("connection closed: {}", why.message());
                return Poll::Ready(Err(why.error()));
            }
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.io).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(w)) = (&polled, &mut this.watch) {
            let n = buf.filled().len() - before;
            w.seen += n;
            // Past the preface (or at end of stream, which the protocol layer handles).
            if w.seen >= PREFACE_LEN || n == 0 {
                this.watch = None;
            }
        }
        polled
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

impl<IO: Connected> Connected for Guarded<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.io.connect_info()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_fails_its_read_at_the_deadline() {
        let gate = Gate::new(4, 4, Duration::from_secs(5));
        let (client, server) = tokio::io::duplex(64);
        let mut g = gate.admit().await.unwrap().guard(server);
        assert_eq!(gate.pending_now(), 1);
        let mut buf = [0u8; 8];
        let started = Instant::now();
        let err = g.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(5));
        assert_eq!(gate.pending_now(), 0);
        drop(client);
        drop(g);
        assert_eq!(gate.open_now(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_preface_ends_the_deadline() {
        let gate = Gate::new(4, 4, Duration::from_secs(5));
        let (mut client, server) = tokio::io::duplex(64);
        let mut g = gate.admit().await.unwrap().guard(server);
        client.write_all(&[b'x'; PREFACE_LEN]).await.unwrap();
        let mut buf = [0u8; PREFACE_LEN];
        g.read_exact(&mut buf).await.unwrap();
        assert!(!g.is_pending());
        assert_eq!(gate.pending_now(), 0);
        assert_eq!(gate.open_now(), 1);
        // Long after the deadline, reads still work.
        tokio::time::sleep(Duration::from_secs(60)).await;
        client.write_all(b"more").await.unwrap();
        let mut more = [0u8; 4];
        g.read_exact(&mut more).await.unwrap();
        assert_eq!(&more, b"more");
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_pending_pool_closes_its_oldest_for_the_newest() {
        let gate = Gate::new(10, 2, Duration::from_secs(30));
        let (_c1, s1) = tokio::io::duplex(64);
        let (_c2, s2) = tokio::io::duplex(64);
        let (_c3, s3) = tokio::io::duplex(64);
        let mut g1 = gate.admit().await.unwrap().guard(s1);
        let mut g2 = gate.admit().await.unwrap().guard(s2);
        let _g3 = gate.admit().await.unwrap().guard(s3);
        assert_eq!(gate.pending_now(), 2);
        let mut buf = [0u8; 1];
        let err = g1.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        assert!(err.to_string().contains("max_pending"), "{err}");
        // The second is still waiting for its bytes.
        let still = tokio::time::timeout(Duration::from_secs(1), g2.read(&mut buf)).await;
        assert!(still.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn at_the_cap_a_pending_connection_makes_room_for_a_new_one() {
        let gate = Gate::new(2, 2, Duration::from_secs(30));
        let (mut c1, s1) = tokio::io::duplex(64);
        let (_c2, s2) = tokio::io::duplex(64);
        let mut g1 = gate.admit().await.unwrap().guard(s1);
        c1.write_all(&[0u8; PREFACE_LEN]).await.unwrap();
        let mut buf = [0u8; PREFACE_LEN];
        g1.read_exact(&mut buf).await.unwrap();
        let mut g2 = gate.admit().await.unwrap().guard(s2);
        // Both slots are taken: the pending g2 is closed for a third, whose admission waits
        // until g2's owner drops it.
        let third = tokio::spawn({
            let gate = Arc::clone(&gate);
            async move { gate.admit().await.map(|p| p.guard(())) }
        });
        let err = g2.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        drop(g2);
        let g3 = third.await.unwrap();
        assert!(g3.is_some());
        assert_eq!(gate.open_now(), 2);
        assert_eq!(gate.pending_now(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn with_every_slot_established_a_new_connection_is_refused() {
        let gate = Gate::new(1, 1, Duration::from_secs(30));
        let (mut c1, s1) = tokio::io::duplex(64);
        let mut g1 = gate.admit().await.unwrap().guard(s1);
        c1.write_all(&[0u8; PREFACE_LEN]).await.unwrap();
        let mut buf = [0u8; PREFACE_LEN];
        g1.read_exact(&mut buf).await.unwrap();
        assert!(gate.admit().await.is_none());
        drop(g1);
        assert!(gate.admit().await.is_some());
    }
}
