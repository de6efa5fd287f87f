//! The TLS accept loop: handshakes run in their own tasks (a slow client cannot stall others),
//! finished connections feed tonic's server (tls-alpn-01 validations end at the handshake).
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;

use super::acme::ACME_TLS_ALPN;
use super::ConfigProvider;
use crate::auth::{AuditEvent, AuditLog};

/// Established TLS connections, for `serve_with_incoming_shutdown`.
pub type TlsIncoming = ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>>;

/// How long a client gets to finish the handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Accepts on `listener`, handshakes with the current config, yields the connections.
pub fn tls_incoming(
    listener: TcpListener,
    config: Arc<dyn ConfigProvider>,
    audit: Option<AuditLog>,
) -> TlsIncoming {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = tokio_rustls::TlsAcceptor::from(config.current());
            if tx.is_closed() {
                return;
            }
            let tx = tx.clone();
            let audit = audit.clone();
            tokio::spawn(async move {
                let reason =
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                        Ok(Ok(stream)) => {
                            // A tls-alpn-01 validation ends with the handshake (RFC 8737).
                            if stream.get_ref().1.alpn_protocol() != Some(ACME_TLS_ALPN) {
                                let _ = tx.send(Ok(stream)).await;
                            }
                            return;
                        }
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => "handshake timed out".to_owned(),
                    };
                tracing::info!(%peer, "TLS handshake failed: {reason}");
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
