//! The audit log under abuse, against the real binary: failures of one peer are aggregated into
//! a bounded number of lines plus a suppressed count, and the file rotates keeping N files.
use std::path::Path;
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use vibectl_proto::vibectl_llm_proxy_client::VibectlLlmProxyClient;
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::{MockProvider, ServerProcess};

use crate::common::{config_for, server_bin};
use crate::secure::{bearer, with_auth, SECRET};

fn lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn auth_server(mock: &MockProvider, dir: &Path, audit_extra: &str) -> ServerProcess {
    let cfg = format!(
        "{}jwt:\n  secret_key: {SECRET}\naudit:\n  path: {}/audit.log\n{audit_extra}",
        config_for(mock, "  require_auth: true\n", ""),
        dir.display()
    );
    ServerProcess::spawn(&server_bin(), &cfg, &[], &[]).expect("server starts")
}

/// 400 unauthenticated calls from one address (over several connections, so several ports):
/// at most `max_failures_per_peer_per_second` lines per second are written, and the rest are
/// reported as `audit_suppressed` counts that add up to the total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_of_one_peer_are_bounded_and_their_suppressed_count_is_written() {
    const CALLS: usize = 400;
    let mock = MockProvider::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = auth_server(&mock, dir.path(), "  max_failures_per_peer_per_second: 3\n");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = server.url();
        tasks.push(tokio::spawn(async move {
            let ch = Channel::from_shared(url).unwrap().connect().await.unwrap();
            let mut c = VibectlLlmProxyClient::new(ch);
            for _ in 0..CALLS / 4 {
                let r = c
                    .get_server_info(with_auth(GetServerInfoRequest {}, Some("Bearer nope")))
                    .await;
                assert_eq!(r.unwrap_err().code(), tonic::Code::Unauthenticated);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let elapsed = started.elapsed();
    let audit = dir.path().join("audit.log");
    // The last window ends a second after the flood; its count follows within the sweep.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (failed, suppressed) = loop {
        let all = lines(&audit);
        let failed = all.iter().filter(|l| l["event"] == "auth_failed").count();
        let suppressed: Vec<&serde_json::Value> = all
            .iter()
            .filter(|l| l["event"] == "audit_suppressed")
            .collect();
        let total: u64 = suppressed
            .iter()
            .map(|l| l["suppressed"].as_u64().unwrap())
            .sum();
        if failed as u64 + total == CALLS as u64 {
            break (failed, suppressed.len());
        }
        assert!(
            Instant::now() < deadline,
            "{failed} lines + {total} suppressed != {CALLS} calls"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // 3 lines per started second of the flood, and one suppressed line per window.
    let windows = elapsed.as_secs() as usize + 1;
    assert!(
        failed <= 3 * windows,
        "{failed} failure lines in {elapsed:?}"
    );
    assert!(suppressed >= 1 && suppressed <= windows);
    let all = lines(&audit);
    let s = all
        .iter()
        .find(|l| l["event"] == "audit_suppressed")
        .unwrap();
    assert_eq!(s["peer"], "127.0.0.1");
    assert!(s["reason"]
        .as_str()
        .unwrap()
        .contains("audit.max_failures_per_peer_per_second"));
}

/// Authenticated calls (never aggregated) fill the log past `max_file_bytes` several times:
/// `keep_files` rotated files remain beside the live one, each within the size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_log_rotates_and_keeps_the_configured_number_of_files() {
    let mock = MockProvider::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let server = auth_server(
        &mock,
        dir.path(),
        "  max_file_bytes: 65536\n  keep_files: 2\n",
    );
    let n = crate::secure::now();
    let token = crate::secure::mint(
        &serde_json::json!({"sub": "rotator", "iss": "vibectl-server", "iat": n, "exp": n + 3600,
            "jti": "rotation-test"}),
        jsonwebtoken::Algorithm::HS256,
        SECRET.as_bytes(),
        None,
    );
    let header = bearer(&token);
    let mut tasks = Vec::new();
    // ~200 bytes a line: 2000 lines are six files' worth.
    for _ in 0..4 {
        let (url, header) = (server.url(), header.clone());
        tasks.push(tokio::spawn(async move {
            let ch = Channel::from_shared(url).unwrap().connect().await.unwrap();
            let mut c = VibectlLlmProxyClient::new(ch);
            for _ in 0..500 {
                c.get_server_info(with_auth(GetServerInfoRequest {}, Some(&header)))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let live = dir.path().join("audit.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("audit.log"))
            .collect();
        names.sort();
        let lines_ok: usize = names
            .iter()
            .map(|n| {
                lines(&dir.path().join(n))
                    .iter()
                    .filter(|l| l["event"] == "auth_ok")
                    .count()
            })
            .sum();
        // Rotated-away lines are gone; the kept ones are all there once the writer flushed.
        if names == ["audit.log", "audit.log.1", "audit.log.2"] && lines_ok > 500 {
            for n in &names {
                let len = std::fs::metadata(dir.path().join(n)).unwrap().len();
                assert!(len <= 65536, "{n} is {len} bytes");
            }
            break;
        }
        assert!(Instant::now() < deadline, "audit files: {names:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(lines(&live).iter().all(|l| l["event"] == "auth_ok"));
}
