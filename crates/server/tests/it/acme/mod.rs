//! ACME against a real CA (pebble): issuance over http-01 and tls-alpn-01 with the real server
//! binary, the stored certificate reused after a restart, a short-lived certificate renewed and
//! served without restart (open connections kept), and failures that carry their cause.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod client;
mod pebble;

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use client::{call, served_serial};
use pebble::{free_port, Pebble, PebbleOpts};
use vibectl_proto::vibectl_llm_proxy_client::VibectlLlmProxyClient;
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::{MockProvider, ServerProcess};

use crate::common;
use crate::secure::tls_channel;

const ISSUED: &str = "ACME certificate issued";

fn acme_config(mock: &MockProvider, pebble: &Pebble, challenge: &str, extra: &str) -> String {
    format!(
        "{}tls:\n  enabled: true\nacme:\n  enabled: true\n  email: ops@example.com\n  domains: [localhost]\n  directory_url: {}\n  ca_cert_file: {}\n  challenge:\n{challenge}{extra}",
        common::config_for(mock, "  default_model: gpt-4o\n", ""),
        pebble.directory_url,
        pebble.https_ca().display(),
    )
}

fn http01(port: u16) -> String {
    format!("    type: http-01\n    http_host: 127.0.0.1\n    http_port: {port}\n")
}

const TLS_ALPN01: &str = "    type: tls-alpn-01\n";

fn spawn(cfg: &str, port: u16, state: &Path) -> ServerProcess {
    let state = state.to_str().unwrap();
    ServerProcess::spawn_on(
        &common::server_bin(),
        cfg,
        port,
        &[],
        &[("VIBECTL_SERVER_STATE_DIR", state)],
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Waits until the server has logged `needle` `times` times.
async fn wait_for(server: &ServerProcess, needle: &str, times: usize, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.stderr().matches(needle).count() < times {
        assert!(
            Instant::now() < deadline,
            "{what}: no `{needle}` (x{times}) in the server's log:\n{}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread")]
async fn http01_issues_a_certificate_trusted_through_the_ca_root() {
    let (port, http_port) = (free_port(), free_port());
    let pebble = Pebble::start(PebbleOpts {
        http_port,
        tls_port: port,
        validity_seconds: 0,
    })
    .await;
    let mock = MockProvider::start().await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let cfg = acme_config(&mock, &pebble, &http01(http_port), "");
    let server = spawn(&cfg, port, state.path());
    assert!(server.tls, "the listening line says (tls)");
    let root = pebble.root().await;
    wait_for(&server, ISSUED, 1, "http-01 issuance").await;
    call(&server, &root)
        .await
        .expect("trusted via pebble's root");
    assert_eq!(pebble.issued(), 1);
    // Stored: key and account private (0600), certificate readable.
    let acme = state.path().join("acme");
    assert_eq!(mode(&acme.join("localhost.key")), 0o600);
    assert_eq!(mode(&acme.join("account.json")), 0o600);
    assert_eq!(mode(&acme.join("localhost.crt")), 0o644);
    // acme.challenge_dir got the answer as a file during the order, removed after it.
    let answers = state.path().join(".well-known/acme-challenge");
    assert!(answers.is_dir());
    assert_eq!(std::fs::read_dir(&answers).unwrap().count(), 0);
    // The challenge answers are gone once the order is done; junk gets a 404, not a crash.
    for req in [
        "GET /.well-known/acme-challenge/nope HTTP/1.1\r\nHost: localhost\r\n\r\n".to_owned(),
        format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(100_000)),
        "\x16\x03\x01garbage\r\n\r\n".to_owned(),
    ] {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", http_port))
            .await
            .unwrap();
        let _ = s.write_all(req.as_bytes()).await;
        let mut buf = vec![0u8; 256];
        let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
            .await
            .unwrap_or(Ok(0))
            .unwrap_or(0);
        let head = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(!head.contains(" 200 "), "{head}");
    }
    call(&server, &root).await.expect("still serving");
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_alpn01_is_answered_on_the_serving_port() {
    let port = free_port();
    let pebble = Pebble::start(PebbleOpts {
        http_port: free_port(),
        tls_port: port,
        validity_seconds: 0,
    })
    .await;
    let mock = MockProvider::start().await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let server = spawn(
        &acme_config(&mock, &pebble, TLS_ALPN01, ""),
        port,
        state.path(),
    );
    let root = pebble.root().await;
    // Before issuance: a temporary self-signed certificate, not trusted by pebble's root.
    wait_for(&server, ISSUED, 1, "tls-alpn-01 issuance").await;
    call(&server, &root)
        .await
        .expect("trusted via pebble's root");
    let serial = served_serial(server.addr, Some(&root), b"h2")
        .await
        .unwrap();
    assert!(!serial.is_empty());
    // With no challenge open, a handshake asking for acme-tls/1 gets no certificate at all.
    let err = served_serial(server.addr, None, b"acme-tls/1").await;
    assert!(err.is_err(), "acme-tls/1 outside a challenge: {err:?}");
    call(&server, &root).await.expect("still serving");
}

#[tokio::test(flavor = "multi_thread")]
async fn restart_reuses_the_stored_certificate() {
    let (port, http_port) = (free_port(), free_port());
    let pebble = Pebble::start(PebbleOpts {
        http_port,
        tls_port: port,
        validity_seconds: 0,
    })
    .await;
    let mock = MockProvider::start().await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let cfg = acme_config(&mock, &pebble, &http01(http_port), "");
    let root = pebble.root().await;
    let first = {
        let server = spawn(&cfg, port, state.path());
        wait_for(&server, ISSUED, 1, "first issuance").await;
        served_serial(server.addr, Some(&root), b"h2")
            .await
            .unwrap()
    };
    let server = spawn(&cfg, port, state.path());
    // The log arrives through a reader thread: wait for the line rather than read it once.
    wait_for(
        &server,
        "using the stored ACME certificate",
        1,
        "reuse at restart",
    )
    .await;
    let again = served_serial(server.addr, Some(&root), b"h2")
        .await
        .unwrap();
    assert_eq!(first, again, "the same certificate, straight away");
    call(&server, &root).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pebble.issued(), 1, "no new order:\n{}", pebble.log());
    assert!(!server.stderr().contains(ISSUED), "{}", server.stderr());
    // Pointed at another CA (staging to production, say): served until that CA's arrives.
    drop(server);
    let other = Pebble::start(PebbleOpts {
        http_port,
        tls_port: port,
        validity_seconds: 0,
    })
    .await;
    let server = spawn(
        &acme_config(&mock, &other, &http01(http_port), ""),
        port,
        state.path(),
    );
    assert!(
        server.stderr().contains("from another directory"),
        "{}",
        server.stderr()
    );
    wait_for(&server, ISSUED, 1, "order from the new directory").await;
    let other_root = other.root().await;
    assert_ne!(
        served_serial(server.addr, Some(&other_root), b"h2")
            .await
            .unwrap(),
        first
    );
    assert_eq!(other.issued(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn short_lived_certificate_is_renewed_and_served_without_restart() {
    let (port, http_port) = (free_port(), free_port());
    let pebble = Pebble::start(PebbleOpts {
        http_port,
        tls_port: port,
        validity_seconds: 9,
    })
    .await;
    let mock = MockProvider::start().await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let cfg = acme_config(
        &mock,
        &pebble,
        &http01(http_port),
        "  renew_days_before_expiry: 0\n",
    );
    let server = spawn(&cfg, port, state.path());
    let root = pebble.root().await;
    wait_for(&server, ISSUED, 1, "first issuance").await;
    let first = served_serial(server.addr, Some(&root), b"h2")
        .await
        .unwrap();
    // A connection opened on the first certificate.
    let open = tls_channel(server.addr, Some(&root), None).await.unwrap();
    let mut open = VibectlLlmProxyClient::new(open);
    open.get_server_info(GetServerInfoRequest {}).await.unwrap();
    // Renewed at two thirds of its 9 s, by the running server.
    wait_for(&server, ISSUED, 2, "renewal").await;
    let renewed = served_serial(server.addr, Some(&root), b"h2")
        .await
        .unwrap();
    assert_ne!(first, renewed, "new handshakes get the new certificate");
    call(&server, &root).await.expect("new certificate trusted");
    open.get_server_info(GetServerInfoRequest {})
        .await
        .expect("the connection opened before the renewal still works");
    let stored = std::fs::read_to_string(state.path().join("acme/localhost.crt")).unwrap();
    let (_, pem) = x509_parser::pem::parse_x509_pem(stored.as_bytes()).unwrap();
    assert_eq!(
        pem.parse_x509().unwrap().raw_serial_as_string(),
        renewed,
        "stored too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_renew_off_keeps_the_certificate_while_running() {
    let (port, http_port) = (free_port(), free_port());
    let pebble = Pebble::start(PebbleOpts {
        http_port,
        tls_port: port,
        validity_seconds: 6,
    })
    .await;
    let mock = MockProvider::start().await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let cfg = acme_config(
        &mock,
        &pebble,
        &http01(http_port),
        "  auto_renew: false\n  renew_days_before_expiry: 0\n",
    );
    let server = spawn(&cfg, port, state.path());
    wait_for(&server, ISSUED, 1, "issuance").await;
    wait_for(&server, "acme.auto_renew is false", 1, "the notice").await;
    // Past the renewal point (4 s into 6 s): still one certificate.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(
        server.stderr().matches(ISSUED).count(),
        1,
        "{}",
        server.stderr()
    );
    assert_eq!(pebble.issued(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_challenge_reports_the_cas_reason_and_keeps_serving() {
    let (port, http_port) = (free_port(), free_port());
    // Pebble validates http-01 on a port nobody listens on.
    let pebble = Pebble::start(PebbleOpts {
        http_port: free_port(),
        tls_port: port,
        validity_seconds: 0,
    })
    .await;
    let mock = MockProvider::start().await.unwrap();
    let state = tempfile::tempdir().unwrap();
    let server = spawn(
        &acme_config(&mock, &pebble, &http01(http_port), ""),
        port,
        state.path(),
    );
    wait_for(&server, "ACME certificate order failed", 1, "the failure").await;
    let log = server.stderr();
    let line = log
        .lines()
        .find(|l| l.contains("ACME certificate order failed"))
        .unwrap();
    assert!(
        line.contains("http-01 challenge for localhost failed"),
        "{line}"
    );
    // Pebble's own words for the refused connection, and its problem type.
    assert!(line.to_lowercase().contains("connect"), "{line}");
    assert!(line.contains("urn:ietf:params:acme:error:"), "{line}");
    assert!(line.contains("retry_in_seconds"), "{line}");
    assert_eq!(pebble.issued(), 0);
    // Still up, on the temporary certificate.
    assert!(served_serial(server.addr, None, b"h2").await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_directory_is_named_as_such() {
    let mock = MockProvider::start().await.unwrap();
    let dead = free_port();
    let cfg = format!(
        "{}tls:\n  enabled: true\nacme:\n  enabled: true\n  email: ops@example.com\n  domains: [localhost]\n  directory_url: https://127.0.0.1:{dead}/dir\n  challenge: {{type: tls-alpn-01}}\n",
        common::config_for(&mock, "", ""),
    );
    let state = tempfile::tempdir().unwrap();
    let server = spawn(&cfg, free_port(), state.path());
    wait_for(&server, "ACME certificate order failed", 1, "the failure").await;
    let log = server.stderr();
    assert!(
        log.contains(&format!(
            "ACME directory https://127.0.0.1:{dead}/dir unreachable"
        )),
        "{log}"
    );
    assert!(log.contains("acme.ca_cert_file"), "{log}");
    // Stopped while waiting to retry: exits cleanly.
    let mut server = server;
    server.signal("TERM").unwrap();
    let status = server
        .wait_timeout(Duration::from_secs(30))
        .expect("exited");
    assert!(status.success(), "{status:?}\n{}", server.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn dns01_and_incomplete_sections_are_refused_at_start() {
    let mock = MockProvider::start().await.unwrap();
    let base = format!(
        "{}tls:\n  enabled: true\n",
        common::config_for(&mock, "", "")
    );
    for (acme, key, words) in [
        (
            "acme:\n  enabled: true\n  email: a@example.com\n  domains: [x.example.com]\n  challenge: {type: dns-01}\n",
            "acme.challenge.type",
            "http-01",
        ),
        ("acme:\n  enabled: true\n  domains: [x.example.com]\n", "acme.email", "no email"),
        ("acme:\n  enabled: true\n  email: a@example.com\n", "acme.domains", "no domains"),
        (
            "acme:\n  enabled: true\n  email: a@example.com\n  domains: [x.example.com]\n  ca_cert_file: /nonexistent/ca.pem\n",
            "acme.ca_cert_file",
            "not a readable file",
        ),
    ] {
        let err = ServerProcess::spawn(&common::server_bin(), &format!("{base}{acme}"), &[], &[])
            .expect_err("refused");
        assert!(err.stderr.contains(key) && err.stderr.contains(words), "{acme}:\n{}", err.stderr);
    }
}

/// In-process: an [`App`](vibectl_server::app::App) with ACME on a listener pebble validates
/// tls-alpn-01 on, handshakes of both kinds hammering it concurrently while the order runs, then
/// a clean shutdown with the renewal task still alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_app_orders_under_concurrent_handshakes_and_shuts_down() {
    use vibectl_server::app::App;
    use vibectl_server::cli::ServeArgs;
    use vibectl_server::config::{ConfigSource, ServerConfig};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let pebble = Pebble::start(PebbleOpts {
        http_port: free_port(),
        tls_port: addr.port(),
        validity_seconds: 0,
    })
    .await;
    let mock = MockProvider::start().await.unwrap();
    let yaml = acme_config(&mock, &pebble, TLS_ALPN01, "");
    let dir = tempfile::tempdir().unwrap();
    let (cfg, warnings) = ServerConfig::parse(&yaml).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    let source = ConfigSource::Defaults(dir.path().join("config.yaml"));
    let app = App::build(cfg, source, ServeArgs::default()).await.unwrap();
    assert!(app.tls_on());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.serve(listener, async {
        let _ = stopped.await;
    }));
    let root = pebble.root().await;
    let hammer: Vec<_> = (0..24)
        .map(|i| {
            tokio::spawn(async move {
                let alpn: &[u8] = if i % 2 == 0 { b"h2" } else { b"acme-tls/1" };
                let _ = served_serial(addr, None, alpn).await;
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    let serial = loop {
        if let Ok(s) = served_serial(addr, Some(&root), b"h2").await {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "no certificate from pebble:\n{}",
            pebble.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for h in hammer {
        h.await.unwrap();
    }
    assert!(dir.path().join("acme/localhost.crt").is_file());
    assert_eq!(
        served_serial(addr, Some(&root), b"h2").await.unwrap(),
        serial
    );
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(30), task)
        .await
        .expect("shut down")
        .unwrap()
        .unwrap();
}
