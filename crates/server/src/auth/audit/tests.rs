#![allow(clippy::unwrap_used, clippy::expect_used)]
use std::time::{Duration, Instant, SystemTime};

use super::writer::{peer_key, Options, Writer};
use super::*;

fn failure(peer: &str) -> AuditEvent {
    AuditEvent {
        event: "auth_failed",
        peer: Some(peer.to_owned()),
        reason: Some("bad signature".into()),
        ..AuditEvent::default()
    }
}

/// The complete lines of the log: a line the writer is still writing (no newline yet) is left
/// for the next read.
fn lines(path: &Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let done = text.rfind('\n').map_or("", |end| &text[..end]);
    done.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn opts(per_peer: u32) -> Options {
    Options {
        max_file_bytes: 1 << 30,
        keep_files: 3,
        per_peer,
    }
}

#[test]
fn peers_are_keyed_by_address_without_port_and_ipv6_by_prefix() {
    assert_eq!(peer_key(Some("10.1.2.3:5555")), "10.1.2.3");
    assert_eq!(
        peer_key(Some("[2001:db8:1:2:3:4:5:6]:443")),
        "2001:db8:1:2::/64"
    );
    assert_eq!(peer_key(Some("[::ffff:10.0.0.1]:1")), "10.0.0.1");
    assert_eq!(peer_key(None), "-");
}

#[test]
fn repeated_failures_from_one_peer_become_a_suppressed_count() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    let mut w = Writer::open(&path, opts(5)).unwrap();
    let t0 = Instant::now();
    // 100 failures from one address (new ports each time) and 3 from another, in 0.5 s.
    for i in 0..100u64 {
        let at = t0 + Duration::from_millis(i * 5);
        w.handle((
            SystemTime::now(),
            at,
            failure(&format!("10.0.0.1:{}", 1000 + i)),
        ));
    }
    for i in 0..3 {
        w.handle((SystemTime::now(), t0, failure(&format!("10.0.0.2:{i}"))));
    }
    // Successes are never aggregated.
    for _ in 0..20 {
        let ok = AuditEvent {
            event: "auth_ok",
            peer: Some("10.0.0.1:1".into()),
            ..AuditEvent::default()
        };
        w.handle((SystemTime::now(), t0, ok));
    }
    // The next window of 10.0.0.1 opens with the count of the last one.
    w.handle((
        SystemTime::now(),
        t0 + Duration::from_millis(1100),
        failure("10.0.0.1:9"),
    ));
    w.finish();
    let all = lines(&path);
    let count = |event: &str, peer: &str| {
        all.iter()
            .filter(|l| l["event"] == event && l["peer"].as_str().unwrap_or("").starts_with(peer))
            .count()
    };
    assert_eq!(count("auth_failed", "10.0.0.1"), 6, "{all:#?}");
    assert_eq!(count("auth_failed", "10.0.0.2"), 3);
    assert_eq!(count("auth_ok", "10.0.0.1"), 20);
    let suppressed: Vec<_> = all
        .iter()
        .filter(|l| l["event"] == "audit_suppressed")
        .collect();
    assert_eq!(suppressed.len(), 1, "{suppressed:#?}");
    assert_eq!(suppressed[0]["peer"], "10.0.0.1");
    assert_eq!(suppressed[0]["suppressed"], 95);
    assert!(suppressed[0]["reason"]
        .as_str()
        .unwrap()
        .contains("audit.max_failures_per_peer_per_second"));
}

#[test]
fn a_flood_that_stops_is_still_reported_by_the_sweep() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    let mut w = Writer::open(&path, opts(2)).unwrap();
    let t0 = Instant::now();
    for _ in 0..10 {
        w.handle((SystemTime::now(), t0, failure("192.0.2.7:1")));
    }
    // Still inside the window: nothing to report; after it, the sweep reports and forgets it.
    w.sweep(t0 + Duration::from_millis(500));
    w.sweep(t0 + Duration::from_millis(1500));
    w.finish();
    let all = lines(&path);
    assert_eq!(all.len(), 3, "{all:#?}");
    assert_eq!(all[2]["event"], "audit_suppressed");
    assert_eq!(all[2]["suppressed"], 8);
}

#[test]
fn rotation_keeps_the_configured_number_of_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    let mut w = Writer::open(
        &path,
        Options {
            max_file_bytes: 2000,
            keep_files: 3,
            per_peer: 5,
        },
    )
    .unwrap();
    for i in 0..200 {
        let ev = AuditEvent {
            event: "auth_ok",
            subject: Some(format!("user-{i}")),
            ..AuditEvent::default()
        };
        w.handle((SystemTime::now(), Instant::now(), ev));
    }
    w.finish();
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["audit.log", "audit.log.1", "audit.log.2", "audit.log.3"]
    );
    for n in &names {
        let meta = std::fs::metadata(dir.path().join(n)).unwrap();
        assert!(meta.len() <= 2000, "{n}: {}", meta.len());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(meta.permissions().mode() & 0o777, 0o600, "{n}");
        }
    }
    // The newest lines are in the live file, the ones before in .1.
    let live = lines(&path);
    assert_eq!(live.last().unwrap()["subject"], "user-199");
    let prev = lines(&dir.path().join("audit.log.1"));
    let first_live: u32 = live[0]["subject"].as_str().unwrap()[5..].parse().unwrap();
    assert_eq!(
        prev.last().unwrap()["subject"],
        format!("user-{}", first_live - 1)
    );
}

#[test]
fn keep_zero_deletes_the_old_log_at_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    let mut w = Writer::open(
        &path,
        Options {
            max_file_bytes: 500,
            keep_files: 0,
            per_peer: 5,
        },
    )
    .unwrap();
    for _ in 0..50 {
        w.handle((SystemTime::now(), Instant::now(), failure("x")));
    }
    w.finish();
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1);
    assert!(std::fs::metadata(&path).unwrap().len() <= 500);
}

#[test]
fn a_full_queue_drops_without_blocking_and_reports_every_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(AUDIT_FILE);
    let cfg = AuditSection {
        max_failures_per_peer_per_second: 1000,
        ..AuditSection::default()
    };
    let log = AuditLog::start_with_queue(&path, &cfg, 1).unwrap();
    let total = 5000u64;
    for i in 0..total {
        log.record(AuditEvent {
            event: "auth_ok",
            jti: Some(i.to_string()),
            ..AuditEvent::default()
        });
    }
    let dropped = log.dropped.load(Ordering::Relaxed);
    assert!(dropped > 0, "a queue of one must overflow");
    drop(log);
    // The writer reports on its next turn and exits when the sender is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let all = lines(&path);
        let written = all.iter().filter(|l| l["event"] == "auth_ok").count() as u64;
        let reported: u64 = all
            .iter()
            .filter(|l| l["event"] == "audit_dropped")
            .map(|l| l["suppressed"].as_u64().unwrap())
            .sum();
        if written + reported == total {
            assert_eq!(reported, dropped);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "written {written} + reported {reported} != {total}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
