//! Tests of the audit log. Expected export texts and summaries below were
//! produced by the reference's own `audit_cmd.py` code (Python 3.11).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::json::{py_float_repr, py_str};
use super::when::{format_ymd_hms, py_fromisoformat, py_isoformat_utc};
use super::write::{default_path_for, hash_text};
use super::*;

const LINES: [&str; 5] = [
    "{\"timestamp\":\"2025-06-01T10:00:00.123456+00:00\",\"proxy_profile\":\"prod\",\"request_id\":\"abc\",\"event_type\":\"llm_request\",\"request_hash\":\"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\",\"response_hash\":\"null\",\"secrets_detected\":0,\"secrets_types\":[],\"command_generated\":null,\"user_approved\":null,\"model_used\":\"claude-4-sonnet\"}",
    "{\"timestamp\":\"2025-06-01T10:05:00+00:00\",\"proxy_profile\":\"prod\",\"request_id\":\"r-2\",\"event_type\":\"sanitization\",\"original_hash\":\"d7439bee24773bcbfa2d0a97947ee36227b10d1022b1a55847e928965bb6bfde\",\"sanitized_hash\":\"3b066804f6d1d077173cfe4d06002e6a61e6f21c2b2e648417962115f1afcd8e\",\"secrets_detected\":2,\"secrets_types\":[\"k8s-token\",\"aws-key\"]}",
    "{\"timestamp\":\"2025-06-01T10:05:00.000001+00:00\",\"proxy_profile\":\"prod\",\"request_id\":\"r-2\",\"event_type\":\"llm_request\",\"request_hash\":\"d7439bee24773bcbfa2d0a97947ee36227b10d1022b1a55847e928965bb6bfde\",\"response_hash\":\"5782b18687e6cf8a482fc32d2db5b196d8821c458a0c069c6acf3953446e7bb5\",\"secrets_detected\":2,\"secrets_types\":[\"k8s-token\",\"aws-key\"],\"command_generated\":\"kubectl get pods -l 'app=a,b' -o jsonpath=\\\"{.x}\\\"\\nkubectl get svc\",\"user_approved\":true,\"model_used\":\"caf\\u00e9-model\",\"call\":\"plan\",\"streamed\":true,\"error\":null}",
    "{\"timestamp\":\"2025-06-01T10:06:00.500000+00:00\",\"proxy_profile\":null,\"request_id\":\"r-3\",\"event_type\":\"llm_request\",\"request_hash\":\"null\",\"response_hash\":\"9fb5d60ebb46ad5f01b9ec626e5dbff48ffa282611327e6ea6b7bb6693b6f324\",\"secrets_detected\":0,\"secrets_types\":[],\"command_generated\":null,\"user_approved\":null,\"model_used\":\"gpt-4o\",\"error\":true,\"error_code\":\"RATE_LIMIT\"}",
    "{\"timestamp\":\"2025-06-01T10:07:00+00:00\",\"proxy_profile\":\"prod\",\"request_id\":\"r-4\",\"event_type\":\"proxy_connection\",\"server_url\":\"vibectl-server://llm.example.com:443\",\"success\":false,\"error_message\":\"refused\",\"connection_time_ms\":1e-05}",
];
const EXPORT_JSON: &str = "[\n  {\n    \"timestamp\": \"2025-06-01T10:00:00.123456+00:00\",\n    \"proxy_profile\": \"prod\",\n    \"request_id\": \"abc\",\n    \"event_type\": \"llm_request\",\n    \"request_hash\": \"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\",\n    \"response_hash\": \"null\",\n    \"secrets_detected\": 0,\n    \"secrets_types\": [],\n    \"command_generated\": null,\n    \"user_approved\": null,\n    \"model_used\": \"claude-4-sonnet\"\n  },\n  {\n    \"timestamp\": \"2025-06-01T10:05:00+00:00\",\n    \"proxy_profile\": \"prod\",\n    \"request_id\": \"r-2\",\n    \"event_type\": \"sanitization\",\n    \"original_hash\": \"d7439bee24773bcbfa2d0a97947ee36227b10d1022b1a55847e928965bb6bfde\",\n    \"sanitized_hash\": \"3b066804f6d1d077173cfe4d06002e6a61e6f21c2b2e648417962115f1afcd8e\",\n    \"secrets_detected\": 2,\n    \"secrets_types\": [\n      \"k8s-token\",\n      \"aws-key\"\n    ]\n  },\n  {\n    \"timestamp\": \"2025-06-01T10:05:00.000001+00:00\",\n    \"proxy_profile\": \"prod\",\n    \"request_id\": \"r-2\",\n    \"event_type\": \"llm_request\",\n    \"request_hash\": \"d7439bee24773bcbfa2d0a97947ee36227b10d1022b1a55847e928965bb6bfde\",\n    \"response_hash\": \"5782b18687e6cf8a482fc32d2db5b196d8821c458a0c069c6acf3953446e7bb5\",\n    \"secrets_detected\": 2,\n    \"secrets_types\": [\n      \"k8s-token\",\n      \"aws-key\"\n    ],\n    \"command_generated\": \"kubectl get pods -l 'app=a,b' -o jsonpath=\\\"{.x}\\\"\\nkubectl get svc\",\n    \"user_approved\": true,\n    \"model_used\": \"caf\\u00e9-model\",\n    \"call\": \"plan\",\n    \"streamed\": true,\n    \"error\": null\n  },\n  {\n    \"timestamp\": \"2025-06-01T10:06:00.500000+00:00\",\n    \"proxy_profile\": null,\n    \"request_id\": \"r-3\",\n    \"event_type\": \"llm_request\",\n    \"request_hash\": \"null\",\n    \"response_hash\": \"9fb5d60ebb46ad5f01b9ec626e5dbff48ffa282611327e6ea6b7bb6693b6f324\",\n    \"secrets_detected\": 0,\n    \"secrets_types\": [],\n    \"command_generated\": null,\n    \"user_approved\": null,\n    \"model_used\": \"gpt-4o\",\n    \"error\": true,\n    \"error_code\": \"RATE_LIMIT\"\n  },\n  {\n    \"timestamp\": \"2025-06-01T10:07:00+00:00\",\n    \"proxy_profile\": \"prod\",\n    \"request_id\": \"r-4\",\n    \"event_type\": \"proxy_connection\",\n    \"server_url\": \"vibectl-server://llm.example.com:443\",\n    \"success\": false,\n    \"error_message\": \"refused\",\n    \"connection_time_ms\": 1e-05\n  }\n]";
const EXPORT_JSONL: &str = "{\"timestamp\":\"2025-06-01T10:00:00.123456+00:00\",\"proxy_profile\":\"prod\",\"request_id\":\"abc\",\"event_type\":\"llm_request\",\"request_hash\":\"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\",\"response_hash\":\"null\",\"secrets_detected\":0,\"secrets_types\":[],\"command_generated\":null,\"user_approved\":null,\"model_used\":\"claude-4-sonnet\"}\n{\"timestamp\":\"2025-06-01T10:05:00+00:00\",\"proxy_profile\":\"prod\",\"request_id\":\"r-2\",\"event_type\":\"sanitization\",\"original_hash\":\"d7439bee24773bcbfa2d0a97947ee36227b10d1022b1a55847e928965bb6bfde\",\"sanitized_hash\":\"3b066804f6d1d077173cfe4d06002e6a61e6f21c2b2e648417962115f1afcd8e\",\"secrets_detected\":2,\"secrets_types\":[\"k8s-token\",\"aws-key\"]}\n{\"timestamp\":\"2025-06-01T10:05:00.000001+00:00\",\"proxy_profile\":\"prod\",\"request_id\":\"r-2\",\"event_type\":\"llm_request\",\"request_hash\":\"d7439bee24773bcbfa2d0a97947ee36227b10d1022b1a55847e928965bb6bfde\",\"response_hash\":\"5782b18687e6cf8a482fc32d2db5b196d8821c458a0c069c6acf3953446e7bb5\",\"secrets_detected\":2,\"secrets_types\":[\"k8s-token\",\"aws-key\"],\"command_generated\":\"kubectl get pods -l 'app=a,b' -o jsonpath=\\\"{.x}\\\"\\nkubectl get svc\",\"user_approved\":true,\"model_used\":\"caf\\u00e9-model\",\"call\":\"plan\",\"streamed\":true,\"error\":null}\n{\"timestamp\":\"2025-06-01T10:06:00.500000+00:00\",\"proxy_profile\":null,\"request_id\":\"r-3\",\"event_type\":\"llm_request\",\"request_hash\":\"null\",\"response_hash\":\"9fb5d60ebb46ad5f01b9ec626e5dbff48ffa282611327e6ea6b7bb6693b6f324\",\"secrets_detected\":0,\"secrets_types\":[],\"command_generated\":null,\"user_approved\":null,\"model_used\":\"gpt-4o\",\"error\":true,\"error_code\":\"RATE_LIMIT\"}\n{\"timestamp\":\"2025-06-01T10:07:00+00:00\",\"proxy_profile\":\"prod\",\"request_id\":\"r-4\",\"event_type\":\"proxy_connection\",\"server_url\":\"vibectl-server://llm.example.com:443\",\"success\":false,\"error_message\":\"refused\",\"connection_time_ms\":1e-05}";
const EXPORT_CSV: &str = "call,command_generated,connection_time_ms,error,error_code,error_message,event_type,model_used,original_hash,proxy_profile,request_hash,request_id,response_hash,sanitized_hash,secrets_detected,secrets_types,server_url,streamed,success,timestamp,user_approved\r\n,,,,,,llm_request,claude-4-sonnet,,prod,2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824,abc,null,,0,,,,,2025-06-01T10:00:00.123456+00:00,\r\n,,,,,,sanitization,,d7439bee24773bcbfa2d0a97947ee36227b10d1022b1a55847e928965bb6bfde,prod,,r-2,,3b066804f6d1d077173cfe4d06002e6a61e6f21c2b2e648417962115f1afcd8e,2,\"k8s-token,aws-key\",,,,2025-06-01T10:05:00+00:00,\r\nplan,\"kubectl get pods -l 'app=a,b' -o jsonpath=\"\"{.x}\"\"\nkubectl get svc\",,,,,llm_request,caf\u{e9}-model,,prod,d7439bee24773bcbfa2d0a97947ee36227b10d1022b1a55847e928965bb6bfde,r-2,5782b18687e6cf8a482fc32d2db5b196d8821c458a0c069c6acf3953446e7bb5,,2,\"k8s-token,aws-key\",,True,,2025-06-01T10:05:00.000001+00:00,True\r\n,,,True,RATE_LIMIT,,llm_request,gpt-4o,,,null,r-3,9fb5d60ebb46ad5f01b9ec626e5dbff48ffa282611327e6ea6b7bb6693b6f324,,0,,,,,2025-06-01T10:06:00.500000+00:00,\r\n,,1e-05,,,refused,proxy_connection,,,prod,,r-4,,,,,vibectl-server://llm.example.com:443,,False,2025-06-01T10:07:00+00:00,\r";
const SUMMARIES: [&str; 5] = [
    "cmd=- model=claude-4-sonnet secrets=0",
    "secrets=2 types=k8s-token,aws-key",
    "cmd=kubectl get pods -l 'app=a,b' -o jsonpath=\"{.x}\"\nkubectl get svc model=caf\u{e9}-model secrets=2",
    "cmd=- model=gpt-4o secrets=0",
    "\u{2717} vibectl-server://llm.example.com:443",
];

/// 2025-06-01T10:05:00Z.
const T_1005: u64 = 1_748_772_300;

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

fn log_at(dir: &Path) -> AuditLog {
    AuditLog::new(
        dir.join("sub").join("audit-prod.log"),
        Some("prod".into()),
        true,
    )
}

fn full_event() -> LlmRequestEvent {
    LlmRequestEvent {
        request_id: "req-1".into(),
        request: "SECRET-REQUEST-TEXT token=abc123".into(),
        sanitized_request: Some("SANITIZED-REQUEST-TEXT token=[REDACTED]".into()),
        response: Some("RESPONSE-TEXT-XYZ".into()),
        secrets_detected: 0,
        secrets_types: vec![],
        command_generated: Some("kubectl get pods -n prod".into()),
        user_approved: Some(true),
        model_used: Some("claude-4-sonnet".into()),
        call: "plan",
        streamed: true,
        error: Some("timed out".into()),
    }
}

fn write_lines(path: &Path, lines: &[&str]) {
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

fn raw_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// The keys of a one-line JSON object in the order they appear in its text.
fn keys_in_order(line: &str) -> Vec<String> {
    let obj: Value = serde_json::from_str(line).unwrap();
    let mut keys: Vec<(usize, String)> = obj
        .as_object()
        .unwrap()
        .keys()
        .map(|k| (line.find(&format!("\"{k}\":")).unwrap(), k.clone()))
        .collect();
    keys.sort();
    keys.into_iter().map(|(_, k)| k).collect()
}

#[test]
fn record_then_read_round_trips_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_at(dir.path());
    let before = SystemTime::now() - Duration::from_secs(1);
    log.record(&full_event()).unwrap();
    let read = read_entries(log.path(), None, None).unwrap();
    assert_eq!(read.skipped, 0);
    assert_eq!(read.entries.len(), 1);
    let e = &read.entries[0];
    assert_eq!(e["proxy_profile"], "prod");
    assert_eq!(e["request_id"], "req-1");
    assert_eq!(e["event_type"], "llm_request");
    assert_eq!(
        e["request_hash"],
        hash_text(Some("SECRET-REQUEST-TEXT token=abc123"))
    );
    assert_eq!(e["response_hash"], hash_text(Some("RESPONSE-TEXT-XYZ")));
    assert_eq!(e["secrets_detected"], 0);
    assert_eq!(e["secrets_types"], json!([]));
    assert_eq!(e["command_generated"], "kubectl get pods -n prod");
    assert_eq!(e["user_approved"], true);
    assert_eq!(e["model_used"], "claude-4-sonnet");
    assert_eq!(e["call"], "plan");
    assert_eq!(e["streamed"], true);
    assert_eq!(e["error"], "timed out");
    let ts = e["timestamp"].as_str().unwrap();
    assert!(ts.ends_with("+00:00"), "{ts}");
    let when = super::when::entry_time(ts).unwrap();
    assert!(when >= before && when <= SystemTime::now());
    let line = &raw_lines(log.path())[0];
    assert_eq!(
        keys_in_order(line),
        [
            "timestamp",
            "proxy_profile",
            "request_id",
            "event_type",
            "request_hash",
            "response_hash",
            "secrets_detected",
            "secrets_types",
            "command_generated",
            "user_approved",
            "model_used",
            "call",
            "streamed",
            "error"
        ]
    );
    assert!(
        !line.contains(": ") && !line.contains(", "),
        "compact like json.dump: {line}"
    );
}

#[test]
fn absent_fields_are_null_and_empty_texts_hash_to_the_string_null() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::new(dir.path().join("audit.log"), None, true);
    let event = LlmRequestEvent {
        request_id: "r".into(),
        call: "memory",
        ..Default::default()
    };
    log.record(&event).unwrap();
    let e = &read_entries(log.path(), None, None).unwrap().entries[0];
    assert_eq!(e["proxy_profile"], Value::Null);
    assert_eq!(e["request_hash"], "null");
    assert_eq!(e["response_hash"], "null");
    assert_eq!(e["command_generated"], Value::Null);
    assert_eq!(e["user_approved"], Value::Null);
    assert_eq!(e["model_used"], Value::Null);
    assert_eq!(e["error"], Value::Null);
    assert_eq!(e["streamed"], false);
    assert_eq!(hash_text(Some("")), "null");
    assert_eq!(hash_text(None), "null");
    assert_eq!(
        hash_text(Some("hello")),
        "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    );
}

#[test]
fn sanitization_line_comes_first_exactly_when_secrets_were_found() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_at(dir.path());
    log.record(&full_event()).unwrap();
    assert_eq!(raw_lines(log.path()).len(), 1);
    let event = LlmRequestEvent {
        request_id: "req-2".into(),
        secrets_detected: 2,
        secrets_types: vec!["k8s-token".into(), "aws-key".into()],
        ..full_event()
    };
    log.record(&event).unwrap();
    let lines = raw_lines(log.path());
    assert_eq!(lines.len(), 3);
    assert_eq!(
        keys_in_order(&lines[1]),
        [
            "timestamp",
            "proxy_profile",
            "request_id",
            "event_type",
            "original_hash",
            "sanitized_hash",
            "secrets_detected",
            "secrets_types"
        ]
    );
    let entries = read_entries(log.path(), None, None).unwrap().entries;
    let (san, req) = (&entries[1], &entries[2]);
    assert_eq!(san["event_type"], "sanitization");
    assert_eq!(san["request_id"], "req-2");
    assert_eq!(san["proxy_profile"], "prod");
    assert_eq!(
        san["original_hash"],
        hash_text(Some("SECRET-REQUEST-TEXT token=abc123"))
    );
    assert_eq!(
        san["sanitized_hash"],
        hash_text(Some("SANITIZED-REQUEST-TEXT token=[REDACTED]"))
    );
    assert_eq!(san["secrets_detected"], 2);
    assert_eq!(san["secrets_types"], json!(["k8s-token", "aws-key"]));
    assert_eq!(req["event_type"], "llm_request");
    assert_eq!(req["request_id"], "req-2");
    assert_eq!(req["secrets_detected"], 2);
    assert_eq!(req["secrets_types"], json!(["k8s-token", "aws-key"]));
}

#[test]
fn a_missing_request_id_becomes_one_uuid_shared_by_both_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_at(dir.path());
    let event = LlmRequestEvent {
        request_id: String::new(),
        secrets_detected: 1,
        ..full_event()
    };
    log.record(&event).unwrap();
    let entries = read_entries(log.path(), None, None).unwrap().entries;
    let id = entries[0]["request_id"].as_str().unwrap();
    assert_eq!(id.len(), 36);
    assert_eq!(id.as_bytes()[14], b'4');
    assert_eq!(entries[1]["request_id"], id);
}

#[test]
fn texts_are_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_at(dir.path());
    log.record(&LlmRequestEvent {
        secrets_detected: 1,
        ..full_event()
    })
    .unwrap();
    let text = std::fs::read_to_string(log.path()).unwrap();
    for secret in [
        "SECRET-REQUEST-TEXT",
        "abc123",
        "SANITIZED-REQUEST-TEXT",
        "RESPONSE-TEXT-XYZ",
    ] {
        assert!(!text.contains(secret), "{secret} leaked into {text}");
    }
}

#[cfg(unix)]
#[test]
fn file_is_created_0600_and_its_directory_0700() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let log = log_at(dir.path());
    log.record(&full_event()).unwrap();
    let mode = std::fs::metadata(log.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir_mode = std::fs::metadata(dir.path().join("sub"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o077, 0);
}

#[test]
fn disabled_log_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::new(dir.path().join("audit.log"), None, false);
    assert!(!log.enabled());
    log.record(&full_event()).unwrap();
    assert!(!log.path().exists());
}

#[test]
fn failures_are_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-dir");
    std::fs::write(&blocker, "x").unwrap();
    let log = AuditLog::new(blocker.join("audit.log"), None, true);
    let err = log.record(&full_event()).unwrap_err();
    assert!(matches!(err, AuditError::CreateDir { .. }), "{err:?}");
    assert!(err.to_string().contains("not-a-dir"), "{err}");
    let log = AuditLog::new(dir.path().to_path_buf(), None, true);
    let err = log.record(&full_event()).unwrap_err();
    assert!(matches!(err, AuditError::Open { .. }), "{err:?}");
    assert!(
        err.to_string().contains(&dir.path().display().to_string()),
        "{err}"
    );
    assert!(err.to_string().contains("audit_logging"), "{err}");
    assert!(read_entries(dir.path(), None, None).is_err());
}

#[test]
fn a_torn_last_line_is_fenced_off_by_the_next_append() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_at(dir.path());
    std::fs::create_dir_all(log.path().parent().unwrap()).unwrap();
    std::fs::write(log.path(), "{\"timestamp\":\"2025-06-01T1").unwrap();
    log.record(&full_event()).unwrap();
    log.record(&full_event()).unwrap();
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        text.starts_with("{\"timestamp\":\"2025-06-01T1\n{\"timestamp\""),
        "{text}"
    );
    assert!(
        !text.contains("\n\n"),
        "no blank line when the tail is whole"
    );
    let read = read_entries(log.path(), None, None).unwrap();
    assert_eq!((read.entries.len(), read.skipped), (2, 1));
}

#[test]
fn malformed_binary_and_overlong_lines_are_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let mut data = Vec::new();
    for chunk in [
        LINES[0].as_bytes(),
        b"not json",
        b"\xff\xfe\x00\x01binary\x80",
        b"[1,2]",
        b"42",
        b"",
        b"   \t",
        b"{\"a\":",
        b"\"just a string\"",
    ] {
        data.extend_from_slice(chunk);
        data.push(b'\n');
    }
    data.extend_from_slice(b"{\"x\":\"");
    data.extend(std::iter::repeat_n(b'a', MAX_READ_LINE_BYTES + 10));
    data.extend_from_slice(b"\"}\n");
    data.extend_from_slice(format!("  {}\r\n", LINES[4]).as_bytes());
    data.extend_from_slice(LINES[1].as_bytes()); // no trailing newline
    std::fs::write(&path, data).unwrap();
    let read = read_entries(&path, None, None).unwrap();
    assert_eq!(read.skipped, 7);
    let ids: Vec<&str> = read
        .entries
        .iter()
        .map(|e| e["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["abc", "r-4", "r-2"]);
    let missing = read_entries(&dir.path().join("none.log"), None, None).unwrap();
    assert_eq!(missing, ReadResult::default());
}

#[test]
fn concurrent_appends_never_interleave() {
    let dir = tempfile::tempdir().unwrap();
    let log = Arc::new(log_at(dir.path()));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let log = Arc::clone(&log);
            std::thread::spawn(move || {
                for i in 0..50 {
                    let event = LlmRequestEvent {
                        request_id: format!("t{t}-{i}"),
                        command_generated: Some(format!(
                            "kubectl get pods {}",
                            "x".repeat(3000 + t * 100)
                        )),
                        ..full_event()
                    };
                    log.record(&event).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let lines = raw_lines(log.path());
    assert_eq!(lines.len(), 400);
    for line in &lines {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["event_type"], "llm_request");
    }
    let read = read_entries(log.path(), None, None).unwrap();
    assert_eq!(read.skipped, 0);
    let mut ids: Vec<String> = read
        .entries
        .iter()
        .map(|e| e["request_id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 400);
}

#[test]
fn entries_are_capped_at_64_kib() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_at(dir.path());
    let event = LlmRequestEvent {
        command_generated: Some(
            "kubectl apply -f - <<EOF\n".to_string() + &"é\"\u{1}".repeat(40_000),
        ),
        error: Some("e".repeat(100_000)),
        model_used: Some("m".repeat(70_000)),
        secrets_detected: 20_000,
        secrets_types: (0..20_000).map(|i| format!("type-{i}")).collect(),
        ..full_event()
    };
    log.record(&event).unwrap();
    let lines = raw_lines(log.path());
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert!(line.len() < MAX_ENTRY_BYTES, "{}", line.len());
    }
    let entries = read_entries(log.path(), None, None).unwrap().entries;
    let req = &entries[1];
    assert!(req["command_generated"]
        .as_str()
        .unwrap()
        .ends_with("...[truncated]"));
    assert!(req["command_generated"]
        .as_str()
        .unwrap()
        .starts_with("kubectl apply -f - <<EOF\né\"\u{1}"));
    assert!(
        req["command_generated"].as_str().unwrap().chars().count() > 2_000,
        "a fair share is kept"
    );
    assert!(req["error"].as_str().unwrap().ends_with("...[truncated]"));
    assert!(
        req["error"].as_str().unwrap().len() > 10_000,
        "a fair share is kept"
    );
    assert_eq!(req["secrets_detected"], 20_000);
    let types = req["secrets_types"].as_array().unwrap();
    assert_eq!(types[0], "type-0");
    let marker = types.last().unwrap().as_str().unwrap();
    let kept = types.len() - 1;
    assert_eq!(marker, format!("...[{} more]", 20_000 - kept));
    assert!(entries[0]["secrets_types"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .ends_with(" more]"));
    let small = LlmRequestEvent {
        command_generated: Some("c".repeat(60_000)),
        ..full_event()
    };
    log.record(&small).unwrap();
    let last = read_entries(log.path(), None, None)
        .unwrap()
        .entries
        .pop()
        .unwrap();
    assert_eq!(
        last["command_generated"].as_str().unwrap().len(),
        60_000,
        "under the cap: untouched"
    );
}

#[test]
fn non_ascii_is_escaped_like_python_and_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = log_at(dir.path());
    let cmd = "kubectl get pods -l app=café😀\u{7f}";
    log.record(&LlmRequestEvent {
        command_generated: Some(cmd.into()),
        ..full_event()
    })
    .unwrap();
    let text = std::fs::read_to_string(log.path()).unwrap();
    assert!(text.is_ascii());
    assert!(
        text.contains(r#"app=caf\u00e9\ud83d\ude00\u007f""#),
        "{text}"
    );
    let e = &read_entries(log.path(), None, None).unwrap().entries[0];
    assert_eq!(e["command_generated"], cmd);
}

#[test]
fn timestamps_are_written_as_python_isoformat() {
    let t = at(1_748_772_000) + Duration::from_micros(123_456) + Duration::from_nanos(789);
    assert_eq!(py_isoformat_utc(t), "2025-06-01T10:00:00.123456+00:00");
    assert_eq!(
        py_isoformat_utc(at(1_748_772_000)),
        "2025-06-01T10:00:00+00:00"
    );
    assert_eq!(
        py_isoformat_utc(at(0) + Duration::from_micros(1)),
        "1970-01-01T00:00:00.000001+00:00"
    );
    let parsed = py_fromisoformat("2025-06-01T10:00:00.123456+00:00").unwrap();
    assert_eq!(parsed.unix_micros, 1_748_772_000_123_456);
    assert!(parsed.aware);
}

#[test]
fn default_path_is_the_references() {
    let home = Some(std::ffi::OsString::from("/home/u"));
    assert_eq!(
        default_path_for(home.clone(), Some("prod")),
        Path::new("/home/u/.config/vibectl/audit-prod.log")
    );
    assert_eq!(
        default_path_for(home.clone(), None),
        Path::new("/home/u/.config/vibectl/audit.log")
    );
    assert_eq!(
        default_path_for(home, Some("")),
        Path::new("/home/u/.config/vibectl/audit.log")
    );
    assert_eq!(
        default_path_for(Some("".into()), None),
        Path::new("/.config/vibectl/audit.log")
    );
    assert!(AuditLog::default_path(Some("x")).ends_with(".config/vibectl/audit-x.log"));
}

#[test]
fn parse_since_accepts_the_references_forms() {
    let now = at(1_750_248_000); // 2025-06-18T12:00:00Z
    let ok = |s: &str| parse_since(s, now).unwrap();
    assert_eq!(ok("2h"), now - Duration::from_secs(7200));
    assert_eq!(ok(" 30m\n"), now - Duration::from_secs(1800));
    assert_eq!(ok("1d"), now - Duration::from_secs(86_400));
    assert_eq!(ok("90s"), now - Duration::from_secs(90));
    assert_eq!(ok("0s"), now);
    assert_eq!(ok("1718700000"), at(1_718_700_000));
    assert_eq!(ok("0"), at(0));
    assert_eq!(ok("2025-06-18T12:34:56Z"), at(1_750_250_096));
    assert_eq!(ok("2025-06-18T12:34:56"), at(1_750_250_096));
    assert_eq!(
        ok("2025-06-18 12:34:56.5"),
        at(1_750_250_096) + Duration::from_millis(500)
    );
    assert_eq!(ok("2025-06-18T14:34:56+02:00"), at(1_750_250_096));
    assert_eq!(ok("20250618T123456Z"), at(1_750_250_096));
    assert_eq!(ok("2025-06-18"), at(1_750_204_800));
    assert_eq!(ok("2025-W25-3"), at(1_750_204_800));
    assert_eq!(
        ok("20250618"),
        at(20_250_618),
        "all digits is epoch seconds, as in the reference"
    );
    assert_eq!(
        ok("2025-06-18T12:34:56ZZ"),
        at(1_750_250_096),
        "one Z dropped, fromisoformat takes the other"
    );
    for junk in [
        "",
        "  ",
        "yesterday",
        "2x",
        "-2h",
        "1.5h",
        "2 h",
        "h",
        "2025-13-01",
        "2025-06-18T25:00",
        "2025-06-18T12:34:56Z+01",
        "99999999999999",
        "999999999999d",
        "2025-06-18t12:00z",
    ] {
        let err = parse_since(junk, now).unwrap_err();
        assert!(
            matches!(err, AuditError::InvalidSince { .. }),
            "{junk:?}: {err:?}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("{junk:?}"))
                && msg.contains("2h, 30m, 1d")
                && msg.contains("epoch"),
            "{msg}"
        );
    }
}

#[test]
fn since_and_limit_filter_like_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    let mut lines = LINES.to_vec();
    lines.push("{\"event_type\":\"llm_request\",\"request_id\":\"no-time\"}");
    write_lines(&path, &lines);
    let ids = |since: Option<SystemTime>, limit: Option<usize>| -> (Vec<String>, usize) {
        let r = read_entries(&path, since, limit).unwrap();
        (
            r.entries
                .iter()
                .map(|e| e["request_id"].as_str().unwrap().to_string())
                .collect(),
            r.skipped,
        )
    };
    assert_eq!(
        ids(None, None),
        (
            vec![
                "abc".into(),
                "r-2".into(),
                "r-2".into(),
                "r-3".into(),
                "r-4".into(),
                "no-time".into()
            ],
            0
        )
    );
    assert_eq!(ids(None, Some(0)).0.len(), 6, "0 means unlimited");
    assert_eq!(
        ids(None, Some(2)).0,
        ["abc", "r-2"],
        "the FIRST (oldest) matches, as the reference"
    );
    assert_eq!(
        ids(Some(at(T_1005)), None),
        (
            vec!["r-2".into(), "r-2".into(), "r-3".into(), "r-4".into()],
            1
        )
    );
    let just_after = at(T_1005) + Duration::from_micros(1);
    assert_eq!(ids(Some(just_after), None).0, ["r-2", "r-3", "r-4"]);
    assert_eq!(ids(Some(at(T_1005)), Some(2)).0, ["r-2", "r-2"]);
    let since = parse_since("2025-06-01T10:06:00.5Z", at(0)).unwrap();
    assert_eq!(ids(Some(since), None).0, ["r-3", "r-4"]);
}

#[test]
fn a_reference_written_line_is_read_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit-prod.log");
    write_lines(&path, &[LINES[0]]);
    let read = read_entries(&path, None, None).unwrap();
    assert_eq!(read.skipped, 0);
    assert_eq!(read.entries[0]["model_used"], "claude-4-sonnet");
    let shown = render_show("prod", &read.entries);
    let expected =
        format!(
        "Audit log (prod) - showing 1 entries\n{:<32}  {:<11}  Details\n{}  {}  {}\n{}  {}  {}\n",
        "Timestamp", "Event",
        "-".repeat(32), "-".repeat(11), "-".repeat(37),
        "2025-06-01T10:00:00.123456+00:00", "llm_request", "cmd=- model=claude-4-sonnet secrets=0"
    );
    assert_eq!(shown, expected);
}

#[test]
fn show_summarizes_every_event_type_like_the_reference() {
    let entries: Vec<Value> = LINES
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let shown = render_show("prod", &entries);
    let rows: Vec<&str> = shown.lines().collect();
    assert_eq!(rows[0], "Audit log (prod) - showing 5 entries");
    assert_eq!(rows.len(), 3 + 5);
    for ((row, summary), entry) in rows[3..].iter().zip(SUMMARIES).zip(&entries) {
        assert!(
            row.starts_with(entry["timestamp"].as_str().unwrap()),
            "{row}"
        );
        assert!(row.contains(entry["event_type"].as_str().unwrap()), "{row}");
        assert!(
            row.ends_with(&summary.replace('\n', "\\n")),
            "{row:?} vs {summary:?}"
        );
    }
    let detail_col = rows[1].find("Details").unwrap();
    assert!(rows[3..].iter().all(|r| r.chars().count() > detail_col));
    let odd = [
        json!({"timestamp": null, "event_type": "other"}),
        json!({"event_type": "sanitization", "secrets_detected": null}),
    ];
    let shown = render_show("p", &odd);
    assert_eq!(
        shown
            .lines()
            .nth(3)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["other", "-"]
    );
    assert!(
        shown
            .lines()
            .nth(4)
            .unwrap()
            .ends_with("secrets=None types="),
        "{shown}"
    );
    assert_eq!(render_show("prod", &[]), "No audit entries found.\n");
}

#[test]
fn export_matches_the_reference_in_all_three_formats() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.log");
    write_lines(&path, &LINES);
    let entries = read_entries(&path, None, None).unwrap().entries;
    assert_eq!(render_export(&entries, ExportFormat::Json), EXPORT_JSON);
    assert_eq!(render_export(&entries, ExportFormat::Jsonl), EXPORT_JSONL);
    assert_eq!(render_export(&entries, ExportFormat::Csv), EXPORT_CSV);
    assert_eq!(render_export(&[], ExportFormat::Json), "[]");
    assert_eq!(render_export(&[], ExportFormat::Jsonl), "");
    assert_eq!(render_export(&[], ExportFormat::Csv), "");
}

#[test]
fn csv_quotes_commas_quotes_and_newlines() {
    let entries = [
        json!({"a": "x,y", "b": "say \"hi\"", "c": "l1\nl2", "d": "cr\rx", "e": " plain ", "f": [1, null, "s"], "g": {"k": true}}),
    ];
    let csv = render_export(&entries, ExportFormat::Csv);
    assert_eq!(
        csv,
        "a,b,c,d,e,f,g\r\n\"x,y\",\"say \"\"hi\"\"\",\"l1\nl2\",\"cr\rx\", plain ,\"1,None,s\",{'k': True}\r"
    );
    assert_eq!(
        render_export(&[json!({"a": ""})], ExportFormat::Csv),
        "a\r\n\"\"\r"
    );
}

#[test]
fn formats_parse_case_insensitively_and_list_valid_values() {
    assert_eq!(
        "JSONL".parse::<ExportFormat>().unwrap(),
        ExportFormat::Jsonl
    );
    assert_eq!("Csv".parse::<ExportFormat>().unwrap(), ExportFormat::Csv);
    assert_eq!(
        "json".parse::<ExportFormat>().unwrap(),
        ExportFormat::default()
    );
    let err = "xml".parse::<ExportFormat>().unwrap_err().to_string();
    assert!(
        err.contains("\"xml\"") && err.contains("json, jsonl, csv"),
        "{err}"
    );
    assert_eq!("TABLE".parse::<InfoFormat>().unwrap(), InfoFormat::Table);
    assert_eq!("json".parse::<InfoFormat>().unwrap(), InfoFormat::Json);
    assert!("yaml"
        .parse::<InfoFormat>()
        .unwrap_err()
        .to_string()
        .contains("table, json"));
}

#[test]
fn info_renders_table_json_and_paths() {
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("audit-prod.log");
    std::fs::write(&existing, "0123456789").unwrap();
    let rows = [
        InfoRow::new("prod".into(), true, existing.clone()),
        InfoRow::new("staging".into(), true, dir.path().join("audit-staging.log")),
        InfoRow::new("off".into(), false, existing.clone()),
    ];
    assert!(rows[0].exists && rows[0].size == 10 && rows[0].last_modified.is_some());
    assert!(!rows[1].exists && !rows[2].exists);
    let json: Value = serde_json::from_str(&render_info(&rows, InfoFormat::Json, false)).unwrap();
    let text = render_info(&rows, InfoFormat::Json, false);
    assert!(
        text.ends_with("}\n]\n") && text.starts_with("[\n  {\n    \"profile\": \"prod\",\n"),
        "{text}"
    );
    assert_eq!(json[0]["enabled"], true);
    assert_eq!(json[0]["path"], existing.display().to_string());
    assert_eq!(json[0]["exists"], true);
    assert_eq!(json[0]["size"], 10);
    let modified = json[0]["last_modified"].as_str().unwrap();
    assert!(
        modified.len() == 19 || modified.ends_with(" UTC"),
        "{modified}"
    );
    assert_eq!(json[1]["exists"], false);
    assert_eq!(json[1]["size"], 0);
    assert_eq!(json[1]["last_modified"], "-");
    assert_eq!(
        json[2],
        json!({"profile": "off", "enabled": false, "path": "-", "exists": false, "size": 0, "last_modified": "-"})
    );
    assert_eq!(
        keys_in_order(&serde_json::to_string(&json[0]).unwrap()).len(),
        6
    );
    let paths = render_info(&rows, InfoFormat::Table, true);
    assert_eq!(
        paths,
        format!(
            "{}\n{}\n",
            existing.display(),
            dir.path().join("audit-staging.log").display()
        )
    );
    let table = render_info(&rows, InfoFormat::Table, false);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "Audit log information");
    assert!(
        lines[1].starts_with("Profile  Enabled  Log path"),
        "{table}"
    );
    assert!(
        lines[3].starts_with("prod     Yes      ") && lines[3].contains("  Yes     10 bytes  "),
        "{table}"
    );
    assert!(
        lines[4].starts_with("staging  Yes") && lines[4].ends_with("No      -         -"),
        "{table}"
    );
    assert!(lines[5].starts_with("off      No       -  "), "{table}");
    assert_eq!(
        render_info(&[], InfoFormat::Json, false),
        "No proxy profiles configured.\n"
    );
}

#[test]
fn info_json_keeps_non_ascii_like_ensure_ascii_false() {
    let rows = [InfoRow::new("café".into(), false, "/x".into())];
    assert!(render_info(&rows, InfoFormat::Json, false).contains("\"profile\": \"café\""));
}

#[test]
fn python_value_spelling() {
    for (v, want) in [
        (1e-5, "1e-05"),
        (1e16, "1e+16"),
        (1e15, "1000000000000000.0"),
        (0.0001, "0.0001"),
        (123.45, "123.45"),
        (-0.0, "-0.0"),
        (1.5e-7, "1.5e-07"),
        (1.2345678901234568e17, "1.2345678901234568e+17"),
        (5e-324, "5e-324"),
        (2.0, "2.0"),
    ] {
        assert_eq!(py_float_repr(v), want);
    }
    assert_eq!(py_str(&json!(null)), "None");
    assert_eq!(py_str(&json!(true)), "True");
    assert_eq!(py_str(&json!(["a", 1, null, 2.5])), "['a', 1, None, 2.5]");
    assert_eq!(py_str(&json!(["it's"])), "[\"it's\"]");
    assert_eq!(
        py_str(&json!({"b": [], "a": "x\ny"})),
        "{'a': 'x\\ny', 'b': []}"
    );
}

#[test]
fn mtime_format() {
    let t = time::OffsetDateTime::from_unix_timestamp(1_748_772_005).unwrap();
    assert_eq!(format_ymd_hms(t), "2025-06-01 10:00:05");
}

#[test]
fn iso_parsing_matches_cpython() {
    for (input, want) in CPYTHON_FROMISOFORMAT {
        let got = py_fromisoformat(input).map(|t| (t.unix_micros, t.aware));
        assert_eq!(got, *want, "{input:?}");
    }
}

/// `datetime.fromisoformat` results from CPython 3.11.7 (naive taken as UTC):
/// input, then `Some((unix micros, has offset))` or `None` for a ValueError.
const CPYTHON_FROMISOFORMAT: &[(&str, Option<(i128, bool)>)] = &[
    ("2025-06-18", Some((1750204800000000, false))),
    ("20250618", Some((1750204800000000, false))),
    ("2025-W25", Some((1750032000000000, false))),
    ("2025W25", Some((1750032000000000, false))),
    ("2025-W25-3", Some((1750204800000000, false))),
    ("2025W253", Some((1750204800000000, false))),
    ("2025-06-18T12:34:56", Some((1750250096000000, false))),
    ("2025-06-18T12:34", Some((1750250040000000, false))),
    ("2025-06-18T12", Some((1750248000000000, false))),
    ("2025-06-18 12:34:56.123", Some((1750250096123000, false))),
    (
        "2025-06-18T12:34:56.123456",
        Some((1750250096123456, false)),
    ),
    ("2025-06-18T12:34:56,5", Some((1750250096500000, false))),
    (
        "2025-06-18T12:34:56.1234567",
        Some((1750250096123456, false)),
    ),
    ("2025-06-18T12:34:56Z", Some((1750250096000000, true))),
    ("2025-06-18T12:34:56+00:00", Some((1750250096000000, true))),
    ("2025-06-18T12:34:56-05:30", Some((1750269896000000, true))),
    ("2025-06-18T12:34:56+0530", Some((1750230296000000, true))),
    ("2025-06-18T12:34:56+05", Some((1750232096000000, true))),
    (
        "2025-06-18T12:34:56+05:30:15",
        Some((1750230281000000, true)),
    ),
    (
        "2025-06-18T12:34:56+05:30:15.123",
        Some((1750230280877000, true)),
    ),
    ("20250618T123456", Some((1750250096000000, false))),
    ("20250618T123456.789Z", Some((1750250096789000, true))),
    (
        "2025-06-01T10:00:00.123456+00:00",
        Some((1748772000123456, true)),
    ),
    ("2025-06-01T10:00:00+00:00", Some((1748772000000000, true))),
    ("2024-02-29T00:00:00", Some((1709164800000000, false))),
    ("2023-02-29", None),
    ("2020-W53-5", Some((1609459200000000, false))),
    ("2021-W53-1", None),
    ("2025-W01-1T08:00", Some((1735545600000000, false))),
    ("2025W011T0800", Some((1735545600000000, false))),
    ("0001-01-01T00:00:00", Some((-62135596800000000, false))),
    (
        "9999-12-31T23:59:59.999999",
        Some((253402300799999999, false)),
    ),
    (
        "9999-12-31T23:59:59-01:00",
        Some((253402304399000000, true)),
    ),
    (
        "0001-01-01T00:00:00+01:00",
        Some((-62135600400000000, true)),
    ),
    ("2025-06-18\u{e9}12:34", Some((1750250040000000, false))),
    ("2025-06-18\u{3000} 12:34", None),
    ("2025-06-18T24:00", None),
    ("2025-06-18T12:60", None),
    ("2025-06-18T12:34:60", None),
    ("2025-13-01", None),
    ("2025-06-18T12:34:56+24:00", None),
    (
        "2025-06-18T12:34:56+23:59:59.999999",
        Some((1750163696000001, true)),
    ),
    ("2025-06-18T12:34:56+99", None),
    ("2025-06-18T12:34:56:78", Some((1750250096780000, false))),
    ("2025-06-18T12345678", Some((1750250096780000, false))),
    ("2025-06-18T1234", Some((1750250040000000, false))),
    ("2025-06-18T12:3456", None),
    ("2025-06-18T12:34:56.", None),
    ("2025-06-18T", None),
    ("2025-W01-", None),
    ("2025-W0112", None),
    ("2025W0112", None),
    ("2025W01123456", None),
    ("1718700000", None),
    ("99999999999999", None),
    ("999912310000000", Some((253402214400000000, false))),
    ("2025-06-18t12:34:56z", None),
    ("2025-06-18T12:34:56+01:99", Some((1750240556000000, true))),
    ("0000-01-01", None),
    (
        "2025-06-18T12:34:56.123+05:00",
        Some((1750232096123000, true)),
    ),
    ("2025-06-18T12:34:56Z+01", None),
    ("2025-06-18T12:34:56-00:00", Some((1750250096000000, true))),
    ("2025-06-18T12.5", Some((1750248000500000, false))),
    ("2025-06-18T12:34.5", Some((1750250040500000, false))),
    ("2025-06-18T12,5Z", Some((1750248000500000, true))),
    ("2025-06-18T-05:00", None),
    ("2025-06-18TZ", None),
    ("2025-06-18 12:34:56.1232", Some((1750250096123200, false))),
    ("20250618T123456789Z", Some((1750250096789000, true))),
    ("2025-W01302", Some((1735524000000000, false))),
    (
        "2025-01-01T12:00+23:59:59.1234567",
        Some((1735646400876544, true)),
    ),
    (
        "2025-06-18T12:34:56\u{0}+05:30:15.123",
        Some((1750230280877000, true)),
    ),
    ("999912310000007", Some((253402214407000000, false))),
    ("20250818T123456", Some((1755520496000000, false))),
    ("2025-06-18T12:38:56Z", Some((1750250336000000, true))),
    ("2025W011T080Z", Some((1735545600000000, true))),
    ("20250618T123406.789Z", Some((1750250046789000, true))),
    ("2005-W25-3", Some((1119398400000000, false))),
    ("2025W01", Some((1735516800000000, false))),
    (
        "0001-01-01T00:09:00+01:00",
        Some((-62135599860000000, true)),
    ),
    (
        "9999-12-31T23:59:59z-01:00",
        Some((253402304399000000, true)),
    ),
    (
        "5999-12-31T23:59:59-01:00",
        Some((127174496399000000, true)),
    ),
    (
        "2025-06-18T12:35:56+05:30:15",
        Some((1750230341000000, true)),
    ),
    ("2025-06-1831234", Some((1750250040000000, false))),
    ("2025-W09:12", Some((1740398400000000, false))),
    ("2025-06-18 11:34:56.123", Some((1750246496123000, false))),
    ("2025-06-01T10:06:00+00:00", Some((1748772360000000, true))),
    (
        "2065-06-18T12:34:56+23:59:59.999999",
        Some((3012467696000001, true)),
    ),
    (
        "2025-06-18T12:36:56+23:59:59.999999",
        Some((1750163816000001, true)),
    ),
    ("2025-W01-1T0800", Some((1735545600000000, false))),
    ("5205-06-18T12.5", Some((102101342400500000, false))),
    ("2025-W06112", Some((1738584000000000, false))),
    (
        "2025-06-18T12:39:56.1234567",
        Some((1750250396123456, false)),
    ),
    (
        "2025-06-18T12:34:56+23:59:59.97999979",
        Some((1750163696020001, true)),
    ),
    ("2025W09112", Some((1740398400000000, false))),
    ("8025W253", Some((191091916800000000, false))),
    (
        "2025-01-18T12:34:56.123+05:00",
        Some((1737185696123000, true)),
    ),
    ("2025-06-17T17:34", Some((1750181640000000, false))),
    ("2025W031123956", Some((1736771996000000, false))),
    ("2025-01-18T12:34:56Z", Some((1737203696000000, true))),
    ("9025-06-18\u{e9}12:34", Some((222648870840000000, false))),
    ("9999W52", Some((253401868800000000, false))),
    ("2025-06-19T12:34:56:58", Some((1750336496580000, false))),
    (
        "2025-06-18T12:34:56+05:39:15.123",
        Some((1750229740877000, true)),
    ),
    ("2102W253", Some((4180291200000000, false))),
    ("0001-01-01T20:00:00", Some((-62135524800000000, false))),
    ("2027-06-18T12:34.5", Some((1813322040500000, false))),
    ("2425-W25", Some((14372812800000000, false))),
    ("2005-06-18T12345678", Some((1119098096780000, false))),
    ("2025-04-18T12", Some((1744977600000000, false))),
    ("2239-W25", Some((8503228800000000, false))),
    ("20250618T123456089Z", Some((1750250096089000, true))),
    ("0250W011T0800", Some((-54278006400000000, false))),
    ("2025-06-18T12,Z", Some((1750248000000000, true))),
    (
        "2525-06-01T10:00:00.123456+00:00",
        Some((17527226400123456, true)),
    ),
    ("0020-W53-5", Some((-61504444800000000, false))),
    ("36151211", Some((51940915200000000, false))),
    ("9025-06-18T12.5", Some((222648868800500000, false))),
    (
        "2025-06-18512:356+05:30:15.123",
        Some((1750230284877000, true)),
    ),
    ("2025-06-18T12:37:56:78", Some((1750250276780000, false))),
    ("20250618T123556", Some((1750250156000000, false))),
    ("20650618", Some((3012508800000000, false))),
    ("99991231001000300", Some((253402218003000000, false))),
    (
        "9969-12-31T23:59:59.999919",
        Some((252455615999999919, false)),
    ),
    (
        "2025-06-18T12:34:56+05:30:45.123",
        Some((1750230250877000, true)),
    ),
    ("2062-06-18T1234", Some((2917859640000000, false))),
    ("2625-W01-1T08:00", Some((20670019200000000, false))),
    ("9999123102000", Some((253402286400000000, false))),
    ("2025-06-18T12:34:56.12346", Some((1750250096123460, false))),
    (
        "2025-06-18T12:34:56+23:59:53.999999",
        Some((1750163702000001, true)),
    ),
    ("2079W0112346", Some((3439928760000000, false))),
    ("2820-W53-5", Some((26855020800000000, false))),
    ("20250618T120456", Some((1750248296000000, false))),
    ("2025-06-18T12:34:56.6", Some((1750250096600000, false))),
    (
        "2025-01-01T12:00-00:00:00.999999",
        Some((1735732800000000, true)),
    ),
    ("2025-06-18T12:34:54,5", Some((1750250094500000, false))),
    ("2022W112", Some((1647302400000000, false))),
    (",1,11W7262", None),
    ("12zx\u{3000}\u{3000}:11\u{e9}5 6+5", None),
    ("431  \u{3000}25312\u{0}5\u{3000}7 t46Z\u{e9}883W", None),
    ("2025-06-018T10:00:00+\u{0}0:000", None),
    ("2025-06-18T12:34:6t0", None),
    ("9919912300090000", None),
    ("29025W011:3456", None),
    ("\u{e9}55902019627 ", None),
    ("846W5815T289.7Z3517 ,3", None),
    ("2025-06918T12:,4:60", None),
    ("25113+788T0775:3\u{0}1\u{3000}8W", None),
    ("490347Z0 ,10304059Tt21472", None),
    ("20720-W53-5", None),
    ("6T0.49413+6", None),
    ("202591012", None),
    ("56335Z9056967WW", None),
    ("7034t43008701573t29+44936", None),
    ("225-0618T12:3456", None),
    ("7023-0229W", None),
    ("2025-06-18512:34:56-05:3z", None),
    ("20250618T1923456.789Z", None),
    ("9999-2-31T23:39:59-01:00", None),
    ("+62986125:3896\u{0}38Z:-4751\u{0}", None),
    ("2025-06-1T12:3456+00:00", None),
    ("7:8\u{0}845+:", None),
    ("99,27Z2302.+z63\u{3000}-", None),
    ("9\u{e9}9z95\u{0}78-1\u{e9}", None),
    ("2+025-069-8T12.5", None),
    (":0::51+31666t,\u{3000}3901T T", None),
    ("2025-Z06-18Tt2:34:456+99", None),
    ("5::4 61W7\u{0}2074\u{e9}3.", None),
    ("6940\u{e9}64385288756\u{3000}ZT\u{e9}5T", None),
    ("67x159:\u{0}6", None),
    ("04\u{0}731433145", None),
    ("T6:98xzt340+\u{e9}826\u{3000}385t", None),
    ("920251-06-18T19234", None),
    ("2025-006-18T12:3456+23:59:59.99999", None),
    ("8776.t7976\u{0}81633056", None),
    ("6:5z\u{e9}z\u{0}+8\u{e9}5\u{e9}25", None),
    ("2025-06-18T1:34:55+05", None),
    ("2025-06-68T12:34:56Z+x01", None),
    ("1\u{0}:01155481\u{e9}tzZ69.", None),
    (".863,W\u{3000}.8z, 58+643917", None),
    ("3\u{3000}132171T", None),
    ("8:074523", None),
    ("4 57 870:1", None),
    ("010:5 02TW", None),
    ("20254x06-018T", None),
    ("0\u{0}01-01-01T00:00:00", None),
    ("225W011234 56", None),
];
