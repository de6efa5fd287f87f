//! Stream faults (reset, malformed data, error events, stalls) and disconnect detection.

use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use vibectl_testkit::{Fault, MockReply};

use super::support::*;

/// Reads a streamed body chunk by chunk; returns the text received and the error, if any.
async fn read_stream(resp: reqwest::Response) -> (String, Option<reqwest::Error>) {
    let mut text = String::new();
    let mut s = resp.bytes_stream();
    while let Some(item) = s.next().await {
        match item {
            Ok(b) => text.push_str(std::str::from_utf8(&b).unwrap()),
            Err(e) => return (text, Some(e)),
        }
    }
    (text, None)
}

#[tokio::test]
async fn reset_mid_stream_surfaces_as_a_body_error() {
    let m = mock().await;
    m.push_reply(
        MockReply::text("a b c d e f")
            .chunks(6)
            .fault(Fault::ResetMidStream { after_chunks: 2 }),
    );
    let resp = anthropic(&m, &client(), an_body(true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (text, err) = read_stream(resp).await;
    let err = err.expect("the body must fail");
    assert!(err.is_body() || err.is_decode(), "{err:?}");
    let names: Vec<String> = parse_sse(&text).into_iter().map(|e| e.0).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta"
        ]
    );

    m.push_reply(MockReply::text("abc").fault(Fault::ResetMidStream { after_chunks: 1 }));
    let resp = openai(&m, &client(), oa_body(true)).send().await.unwrap();
    let (text, err) = read_stream(resp).await;
    assert!(err.is_some());
    assert_eq!(parse_sse(&text).len(), 2);
    // An injected reset is not a client disconnect.
    assert!(m.disconnects().is_empty());
}

#[tokio::test]
async fn reset_before_response_for_non_streaming() {
    let m = mock().await;
    m.push_reply(MockReply::failing(Fault::ResetMidStream {
        after_chunks: 0,
    }));
    let err = openai(&m, &client(), oa_body(false))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_request() || err.is_connect(), "{err:?}");
    assert_eq!(m.request_count(), 1, "the request must not be retried");
}

#[tokio::test]
async fn malformed_json_bodies_and_streams() {
    let m = mock().await;
    for is_openai in [true, false] {
        m.push_reply(MockReply::failing(Fault::MalformedJson));
        let req = if is_openai {
            openai(&m, &client(), oa_body(false))
        } else {
            anthropic(&m, &client(), an_body(false))
        };
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");
    }
    m.push_reply(MockReply::failing(Fault::MalformedJson));
    let text = openai(&m, &client(), oa_body(true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    assert!(serde_json::from_str::<Value>(&events[0].1).is_ok());
    assert!(serde_json::from_str::<Value>(&events[1].1).is_err());
    m.push_reply(MockReply::failing(Fault::MalformedJson));
    let text = anthropic(&m, &client(), an_body(true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    assert_eq!(events[3].0, "content_block_delta");
    assert!(serde_json::from_str::<Value>(&events[3].1).is_err());
}

#[tokio::test]
async fn error_event_mid_stream() {
    let m = mock().await;
    m.push_reply(MockReply::text("a b c d").fault(Fault::ErrorEventMidStream { after_chunks: 1 }));
    let text = anthropic(&m, &client(), an_body(true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    let last = events.last().unwrap();
    assert_eq!(last.0, "error");
    assert_eq!(
        data(last),
        json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e.0 == "content_block_delta")
            .count(),
        1
    );

    m.push_reply(MockReply::text("a b c d").fault(Fault::ErrorEventMidStream { after_chunks: 2 }));
    let text = openai(&m, &client(), oa_body(true))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = parse_sse(&text);
    assert_eq!(events.len(), 4, "role, 2 deltas, error; no [DONE]");
    assert_eq!(data(&events[3])["error"]["type"], "server_error");

    m.push_reply(MockReply::failing(Fault::ErrorEventMidStream {
        after_chunks: 0,
    }));
    let resp = openai(&m, &client(), oa_body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 500);
}

#[tokio::test]
async fn stall_never_answers_and_is_seen_as_a_disconnect() {
    let m = mock().await;
    m.push_reply(MockReply::failing(Fault::Stall));
    let err = openai(&m, &client(), oa_body(true))
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    let d = m
        .wait_for_disconnect(Duration::from_millis(500))
        .await
        .expect("disconnect");
    assert!(!d.streaming);
    assert_eq!(d.path, "/v1/chat/completions");
}

#[tokio::test]
async fn stall_mid_stream_then_client_gives_up() {
    let m = mock().await;
    m.push_reply(MockReply::text("a b c d").fault(Fault::StallMidStream { after_chunks: 2 }));
    let resp = anthropic(&m, &client(), an_body(true))
        .send()
        .await
        .unwrap();
    let mut s = resp.bytes_stream();
    let mut text = String::new();
    while parse_sse_partial(&text) < 5 {
        let b = tokio::time::timeout(Duration::from_secs(2), s.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        text.push_str(std::str::from_utf8(&b).unwrap());
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(200), s.next())
            .await
            .is_err(),
        "stalled"
    );
    assert_eq!(m.active_streams(), 1);
    drop(s);
    let d = m
        .wait_for_disconnect(Duration::from_millis(100))
        .await
        .expect("disconnect");
    assert!(d.streaming);
    assert_eq!(d.chunks_sent, 5);
    assert_eq!(m.active_streams(), 0);
}

fn parse_sse_partial(text: &str) -> usize {
    text.matches("\n\n").count()
}

#[tokio::test]
async fn client_dropping_a_stream_is_detected_quickly() {
    let m = mock().await;
    // A long pause between events: detection must not wait for the next write.
    m.push_reply(
        MockReply::text("a b c d e f g h")
            .chunks(8)
            .chunk_interval(Duration::from_millis(1500)),
    );
    let resp = openai(&m, &client(), oa_body(true)).send().await.unwrap();
    let mut s = resp.bytes_stream();
    let first = s.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"data: "));
    assert_eq!(m.active_streams(), 1);
    let dropped_at = Instant::now();
    drop(s);
    let d = m
        .wait_for_disconnect(Duration::from_millis(100))
        .await
        .expect("disconnect within 100 ms");
    assert!(d.at.duration_since(dropped_at) < Duration::from_millis(100));
    assert!(d.streaming);
    assert_eq!(d.path, "/v1/chat/completions");
    assert_eq!(d.chunks_sent, 1);
    assert!(d.bytes_sent >= first.len());
    assert_eq!(d.total_chunks, 11);
    assert_eq!(m.disconnects(), vec![d]);
    assert!(m
        .wait_for_disconnect(Duration::from_millis(20))
        .await
        .is_none());
    assert_eq!(m.active_streams(), 0);
}

#[tokio::test]
async fn shutdown_closes_everything() {
    let m = mock().await;
    m.set_default_reply(MockReply::failing(Fault::StallMidStream {
        after_chunks: 1,
    }));
    let resp = openai(&m, &client(), oa_body(true)).send().await.unwrap();
    assert_eq!(m.open_connections(), 1);
    let addr = m.addr();
    tokio::time::timeout(Duration::from_secs(2), m.shutdown())
        .await
        .unwrap();
    let (_, err) = read_stream(resp).await;
    assert!(err.is_some(), "the stalled stream is cut off");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
