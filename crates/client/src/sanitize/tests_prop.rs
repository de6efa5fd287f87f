#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Property tests and robustness: no panics, no leaks, idempotence, size.

use super::*;
use proptest::prelude::*;

/// Fragments that steer random text into the interesting code paths.
const FRAGMENTS: &[&str] = &[
    "kind: Secret\n",
    "kind: Config\n",
    "data:\n",
    "stringData:\n",
    "  password: ",
    "  ",
    "- ",
    "users:\n- name: u\n  user:\n    token: ",
    "---\n",
    "```yaml\n",
    "```\n",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    ":",
    "=",
    "\n",
    "\\n",
    "\\\"",
    "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----",
    "-----BEGIN CERTIFICATE-----",
    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
    "Bearer ",
    "AKIAIOSFODNN7EXAMPLE",
    "https://u:p@h/?token=",
    "&sig=",
    "DB_PASSWORD=",
    "--token ",
    "[REDACTED-jwt]",
    "[REDACTED-",
    "]",
    "name: API_TOKEN\n",
    "value: ",
    "\"kind\": \"Secret\",",
    "\"data\": {",
    "abc123",
    "LS0tLS1CRUdJTiBQUklWQVRFIEtFWS0tLS0t",
    "kubectl.kubernetes.io/last-applied-configuration: ",
    "|\n",
    "true",
    "<none>",
    "é",
    "\r\n",
    "\t",
];

fn fragment_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(FRAGMENTS), 0..40).prop_map(|v| v.concat())
}

fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn secret_yaml(value: &str) -> String {
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "data": {"password": base64(value.as_bytes())},
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "default"},
        "stringData": {"api-key": value},
        "type": "Opaque",
    });
    serde_yaml_ng::to_string(&doc).unwrap()
}

fn secret_json(value: &str) -> String {
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "items": [{
            "apiVersion": "v1",
            "data": {"token": base64(value.as_bytes())},
            "kind": "Secret",
            "metadata": {"name": "t", "annotations": {
                "kubectl.kubernetes.io/last-applied-configuration":
                    format!("{{\"stringData\":{{\"token\":{}}},\"kind\":\"Secret\"}}", serde_json::Value::from(value)),
            }},
            "stringData": {"token": value},
        }],
        "kind": "List",
    });
    serde_json::to_string_pretty(&doc).unwrap()
}

fn kubeconfig_yaml(value: &str) -> String {
    let doc = serde_json::json!({
        "apiVersion": "v1",
        "clusters": [{"cluster": {"server": "https://k8s.example.com"}, "name": "c"}],
        "kind": "Config",
        "users": [
            {"name": "a", "user": {"token": value}},
            {"name": "b", "user": {"client-key-data": base64(value.as_bytes()), "password": value}},
            {"name": "c", "user": {"exec": {"command": "x", "env": [{"name": "SECRET", "value": value}]}}},
            {"name": "d", "user": {"auth-provider": {"name": "oidc", "config": {"id-token": value, "refresh-token": value}}}},
        ],
    });
    serde_yaml_ng::to_string(&doc).unwrap()
}

fn assert_no_leak(doc: &str, value: &str) -> Result<(), TestCaseError> {
    let (out, r) = sanitize(doc);
    prop_assert!(!out.contains(value), "value leaked:\n{}", out);
    prop_assert!(
        !out.contains(&base64(value.as_bytes())),
        "base64 leaked:\n{}",
        out
    );
    prop_assert!(!r.is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn never_panics_on_arbitrary_strings(s in any::<String>()) {
        let _ = sanitize(&s);
        let _ = sanitize_with(&s, Hint::SecretOutput);
    }

    #[test]
    fn never_panics_on_fragment_soup(s in fragment_text()) {
        let _ = sanitize(&s);
        let _ = sanitize_with(&s, Hint::SecretOutput);
    }

    #[test]
    fn secret_values_never_leak(value in "[ -~]{8,64}") {
        // Skip values that occur in the documents anyway ("Secret", …).
        let fixed = secret_yaml("\u{1}") + &secret_json("\u{1}") + &kubeconfig_yaml("\u{1}") + "[REDACTED-secret-data][REDACTED-kubeconfig-credential]";
        prop_assume!(!fixed.contains(value.as_str()));
        assert_no_leak(&secret_yaml(&value), &value)?;
        assert_no_leak(&secret_json(&value), &value)?;
        assert_no_leak(&kubeconfig_yaml(&value), &value)?;
    }

    #[test]
    fn idempotent_on_arbitrary_strings(s in any::<String>()) {
        for hint in [Hint::None, Hint::SecretOutput] {
            let (once, _) = sanitize_with(&s, hint);
            let (twice, r) = sanitize_with(&once, hint);
            prop_assert_eq!(&twice, &once);
            prop_assert!(r.is_empty());
        }
    }

    #[test]
    fn idempotent_on_fragment_soup(s in fragment_text()) {
        for hint in [Hint::None, Hint::SecretOutput] {
            let (once, _) = sanitize_with(&s, hint);
            let (twice, r) = sanitize_with(&once, hint);
            prop_assert_eq!(&twice, &once, "input {:?}", s);
            prop_assert!(r.is_empty(), "input {:?} second pass {:?}", s, r);
        }
    }
}

#[test]
fn deep_nesting_does_not_overflow() {
    for depth in [100, 200, 10_000, 200_000] {
        let json = "[".repeat(depth) + &"]".repeat(depth);
        assert_eq!(sanitize(&json).0, json);
        let flow = "{a: ".repeat(depth) + &"}".repeat(depth) + " kind: Secret";
        let _ = sanitize(&flow);
        let block: String = (0..depth.min(2_000))
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect();
        let _ = sanitize(&(block + "kind: Secret\n"));
    }
}

#[test]
fn secret_nested_deeper_than_the_walk_is_still_redacted() {
    let mut doc =
        serde_json::json!({"kind": "Secret", "data": {"tls.key": "c2VjcmV0LWtleS1ieXRlcw=="}});
    for _ in 0..70 {
        doc = serde_json::json!({ "wrap": doc });
    }
    let text = serde_json::to_string_pretty(&doc).unwrap();
    let (out, r) = sanitize(&text);
    assert!(!out.contains("c2VjcmV0LWtleS1ieXRlcw=="));
    assert_eq!(r.count("secret-data"), 1);
}

#[test]
fn large_inputs_are_handled_in_linear_time() {
    let line = "2024-05-01T10:00:00Z INFO request id=42 path=/api/v1/items user=alice status=200 took=3ms\n";
    let secret = "2024-05-01T10:00:01Z DEBUG Authorization: Bearer 0123456789abcdefABCDEF password=hunter2x\n";
    let mut text = String::new();
    while text.len() < 4 << 20 {
        for _ in 0..99 {
            text.push_str(line);
        }
        text.push_str(secret);
    }
    let started = std::time::Instant::now();
    let (out, r) = sanitize(&text);
    let elapsed = started.elapsed();
    assert!(!out.contains("hunter2x") && !out.contains("0123456789abcdefABCDEF"));
    assert_eq!(r.count("bearer-token"), r.count("credential"));
    assert!(elapsed.as_secs() < 60, "took {elapsed:?}");
    // Pathological inputs: long runs of one character, unclosed PEM.
    for s in [
        "a".repeat(1 << 20),
        "=".repeat(1 << 20),
        "-----BEGIN PRIVATE KEY-----".repeat(20_000),
        "password: ".repeat(50_000),
    ] {
        let started = std::time::Instant::now();
        let _ = sanitize_with(&s, Hint::SecretOutput);
        assert!(started.elapsed().as_secs() < 60);
    }
}

#[test]
fn many_sibling_blocks_stay_linear() {
    let started = std::time::Instant::now();
    let text = "data:\n".repeat(200_000) + "kind: Secret\n";
    let (_, r) = sanitize(&text);
    assert!(r.is_empty());
    let text = "data:\n  a: b\n".repeat(100_000) + "kind: Secret\n```\n";
    let (out, r) = sanitize(&text);
    assert_eq!(r.count("secret-data"), 100_000);
    assert!(!out.contains("a: b"));
    assert!(started.elapsed().as_secs() < 60);
}
