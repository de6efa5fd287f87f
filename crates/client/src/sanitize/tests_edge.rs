#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Edge cases: single patterns, false positives, output shapes, the API.

use super::fixtures::AZURE_ENV;
use super::tests::{assert_absent, assert_present, expect_counts, run};
use super::*;

#[test]
fn azure_connection_strings() {
    let (out, r) = run(AZURE_ENV, Hint::None);
    assert_absent(&out, &["Zm9vYmFyYmF6cXV4", "c2VydmljZWJ1cy1rZXkt"]);
    assert_present(
        &out,
        &[
            "AccountName=acmelogs",
            "EndpointSuffix=core.windows.net",
            "SharedAccessKeyName=RootManageSharedAccessKey",
        ],
    );
    expect_counts(&r, &[("cloud-credential", 2)]);
}

#[test]
fn pem_blocks_and_headers() {
    let text = "tls.key: |\n  -----BEGIN EC PRIVATE KEY-----\n  MHcCAQEEIBd3bGV0ZXN0a2V5\n  -----END EC PRIVATE KEY-----\nca.crt: |\n  -----BEGIN CERTIFICATE-----\n  MIIBszCCAVmgAwIBAgIU\n  -----END CERTIFICATE-----\n";
    let (out, r) = run(text, Hint::None);
    assert_eq!(
        out,
        "tls.key: |\n  [REDACTED-private-key]\nca.crt: |\n  [REDACTED-certificate]\n"
    );
    expect_counts(&r, &[("certificate", 1), ("private-key", 1)]);
    // A truncated key is still cut off at its header.
    let (out, _) = run(
        "key: -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7",
        Hint::None,
    );
    assert_eq!(out, "key: [REDACTED-private-key]");
    let (out, r) = run(
        "curl -H 'Authorization: Basic YWRtaW46aHVudGVyMg==' https://x",
        Hint::None,
    );
    assert_eq!(
        out,
        "curl -H 'Authorization: Basic [REDACTED-credential]' https://x"
    );
    expect_counts(&r, &[("credential", 1)]);
}

#[test]
fn references_and_placeholders_are_not_secrets() {
    let text = "secretName: db\nsecretRef:\n  name: env\ntokenSecretRef: vault-token\nautomountServiceAccountToken: true\nserviceAccountToken:\n  path: token\npassword: \"\"\npassword:\ntoken: <none>\nAPI_TOKEN: <set to the key 'token' in secret 'api'>\npasswordFile: /etc/pw\nexistingSecret: db-creds\ntokenizer: bert\nPWD=/home/app\nDB_PASSWORD=$(DB_PASSWORD)\ntoken: [REDACTED-jwt]\nwarning: token expired\nWWW-Authenticate: Bearer realm=\"kubernetes\"\nusing Bearer authentication\n";
    let (out, r) = sanitize(text);
    assert_eq!(out, text);
    assert!(r.is_empty(), "{r:?}");
}

#[test]
fn compact_json_secret_stays_compact() {
    let text = r#"{"apiVersion":"v1","data":{"password":"aHVudGVyMg=="},"kind":"Secret","metadata":{"name":"x"}}"#;
    let (out, r) = run(text, Hint::None);
    assert_eq!(
        out,
        r#"{"apiVersion":"v1","data":{"password":"[REDACTED-secret-data]"},"kind":"Secret","metadata":{"name":"x"}}"#
    );
    expect_counts(&r, &[("secret-data", 1)]);
}

#[test]
fn raw_api_secret_list_items_have_no_kind() {
    let text = "{\n  \"kind\": \"SecretList\",\n  \"items\": [\n    {\"metadata\": {\"name\": \"a\"}, \"data\": {\"k\": \"dmFsdWUx\"}}\n  ]\n}\n";
    let (out, r) = run(text, Hint::None);
    assert_absent(&out, &["dmFsdWUx"]);
    assert!(out.ends_with("}\n"));
    expect_counts(&r, &[("secret-data", 1)]);
}

#[test]
fn redactions_api() {
    let (_, mut a) = sanitize("token=abc123xyz Bearer 0123456789abcdef");
    assert_eq!(a.total(), 2);
    assert_eq!(
        a.kinds(),
        vec!["bearer-token".to_string(), "credential".to_string()]
    );
    let (_, b) = sanitize("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.");
    a.merge(&b);
    assert_eq!(a.total(), 3);
    assert_eq!(
        a.summary(),
        "3 secret values redacted (bearer-token 1, credential 1, jwt 1)"
    );
    assert_eq!(b.summary(), "1 secret value redacted (jwt 1)");
    assert!(!a.is_empty());
    assert!(Redactions::default().is_empty());
    assert!(Redactions::default().kinds().is_empty());
}

#[test]
fn command_lines_and_exec_args() {
    let text = "kubectl create secret generic db --from-literal=password=hunter2x --from-literal=user=app\nkubectl --token=abc123def456 get pods\nargs: [\"--cluster\", \"prod\"]\n";
    let (out, r) = run(text, Hint::None);
    assert_absent(&out, &["hunter2x", "abc123def456"]);
    assert_present(
        &out,
        &[
            "--from-literal=user=app",
            "get pods",
            "\"--cluster\", \"prod\"",
        ],
    );
    expect_counts(&r, &[("credential", 2)]);
}

#[test]
fn pod_json_env_and_escaped_last_applied() {
    let text = r#"{
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "annotations": {
            "kubectl.kubernetes.io/last-applied-configuration": "{\"spec\":{\"containers\":[{\"env\":[{\"name\":\"API_KEY\",\"value\":\"k-live-7781\"}]}]}}\n"
        },
        "name": "api"
    },
    "spec": {
        "containers": [
            {
                "env": [
                    {
                        "name": "API_KEY",
                        "value": "k-live-7781"
                    },
                    {
                        "name": "MODE",
                        "value": "fast"
                    }
                ]
            }
        ]
    }
}
"#;
    let (out, r) = run(text, Hint::None);
    assert_absent(&out, &["k-live-7781"]);
    assert_present(&out, &["\"value\": \"fast\"", "\"name\": \"API_KEY\""]);
    expect_counts(&r, &[("credential", 2)]);
    serde_json::from_str::<serde_json::Value>(&out).unwrap();
}

#[test]
fn pretty_json_secret_after_a_warning_line() {
    let text = "Warning: v1 ComponentStatus is deprecated\n{\n    \"apiVersion\": \"v1\",\n    \"data\": {\n        \".dockerconfigjson\": \"eyJhdXRocyI6e319\",\n        \"id\": \"MTIzNA==\"\n    },\n    \"kind\": \"Secret\",\n    \"metadata\": {\n        \"name\": \"regcred\"\n    }\n}\n";
    let (out, r) = run(text, Hint::None);
    assert_absent(&out, &["eyJhdXRocyI6e319", "MTIzNA=="]);
    assert_present(
        &out,
        &[
            "\".dockerconfigjson\": \"[REDACTED-secret-data]\",",
            "\"id\": \"[REDACTED-secret-data]\"\n",
            "regcred",
            "Warning:",
        ],
    );
    expect_counts(&r, &[("secret-data", 2)]);
}

#[test]
fn decoded_docker_config_and_struct_dumps() {
    let (out, r) = run(
        r#"{"auths":{"registry.example.com":{"username":"ci","password":"p4ss-w0rd","auth":"Y2k6cDRzcy13MHJk"}}}"#,
        Hint::None,
    );
    assert_absent(&out, &["p4ss-w0rd", "Y2k6cDRzcy13MHJk"]);
    assert_present(&out, &["registry.example.com", "\"username\":\"ci\""]);
    expect_counts(&r, &[("credential", 2)]);
    let (out, r) = run("config: {Host:db Password:hunter2x User:bob}", Hint::None);
    assert_eq!(
        out,
        "config: {Host:db Password:[REDACTED-credential] User:bob}"
    );
    expect_counts(&r, &[("credential", 1)]);
    let (out, r) = run(
        "GITHUB_TOKEN is ghp_0123456789abcdefghijABCDEFGHIJ012345 ok",
        Hint::None,
    );
    assert_eq!(out, "GITHUB_TOKEN is [REDACTED-credential] ok");
    expect_counts(&r, &[("credential", 1)]);
}

#[test]
fn ca_bundle_config_map_is_a_certificate() {
    let text = "apiVersion: v1\ndata:\n  ca.crt: |\n    -----BEGIN CERTIFICATE-----\n    MIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAV\n    -----END CERTIFICATE-----\nkind: ConfigMap\nmetadata:\n  name: kube-root-ca.crt\n";
    let (out, r) = run(text, Hint::None);
    assert_eq!(out, text.replace("-----BEGIN CERTIFICATE-----\n    MIIC/jCCAeagAwIBAgIBADANBgkqhkiG9w0BAQsFADAV\n    -----END CERTIFICATE-----", "[REDACTED-certificate]"));
    expect_counts(&r, &[("certificate", 1)]);
}

#[test]
fn fenced_secret_list_and_shell_variables() {
    let text = "Output:\n```\nitems:\n- apiVersion: v1\n  data:\n    password: aHVudGVyMg==\n  kind: Secret\n  metadata:\n    name: a\n- data:\n    token: dG9rZW4x\n  kind: Secret\n- apiVersion: v1\n  data:\n    mode: ZmFzdA==\n  kind: ConfigMap\n```\nDB_PASSWORD=$DB_PASSWORD\nPASSWORD=$ecret99\n";
    let (out, r) = run(text, Hint::None);
    assert_absent(&out, &["aHVudGVyMg==", "dG9rZW4x", "$ecret99"]);
    assert_present(
        &out,
        &["mode: ZmFzdA==", "DB_PASSWORD=$DB_PASSWORD", "name: a"],
    );
    expect_counts(&r, &[("credential", 1), ("secret-data", 2)]);
}

#[test]
fn log_prose_is_not_a_secret() {
    let text = "I0501 10:00:00.000000   1 token_cleaner.go:42] Starting token cleaner controller\nE0501 authentication.go:73] \"Unable to authenticate the request\" err=\"invalid bearer token\"\nlevel=info msg=\"refreshing token\" attempt=3 tokenType=Bearer expiresIn=3600\npassword reset requested for user alice\nsecret/db created\nsecret \"db\" deleted\nMountVolume.SetUp failed for volume \"secret-vol\" : secret \"db-creds\" not found\n      --token-auth-file=/etc/kubernetes/tokens.csv\n      --tls-private-key-file=/etc/kubernetes/pki/apiserver.key\n      --enable-bootstrap-token-auth=true\n";
    let (out, r) = sanitize(text);
    assert_eq!(out, text);
    assert!(r.is_empty(), "{r:?}");
}

#[test]
fn llm_provider_keys_are_credentials_and_near_misses_are_not() {
    let ant = format!("sk-ant-api03-{}AA", "aB3_x-9Zq".repeat(10));
    let admin = format!("sk-ant-admin01-{}AA", "Qw7-rT_2k".repeat(10));
    let proj = format!("sk-proj-{}", "Zx9_Lm-4Pq8s".repeat(13));
    let svc = format!("sk-svcacct-{}", "h7Tq_2Lx-0Vb".repeat(13));
    let legacy = "sk-abcdefghij0123456789T3BlbkFJabcdefghij0123456789";
    let text = format!(
        "Error: invalid x-api-key {ant}\nadmin key {admin} rotated\n\
         {{\"role\":\"user\",\"content\":\"my key is {proj}, fix it\"}}\n\
         curl -H \"x-goog: 1\" {svc} and {legacy}.\n"
    );
    let (out, r) = run(&text, Hint::None);
    assert_absent(
        &out,
        &[&ant, &admin, &proj, &svc, legacy, "aB3_x-9Zq", "h7Tq_2Lx"],
    );
    assert_present(
        &out,
        &[
            "Error: invalid x-api-key [REDACTED-credential]\n",
            "admin key [REDACTED-credential] rotated",
            "my key is [REDACTED-credential], fix it",
            "[REDACTED-credential] and [REDACTED-credential].",
        ],
    );
    expect_counts(&r, &[("credential", 5)]);
    // Prefixes in prose, keys too short to be keys, and the prefix inside a longer word.
    let near = "keys start with sk-ant-api03- or sk-proj-; sk-ant-api03-short \
                sk-proj-abc123 task-proj-0123456789abcdefghijABCDEFGH \
                desk-ant-api03-0123456789abcdefghijABCDEFGH sk-learn sk-ant-apiXY-0123456789abcdefghijKL\n";
    let (out, r) = sanitize(near);
    assert_eq!(out, near);
    assert!(r.is_empty(), "{r:?}");
}
