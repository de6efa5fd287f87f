//! The TLS accept loop: connections take a slot of the transport gate, handshakes run in their
//! own tasks (a slow client cannot stall others) under the gate's deadline, and finished
//! connections feed tonic's server, still guarded until their HTTP/2 preface (tls-alpn-01
//! validations end at the handshake).
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

use super::acme::ACME_TLS_ALPN;
use super::ConfigProvider;
use crate::auth::{AuditEvent, AuditLog};
use crate::transport::{Acceptor, Guarded};

/// Established TLS connections, for `serve_with_incoming_shutdown`.
pub type TlsIncoming = ReceiverStream<Result<Guarded<TlsStream<TcpStream>>, std::io::Error>>;

/// Accepts through `acceptor`, handshakes with the current config, yields the connections;
/// stops (closing the listener) when the stream is dropped.
pub fn tls_incoming(
    acceptor: Acceptor,
    config: Arc<dyn ConfigProvider>,
    audit: Option<AuditLog>,
) -> TlsIncoming {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, peer, pending) = tokio::select! {
                () = tx.closed() => return,
                next = acceptor.next() => next,
            };
            let tls = tokio_rustls::TlsAcceptor::from(config.current());
            let tx = tx.clone();
            let audit = audit.clone();
            tokio::spawn(async move {
                let outcome = tokio::select! {
                    done = tls.accept(tcp) => Ok(done),
                    why = pending.closed() => Err(why),
                };
                let reason = match outcome {
                    Ok(Ok(stream)) => {
                        // A tls-alpn-01 validation ends with the handshake (RFC 8737).
                        if stream.get_ref().1.alpn_protocol() != Some(ACME_TLS_ALPN) {
                            let _ = tx.send(Ok(pending.guard(stream))).await;
                        }
                        return;
                    }
                    Ok(Err(e)) => e.to_string(),
                    Err(why) => {
                        crate::telemetry::connection_closed(why.as_str());
                        why.message().to_owned()
                    }
                };
                // Debug, not info: a handshake flood must not flood the log; the audit log
                // aggregates per peer.
                tracing::debug!(%peer, "TLS handshake failed: {reason}");
                if let Some(a) = audit {
                    a.record(AuditEvent {
                        event: "tls_failed",
                        peer: Some(peer.to_string()),
                        reason: Some(reason),
                        ..AuditEvent::default()
                    });
                }
            });
        }
    });
    ReceiverStream::new(rx)
}
