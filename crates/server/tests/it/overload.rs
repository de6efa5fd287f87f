//! Connections and overload against the real binary: an idle-connection flood, calls beyond the
//! in-flight cap to a stalled provider, the handshake deadline (plaintext and TLS), keep-alive
//! pings that drop dead peers, the cap on open connections; and the shed layer in-process.
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::transport::Channel;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_health::pb::HealthCheckRequest;
use vibectl_proto::vibectl_llm_proxy_client::VibectlLlmProxyClient;
use vibectl_testkit::{MockProvider, MockReply, ServerProcess};

use crate::common::{config_for, request, server_bin, success};

/// The HTTP/2 client preface.
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame.
const EMPTY_SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

/// Open file descriptors of `pid`.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Resident set size of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Connections in the kernel's accept queue of the listener on `port` (`/proc/net/tcp`, the
/// `rx_queue` of the LISTEN socket).
fn accept_queue(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let local_port = u16::from_str_radix(f.get(1)?.rsplit(':').next()?, 16).ok()?;
            let listening = *f.get(3)? == "0A";
            let rx = usize::from_str_radix(f.get(4)?.split(':').nth(1)?, 16).ok()?;
            (listening && local_port == port).then_some(rx)
        })
        .sum()
}

/// A free TCP port (for the metrics listener).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `/metrics` on `port`.
fn scrape(port: u16) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.contains(" 200 "), "{out}");
    out
}

/// The value of the sample `name{labels}` in a scrape.
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

async fn health(url: &str) -> ServingStatus {
    let ch = Channel::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let resp = HealthClient::new(ch)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();
    resp.into_inner().status()
}

/// A separate process holding `n` idle TCP connections to `addr` (so their descriptors count
/// against its open-file limit, not this test binary's); prints how many it holds.
struct Holder {
    child: Child,
    held: usize,
}

/// Connects from 200 loopback source addresses (`127.0.<net>.1-200`, ports chosen at connect
/// with IP_BIND_ADDRESS_NO_PORT): 20,000 connections from one source address to one port make
/// the kernel's ephemeral-port search crawl (80 s here instead of 5 s).
const HOLDER: &str = r#"
import socket, sys
n, host, port, net = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
IP_BIND_ADDRESS_NO_PORT = 24
held = []
for i in range(n):
    s = socket.socket()
    s.settimeout(10)
    s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
    try:
        s.bind(("127.0.%d.%d" % (net, 1 + i % 200), 0))
        s.connect((host, port))
    except OSError:
        break
    held.append(s)
print("held", len(held), flush=True)
sys.stdin.read()
"#;

impl Holder {
    fn start(n: usize, addr: SocketAddr, net: u8) -> Holder {
        let mut child = Command::new("python3")
            .args(["-c", HOLDER, &n.to_string(), &addr.ip().to_string()])
            .args([addr.port().to_string(), net.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 (scripts/test-deps.sh installs it)");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let held = line
            .trim()
            .strip_prefix("held ")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("holder said {line:?}"));
        Holder { child, held }
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// 20,000 connections that never send a byte, from two processes (each process may hold
/// 20,000 descriptors here, so one process could not hold them all with its own). The server
/// keeps answering at once and its descriptors stay far under `max_open`: the silent
/// connections are closed oldest first as the pending pool fills.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_connection_flood_leaves_the_server_answering_with_its_fds_under_the_cap() {
    let mock = MockProvider::start().await.unwrap();
    let cfg = config_for(&mock, "", "");
    let server = ServerProcess::spawn(&server_bin(), &cfg, &[], &[]).expect("server starts");
    let pid = server.pid();
    let max_open = 15_000; // the default of server.connections.max_open
    let max_pending = 4096; // the default of server.connections.max_pending

    // The most descriptors the server held at any sample during the flood.
    let peak = Arc::new(AtomicUsize::new(0));
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = std::thread::spawn({
        let (peak, sampling) = (Arc::clone(&peak), Arc::clone(&sampling));
        move || {
            while sampling.load(Ordering::Relaxed) {
                peak.fetch_max(fd_count(pid), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    });
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Holder::start(10_000, server.addr, 1));
        let b = s.spawn(|| Holder::start(10_000, server.addr, 2));
        (a.join().unwrap(), b.join().unwrap())
    });
    let held = a.held + b.held;
    assert!(held >= 19_900, "only {held} connections could be opened");

    // The flood is open: once the server has taken what the kernel queued for it, the
    // connections beyond the pending pool are closed, oldest first.
    let deadline = Instant::now() + Duration::from_secs(20);
    while accept_queue(server.addr.port()) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut fds = fd_count(pid);
    while fds >= max_pending + 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        fds = fd_count(pid);
    }
    assert!(
        fds < max_pending + 200,
        "{fds} fds: the silent connections beyond the pending pool should have been closed"
    );
    // A normal call on a new connection is answered within a second.
    let answered = tokio::time::timeout(Duration::from_secs(1), async {
        let mut c = VibectlLlmProxyClient::connect(server.url()).await.unwrap();
        c.execute(request(Some("gpt-4o"), "ping")).await.unwrap()
    })
    .await
    .expect("a normal call is answered within a second during the flood");
    success(answered.get_ref());
    sampling.store(false, Ordering::Relaxed);
    sampler.join().unwrap();
    let peak = peak.load(Ordering::Relaxed);
    assert!(
        peak < max_open,
        "{peak} fds open at the peak, over max_open {max_open}"
    );
    drop((a, b));
}

/// 10,000 calls at once to a provider that never answers: `max_calls_in_flight` (the default,
/// 2048) reach the provider, every other call is shed at once with `limit-type: overload` and
/// a retry hint, health and `/metrics` keep answering, and RSS stays under 300 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_beyond_the_in_flight_cap_are_shed_at_once_and_rss_stays_bounded() {
    const CALLS: usize = 10_000;
    const CAP: usize = 2048;
    let mock = MockProvider::start().await.unwrap();
    mock.set_recording(false);
    mock.set_default_reply(MockReply::text("late").latency(Duration::from_secs(600)));
    let metrics = free_port();
    let cfg = config_for(&mock, "", "");
    let server = ServerProcess::spawn(
        &server_bin(),
        &cfg,
        &["--metrics-port", &metrics.to_string()],
        &[],
    )
    .expect("server starts");
    let pid = server.pid();

    // 50 connections of 200 streams each: under max_streams (256), so every call reaches the
    // server instead of queueing in the client.
    let mut clients = Vec::new();
    for _ in 0..50 {
        let ch = Channel::from_shared(server.url())
            .unwrap()
            .connect()
            .await
            .unwrap();
        clients.push(VibectlLlmProxyClient::new(ch));
    }
    let shed = Arc::new(AtomicUsize::new(0));
    let other = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut tasks = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let mut c = clients[i % clients.len()].clone();
        let (shed, other) = (Arc::clone(&shed), Arc::clone(&other));
        tasks.push(tokio::spawn(async move {
            match c.execute(request(Some("gpt-4o"), "stall")).await {
                Err(s)
                    if s.code() == Code::ResourceExhausted
                        && s.metadata()
                            .get("limit-type")
                            .is_some_and(|v| v == "overload")
                        && s.metadata().get("retry-after-ms").is_some() =>
                {
                    shed.fetch_add(1, Ordering::Relaxed);
                }
                r => other.lock().unwrap().push(format!("{r:?}")),
            }
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while (shed.load(Ordering::Relaxed) < CALLS - CAP || mock.request_count() < CAP)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        shed.load(Ordering::Relaxed),
        CALLS - CAP,
        "other outcomes: {:?}",
        other.lock().unwrap().iter().take(3).collect::<Vec<_>>()
    );
    assert_eq!(mock.request_count(), CAP, "calls that reached the provider");
    assert!(other.lock().unwrap().is_empty());

    // While shedding: a new call is shed at once, health answers, /metrics answers.
    let mut fresh = VibectlLlmProxyClient::connect(server.url()).await.unwrap();
    let s = fresh
        .execute(request(Some("gpt-4o"), "one more"))
        .await
        .unwrap_err();
    assert_eq!(s.code(), Code::ResourceExhausted);
    assert!(s.message().contains("server.max_calls_in_flight"), "{s:?}");
    assert_eq!(health(&server.url()).await, ServingStatus::Serving);
    let text = scrape(metrics);
    assert_eq!(
        sample(&text, "vibectl_refusals_total{limit_type=\"overload\"}"),
        (CALLS - CAP + 1) as f64
    );
    let rss = rss_kib(pid);
    assert!(
        rss < 300 * 1024,
        "RSS {} MiB with {CAP} calls in flight",
        rss / 1024
    );
    for t in tasks {
        t.abort();
    }
}

/// A plaintext connection that never sends the HTTP/2 preface is closed after
/// `handshake_timeout_seconds`; one that sent it stays open past that time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_without_its_preface_is_closed_after_the_timeout() {
    let mock = MockProvider::start().await.unwrap();
    let cfg = config_for(
        &mock,
        "  connections:\n    handshake_timeout_seconds: 1\n",
        "",
    );
    let server = ServerProcess::spawn(&server_bin(), &cfg, &[], &[]).expect("server starts");
    let addr = server.addr;
    let (silent, talking) = tokio::task::spawn_blocking(move || {
        let silent = std::net::TcpStream::connect(addr).unwrap();
        let mut talking = std::net::TcpStream::connect(addr).unwrap();
        talking.write_all(PREFACE).unwrap();
        talking.write_all(&EMPTY_SETTINGS).unwrap();
        (silent, talking)
    })
    .await
    .unwrap();
    let started = Instant::now();
    let closed = tokio::task::spawn_blocking(move || read_until_closed(silent))
        .await
        .unwrap();
    assert!(closed, "the silent connection was not closed");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // The talking one is still open well past the timeout.
    std::thread::sleep(Duration::from_millis(1500));
    talking
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut t = talking;
    loop {
        match t.read(&mut buf) {
            Ok(0) => panic!("the connection that sent its preface was closed"),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break,
            Err(e) => panic!("read: {e}"),
        }
    }
}

/// Reads (discarding) until the peer closes; false if it is still open after 15 s.
fn read_until_closed(mut s: std::net::TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// A peer that completed the preface but answers no PING is closed by the keep-alive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalive_pings_drop_a_dead_peer() {
    let mock = MockProvider::start().await.unwrap();
    let cfg = config_for(
        &mock,
        "  connections:\n    keepalive_interval_seconds: 1\n    keepalive_timeout_seconds: 1\n",
        "",
    );
    let server = ServerProcess::spawn(&server_bin(), &cfg, &[], &[]).expect("server starts");
    let addr = server.addr;
    let frames = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(PREFACE).unwrap();
        s.write_all(&EMPTY_SETTINGS).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return Some(all),
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Some(all),
                Err(_) => return None,
            }
        }
    })
    .await
    .unwrap()
    .expect("the dead peer was not dropped");
    // Frame types the server sent: SETTINGS (4), then a PING (6) without ACK, then GOAWAY (7).
    let mut types = Vec::new();
    let mut at = 0;
    while at + 9 <= frames.len() {
        let len = (usize::from(frames[at]) << 16)
            | (usize::from(frames[at + 1]) << 8)
            | usize::from(frames[at + 2]);
        types.push((frames[at + 3], frames[at + 4]));
        at += 9 + len;
    }
    assert!(types.contains(&(6, 0)), "no PING sent: {types:?}");
}

/// A TLS client that sends part of a ClientHello and stalls is dropped at the deadline, and the
/// audit log says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_client_stalled_in_the_handshake_is_dropped_and_audited() {
    let mock = MockProvider::start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.log");
    let cfg = format!(
        "{}jwt:\n  secret_key: {}\ntls:\n  auto: true\naudit:\n  path: {}\n",
        config_for(
            &mock,
            "  require_auth: true\n  connections:\n    handshake_timeout_seconds: 1\n",
            ""
        ),
        crate::secure::SECRET,
        audit.display()
    );
    let server = ServerProcess::spawn(&server_bin(), &cfg, &[], &[]).expect("server starts");
    assert!(server.tls);
    let addr = server.addr;
    let closed = tokio::task::spawn_blocking(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        // A TLS handshake record header announcing 512 bytes, then 5 of them.
        s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03])
            .unwrap();
        read_until_closed(s)
    })
    .await
    .unwrap();
    assert!(closed, "the stalled TLS client was not dropped");
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = std::fs::read_to_string(&audit).unwrap_or_default();
        if text.lines().any(|l| {
            l.contains("\"tls_failed\"")
                && l.contains("server.connections.handshake_timeout_seconds")
        }) {
            break;
        }
        assert!(Instant::now() < deadline, "no tls_failed line: {text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// With every slot held by a connection past its handshake, a new connection is closed at
/// once; when one closes, the next is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_max_open_a_new_connection_is_refused_until_one_closes() {
    let mock = MockProvider::start().await.unwrap();
    let cfg = config_for(
        &mock,
        "  connections:\n    max_open: 3\n    max_pending: 3\n",
        "",
    );
    let server = ServerProcess::spawn(&server_bin(), &cfg, &[], &[]).expect("server starts");
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = VibectlLlmProxyClient::connect(server.url()).await.unwrap();
        c.execute(request(Some("gpt-4o"), "hold")).await.unwrap();
        held.push(c);
    }
    let refused = async {
        let mut c = VibectlLlmProxyClient::connect(server.url()).await?;
        c.execute(request(Some("gpt-4o"), "fourth"))
            .await
            .map_err(|s| Box::new(s) as Box<dyn std::error::Error>)?;
        Ok::<_, Box<dyn std::error::Error>>(())
    };
    let refused = tokio::time::timeout(Duration::from_secs(10), refused)
        .await
        .expect("refused at once, not left waiting");
    assert!(refused.is_err(), "a fourth connection was served");
    held.pop();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let attempt = async {
            let mut c = VibectlLlmProxyClient::connect(server.url()).await.ok()?;
            c.execute(request(Some("gpt-4o"), "fourth")).await.ok()
        };
        if attempt.await.is_some() {
            break;
        }
        assert!(Instant::now() < deadline, "no slot freed after a close");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// In-process: a stream holds its slot until it ends, calls over the cap are shed, health is
/// exempt; after the stream goes, calls are served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_a_stream_holds_its_slot_and_health_is_exempt() {
    let mock = MockProvider::start().await.unwrap();
    mock.push_reply(
        MockReply::text("one two three four")
            .chunks(4)
            .chunk_interval(Duration::from_secs(30)),
    );
    let yaml = config_for(&mock, "  max_calls_in_flight: 1\n", "");
    let running = crate::in_process::serve(&yaml).await;
    let url = format!("http://{}", running.addr);
    let mut c = VibectlLlmProxyClient::connect(url.clone()).await.unwrap();
    let mut stream = c
        .stream_execute(request(Some("gpt-4o"), "long"))
        .await
        .unwrap()
        .into_inner();
    let first = stream.message().await.unwrap();
    assert!(first.is_some());
    let shed = c.execute(request(Some("gpt-4o"), "x")).await.unwrap_err();
    assert_eq!(shed.code(), Code::ResourceExhausted);
    assert_eq!(shed.metadata().get("limit-type").unwrap(), "overload");
    assert_eq!(health(&url).await, ServingStatus::Serving);
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match c.execute(request(Some("gpt-4o"), "x")).await {
            Ok(r) => {
                success(r.get_ref());
                break;
            }
            Err(s) => assert_eq!(s.code(), Code::ResourceExhausted),
        }
        assert!(Instant::now() < deadline, "the slot was never given back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.stop().await;
}

/// HTTP callers shed over the in-flight cap get their own API's overload error: OpenAI
/// `{"error":{...}}` with 503, Anthropic `{"type":"error","error":{"type":"overloaded_error"}}`
/// with 529, both with `retry-after`; the provider never sees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_process_shed_http_calls_get_their_apis_overload_error() {
    let mock = MockProvider::start().await.unwrap();
    mock.push_reply(
        MockReply::text("one two three four")
            .chunks(4)
            .chunk_interval(Duration::from_secs(30)),
    );
    let yaml = config_for(&mock, "  max_calls_in_flight: 1\n", "");
    let running = crate::in_process::serve(&yaml).await;
    let url = format!("http://{}", running.addr);
    let mut c = VibectlLlmProxyClient::connect(url.clone()).await.unwrap();
    let mut stream = c
        .stream_execute(request(Some("gpt-4o"), "long"))
        .await
        .unwrap()
        .into_inner();
    assert!(stream.message().await.unwrap().is_some());
    let reached = mock.request_count();
    let http = reqwest::Client::new();
    let post = |path: &str, anthropic: bool, body: serde_json::Value| {
        let mut req = http.post(format!("{url}{path}")).json(&body);
        if anthropic {
            req = req.header("anthropic-version", "2023-06-01");
        }
        req.send()
    };
    let msgs = serde_json::json!([{"role": "user", "content": "hi"}]);

    let r = post(
        "/v1/chat/completions",
        false,
        serde_json::json!({"model": "gpt-4o", "messages": msgs}),
    )
    .await
    .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert_eq!(r.headers()["retry-after"], "1");
    assert!(r.headers().contains_key("retry-after-ms"));
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"]["type"], "server_error", "{v}");
    assert!(v["error"].as_object().unwrap().contains_key("code"), "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("server.max_calls_in_flight"));
    assert!(v.get("type").is_none(), "not Anthropic's shape: {v}");

    for path in ["/v1/messages", "/v1/messages/count_tokens"] {
        let r = post(
            path,
            true,
            serde_json::json!({"model": "gpt-4o", "max_tokens": 10, "messages": msgs}),
        )
        .await
        .unwrap();
        assert_eq!(r.status().as_u16(), 529, "{path}");
        assert_eq!(r.headers()["retry-after"], "1");
        let v: serde_json::Value = r.json().await.unwrap();
        assert_eq!(v["type"], "error", "{v}");
        assert_eq!(v["error"]["type"], "overloaded_error", "{v}");
        assert!(v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("server.max_calls_in_flight"));
    }
    assert_eq!(
        mock.request_count(),
        reached,
        "a shed call reached the provider"
    );
    drop(stream);
    running.stop().await;
}
