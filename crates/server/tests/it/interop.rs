//! Wire compatibility with the Python reference implementation (vibectl 0.11.x): its own generated
//! gRPC client stubs, running on grpcio, talk to our server. `scripts/test-deps.sh` installs
//! grpcio, grpcio-tools and fetches the reference wheel; nothing here is skipped.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use vibectl_testkit::{MockReply, MockUsage};

const REFERENCE: &str = "vibectl==0.11.6";

/// The reference's generated stubs (`vibectl/proto/*.py`), fetched from PyPI once per checkout.
fn reference_stubs() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/interop/reference");
    let marker = root.join("vibectl/proto/llm_proxy_pb2_grpc.py");
    if marker.exists() {
        return root;
    }
    let script = format!(
        r#"
import glob, os, subprocess, sys, tempfile, zipfile
root = sys.argv[1]
with tempfile.TemporaryDirectory() as d:
    subprocess.check_call([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", d, "{REFERENCE}"])
    whl = glob.glob(os.path.join(d, "*.whl"))[0]
    with zipfile.ZipFile(whl) as z:
        for n in z.namelist():
            if n.startswith("vibectl/proto/"):
                z.extract(n, root)
open(os.path.join(root, "vibectl", "__init__.py"), "w").close()
"#
    );
    let status = Command::new("python3")
        .args(["-c", &script])
        .arg(&root)
        .status()
        .expect("python3 runs");
    assert!(
        status.success(),
        "could not fetch the reference wheel {REFERENCE}"
    );
    root
}

#[tokio::test(flavor = "multi_thread")]
async fn python_reference_client_works_against_our_server() {
    let stubs = reference_stubs();
    let (mock, server) = start("  default_model: gpt-4o\n", "").await;
    mock.push_reply(MockReply::text("pong").usage(MockUsage {
        input_tokens: 100,
        output_tokens: 20,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
    }));
    mock.push_reply(MockReply::text("one two three").chunks(3));
    let proto = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../proto/llm_proxy.proto");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/interop/reference_client.py");
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(stubs)
            .arg(proto)
            .arg(server.addr.to_string())
            .output()
            .map(|o| (o, server))
    })
    .await
    .unwrap()
    .unwrap();
    let (out, _server) = out;
    assert!(
        out.status.success(),
        "reference client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();

    assert_eq!(r["same_package"], true);
    assert_eq!(
        r["same_messages"], true,
        "field names, numbers, types, labels differ"
    );
    assert_eq!(r["same_methods"], true);

    let e = &r["execute"];
    assert_eq!(e["request_id"], "py-1");
    assert_eq!(e["result"], "success");
    assert_eq!(e["fields"], serde_json::json!(["request_id", "success"]));
    assert_eq!(
        e["success_fields"],
        serde_json::json!(["response_text", "metrics", "actual_model_used"])
    );
    assert_eq!(e["text"], "pong");
    assert_eq!(e["model"], "anthropic/claude-sonnet-4-0");
    assert_eq!(e["input_tokens"], 100);
    assert_eq!(e["output_tokens"], 20);
    assert_eq!(e["total_tokens"], 120);
    // 100 × $3 + 20 × $15 per million
    assert!((e["cost_usd"].as_f64().unwrap() - 0.0006).abs() < 1e-12);
    let metric_fields = e["metrics_fields"].as_array().unwrap();
    // duration_ms is 0 against a local mock, which proto3 does not put on the wire.
    for f in [
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "cost_usd",
        "timestamp",
    ] {
        assert!(
            metric_fields.iter().any(|x| x == f),
            "{f} missing: {metric_fields:?}"
        );
    }

    let s = &r["stream"];
    let kinds: Vec<&str> = s["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(kinds.len() >= 3 + 2, "{kinds:?}");
    assert!(
        kinds[..kinds.len() - 2].iter().all(|k| *k == "text_chunk"),
        "{kinds:?}"
    );
    assert_eq!(&kinds[kinds.len() - 2..], ["complete", "final_metrics"]);
    assert_eq!(s["text"], "one two three");
    assert_eq!(s["complete_model"][0], "openai/gpt-4o");
    assert_eq!(
        s["request_ids"].as_array().unwrap().len(),
        1,
        "one generated id echoed"
    );

    assert_eq!(r["unknown_model"]["result"], "error");
    assert_eq!(r["unknown_model"]["code"], "MODEL_NOT_FOUND");

    assert_eq!(
        r["info"]["aliases"]["claude-4-sonnet"],
        "anthropic/claude-sonnet-4-0"
    );
    assert_eq!(r["info"]["default_model"], "openai/gpt-4o");
    assert_eq!(r["info"]["has_limits"], true);
}
