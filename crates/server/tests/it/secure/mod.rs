//! Helpers for the authentication and TLS tests: token minting, authed requests, the CLI, TLS
//! clients and certificates.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Output;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use vibectl_proto::vibectl_llm_proxy_client::VibectlLlmProxyClient;

/// The shared HS256 secret of the test servers.
pub const SECRET: &str = "test-secret-0123456789-abcdefghijklmnop";
/// The audience the table server requires.
pub const AUDIENCE: &str = "vibectl-test";

/// A state dir holding an auth config (tokens in the dir), and the mock provider it points at.
pub struct AuthSetup {
    /// The state dir (removed on drop).
    pub dir: tempfile::TempDir,
    /// The provider.
    pub mock: vibectl_testkit::MockProvider,
    /// The config's text.
    pub cfg_text: String,
    /// Where the config was written (`DIR/config.yaml`).
    pub cfg: std::path::PathBuf,
}

impl AuthSetup {
    /// A fresh dir, mock and config; `with_keys` as for [`auth_config`].
    pub async fn new(with_keys: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mock = vibectl_testkit::MockProvider::start().await.unwrap();
        let cfg_text = auth_config(&mock, dir.path(), with_keys);
        let cfg = dir.path().join("config.yaml");
        std::fs::write(&cfg, &cfg_text).unwrap();
        AuthSetup {
            dir,
            mock,
            cfg_text,
            cfg,
        }
    }
}

/// Unix seconds now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Signs `claims` with `alg` and `key` (secret bytes or a PEM private key).
pub fn mint(claims: &serde_json::Value, alg: Algorithm, key: &[u8], kid: Option<&str>) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_owned);
    let key = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(key).unwrap(),
        Algorithm::EdDSA => EncodingKey::from_ed_pem(key).unwrap(),
        _ => EncodingKey::from_secret(key).unwrap(),
    };
    jsonwebtoken::encode(&h, claims, &key).unwrap()
}

/// Good claims for `sub` (valid for an hour, our issuer and audience).
pub fn claims(sub: &str) -> serde_json::Value {
    let n = now();
    serde_json::json!({"sub": sub, "iss": "vibectl-server", "aud": AUDIENCE, "iat": n, "nbf": n,
        "exp": n + 3600, "jti": uuid::Uuid::new_v4().to_string()})
}

/// A request carrying `authorization: <header>` (when given).
pub fn with_auth<T>(msg: T, header: Option<&str>) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    if let Some(h) = header {
        r.metadata_mut()
            .insert("authorization", h.parse().expect("ASCII header"));
    }
    r
}

/// `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Runs the server CLI with `config` (when the file exists; else defaults) and state dir `state`.
pub fn cli(config: &Path, state: &Path, args: &[&str]) -> Output {
    vibectl_testkit::server_command(
        Path::new(env!("CARGO_BIN_EXE_vibectl-server")),
        config,
        state,
        args,
    )
    .expect("run vibectl-server")
}

/// Runs the CLI and returns stdout, panicking with stderr on failure.
pub fn cli_ok(config: &Path, state: &Path, args: &[&str]) -> String {
    vibectl_testkit::server_command_ok(
        Path::new(env!("CARGO_BIN_EXE_vibectl-server")),
        config,
        state,
        args,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// A plaintext client.
pub async fn plain_client(addr: std::net::SocketAddr) -> VibectlLlmProxyClient<Channel> {
    VibectlLlmProxyClient::connect(format!("http://{addr}"))
        .await
        .expect("connect")
}

/// A TLS channel to `addr` trusting `ca_pem` (none: no trusted roots), presenting `identity`.
pub async fn tls_channel(
    addr: std::net::SocketAddr,
    ca_pem: Option<&[u8]>,
    identity: Option<(&[u8], &[u8])>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new().domain_name("localhost");
    if let Some(ca) = ca_pem {
        tls = tls.ca_certificate(Certificate::from_pem(ca));
    }
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

/// A private CA with a `localhost` server certificate, made with the server's own `ca` commands.
pub fn make_ca(dir: &Path) -> vibectl_testkit::TestCa {
    vibectl_testkit::TestCa::create(Path::new(env!("CARGO_BIN_EXE_vibectl-server")), dir)
        .unwrap_or_else(|e| panic!("{e}"))
}

/// Config of the table server: auth on, our secret, an audience, an RS256 and an EdDSA key; the
/// audit log writes every failure (the tables check each reason; aggregation has its own tests).
pub fn auth_config(mock: &vibectl_testkit::MockProvider, dir: &Path, with_keys: bool) -> String {
    let base =
        crate::common::config_for(mock, "  default_model: gpt-4o\n  require_auth: true\n", "");
    let d = dir.display();
    let keys = if with_keys {
        format!(
            "  verification_keys:\n    - {{kid: rsa-1, algorithm: RS256, public_key_file: {d}/rsa.pub}}\n    \
             - {{kid: ed-1, algorithm: EdDSA, public_key_file: {d}/ed.pub}}\n"
        )
    } else {
        String::new()
    };
    format!(
        "{base}jwt:\n  secret_key: {SECRET}\n  audience: [{AUDIENCE}]\n  registry_file: {d}/tokens.jsonl\n\
         {keys}audit:\n  path: {d}/audit.log\n  max_failures_per_peer_per_second: 1000\n"
    )
}

pub fn issue(cfg: &Path, dir: &Path, sub: &str) -> String {
    cli_ok(
        cfg,
        dir,
        &[
            "generate-token",
            sub,
            "--audience",
            AUDIENCE,
            "--expires-in",
            "1h",
        ],
    )
    .trim()
    .to_owned()
}

pub fn jti_of(token: &str) -> String {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    v["jti"].as_str().unwrap().to_owned()
}
