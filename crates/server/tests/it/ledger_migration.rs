//! Ledgers written by the previous release (schema 1: rows keyed by day, subject and model,
//! every call through gRPC) open in this one with their rows, attributed to `grpc`, and their
//! spend still counting against budgets.
use std::time::Duration;

use redis::AsyncCommands;
use vibectl_server::state::{
    time, Admission, Api, Decision, EmbeddedStore, LimitKind, RedisStore, ScopeLimits, StateStore,
    Tally, UsageQuery,
};
use vibectl_testkit::RedisProcess;

/// The DDL of schema version 1, exactly as the previous release wrote it.
const V1_DDL: &str = "CREATE TABLE IF NOT EXISTS usage (
    day TEXT NOT NULL, subject TEXT NOT NULL, model TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens INTEGER NOT NULL DEFAULT 0, cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    cost_pico INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, subject, model));
 PRAGMA user_version = 1;";

fn budget(subject: &str, micro: u64) -> ScopeLimits {
    ScopeLimits {
        scope: format!("s:{subject}"),
        budget_day_micro: Some(micro),
        ..ScopeLimits::default()
    }
}

fn admission(lim: &ScopeLimits, est_cost_micro: u64) -> Admission {
    Admission {
        lease: uuid::Uuid::new_v4().to_string(),
        scopes: vec![lim.clone()],
        est_tokens: 0,
        est_cost_micro,
        max_output_tokens: 0,
        output_pico_per_token: 0,
        lease_ttl_ms: 60_000,
        window_ms: 60_000,
    }
}

async fn admitted(s: &dyn StateStore, a: &Admission) -> Option<vibectl_server::state::Ticket> {
    match s.admit(a).await.unwrap() {
        Decision::Admitted(t) => Some(t),
        Decision::Refused(r) => {
            assert_eq!(r.kind, LimitKind::Budget, "{r:?}");
            None
        }
    }
}

fn spend(cost_pico: u64) -> Tally {
    Tally {
        requests: 1,
        input_tokens: 7,
        output_tokens: 3,
        cost_pico,
        ..Tally::default()
    }
}

fn user_version(path: &std::path::Path) -> i64 {
    rusqlite::Connection::open(path)
        .unwrap()
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[tokio::test]
async fn a_version_1_sqlite_ledger_keeps_its_rows_as_grpc_and_its_spend() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.sqlite3");
    let today = time::day(time::now_ms());
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(V1_DDL).unwrap();
        for (day, subject, model, requests, cost_pico) in [
            (today.as_str(), "vera", "m", 3, 900_000_000_i64),
            ("2020-01-02", "vera", "m", 5, 42),
            (today.as_str(), "walt", "m2", 1, 7),
        ] {
            c.execute(
                "INSERT INTO usage (day, subject, model, requests, errors, input_tokens,
                    output_tokens, cache_read_tokens, cache_write_tokens, cost_pico)
                 VALUES (?1, ?2, ?3, ?4, 1, 10, 20, 30, 40, ?5)",
                rusqlite::params![day, subject, model, requests, cost_pico],
            )
            .unwrap();
        }
    }
    assert_eq!(user_version(&path), 1);

    let lim = budget("vera", 1_000);
    {
        let s = EmbeddedStore::open(&path).unwrap();
        assert_eq!(user_version(&path), 2, "migrated");
        let rows = s.usage(&UsageQuery::default()).await.unwrap();
        let got: Vec<_> = rows
            .iter()
            .map(|r| (r.day.as_str(), r.subject.as_str(), r.model.as_str(), r.api))
            .collect();
        assert_eq!(
            got,
            [
                ("2020-01-02", "vera", "m", Api::Grpc),
                (today.as_str(), "vera", "m", Api::Grpc),
                (today.as_str(), "walt", "m2", Api::Grpc),
            ]
        );
        let t = &rows[1].tally;
        assert_eq!(
            (t.requests, t.errors, t.input_tokens, t.output_tokens),
            (3, 1, 10, 20)
        );
        assert_eq!(
            (t.cache_read_tokens, t.cache_write_tokens, t.cost_pico),
            (30, 40, 900_000_000)
        );
        // Today's 900 of 1000 micro-USD, read back from the migrated rows, still count.
        assert!(admitted(&s, &admission(&lim, 200)).await.is_none());
        // A call through another API is a row of its own; a gRPC call adds to the old row.
        let t = admitted(&s, &admission(&lim, 10)).await.unwrap();
        s.settle(&t, "vera", "m", Api::Anthropic, &spend(50_000_000))
            .await
            .unwrap();
        let t = admitted(&s, &admission(&lim, 10)).await.unwrap();
        s.settle(&t, "vera", "m", Api::Grpc, &spend(1))
            .await
            .unwrap();
        s.flush().await.unwrap();
    }
    // Reopened (already version 2): the budget is re-read across both APIs.
    let s = EmbeddedStore::open(&path).unwrap();
    let rows = s
        .usage(&UsageQuery {
            subject: Some("vera".into()),
            since: Some(today.clone()),
            api: None,
        })
        .await
        .unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| (r.api, r.tally.requests, r.tally.cost_pico))
        .collect();
    assert_eq!(
        got,
        [(Api::Anthropic, 1, 50_000_000), (Api::Grpc, 4, 900_000_001)]
    );
    // 901 (gRPC) + 50 (Anthropic) of 1000 spent: 60 is refused (it would fit beside the gRPC
    // row alone), 40 fits.
    assert!(admitted(&s, &admission(&lim, 60)).await.is_none());
    assert!(admitted(&s, &admission(&lim, 40)).await.is_some());
}

#[tokio::test]
async fn a_ledger_from_a_newer_server_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.sqlite3");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("PRAGMA user_version = 3;")
        .unwrap();
    let e = EmbeddedStore::open(&path).unwrap_err().to_string();
    assert!(e.contains("schema version 3 is newer"), "{e}");
    assert_eq!(user_version(&path), 3, "left alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_1_redis_rows_read_as_grpc_beside_version_2_rows() {
    let r = RedisProcess::start().expect("redis-server (scripts/test-deps.sh installs it)");
    let s = RedisStore::connect(&r.url(), "test:", Duration::from_secs(2), 30)
        .await
        .unwrap();
    let day = time::day(time::now_ms());
    // A row as a replica of the previous release (settle_v1.lua) leaves it.
    let mut c = redis::Client::open(r.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let row = format!("test:v1:u:{day}:4:vera:m");
    let _: () = c
        .hset_multiple(
            &row,
            &[
                ("subject", "vera"),
                ("model", "m"),
                ("day", day.as_str()),
                ("requests", "2"),
                ("input_tokens", "11"),
                ("cost_pico", "1000"),
            ],
        )
        .await
        .unwrap();
    let _: () = c.sadd(format!("test:v1:ud:{day}"), &row).await.unwrap();
    let _: () = c.sadd("test:v1:udays", &day).await.unwrap();

    let lim = budget("vera", 1_000_000);
    for api in [Api::Grpc, Api::OpenAi] {
        let t = admitted(&s, &admission(&lim, 10)).await.unwrap();
        s.settle(&t, "vera", "m", api, &spend(5)).await.unwrap();
    }
    let rows = s.usage(&UsageQuery::default()).await.unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.api,
                r.tally.requests,
                r.tally.input_tokens,
                r.tally.cost_pico,
            )
        })
        .collect();
    // The old row and the new gRPC row of the same key are one row.
    assert_eq!(got, [(Api::Grpc, 3, 18, 1005), (Api::OpenAi, 1, 7, 5)]);
    let grpc_only = s
        .usage(&UsageQuery {
            api: Some(Api::Grpc),
            ..UsageQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(grpc_only.len(), 1);
    assert_eq!(grpc_only[0].tally.requests, 3);

    // A row naming an API this server does not know is an error, not a silent gap.
    let odd = format!("test:v1:ua:{day}:gemini:4:vera:m");
    let _: () = c
        .hset_multiple(
            &odd,
            &[("subject", "vera"), ("model", "m"), ("api", "gemini")],
        )
        .await
        .unwrap();
    let _: () = c.sadd(format!("test:v1:ud:{day}"), &odd).await.unwrap();
    let e = s
        .usage(&UsageQuery::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown api `gemini`"), "{e}");
}
