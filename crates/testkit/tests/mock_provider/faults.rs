//! Error faults and authentication.

use serde_json::Value;
use vibectl_testkit::{Fault, MockProvider, MockReply};

use super::support::*;

async fn oa_error(m: &MockProvider, fault: Fault) -> (u16, Option<String>, Value) {
    m.push_reply(MockReply::failing(fault));
    let resp = openai(m, &client(), oa_body(true)).send().await.unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, resp.json().await.unwrap())
}

async fn an_error(m: &MockProvider, fault: Fault) -> (u16, Option<String>, Value) {
    m.push_reply(MockReply::failing(fault));
    let resp = anthropic(m, &client(), an_body(false))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, resp.json().await.unwrap())
}

#[tokio::test]
async fn openai_error_faults() {
    let m = mock().await;
    let (s, r, v) = oa_error(
        &m,
        Fault::RateLimited {
            retry_after_secs: 7,
        },
    )
    .await;
    assert_eq!((s, r.as_deref()), (429, Some("7")));
    assert_eq!(v["error"]["code"], "rate_limit_exceeded");
    assert_eq!(v["error"]["param"], Value::Null);
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("Rate limit"));
    let (s, r, v) = oa_error(&m, Fault::ServerError).await;
    assert_eq!((s, r), (500, None));
    assert_eq!(v["error"]["type"], "server_error");
    let (s, _, v) = oa_error(&m, Fault::Overloaded).await;
    assert_eq!(s, 503);
    assert_eq!(v["error"]["type"], "server_error");
    let (s, _, v) = oa_error(&m, Fault::AuthFailed).await;
    assert_eq!(s, 401);
    assert_eq!(v["error"]["code"], "invalid_api_key");
    let (s, _, v) = oa_error(&m, Fault::ContextLengthExceeded).await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["code"], "context_length_exceeded");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let keys: Vec<&String> = v["error"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["code", "message", "param", "type"]);
}

#[tokio::test]
async fn anthropic_error_faults() {
    let m = mock().await;
    let cases = [
        (
            Fault::RateLimited {
                retry_after_secs: 3,
            },
            429,
            "rate_limit_error",
        ),
        (Fault::ServerError, 500, "api_error"),
        (Fault::Overloaded, 529, "overloaded_error"),
        (Fault::AuthFailed, 401, "authentication_error"),
        (Fault::ContextLengthExceeded, 400, "invalid_request_error"),
    ];
    for (fault, status, kind) in cases {
        let rate_limited = matches!(fault, Fault::RateLimited { .. });
        let (s, r, v) = an_error(&m, fault).await;
        assert_eq!(s, status);
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], kind);
        assert!(v["error"]["message"].is_string());
        assert_eq!(r.as_deref(), rate_limited.then_some("3"));
        if status == 400 {
            assert_eq!(
                v["error"]["message"],
                "prompt is too long: 250000 tokens > 200000 maximum"
            );
        }
    }
}

#[tokio::test]
async fn wrong_or_missing_key_is_rejected_without_consuming_the_script() {
    let m = mock().await;
    let c = client();
    m.push_reply(MockReply::text("scripted"));
    let url = format!("{}/chat/completions", m.openai_base_url());
    let resp = c
        .post(&url)
        .bearer_auth("nope")
        .json(&oa_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key");
    let resp = c.post(&url).json(&oa_body(false)).send().await.unwrap();
    assert_eq!(resp.status(), 401);

    let url = format!("{}/v1/messages", m.anthropic_base_url());
    let resp = c
        .post(&url)
        .header("x-api-key", "nope")
        .header("anthropic-version", "2023-06-01")
        .json(&an_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "authentication_error");
    // The OpenAI header does not authenticate an Anthropic request.
    let resp = c
        .post(&url)
        .bearer_auth("test-key")
        .header("anthropic-version", "2023-06-01")
        .json(&an_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(m.pending_replies(), 1);

    m.set_api_key("sk-new");
    let resp = c
        .post(&url)
        .header("x-api-key", "sk-new")
        .header("anthropic-version", "2023-06-01")
        .json(&an_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["content"][0]["text"], "scripted");
    assert_eq!(
        anthropic(&m, &c, an_body(false))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn anthropic_requires_version_header_and_json() {
    let m = mock().await;
    let resp = client()
        .post(format!("{}/v1/messages", m.anthropic_base_url()))
        .header("x-api-key", "test-key")
        .json(&an_body(false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let resp = client()
        .post(format!("{}/v1/messages", m.anthropic_base_url()))
        .header("x-api-key", "test-key")
        .header("anthropic-version", "2023-06-01")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}
