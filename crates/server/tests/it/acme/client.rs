//! The test client side: what certificate a handshake is served, and a gRPC call over TLS.
use std::sync::Arc;

use vibectl_proto::vibectl_llm_proxy_client::VibectlLlmProxyClient;
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::ServerProcess;

use crate::secure::tls_channel;

/// The serial of the certificate a TLS handshake (SNI localhost, ALPN `alpn`) is given, verified
/// against `root`; `Err` when the handshake fails.
pub async fn served_serial(
    addr: std::net::SocketAddr,
    root: Option<&[u8]>,
    alpn: &[u8],
) -> Result<String, String> {
    let mut roots = rustls::RootCertStore::empty();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap();
    let mut cfg = match root {
        Some(pem) => {
            use rustls_pki_types::pem::PemObject as _;
            for c in rustls_pki_types::CertificateDer::pem_slice_iter(pem) {
                roots.add(c.unwrap()).unwrap();
            }
            cfg.with_root_certificates(roots).with_no_client_auth()
        }
        None => cfg
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCert))
            .with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![alpn.to_vec()];
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let leaf = tls.get_ref().1.peer_certificates().unwrap()[0].clone();
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).unwrap();
    Ok(cert.raw_serial_as_string())
}

/// Accepts any certificate: for looking at what is served before it is trusted.
#[derive(Debug)]
struct AnyCert;

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &[rustls_pki_types::CertificateDer<'_>],
        _: &rustls_pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls_pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A gRPC call over TLS trusting only pebble's root.
pub async fn call(server: &ServerProcess, root: &[u8]) -> Result<(), String> {
    let ch = tls_channel(server.addr, Some(root), None)
        .await
        .map_err(|e| format!("{e:?}"))?;
    VibectlLlmProxyClient::new(ch)
        .get_server_info(GetServerInfoRequest {})
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}
