//! `StreamExecute` end to end: chunk order, exact usage, mid-stream failures, cancellation.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::common;

use std::time::{Duration, Instant};

use common::*;
use vibectl_proto::stream_chunk::ChunkType;
use vibectl_proto::StreamChunk;
use vibectl_testkit::{Fault, MockReply, MockUsage};

/// Splits a stream into (text, kinds in order) where kinds are "text", "complete", "metrics", "error".
fn shape(chunks: &[StreamChunk]) -> (String, Vec<&'static str>) {
    let mut text = String::new();
    let mut kinds = Vec::new();
    for c in chunks {
        match c.chunk_type.as_ref().unwrap() {
            ChunkType::TextChunk(t) => {
                text.push_str(t);
                if kinds.last() != Some(&"text") {
                    kinds.push("text");
                }
            }
            ChunkType::Complete(_) => kinds.push("complete"),
            ChunkType::FinalMetrics(_) => kinds.push("metrics"),
            ChunkType::Error(_) => kinds.push("error"),
        }
    }
    (text, kinds)
}

fn final_metrics(chunks: &[StreamChunk]) -> &vibectl_proto::ExecutionMetrics {
    match chunks.last().unwrap().chunk_type.as_ref().unwrap() {
        ChunkType::FinalMetrics(m) => m,
        other => panic!("last chunk is {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn both_providers_stream_text_then_complete_then_exact_metrics() {
    let (mock, server) = start("", "").await;
    let mut c = client(&server).await;
    let usage = MockUsage {
        input_tokens: 1000,
        output_tokens: 200,
        cache_read_tokens: 5000,
        cache_write_tokens: 100,
    };
    let text = "one two three four five six seven eight";
    for (model, id, input, micro) in [
        // OpenAI ignores cache writes: 1000×2.5 + 200×10 + 5000×1.25
        ("gpt-4o", "openai/gpt-4o", 6000, 10_750),
        // 1000×3 + 200×15 + 100×3.75 + 5000×0.3
        (
            "claude-4-sonnet",
            "anthropic/claude-sonnet-4-0",
            6100,
            7_875,
        ),
    ] {
        mock.push_reply(MockReply::text(text).usage(usage).chunks(6));
        let mut req = request(Some(model), "count");
        req.request_id = format!("stream-{model}");
        let chunks = stream_all(&mut c, req).await;
        assert!(
            chunks.len() >= 6 + 2,
            "{model}: streamed in pieces: {chunks:?}"
        );
        assert!(chunks
            .iter()
            .all(|ch| ch.request_id == format!("stream-{model}")));
        let (got, kinds) = shape(&chunks);
        assert_eq!(got, text, "{model}");
        assert_eq!(kinds, ["text", "complete", "metrics"], "{model}");
        let ChunkType::Complete(done) = chunks[chunks.len() - 2].chunk_type.as_ref().unwrap()
        else {
            panic!("complete expected")
        };
        assert_eq!(done.actual_model_used, id);
        let m = final_metrics(&chunks);
        assert_eq!(m.input_tokens, Some(input), "{model}");
        assert_eq!(m.output_tokens, Some(200), "{model}");
        assert_eq!(m.total_tokens, Some(input + 200), "{model}");
        assert_eq!(micro_usd(m.cost_usd), micro, "{model}");
    }
    // The OpenAI stream asked for usage.
    let openai = mock
        .requests()
        .into_iter()
        .find(|r| r.path.contains("chat"))
        .unwrap();
    assert_eq!(openai.body["stream_options"]["include_usage"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn mid_stream_failures_send_one_error_and_never_repeat_text() {
    let (mock, server) = start(
        "  limits:\n    global:\n      request_timeout_seconds: 1\n",
        "    max_retries: 0\n",
    )
    .await;
    let mut c = client(&server).await;
    let text = "alpha beta gamma delta epsilon zeta";
    for model in ["gpt-4o", "claude-4-sonnet"] {
        for (fault, code) in [
            (
                Fault::ResetMidStream { after_chunks: 2 },
                "PROVIDER_UNAVAILABLE",
            ),
            (
                Fault::ErrorEventMidStream { after_chunks: 2 },
                "PROVIDER_UNAVAILABLE",
            ),
            (Fault::StallMidStream { after_chunks: 2 }, "TIMEOUT"),
        ] {
            mock.push_reply(MockReply::text(text).chunks(6).fault(fault.clone()));
            let chunks = stream_all(&mut c, request(Some(model), "go")).await;
            let (got, kinds) = shape(&chunks);
            assert_eq!(kinds, ["text", "error"], "{model} {fault:?}: {chunks:?}");
            assert!(
                text.starts_with(&got) && !got.is_empty(),
                "{model} {fault:?}: prefix, once: {got:?}"
            );
            let ChunkType::Error(e) = chunks.last().unwrap().chunk_type.as_ref().unwrap() else {
                unreachable!()
            };
            assert_eq!(e.error_code, code, "{model} {fault:?}");
        }
        // A failure before any text is a single error chunk.
        mock.push_reply(MockReply::text(text).fault(Fault::AuthFailed));
        let chunks = stream_all(&mut c, request(Some(model), "go")).await;
        assert_eq!(shape(&chunks).1, ["error"]);
    }
    // The server keeps serving.
    let chunks = stream_all(&mut c, request(Some("gpt-4o"), "again")).await;
    assert_eq!(shape(&chunks).1, ["text", "complete", "metrics"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn request_errors_arrive_as_a_single_error_chunk() {
    let (_mock, server) = start("", "").await;
    let mut c = client(&server).await;
    let chunks = stream_all(&mut c, request(Some("no-such-model"), "x")).await;
    assert_eq!(chunks.len(), 1);
    let ChunkType::Error(e) = chunks[0].chunk_type.as_ref().unwrap() else {
        panic!("error expected")
    };
    assert_eq!(e.error_code, "MODEL_NOT_FOUND");
    assert!(!chunks[0].request_id.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn structured_stream_is_validated_at_the_end() {
    let (mock, server) = start("", "").await;
    let mut c = client(&server).await;
    let schema = r#"{"type":"object","required":["ok"],"properties":{"ok":{"type":"boolean"}}}"#;
    for (answer, ok) in [(r#"{"ok": true}"#, true), (r#"{"ok": 3}"#, false)] {
        for model in ["gpt-4o", "claude-4-sonnet"] {
            mock.push_reply(MockReply::text(answer).chunks(3));
            let mut req = request(Some(model), "x");
            req.response_model_schema = Some(schema.into());
            let chunks = stream_all(&mut c, req).await;
            let (text, kinds) = shape(&chunks);
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                v,
                serde_json::from_str::<serde_json::Value>(answer).unwrap()
            );
            if ok {
                assert_eq!(kinds, ["text", "complete", "metrics"], "{model}");
            } else {
                assert_eq!(kinds, ["text", "error"], "{model}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn client_disconnect_cancels_the_upstream_request_quickly() {
    let (mock, server) = start("", "").await;
    for model in ["gpt-4o", "claude-4-sonnet"] {
        let mut c = client(&server).await;
        mock.push_reply(
            MockReply::text("a b c d e f g h i j k l m n o p")
                .chunks(16)
                .chunk_interval(Duration::from_millis(300)),
        );
        let mut s = c
            .stream_execute(request(Some(model), "slow"))
            .await
            .unwrap()
            .into_inner();
        let first = s.message().await.unwrap().unwrap();
        assert!(matches!(first.chunk_type, Some(ChunkType::TextChunk(_))));
        let dropped = Instant::now();
        // Only the call goes away; the connection stays open for other calls.
        drop(s);
        let d = mock
            .wait_for_disconnect(Duration::from_secs(2))
            .await
            .unwrap_or_else(|| panic!("{model}: upstream request was not cancelled"));
        let after = d.at.saturating_duration_since(dropped);
        assert!(d.streaming, "{model}");
        assert!(d.chunks_sent < d.total_chunks, "{model}: cut short");
        assert!(
            after < Duration::from_millis(100),
            "{model}: upstream cancelled {after:?} after the client left"
        );
    }
    assert_eq!(mock.active_streams(), 0);
    let mut c = client(&server).await;
    let resp = c
        .execute(request(Some("gpt-4o"), "still there?"))
        .await
        .unwrap();
    success(resp.get_ref());
}
