//! The built-in catalog through the real binary: the catalog default answers a call that names no
//! model, and its prices (cache reads and writes, long-context tiers) reach the metrics and ledger.
use vibectl_proto::GetServerInfoRequest;
use vibectl_testkit::{MockProvider, MockReply, MockUsage, ServerProcess};

use crate::common::{client, error, request, server_bin, success};
use crate::limits_common::usage_until;

/// A server whose only provider is OpenAI, its key from `OPENAI_API_KEY` alone, no `--model`.
fn openai_only(mock: &MockProvider) -> ServerProcess {
    let cfg = format!(
        "server:\n  host: 127.0.0.1\n  shutdown_grace_seconds: 5\nproviders:\n  openai:\n    base_url: {}\n",
        mock.openai_base_url()
    );
    ServerProcess::spawn(
        &server_bin(),
        &cfg,
        &[],
        &[("OPENAI_API_KEY", "sk-env-only")],
    )
    .expect("server starts")
}

#[tokio::test(flavor = "multi_thread")]
async fn only_an_openai_key_and_no_model_answers_with_the_catalog_default() {
    let mock = MockProvider::start().await.unwrap();
    mock.set_api_key("sk-env-only");
    let server = openai_only(&mock);
    let mut c = client(&server).await;

    let info = c
        .get_server_info(GetServerInfoRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(info.default_model, "openai/gpt-6.2-sol");
    assert!(
        info.available_models.iter().all(|m| m.provider == "openai"),
        "only the configured provider's models are offered"
    );

    // 1000 uncached + 4000 cached prompt tokens, 200 out: under the 272K long-context threshold.
    mock.push_reply(MockReply::text("pods are fine").usage(MockUsage {
        input_tokens: 1000,
        output_tokens: 200,
        cache_read_tokens: 4000,
        cache_write_tokens: 0,
    }));
    let resp = c
        .execute(request(None, "how are my pods?"))
        .await
        .unwrap()
        .into_inner();
    let ok = success(&resp);
    assert_eq!(ok.actual_model_used, "openai/gpt-6.2-sol");
    assert_eq!(ok.response_text, "pods are fine");
    let sent = mock.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].body["model"], "gpt-6.2-sol",
        "the upstream name is sent"
    );
    assert_eq!(sent[0].header("authorization"), Some("Bearer sk-env-only"));
    // $2/M input, $0.10/M cached input, $10/M output: 2000 + 400 + 2000 micro-USD.
    let m = ok.metrics.as_ref().unwrap();
    assert_eq!(
        m.input_tokens,
        Some(5000),
        "prompt tokens include the cached ones"
    );
    assert_eq!(m.cost_usd, Some(4_400_000_000.0 / 1e12));
    let v = usage_until(&server, &[], |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(v[0]["cost_pico_usd"], 4_400_000_000_u64);
    assert_eq!(v[0]["model"], "openai/gpt-6.2-sol");

    // A blank model name is the same as none.
    mock.push_reply(MockReply::text("ok"));
    let resp = c
        .execute(request(Some("  "), "again"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(success(&resp).actual_model_used, "openai/gpt-6.2-sol");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_long_prompt_with_cache_tokens_is_billed_at_the_long_context_tier() {
    let mock = MockProvider::start().await.unwrap();
    let server = ServerProcess::spawn(
        &server_bin(),
        &crate::common::config_for(&mock, "", ""),
        &[],
        &[],
    )
    .expect("server starts");
    let mut c = client(&server).await;
    // Claude Haiku 5.5: prompts over 100,000 tokens (cache writes and reads included) pay
    // $0.50 in / $2.50 out / $0.625 cache write / $0.05 cache read on every token.
    mock.push_reply(MockReply::text("long").usage(MockUsage {
        input_tokens: 50_000,
        output_tokens: 1_000,
        cache_write_tokens: 30_000,
        cache_read_tokens: 30_000,
    }));
    let resp = c
        .execute(request(Some("claude-haiku-5-5"), "summarise"))
        .await
        .unwrap()
        .into_inner();
    let ok = success(&resp);
    assert_eq!(ok.actual_model_used, "anthropic/claude-haiku-5-5");
    assert_eq!(mock.requests()[0].body["model"], "claude-haiku-5-5");
    // 50000*0.5 + 1000*2.5 + 30000*0.625 + 30000*0.05 = 25000 + 2500 + 18750 + 1500 micro-USD
    let expect_pico = 47_750_000_000_u64;
    let m = ok.metrics.as_ref().unwrap();
    assert_eq!(m.input_tokens, Some(110_000));
    assert_eq!(m.cost_usd, Some(expect_pico as f64 / 1e12));
    let v = usage_until(&server, &[], |v| {
        v.as_array().is_some_and(|a| !a.is_empty())
    });
    assert_eq!(v[0]["cost_pico_usd"], expect_pico);
}

#[tokio::test(flavor = "multi_thread")]
async fn with_both_keys_the_anthropic_default_wins_and_a_model_still_overrides() {
    let mock = MockProvider::start().await.unwrap();
    let server = ServerProcess::spawn(
        &server_bin(),
        &crate::common::config_for(&mock, "", ""),
        &[],
        &[],
    )
    .expect("server starts");
    let mut c = client(&server).await;
    let resp = c.execute(request(None, "x")).await.unwrap().into_inner();
    assert_eq!(
        success(&resp).actual_model_used,
        "anthropic/claude-sonnet-5-5"
    );
    assert_eq!(mock.requests()[0].path, "/v1/messages");
    let resp = c
        .execute(request(Some("gpt-6-luna"), "x"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(success(&resp).actual_model_used, "openai/gpt-6-luna");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_without_a_catalog_default_still_answers_no_model() {
    let mock = MockProvider::start().await.unwrap();
    // Only a custom provider, whose models the catalog does not mark as a default.
    let cfg = format!(
        "server:\n  host: 127.0.0.1\n  shutdown_grace_seconds: 5\nproviders:\n  local:\n    wire: openai\n    base_url: {}\n    api_key: test-key\nmodels:\n  - id: local/m\n    provider: local\n",
        mock.openai_base_url()
    );
    let server = ServerProcess::spawn(&server_bin(), &cfg, &[], &[]).expect("server starts");
    let mut c = client(&server).await;
    let resp = c.execute(request(None, "x")).await.unwrap().into_inner();
    let e = error(&resp);
    assert_eq!(e.error_code, "NO_MODEL");
    assert!(
        e.error_message.contains("server.default_model"),
        "{}",
        e.error_message
    );
    assert_eq!(mock.request_count(), 0, "the provider is never reached");
    // Marking the config's model `default: true` makes it the default.
    drop(server);
    let server = ServerProcess::spawn(
        &server_bin(),
        &format!("{cfg}    default: true\n"),
        &[],
        &[],
    )
    .expect("server starts");
    let mut c = client(&server).await;
    let resp = c.execute(request(None, "x")).await.unwrap().into_inner();
    assert_eq!(success(&resp).actual_model_used, "local/m");
}
