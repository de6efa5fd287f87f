#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Fixture tests: realistic kubectl outputs.

use super::fixtures::*;
use super::*;

/// Sanitises, checks idempotence, and returns the output and counts.
pub(super) fn run(text: &str, hint: Hint) -> (String, Redactions) {
    let (out, counts) = sanitize_with(text, hint);
    let (again, counts2) = sanitize_with(&out, hint);
    assert_eq!(again, out, "second pass changed the text");
    assert!(counts2.is_empty(), "second pass redacted {counts2:?}");
    (out, counts)
}

pub(super) fn assert_absent(out: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!out.contains(s), "secret {s:?} leaked in:\n{out}");
    }
}

pub(super) fn assert_present(out: &str, kept: &[&str]) {
    for s in kept {
        assert!(out.contains(s), "{s:?} missing from:\n{out}");
    }
}

fn counts_of(r: &Redactions) -> Vec<(String, usize)> {
    r.kinds()
        .into_iter()
        .map(|k| (k.clone(), r.count(&k)))
        .collect()
}

pub(super) fn expect_counts(r: &Redactions, want: &[(&str, usize)]) {
    let want: Vec<(String, usize)> = want.iter().map(|(k, n)| ((*k).to_string(), *n)).collect();
    assert_eq!(counts_of(r), want);
}

#[test]
fn all_patterns_compile() {
    let (early, early_specs, late, late_specs, rest) = patterns::compiled_rule_counts();
    assert_eq!(early, early_specs);
    assert_eq!(late, late_specs);
    assert!(rest);
}

#[test]
fn secret_yaml_keeps_keys_and_redacts_values() {
    let (out, r) = run(SECRET_YAML, Hint::None);
    // base64 values, their decoded forms, the last-applied copy.
    assert_absent(
        &out,
        &[
            "czNjcjN0UGFzc3cwcmQ=",
            "YWRtaW4=",
            "s3cr3tPassw0rd",
            "\"data\":{",
        ],
    );
    assert_present(
        &out,
        &[
            "name: db",
            "namespace: default",
            "password:",
            "username:",
            "type: Opaque",
        ],
    );
    expect_counts(&r, &[("secret-data", 3)]);
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(&out).unwrap();
    assert_eq!(
        v["data"]["password"].as_str(),
        Some("[REDACTED-secret-data]")
    );
    assert_eq!(v["kind"].as_str(), Some("Secret"));
}

#[test]
fn secret_list_json_stays_pretty_json() {
    let (out, r) = run(SECRETS_LIST_JSON, Hint::None);
    assert_absent(
        &out,
        &[
            "a3ViZS1zeXN0ZW0=",
            "ZXlKaGJHY2lPaUpTVXpJMU5p",
            "c3VwZXJzZWNyZXRhcGlrZXk5OQ==",
            "LS0tLS1CRUdJTi",
        ],
    );
    assert_present(
        &out,
        &[
            "builder-token-x7k2p",
            "payments",
            "\"ca.crt\"",
            "\"api-key\"",
            "\"empty\": \"\"",
        ],
    );
    // kubectl's four-space indentation is kept.
    assert!(out.contains("\n    \"items\": ["), "{out}");
    expect_counts(&r, &[("secret-data", 5)]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["items"][0]["data"]["token"], "[REDACTED-secret-data]");
}

#[test]
fn kubeconfig_redacts_user_credentials_only() {
    let (out, r) = run(KUBECONFIG, Hint::None);
    assert_absent(
        &out,
        &[
            "LS0tLS1CRUdJTi",
            "sha256~Xk9pQw2LmN4vB7rT1yZ0aC3dE5fG6hJ8",
            "hvs.CAESIJk2b3VuZ2xvbmdvcGFxdWU",
            "prod-admin-profile",
            "0a1b2c3d-oidc-client-secret-9z8y",
            "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9",
            "Cgl0ZXN0LXJlZnJlc2gtdG9rZW4tMTIz",
        ],
    );
    assert_present(
        &out,
        &[
            "server: https://10.0.0.1:6443",
            "current-context: prod-admin",
            "client-id: kubernetes",
            "idp-issuer-url: https://idp.example.com",
            "name: AWS_PROFILE",
            "- name: oidc",
            "command: aws",
        ],
    );
    expect_counts(&r, &[("certificate", 1), ("kubeconfig-credential", 8)]);
    assert_eq!(
        r.summary(),
        "9 secret values redacted (certificate 1, kubeconfig-credential 8)"
    );
}

#[test]
fn gcp_service_account_json() {
    let (out, r) = run(GCP_SA_JSON, Hint::None);
    assert_absent(
        &out,
        &[
            "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
            "fakeKeyMaterialHere",
            "3f1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a",
        ],
    );
    assert_present(
        &out,
        &[
            "deployer@acme-prod.iam.gserviceaccount.com",
            "\"token_uri\": \"https://oauth2.googleapis.com/token\"",
            "acme-prod",
            "104958712345678901234",
        ],
    );
    expect_counts(&r, &[("cloud-credential", 1), ("private-key", 1)]);
    // Still valid JSON: the key was replaced inside its string.
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["private_key"], "[REDACTED-private-key]\n");
}

#[test]
fn aws_credentials_file() {
    let (out, r) = run(AWS_CREDENTIALS, Hint::None);
    assert_absent(
        &out,
        &[
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI",
            "ASIAY34FZKBOKMUTVV7A",
            "je7MtGbClwBF",
            "IQoJb3JpZ2lu",
        ],
    );
    assert_present(
        &out,
        &[
            "[default]",
            "[ci]",
            "region = us-east-1",
            "aws_secret_access_key = [REDACTED-cloud-credential]",
        ],
    );
    expect_counts(&r, &[("cloud-credential", 5)]);
}

#[test]
fn describe_pod_env_and_args() {
    let (out, r) = run(DESCRIBE_POD, Hint::None);
    assert_absent(
        &out,
        &[
            "Pa55w0rd!x",
            "tok_9f8e7d6c5b4a",
            "hunter2-db-pass",
            "sk_test_51HxYzAbCdEfGh",
        ],
    );
    assert_present(
        &out,
        &[
            "api-7d9f8b6c5-x2x9q",
            "DB_HOST:          postgres.shop.svc",
            "<set to the key 'token' in secret 'api-secrets'>  Optional: false",
            "SECRET_NAME:      api-secrets",
            "SecretName:  api-secrets",
            "TokenExpirationSeconds:  3607",
            "--log-level=debug",
            "kube-api-access-8xk2n",
        ],
    );
    expect_counts(&r, &[("credential", 4)]);
}

#[test]
fn log_lines() {
    let (out, r) = run(LOGS, Hint::None);
    assert_absent(
        &out,
        &[
            "8f14e45fceea167a5a36dedd4bea2543",
            "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9",
            "xoxp-abc123def456",
            "s3cr3tPW",
            "letmein123",
        ],
    );
    assert_present(
        &out,
        &[
            "Bearer [REDACTED-bearer-token]",
            "for user-42",
            "?channel=ops&token=[REDACTED-url-credential]&retry=3",
            "postgres://app:[REDACTED-url-credential]@db.shop.svc:5432/shop?sslmode=require",
            "token: expired, retrying in 5s",
            "user=alice",
            "version=1.4.2",
        ],
    );
    expect_counts(
        &r,
        &[
            ("bearer-token", 1),
            ("credential", 1),
            ("jwt", 1),
            ("url-credential", 2),
        ],
    );
}

#[test]
fn url_token_query() {
    let (out, r) = run("GET https://grafana.example.com/api/dashboards?orgId=1&access_token=ya29.a0AfH6SMBx&api_key=k-42 200", Hint::None);
    assert_eq!(
        out,
        "GET https://grafana.example.com/api/dashboards?orgId=1&access_token=[REDACTED-url-credential]&api_key=[REDACTED-url-credential] 200"
    );
    expect_counts(&r, &[("url-credential", 2)]);
}

#[test]
fn jsonpath_secret_output() {
    // kubectl get secret db -o jsonpath='{.data.password}'
    let (out, r) = run("czNjcjN0UGFzc3cwcmQ=", Hint::SecretOutput);
    assert_eq!(out, "[REDACTED-secret-data]");
    expect_counts(&r, &[("secret-data", 1)]);
    // kubectl get secret db -o jsonpath='{.data}'
    let (out, r) = run(
        r#"{"password":"czNjcjN0UGFzc3cwcmQ=","username":"YWRtaW4="}"#,
        Hint::SecretOutput,
    );
    assert_eq!(
        out,
        r#"{"password":"[REDACTED-secret-data]","username":"[REDACTED-secret-data]"}"#
    );
    expect_counts(&r, &[("secret-data", 2)]);
    // Plain words and names survive even then.
    let (out, r) = run("my-secret-name default Opaque", Hint::SecretOutput);
    assert_eq!(out, "my-secret-name default Opaque");
    assert!(r.is_empty());
    // Without the hint a bare base64 value is not recognisable.
    assert!(sanitize("czNjcjN0UGFzc3cwcmQ=").1.is_empty());
}

#[test]
fn ordinary_outputs_are_unchanged() {
    for text in [PODS_TABLE, DESCRIBE_DEPLOYMENT, CONFIGMAP_YAML] {
        let (out, r) = sanitize(text);
        assert_eq!(out, text);
        assert!(r.is_empty(), "{r:?}");
        assert_eq!(r.summary(), "no secret values redacted");
    }
}

#[test]
fn pod_yaml_env_value_only() {
    let (out, r) = run(POD_YAML, Hint::None);
    assert_absent(&out, &["plainTextPw42"]);
    assert_eq!(
        out,
        POD_YAML.replace("plainTextPw42", "[REDACTED-credential]")
    );
    expect_counts(&r, &[("credential", 1)]);
}

#[test]
fn describe_secret_prints_token() {
    let (out, r) = run(DESCRIBE_SECRET, Hint::None);
    assert_absent(&out, &["eyJhbGciOiJSUzI1NiIsImtpZCI6InNhLWtleSJ9"]);
    assert_present(
        &out,
        &[
            "ca.crt:     1099 bytes",
            "namespace:  11 bytes",
            "builder-token-x7k2p",
        ],
    );
    expect_counts(&r, &[("jwt", 1)]);
}

#[test]
fn prompt_fragment_with_fenced_secret() {
    let (out, r) = run(PROMPT_FRAGMENT, Hint::None);
    assert_absent(
        &out,
        &["czNjcjN0UGFzc3cwcmQ=", "bXVsdGkKbGluZQ==", "YWRtaW4="],
    );
    assert_present(
        &out,
        &[
            "tls.key: [REDACTED-secret-data]",
            "username:",
            "name: db",
            "mode: fast",
            "```yaml",
        ],
    );
    expect_counts(&r, &[("secret-data", 3)]);
}

#[test]
fn multi_document_stream_stays_multi_document() {
    let (out, r) = run(MULTI_DOC_YAML, Hint::None);
    assert_absent(&out, &["Sup3rS3cret!"]);
    assert_present(
        &out,
        &["mode: fast", "name: app-creds", "config.json:", "\n---\n"],
    );
    expect_counts(&r, &[("secret-data", 2)]);
    let docs: Vec<_> = serde_yaml_ng::Deserializer::from_str(&out).collect();
    assert_eq!(docs.len(), 2);
}
