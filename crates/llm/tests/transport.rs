//! Provider calls against raw TCP servers that misbehave at the transport level.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use vibectl_llm::http::{http_client, http_client_with, HttpClient, RetryPolicy, Timeouts};
use vibectl_llm::openai::OpenAiProvider;
use vibectl_llm::{CompletionRequest, ErrorCode, Provider};

fn request() -> CompletionRequest {
    CompletionRequest {
        model: "m".into(),
        user: vec!["hi".into()],
        max_output_tokens: 10,
        ..Default::default()
    }
}

/// Reads one request's head (and ignores its body).
async fn read_head(sock: &mut TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Serves every connection on 127.0.0.1 with `handle`; each handler's end is reported on the
/// returned channel.
async fn serve<F, Fut>(handle: F) -> (SocketAddr, mpsc::UnboundedReceiver<()>)
where
    F: Fn(TcpStream) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (done, ended) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let done = done.clone();
            let fut = handle(sock);
            tokio::spawn(async move {
                fut.await;
                let _ = done.send(());
            });
        }
    });
    (addr, ended)
}

fn openai(base_url: &str, retry: RetryPolicy) -> OpenAiProvider {
    OpenAiProvider::openai(http_client().unwrap(), base_url, None, retry, true).unwrap()
}

#[tokio::test]
async fn endless_error_body_is_read_only_up_to_a_bound() {
    let (addr, mut ended) = serve(|mut sock| async move {
        read_head(&mut sock).await;
        let head = "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        if sock.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("{:x}\r\n{}\r\n", 8192, "x".repeat(8192));
        // Never ends: only the client hanging up stops it.
        while sock.write_all(chunk.as_bytes()).await.is_ok() {}
    })
    .await;
    let provider = openai(&format!("http://{addr}/v1"), RetryPolicy::none());
    let started = Instant::now();
    let err = tokio::time::timeout(Duration::from_secs(20), provider.complete(&request()))
        .await
        .expect("the call returns although the error body never ends")
        .expect_err("HTTP 500");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.code(), ErrorCode::ProviderUnavailable, "{err}");
    assert!(
        err.to_string()
            .starts_with("provider unavailable: HTTP 500: xxx"),
        "{err}"
    );
    assert!(
        err.to_string().len() <= 65 * 1024,
        "{}",
        err.to_string().len()
    );
    // We hung up rather than keep draining the body.
    tokio::time::timeout(Duration::from_secs(10), ended.recv())
        .await
        .expect("the server saw the connection close");
}

/// A successful answer that never ends is refused at the bound, not buffered whole.
#[tokio::test]
async fn endless_answer_body_is_refused_at_a_bound() {
    let (addr, mut ended) = serve(|mut sock| async move {
        read_head(&mut sock).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        if sock.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("{:x}\r\n{}\r\n", 65536, " ".repeat(65536));
        while sock.write_all(chunk.as_bytes()).await.is_ok() {}
    })
    .await;
    let provider = openai(&format!("http://{addr}/v1"), RetryPolicy::none());
    let err = tokio::time::timeout(Duration::from_secs(60), provider.complete(&request()))
        .await
        .expect("the call returns although the body never ends")
        .expect_err("too big");
    assert_eq!(err.code(), ErrorCode::ExecutionFailed, "{err}");
    let msg = err.to_string();
    assert!(msg.contains("over the limit of 16777216"), "{msg}");
    tokio::time::timeout(Duration::from_secs(10), ended.recv())
        .await
        .expect("we hung up");

    // A content-length over the bound is refused before any of the body is read.
    let (addr, _ended) = serve(|mut sock| async move {
        read_head(&mut sock).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                    content-length: 999999999999\r\n\r\n{";
        let _ = sock.write_all(head.as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(30)).await;
    })
    .await;
    let provider = openai(&format!("http://{addr}/v1"), RetryPolicy::none());
    let err = tokio::time::timeout(Duration::from_secs(10), provider.complete(&request()))
        .await
        .expect("refused at once")
        .expect_err("too big");
    assert!(err.to_string().contains("999999999999 bytes"), "{err}");
}

/// A client with the given timeouts.
fn client_with(connect: Duration, request: Option<Duration>) -> HttpClient {
    http_client_with(Timeouts { connect, request }).unwrap()
}

const OK_ANSWER: &str = r#"{"choices":[{"message":{"content":"ok"}}]}"#;

async fn answer_ok(mut sock: TcpStream) {
    read_head(&mut sock).await;
    let resp = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{OK_ANSWER}",
        OK_ANSWER.len()
    );
    let _ = sock.write_all(resp.as_bytes()).await;
    let _ = sock.shutdown().await;
}

#[tokio::test]
async fn request_timeout_names_the_configured_duration() {
    // Accepts and reads the request, then never answers.
    let (addr, _ended) = serve(|mut sock| async move {
        read_head(&mut sock).await;
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(sock);
    })
    .await;
    let client = client_with(Duration::from_secs(10), Some(Duration::from_millis(300)));
    let provider = OpenAiProvider::openai(
        client,
        &format!("http://{addr}/v1"),
        None,
        RetryPolicy::none(),
        true,
    )
    .unwrap();
    let started = Instant::now();
    let err = provider.complete(&request()).await.expect_err("no answer");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(err.code(), ErrorCode::Timeout, "{err}");
    assert!(err.to_string().contains("300ms"), "{err}");
}

/// A listener whose accept queue (backlog 0) is full, so further SYNs are dropped and connects
/// hang until they time out; `free` accepts the queued connection and then serves every later
/// one with `answer_ok`. Stays on 127.0.0.1.
async fn saturated_listener() -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    // Fill the queue; further connects are left hanging (hence the timeouts).
    let mut fillers = Vec::new();
    for _ in 0..4 {
        match tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            Ok(Ok(s)) => fillers.push(s),
            _ => break,
        }
    }
    let (free, freed) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = freed.await;
        drop(fillers);
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(answer_ok(sock));
        }
    });
    (addr, free)
}

#[tokio::test]
async fn connect_timeout_is_a_connect_failure_and_retried() {
    let (addr, free) = saturated_listener().await;
    let client = client_with(Duration::from_millis(250), None);
    let retry = RetryPolicy {
        max_retries: 6,
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(200),
    };
    let provider =
        OpenAiProvider::openai(client, &format!("http://{addr}/v1"), None, retry, true).unwrap();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let _ = free.send(());
    });
    let done = tokio::time::timeout(Duration::from_secs(20), provider.complete(&request()))
        .await
        .expect("within the retries")
        .expect("a retry got through once the queue had room");
    assert_eq!(done.text, "ok");
    assert!(done.retry_count > 0, "{}", done.retry_count);
}

#[tokio::test]
async fn connect_timeout_without_retries_is_provider_unavailable() {
    let (addr, _free) = saturated_listener().await;
    let client = client_with(Duration::from_millis(200), None);
    let provider = OpenAiProvider::openai(
        client,
        &format!("http://{addr}/v1"),
        None,
        RetryPolicy::none(),
        true,
    )
    .unwrap();
    let started = Instant::now();
    let err = provider
        .complete(&request())
        .await
        .expect_err("cannot connect");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.code(), ErrorCode::ProviderUnavailable, "{err}");
    assert!(err.to_string().contains("200ms"), "{err}");
}

#[tokio::test]
async fn request_timeout_mid_stream_names_the_configured_duration() {
    use futures::StreamExt;
    // One chunk of text, then silence.
    let (addr, _ended) = serve(|mut sock| async move {
        read_head(&mut sock).await;
        let event = "data: {\"choices\":[{\"delta\":{\"content\":\"hel\"}}]}\n\n";
        let resp = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
             transfer-encoding: chunked\r\n\r\n{:x}\r\n{event}\r\n",
            event.len()
        );
        let _ = sock.write_all(resp.as_bytes()).await;
        tokio::time::sleep(Duration::from_secs(3600)).await;
    })
    .await;
    let client = client_with(Duration::from_secs(10), Some(Duration::from_millis(400)));
    let provider = OpenAiProvider::openai(
        client,
        &format!("http://{addr}/v1"),
        None,
        RetryPolicy::none(),
        true,
    )
    .unwrap();
    let mut stream = provider.stream(&request()).await.unwrap().events;
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first, vibectl_llm::StreamEvent::Text("hel".into()));
    let err = tokio::time::timeout(Duration::from_secs(5), stream.next())
        .await
        .expect("the request timeout ends the stream")
        .unwrap()
        .expect_err("timed out");
    assert_eq!(err.code(), ErrorCode::Timeout, "{err}");
    assert!(err.to_string().contains("400ms"), "{err}");
}

#[tokio::test]
async fn connect_failure_tells_callers_nothing_about_the_base_url() {
    // A port nothing listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let base = format!("http://127.0.0.1:{port}/secret-internal-path");
    let provider = openai(&base, RetryPolicy::none());
    let err = provider
        .complete(&request())
        .await
        .expect_err("nothing listens");
    assert_eq!(err.code(), ErrorCode::ProviderUnavailable, "{err}");
    let caller = err.to_string();
    assert!(
        caller.starts_with("provider unavailable: cannot connect"),
        "{caller}"
    );
    for leak in [
        "127.0.0.1",
        &port.to_string(),
        "secret-internal-path",
        "http",
    ] {
        assert!(!caller.contains(leak), "`{leak}` in {caller}");
    }
    // Logs keep the whole story.
    let log = err.log_detail();
    assert!(
        log.starts_with("provider unavailable: cannot connect"),
        "{log}"
    );
    assert!(log.contains(&format!("127.0.0.1:{port}")), "{log}");
    assert!(
        log.contains("/secret-internal-path/chat/completions"),
        "{log}"
    );
    assert!(log.contains("Connection refused"), "{log}");
}

/// A pass-through stream whose provider never ends an event is stopped at the event bound
/// (the same bound as a decoded stream), not buffered without end.
#[tokio::test]
async fn passthrough_stream_with_an_endless_event_is_stopped_at_the_bound() {
    use futures::StreamExt;
    use vibectl_llm::passthrough::RawEndpoint;
    use vibectl_llm::sse::MAX_SSE_EVENT_BYTES;
    use vibectl_llm::{ProviderSettings, WireFormat};

    let (addr, mut ended) = serve(|mut sock| async move {
        read_head(&mut sock).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
                    transfer-encoding: chunked\r\n\r\n";
        let first = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: ";
        let start = format!("{head}{:x}\r\n{first}\r\n", first.len());
        if sock.write_all(start.as_bytes()).await.is_err() {
            return;
        }
        let chunk = format!("{:x}\r\n{}\r\n", 65536, "x".repeat(65536));
        while sock.write_all(chunk.as_bytes()).await.is_ok() {}
    })
    .await;
    let settings = ProviderSettings {
        name: "openai".into(),
        wire: WireFormat::Openai,
        base_url: format!("http://{addr}/v1"),
        api_key: None,
        retry: RetryPolicy::none(),
    };
    let raw = RawEndpoint::new(&settings, http_client().unwrap()).unwrap();
    let body = bytes::Bytes::from_static(br#"{"model":"m","stream":true,"messages":[]}"#);
    let stream = raw
        .stream(body, &reqwest::header::HeaderMap::new())
        .await
        .unwrap();
    let items: Vec<_> = tokio::time::timeout(Duration::from_secs(60), stream.events.collect())
        .await
        .expect("the stream ends although the provider's event never does");
    assert_eq!(items.len(), 2, "the first event, then the error");
    assert_eq!(
        items[0].as_ref().unwrap().data,
        r#"{"choices":[{"delta":{"content":"hi"}}]}"#
    );
    let err = items[1].as_ref().unwrap_err();
    assert_eq!(err.code(), ErrorCode::ExecutionFailed, "{err}");
    assert!(
        err.to_string()
            .contains(&format!("over {MAX_SSE_EVENT_BYTES} bytes")),
        "{err}"
    );
    tokio::time::timeout(Duration::from_secs(10), ended.recv())
        .await
        .expect("we hung up");
}
