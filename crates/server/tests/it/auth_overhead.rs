//! Prints (never asserts) the throughput of `GetServerInfo` with authentication off and on, to see
//! what the auth layer costs end to end. Opt-in:
//! `cargo test -p vibectl-server --test it auth_overhead -- --ignored --nocapture`
#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::common;
use crate::secure;

use std::time::{Duration, Instant};

use secure::*;
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::{MockProvider, ServerProcess};

async fn rate(addr: std::net::SocketAddr, token: Option<&str>, secs: u64) -> f64 {
    let ch = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let header = token.map(bearer);
    let stop = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let mut c = vibectl_proto::vibectl_llm_proxy_client::VibectlLlmProxyClient::new(ch.clone());
        let h = header.clone();
        tasks.push(tokio::spawn(async move {
            let mut n = 0u64;
            while Instant::now() < stop {
                c.get_server_info(with_auth(GetServerInfoRequest {}, h.as_deref()))
                    .await
                    .unwrap();
                n += 1;
            }
            n
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total as f64 / secs as f64
}

#[tokio::test(flavor = "multi_thread")]
#[ignore]
async fn print_auth_overhead() {
    let mock = MockProvider::start().await.unwrap();
    let base = common::config_for(&mock, "  default_model: gpt-4o\n", "");
    let off = ServerProcess::spawn(&common::server_bin(), &base, &[], &[]).unwrap();
    let on_cfg = format!("{base}jwt:\n  enabled: true\n  secret_key: {SECRET}\n");
    let on = ServerProcess::spawn(&common::server_bin(), &on_cfg, &[], &[]).unwrap();
    let c = serde_json::json!({"sub": "bench", "iss": "vibectl-server", "exp": now() + 600});
    let token = mint(&c, jsonwebtoken::Algorithm::HS256, SECRET.as_bytes(), None);
    let _ = rate(off.addr, None, 1).await;
    let _ = rate(on.addr, Some(&token), 1).await;
    for round in 0..2 {
        let a = rate(off.addr, None, 3).await;
        let b = rate(on.addr, Some(&token), 3).await;
        println!(
            "round {round}: auth off {a:.0} calls/s, auth on (cached token) {b:.0} calls/s ({:+.1}%)",
            (b - a) / a * 100.0
        );
    }
}
