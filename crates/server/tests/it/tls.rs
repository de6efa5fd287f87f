//! TLS end to end: private CA certificates trusted only with the bundle, mTLS, a certificate
//! replaced on disk served without restart, `tls.auto` with HSTS and tokens, TLS 1.3 by default.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::common;
use crate::secure;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use secure::*;
use vibectl_proto::vibectl_llm_proxy_client::VibectlLlmProxyClient;
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::{MockProvider, ServerProcess};

fn tls_config(mock: &MockProvider, tls: &str) -> String {
    format!(
        "{}tls:\n{tls}",
        common::config_for(mock, "  default_model: gpt-4o\n", "")
    )
}

async fn info(ch: tonic::transport::Channel) -> Result<(), tonic::Status> {
    VibectlLlmProxyClient::new(ch)
        .get_server_info(GetServerInfoRequest {})
        .await
        .map(|_| ())
}

/// Connects and calls; any failure (handshake or call) is `Err`.
async fn try_call(
    addr: std::net::SocketAddr,
    ca: Option<&[u8]>,
    id: Option<(&[u8], &[u8])>,
) -> Result<(), String> {
    let ch = tls_channel(addr, ca, id)
        .await
        .map_err(|e| format!("{e:?}"))?;
    info(ch).await.map_err(|e| format!("{e:?}"))
}

fn copy_atomic(from: &Path, to: &Path) {
    let tmp = to.with_extension("tmp");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, to).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn private_ca_certificate_is_trusted_only_with_the_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let ca_fixture = make_ca(dir.path());
    let ca = ca_fixture.dir.clone();
    let (cert, key) = (
        ca_fixture.server_cert.clone(),
        ca_fixture.server_key.clone(),
    );
    let mock = MockProvider::start().await.unwrap();
    let cfg = tls_config(
        &mock,
        &format!(
            "  enabled: true\n  cert_file: {}\n  key_file: {}\n",
            cert.display(),
            key.display()
        ),
    );
    let server = ServerProcess::spawn(&common::server_bin(), &cfg, &[], &[]).expect("server");
    assert!(server.tls, "the listening line says (tls)");
    let bundle = std::fs::read(ca.join("ca-bundle.crt")).unwrap();
    try_call(server.addr, Some(&bundle), None)
        .await
        .expect("bundle trusted");
    let err = try_call(server.addr, None, None)
        .await
        .expect_err("no CA bundle: refused");
    assert!(
        err.to_lowercase().contains("certificate") || err.contains("transport"),
        "{err}"
    );
    // A plaintext client cannot talk to it either.
    let plain = VibectlLlmProxyClient::connect(format!("http://{}", server.addr)).await;
    if let Ok(mut c) = plain {
        assert!(c.get_server_info(GetServerInfoRequest {}).await.is_err());
    }
    let status = cli_ok(
        &ca.join("x.yaml"),
        &ca,
        &["ca", "status", "--ca-dir", ca.to_str().unwrap()],
    );
    for f in [
        "root-ca.crt",
        "intermediate-ca.crt",
        "server_certs/localhost/localhost.crt",
    ] {
        assert!(status.contains(f), "{status}");
    }
    assert!(status.contains(" ok"), "{status}");
}

#[tokio::test(flavor = "multi_thread")]
async fn mtls_refuses_clients_without_a_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let ca_fixture = make_ca(dir.path());
    let ca = ca_fixture.dir.clone();
    let (cert, key) = (
        ca_fixture.server_cert.clone(),
        ca_fixture.server_key.clone(),
    );
    let caa = ca.to_str().unwrap();
    cli_ok(
        &ca.join("x.yaml"),
        &ca,
        &["ca", "create-client-cert", "alice-laptop", "--ca-dir", caa],
    );
    let cd = ca.join("client_certs/alice-laptop");
    let (ccert, ckey) = (
        std::fs::read(cd.join("alice-laptop.crt")).unwrap(),
        std::fs::read(cd.join("alice-laptop.key")).unwrap(),
    );
    let mock = MockProvider::start().await.unwrap();
    let cfg = tls_config(
        &mock,
        &format!(
            "  enabled: true\n  cert_file: {}\n  key_file: {}\n  client_ca_file: {caa}/ca-bundle.crt\n",
            cert.display(),
            key.display()
        ),
    );
    let server = ServerProcess::spawn(&common::server_bin(), &cfg, &[], &[]).expect("server");
    let bundle = std::fs::read(ca.join("ca-bundle.crt")).unwrap();
    try_call(server.addr, Some(&bundle), None)
        .await
        .expect_err("no client certificate: refused");
    // A certificate from another CA is refused too.
    let other = make_ca(&dir.path().join("other")).dir;
    let oa = other.to_str().unwrap();
    cli_ok(
        &other.join("x.yaml"),
        &other,
        &["ca", "create-client-cert", "eve", "--ca-dir", oa],
    );
    let od = other.join("client_certs/eve");
    let (ocert, okey) = (
        std::fs::read(od.join("eve.crt")).unwrap(),
        std::fs::read(od.join("eve.key")).unwrap(),
    );
    try_call(server.addr, Some(&bundle), Some((&ocert, &okey)))
        .await
        .expect_err("client certificate from another CA: refused");
    try_call(server.addr, Some(&bundle), Some((&ccert, &ckey)))
        .await
        .expect("client certificate from our CA: accepted");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replaced_certificate_is_served_without_restart() {
    let dir = tempfile::tempdir().unwrap();
    let ca1 = make_ca(&dir.path().join("one"));
    let ca2 = make_ca(&dir.path().join("two"));
    let (c1, k1) = (ca1.server_cert.clone(), ca1.server_key.clone());
    let (c2, k2) = (ca2.server_cert.clone(), ca2.server_key.clone());
    let (cert, key) = (dir.path().join("server.crt"), dir.path().join("server.key"));
    copy_atomic(&c1, &cert);
    copy_atomic(&k1, &key);
    let mock = MockProvider::start().await.unwrap();
    let cfg = tls_config(
        &mock,
        &format!(
            "  enabled: true\n  cert_file: {}\n  key_file: {}\n  reload_interval_seconds: 1\n",
            cert.display(),
            key.display()
        ),
    );
    let server = ServerProcess::spawn(&common::server_bin(), &cfg, &[], &[]).expect("server");
    let b1 = std::fs::read(&ca1.bundle).unwrap();
    let b2 = std::fs::read(&ca2.bundle).unwrap();
    try_call(server.addr, Some(&b1), None)
        .await
        .expect("first certificate");
    try_call(server.addr, Some(&b2), None)
        .await
        .expect_err("not yet the second");

    copy_atomic(&k2, &key);
    copy_atomic(&c2, &cert);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(20);
    while try_call(server.addr, Some(&b2), None).await.is_err() {
        assert!(
            Instant::now() < deadline,
            "new certificate never served:\n{}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!("new certificate served after {:?}", started.elapsed());
    try_call(server.addr, Some(&b1), None)
        .await
        .expect_err("old CA no longer matches");
    assert!(
        server.stderr().contains("certificate files changed"),
        "{}",
        server.stderr()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_self_signed_with_hsts_tokens_and_tls13_only() {
    let mock = MockProvider::start().await.unwrap();
    let cfg = format!(
        "{}jwt:\n  secret_key: {SECRET}\ntls:\n  auto: true\n  hsts: {{enabled: true, max_age: 600, include_subdomains: false}}\n",
        common::config_for(&mock, "  default_model: gpt-4o\n  require_auth: true\n", "")
    );
    let server = ServerProcess::spawn(&common::server_bin(), &cfg, &[], &[]).expect("server");
    assert!(server.tls);
    let cert_path = server.dir.path().join("tls/self-signed.crt");
    let cert = std::fs::read(&cert_path).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(server.dir.path().join("tls/self-signed.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let ch = tls_channel(server.addr, Some(&cert), None)
        .await
        .expect("self-signed trusted");
    let mut c = VibectlLlmProxyClient::new(ch);
    let token = mint(
        &serde_json::json!({"sub": "ann", "iss": "vibectl-server", "exp": now() + 60}),
        jsonwebtoken::Algorithm::HS256,
        SECRET.as_bytes(),
        None,
    );
    let resp = c
        .get_server_info(with_auth(GetServerInfoRequest {}, Some(&bearer(&token))))
        .await
        .expect("token over TLS");
    assert_eq!(
        resp.metadata()
            .get("strict-transport-security")
            .map(|v| v.to_str().unwrap()),
        Some("max-age=600")
    );
    let err = c
        .get_server_info(GetServerInfoRequest {})
        .await
        .expect_err("auth still required");
    assert_eq!(err.code(), tonic::Code::Unauthenticated);

    // A TLS 1.2-only client is refused by default.
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::pem::PemObject as _;
    roots
        .add(rustls::pki_types::CertificateDer::from_pem_slice(&cert).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls12 = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(tls12));
    let tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    assert!(
        connector.connect(name, tcp).await.is_err(),
        "TLS 1.2 refused unless tls.min_version: \"1.2\""
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_flag_without_certificates_uses_a_self_signed_one_like_the_reference() {
    let mock = MockProvider::start().await.unwrap();
    let cfg = common::config_for(&mock, "  default_model: gpt-4o\n", "");
    let server =
        ServerProcess::spawn(&common::server_bin(), &cfg, &["--tls"], &[]).expect("server");
    assert!(server.tls);
    let cert = std::fs::read(server.dir.path().join("tls/self-signed.crt")).unwrap();
    try_call(server.addr, Some(&cert), None)
        .await
        .expect("self-signed trusted");
}
