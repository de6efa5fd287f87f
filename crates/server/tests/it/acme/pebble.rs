//! A real ACME CA for the tests: Debian's `pebble` (installed by scripts/test-deps.sh), with its
//! own HTTPS certificate from a CA made here, validating against our server's ports.
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running pebble, killed when dropped.
pub struct Pebble {
    child: Child,
    dir: tempfile::TempDir,
    /// `https://127.0.0.1:PORT/dir`.
    pub directory_url: String,
    mgmt: SocketAddr,
    log: Arc<Mutex<String>>,
}

impl Drop for Pebble {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What pebble validates against and how long its certificates live.
pub struct PebbleOpts {
    /// Port it connects to for http-01.
    pub http_port: u16,
    /// Port it connects to for tls-alpn-01.
    pub tls_port: u16,
    /// Certificate lifetime in seconds (0: pebble's default of years).
    pub validity_seconds: u64,
}

impl Pebble {
    /// Starts pebble and waits until its directory answers.
    pub async fn start(opts: PebbleOpts) -> Pebble {
        let bin = which("pebble").unwrap_or_else(|| {
            panic!("pebble is not installed: run scripts/test-deps.sh (Debian package `pebble`)")
        });
        let dir = tempfile::tempdir().unwrap();
        // Pebble's own HTTPS certificate, from a CA the server is told to trust.
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "pebble test CA");
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_params =
            rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), leaf_key.serialize_pem()).unwrap();
        let (port, mgmt_port) = (free_port(), free_port());
        let mut pebble = serde_json::json!({
            "listenAddress": format!("127.0.0.1:{port}"),
            "managementListenAddress": format!("127.0.0.1:{mgmt_port}"),
            "certificate": dir.path().join("cert.pem"),
            "privateKey": dir.path().join("key.pem"),
            "httpPort": opts.http_port,
            "tlsPort": opts.tls_port,
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
        });
        if opts.validity_seconds > 0 {
            pebble["certificateValidityPeriod"] = opts.validity_seconds.into();
        }
        let config = dir.path().join("pebble.json");
        std::fs::write(&config, serde_json::json!({ "pebble": pebble }).to_string()).unwrap();
        let mut child = Command::new(bin)
            .arg("-config")
            .arg(&config)
            .env("PEBBLE_VA_NOSLEEP", "1")
            .env("PEBBLE_VA_ALWAYS_VALID", "0")
            // Every order validates afresh, and no random bad-nonce rejections.
            .env("PEBBLE_AUTHZREUSE", "0")
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        for pipe in [
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn std::io::Read + Send>),
        ]
        .into_iter()
        .flatten()
        {
            let sink = Arc::clone(&log);
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut s = sink.lock().unwrap();
                    s.push_str(&line);
                    s.push('\n');
                }
            });
        }
        let p = Pebble {
            child,
            directory_url: format!("https://127.0.0.1:{port}/dir"),
            mgmt: SocketAddr::from(([127, 0, 0, 1], mgmt_port)),
            log,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
            || tokio::net::TcpStream::connect(p.mgmt).await.is_err()
        {
            assert!(
                Instant::now() < deadline,
                "pebble did not start:\n{}",
                p.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        p
    }

    /// The CA file the server trusts for the directory (`acme.ca_cert_file`).
    pub fn https_ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Everything pebble logged.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// How many certificates pebble has issued.
    pub fn issued(&self) -> usize {
        self.log().matches("Issued certificate serial").count()
    }

    /// The root pebble's certificates chain to (management `/roots/0`), PEM.
    pub async fn root(&self) -> Vec<u8> {
        let ca = std::fs::read(self.https_ca()).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::CertificateDer::pem_slice_iter(&ca) {
            roots.add(c.unwrap()).unwrap();
        }
        let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        let tcp = tokio::net::TcpStream::connect(self.mgmt).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(name, tcp)
            .await
            .unwrap();
        tls.write_all(b"GET /roots/0 HTTP/1.0\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut resp = Vec::new();
        let _ = tls.read_to_end(&mut resp).await;
        let text = String::from_utf8(resp).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        body.as_bytes().to_vec()
    }
}

use rustls_pki_types::pem::PemObject as _;

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}
