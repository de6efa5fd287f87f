//! The reference's serve commands on the real binary: `serve-insecure` (TLS forced off, warns),
//! `serve-ca` (a fresh certificate from the CA, renewed while running), `serve-custom`
//! (`--ca-bundle-file` requires client certificates), `serve-acme` (dns-01 refused; ACME not
//! built yet), `serve`'s mode from the config, and `--max-workers`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::common;
use crate::secure;

use std::path::Path;
use std::time::{Duration, Instant};

use secure::*;
use vibectl_proto::vibectl_llm_proxy_client::VibectlLlmProxyClient;
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::{MockProvider, ServerProcess};

async fn call(addr: std::net::SocketAddr, ca: Option<&[u8]>, id: Option<(&[u8], &[u8])>) -> bool {
    let Ok(ch) = tls_channel(addr, ca, id).await else {
        return false;
    };
    VibectlLlmProxyClient::new(ch)
        .get_server_info(GetServerInfoRequest {})
        .await
        .is_ok()
}

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_vibectl-server"))
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_insecure_forces_tls_off_and_warns() {
    let mock = MockProvider::start().await.unwrap();
    let cfg = format!(
        "{}tls:\n  enabled: true\n  auto: true\n",
        common::config_for(&mock, "  default_model: gpt-4o\n", "")
    );
    let server =
        ServerProcess::spawn_command(bin(), "serve-insecure", &cfg, &["--max-workers", "2"], &[])
            .expect("server");
    assert!(!server.tls, "plaintext despite tls.enabled");
    let mut c = plain_client(server.addr).await;
    c.get_server_info(GetServerInfoRequest {}).await.unwrap();
    assert!(server.stderr().contains("INSECURE"), "{}", server.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_ca_issues_a_fresh_certificate_from_the_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca(dir.path());
    let old = std::fs::read(&ca.server_cert).unwrap();
    let mock = MockProvider::start().await.unwrap();
    let cfg = common::config_for(&mock, "  default_model: gpt-4o\n", "");
    let ca_dir = ca.dir.display().to_string();
    let server = ServerProcess::spawn_command(
        bin(),
        "serve-ca",
        &cfg,
        &[
            "--ca-dir",
            &ca_dir,
            "--hostname",
            "localhost",
            "--san",
            "127.0.0.1",
            "--validity-days",
            "30",
        ],
        &[],
    )
    .expect("server");
    assert!(server.tls);
    let bundle = std::fs::read(&ca.bundle).unwrap();
    assert!(
        call(server.addr, Some(&bundle), None).await,
        "trusted with the bundle"
    );
    assert!(!call(server.addr, None, None).await, "untrusted without it");
    let new = std::fs::read(&ca.server_cert).unwrap();
    assert_ne!(old, new, "a fresh certificate at start");
    let (from, to) = vibectl_server::tls::ca::validity_of(&ca.server_cert).unwrap();
    let days = (to - from) / 86_400;
    assert!((30..=31).contains(&days), "validity {days} days");

    // Without a CA it says how to make one.
    let empty = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin())
        .args(["serve-ca", "--port", "0", "--ca-dir"])
        .arg(empty.path().join("none"))
        .env("VIBECTL_SERVER_STATE_DIR", empty.path())
        .env("HOME", empty.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("ca init"));
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_ca_certificate_is_renewed_while_running() {
    use vibectl_server::tls::{self, ca, renew};
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    ca::init(&ca_dir, &ca::CaNames::default(), false).unwrap();
    // A lifetime of 3 s is due for renewal after 2 s.
    let req = ca::CertRequest {
        name: "localhost".into(),
        sans: vec!["127.0.0.1".into()],
        lifetime: Duration::from_secs(3),
        client: false,
        force: true,
    };
    let issued = renew::issue(&ca_dir, &req).unwrap();
    let first = ca::not_after(&issued.cert).unwrap();
    let served = tls::ReloadingConfig::new(tls::TlsFiles {
        cert: issued.cert.clone(),
        key: issued.key.clone(),
        client_ca: None,
        allow_tls12: false,
    })
    .unwrap();
    let task = tokio::spawn(renew::keep_renewed(ca_dir.clone(), req));
    let deadline = Instant::now() + Duration::from_secs(30);
    while ca::not_after(&issued.cert).unwrap_or(first) == first {
        assert!(Instant::now() < deadline, "not renewed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    task.abort();
    assert!(ca::not_after(&issued.cert).unwrap() > first);
    assert!(
        served.reload_if_changed().unwrap(),
        "the renewed files are picked up by the certificate watcher"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_custom_with_a_ca_bundle_requires_client_certificates() {
    let dir = tempfile::tempdir().unwrap();
    let ca = make_ca(dir.path());
    let ca_dir = ca.dir.display().to_string();
    cli_ok(
        &dir.path().join("x.yaml"),
        dir.path(),
        &["ca", "create-client-cert", "alice", "--ca-dir", &ca_dir],
    );
    let client = ca.dir.join("client_certs/alice");
    let (cc, ck) = (
        std::fs::read(client.join("alice.crt")).unwrap(),
        std::fs::read(client.join("alice.key")).unwrap(),
    );
    let mock = MockProvider::start().await.unwrap();
    let cfg = common::config_for(&mock, "  default_model: gpt-4o\n", "");
    let (cert, key, bundle) = (
        ca.server_cert.display().to_string(),
        ca.server_key.display().to_string(),
        ca.bundle.display().to_string(),
    );
    let server = ServerProcess::spawn_command(
        bin(),
        "serve-custom",
        &cfg,
        &[
            "--cert-file",
            &cert,
            "--key-file",
            &key,
            "--ca-bundle-file",
            &bundle,
        ],
        &[],
    )
    .expect("server");
    assert!(server.tls);
    let trust = std::fs::read(&ca.bundle).unwrap();
    assert!(
        !call(server.addr, Some(&trust), None).await,
        "no client certificate: refused"
    );
    assert!(call(server.addr, Some(&trust), Some((&cc, &ck))).await);

    // Without --ca-bundle-file no client certificate is needed.
    let plain = ServerProcess::spawn_command(
        bin(),
        "serve-custom",
        &cfg,
        &["--cert-file", &cert, "--key-file", &key],
        &[],
    )
    .expect("server");
    assert!(call(plain.addr, Some(&trust), None).await);
    // `serve` in custom mode takes tls.ca_bundle_file from the config the same way.
    let from_config = format!(
        "{cfg}tls:\n  enabled: true\n  cert_file: {cert}\n  key_file: {key}\n  ca_bundle_file: {bundle}\n"
    );
    let server = ServerProcess::spawn(bin(), &from_config, &[], &[]).expect("server");
    assert!(
        !call(server.addr, Some(&trust), None).await,
        "mTLS from tls.ca_bundle_file"
    );
    assert!(call(server.addr, Some(&trust), Some((&cc, &ck))).await);
    // A missing file is named.
    let out = secure::cli(
        &dir.path().join("x.yaml"),
        dir.path(),
        &[
            "serve-custom",
            "--cert-file",
            "/nonexistent.crt",
            "--key-file",
            &key,
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cert-file /nonexistent.crt"));
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_picks_the_private_ca_when_tls_is_on_without_files() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let ca = make_ca(&state); // <state>/ca, where `serve` looks
    let mock = MockProvider::start().await.unwrap();
    let cfg = format!(
        "{}tls:\n  enabled: true\n  hostnames: [localhost, 127.0.0.1]\n",
        common::config_for(&mock, "  default_model: gpt-4o\n", "")
    );
    let state_arg = state.display().to_string();
    let server =
        ServerProcess::spawn(bin(), &cfg, &["--state-dir", &state_arg], &[]).expect("server");
    assert!(server.tls);
    let bundle = std::fs::read(&ca.bundle).unwrap();
    assert!(
        call(server.addr, Some(&bundle), None).await,
        "a CA certificate"
    );
    assert!(server.stderr().contains("mode=Ca"), "{}", server.stderr());
}

#[test]
fn serve_acme_maps_flags_and_refuses_what_it_cannot_do() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "serve-acme",
            "--email",
            "ops@example.com",
            "--domain",
            "a.example.com",
            "--domain",
            "b.example.com",
            "--port",
            "0",
        ];
        args.extend_from_slice(extra);
        secure::cli(&dir.path().join("x.yaml"), dir.path(), &args)
    };
    let out = run(&["--challenge-type", "dns-01"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("dns-01") && err.contains("tls-alpn-01"),
        "{err}"
    );
    // The flags reach the ACME client: it orders from --directory-url for the --domain names.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("https://127.0.0.1:{dead}/dir");
    let server = ServerProcess::spawn_command(
        bin(),
        "serve-acme",
        "",
        &[
            "--email",
            "ops@example.com",
            "--domain",
            "a.example.com",
            "--directory-url",
            &url,
        ],
        &[],
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !server.stderr().contains("ACME certificate order failed") {
        assert!(Instant::now() < deadline, "{}", server.stderr());
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = server.stderr();
    assert!(
        log.contains(&format!("ACME directory {url} unreachable")),
        "{log}"
    );
    assert!(log.contains("mode=Acme"), "{log}");
    drop(server);
    // --domain is required, as in the reference.
    let out = secure::cli(
        &dir.path().join("x.yaml"),
        dir.path(),
        &["serve-acme", "--email", "ops@example.com"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--domain"));
}

#[test]
fn max_workers_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let out = secure::cli(
        &dir.path().join("x.yaml"),
        dir.path(),
        &["serve", "--max-workers", "0"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--max-workers"));
    let cfg = dir.path().join("c.yaml");
    std::fs::write(&cfg, "server:\n  max_workers: 0\n").unwrap();
    let out = secure::cli(&cfg, dir.path(), &["config", "validate"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.max_workers"));
}
