//! Per-subject model access (`server.limits.models`) over both HTTP APIs, `/v1/models` and gRPC,
//! reloaded without restart, and refused at start when a name matches no model.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use serde_json::json;
use tonic::Code;
use vibectl_testkit::{MockProvider, ServerProcess};

use crate::common;
use crate::http_common::*;

const ONLY_A: &str = "  limits:\n    models:\n      default: [\"metered*\"]\n      per_token:\n        anonymous: [metered-a]\n";

fn wait_log(server: &ServerProcess, needle: &str) {
    for _ in 0..200 {
        if server.stderr().contains(needle) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("`{needle}` not logged:\n{}", server.stderr());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_subject_uses_only_its_models_everywhere_and_a_reload_changes_that() {
    let mock = MockProvider::start().await.unwrap();
    let server = spawn(&config(&mock, ONLY_A, ""), &[]);
    let msgs = json!([{"role": "user", "content": "hi"}]);

    let r = openai(
        &server,
        "t",
        "chat",
        json!({"model": "metered", "messages": msgs}),
    )
    .await;
    assert_eq!(r["status"], 403, "{r}");
    assert_eq!(r["body"]["type"], "permission_error");
    assert!(
        r["body"]["message"]
            .as_str()
            .unwrap()
            .contains("server.limits.models"),
        "{r}"
    );
    let r = anthropic(
        &server,
        "t",
        "create",
        json!({"model": "metered", "max_tokens": 5, "messages": msgs}),
    )
    .await;
    assert_eq!(r["status"], 403, "{r}");
    assert_eq!(r["body"]["error"]["type"], "permission_error");
    let r = anthropic(
        &server,
        "t",
        "create",
        json!({"model": "metered-a", "max_tokens": 5, "messages": msgs}),
    )
    .await;
    assert!(r["response"].is_object(), "{r}");

    let r = openai(&server, "t", "models", json!({})).await;
    let ids: Vec<&str> = r["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["metered-a"], "{r}");
    let r = openai(&server, "t", "model", json!({"id": "metered"})).await;
    assert_eq!(r["status"], 403, "{r}");

    let mut c = common::client(&server).await;
    let err = c
        .execute(common::request(Some("metered"), "hi"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    let err = c
        .stream_execute(common::request(Some("metered"), "hi"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
    assert_eq!(
        mock.request_count(),
        1,
        "only the allowed call reached the provider"
    );

    // Allow it, reload, and the same call passes.
    let allowed = ONLY_A.replace("anonymous: [metered-a]", "anonymous: [\"metered*\"]");
    std::fs::write(
        server.dir.path().join("config.yaml"),
        config(&mock, &allowed, ""),
    )
    .unwrap();
    server.signal("HUP").unwrap();
    wait_log(&server, "configuration reloaded");
    let r = openai(
        &server,
        "t",
        "chat",
        json!({"model": "metered", "messages": msgs}),
    )
    .await;
    assert!(r["response"].is_object(), "{r}");
    c.execute(common::request(Some("metered"), "hi"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pattern_that_names_no_model_is_refused_with_its_key() {
    let mock = MockProvider::start().await.unwrap();
    let bad = "  limits:\n    models:\n      per_token:\n        alice: [meterd-a, \"gpt-*\"]\n";
    let Err(err) = ServerProcess::spawn(
        &crate::common::server_bin(),
        &config(&mock, bad, ""),
        &[],
        &[],
    ) else {
        panic!("a server with an unknown model pattern started");
    };
    assert!(
        err.stderr
            .contains("server.limits.models.per_token.alice[0]"),
        "{}",
        err.stderr
    );
    assert!(
        err.stderr.contains("did you mean metered-a"),
        "{}",
        err.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn get_server_info_lists_only_the_callers_models_and_aliases() {
    use crate::secure::{bearer, cli_ok, plain_client, with_auth, SECRET};
    use vibectl_proto::GetServerInfoRequest;

    let mock = MockProvider::start().await.unwrap();
    // alice: the Anthropic model only; bob: a model by its alias; carol: the default list.
    let access = "  require_auth: true\n  default_model: metered\n  limits:\n    models:\n      \
                  default: [\"metered*\"]\n      per_token:\n        alice: [metered-a]\n        \
                  bob: [short]\n";
    let top = format!(
        "  - id: aliased\n    provider: openai\n    aliases: [short, tiny]\njwt:\n  secret_key: {SECRET}\n"
    );
    let server = spawn(&config(&mock, access, &top), &[]);
    let cfg = server.dir.path().join("config.yaml");
    let mut c = plain_client(server.addr).await;
    let info = |sub: &str| {
        let token = cli_ok(
            &cfg,
            server.dir.path(),
            &["generate-token", sub, "--expires-in", "1h"],
        );
        let req = with_auth(GetServerInfoRequest {}, Some(&bearer(token.trim())));
        let mut c = c.clone();
        async move { c.get_server_info(req).await.unwrap().into_inner() }
    };
    let ids = |i: &vibectl_proto::GetServerInfoResponse| {
        let mut v: Vec<String> = i
            .available_models
            .iter()
            .map(|m| m.model_id.clone())
            .collect();
        v.sort();
        v
    };
    let aliases = |i: &vibectl_proto::GetServerInfoResponse| {
        let mut v: Vec<(String, String)> = i
            .model_aliases
            .iter()
            .map(|(a, m)| (a.clone(), m.clone()))
            .collect();
        v.sort();
        v
    };

    let alice = info("alice").await;
    assert_eq!(ids(&alice), ["metered-a"], "{alice:?}");
    assert!(alice.model_aliases.is_empty(), "{alice:?}");
    assert_eq!(alice.default_model, "", "the default (metered) is not hers");

    let bob = info("bob").await;
    assert_eq!(ids(&bob), ["aliased"], "{bob:?}");
    assert_eq!(bob.available_models[0].aliases, ["short", "tiny"]);
    let to = |a: &str| (a.to_owned(), "aliased".to_owned());
    assert_eq!(aliases(&bob), [to("short"), to("tiny")]);
    assert_eq!(bob.default_model, "");

    let carol = info("carol").await;
    assert_eq!(ids(&carol), ["metered", "metered-a"], "{carol:?}");
    assert!(carol.model_aliases.is_empty());
    assert_eq!(carol.default_model, "metered");
    // The rest of the answer is everyone's.
    assert_eq!(carol.server_version, alice.server_version);
    assert_eq!(carol.limits, bob.limits);

    // What the list promises is what Execute allows.
    let call = |sub: &str, model: &str| {
        let token = cli_ok(
            &cfg,
            server.dir.path(),
            &["generate-token", sub, "--expires-in", "1h"],
        );
        with_auth(
            common::request(Some(model), "hi"),
            Some(&bearer(token.trim())),
        )
    };
    c.execute(call("bob", "tiny")).await.unwrap();
    let err = c.execute(call("bob", "metered")).await.unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied, "{err:?}");
}
