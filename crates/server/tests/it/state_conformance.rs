//! One conformance suite for every state store: each case runs against the embedded store
//! (SQLite in a temp dir) and against a real `redis-server` started for it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use vibectl_server::state::{
    time, Admission, Api, Decision, EmbeddedStore, LimitKind, RedisStore, ScopeLimits, StateStore,
    Tally, Ticket, UsageQuery,
};
use vibectl_testkit::RedisProcess;

/// A store under test and what keeps it alive.
struct Backend {
    store: Arc<dyn StateStore>,
    _dir: Option<tempfile::TempDir>,
    _redis: Option<RedisProcess>,
}

async fn embedded() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("usage.sqlite3")).unwrap();
    Backend {
        store: Arc::new(store),
        _dir: Some(dir),
        _redis: None,
    }
}

async fn redis() -> Backend {
    let r = RedisProcess::start().expect("redis-server (scripts/test-deps.sh installs it)");
    let store = RedisStore::connect(&r.url(), "test:", Duration::from_secs(2), 30)
        .await
        .unwrap();
    Backend {
        store: Arc::new(store),
        _dir: None,
        _redis: Some(r),
    }
}

fn scope(name: &str) -> ScopeLimits {
    ScopeLimits {
        scope: name.into(),
        ..ScopeLimits::default()
    }
}

fn admission(scopes: Vec<ScopeLimits>, est_tokens: u64, est_cost_micro: u64) -> Admission {
    Admission {
        lease: uuid::Uuid::new_v4().to_string(),
        scopes,
        est_tokens,
        est_cost_micro,
        max_output_tokens: 0,
        output_pico_per_token: 0,
        lease_ttl_ms: 60_000,
        window_ms: 3_000,
    }
}

async fn admit(s: &dyn StateStore, a: &Admission) -> Result<Ticket, (LimitKind, u64)> {
    match s.admit(a).await.unwrap() {
        Decision::Admitted(t) => Ok(t),
        Decision::Refused(r) => Err((r.kind, r.retry_after_ms)),
    }
}

fn tally(tokens_in: u64, tokens_out: u64, cost_pico: u64) -> Tally {
    Tally {
        requests: 1,
        input_tokens: tokens_in,
        output_tokens: tokens_out,
        cost_pico,
        ..Tally::default()
    }
}

async fn rpm_window_refuses_then_reopens(b: Backend) {
    let s = &*b.store;
    let lim = ScopeLimits {
        rpm: Some(3),
        ..scope("s:alice")
    };
    for _ in 0..3 {
        admit(s, &admission(vec![lim.clone()], 0, 0)).await.unwrap();
    }
    let (kind, wait) = admit(s, &admission(vec![lim.clone()], 0, 0))
        .await
        .unwrap_err();
    assert_eq!(kind, LimitKind::Rpm);
    assert!(wait > 0 && wait <= 3_000, "retry-after {wait}");
    tokio::time::sleep(Duration::from_millis(wait + 20)).await;
    admit(s, &admission(vec![lim.clone()], 0, 0)).await.unwrap();
    // Another subject has its own window.
    let bob = ScopeLimits {
        rpm: Some(3),
        ..scope("s:bob")
    };
    admit(s, &admission(vec![bob], 0, 0)).await.unwrap();
}

async fn concurrency_leases_release_and_expire(b: Backend) {
    let s = &*b.store;
    let lim = ScopeLimits {
        concurrency: Some(2),
        ..scope("total")
    };
    let t1 = admit(s, &admission(vec![lim.clone()], 0, 0)).await.unwrap();
    let _t2 = admit(s, &admission(vec![lim.clone()], 0, 0)).await.unwrap();
    let (kind, _) = admit(s, &admission(vec![lim.clone()], 0, 0))
        .await
        .unwrap_err();
    assert_eq!(kind, LimitKind::Concurrency);
    s.settle(&t1, "a", "m", Api::Grpc, &Tally::default())
        .await
        .unwrap();
    let mut short = admission(vec![lim.clone()], 0, 0);
    short.lease_ttl_ms = 1_500;
    admit(s, &short).await.unwrap();
    admit(s, &admission(vec![lim.clone()], 0, 0))
        .await
        .unwrap_err();
    // A lease never released (a crashed replica) frees itself.
    tokio::time::sleep(Duration::from_millis(1_700)).await;
    admit(s, &admission(vec![lim], 0, 0)).await.unwrap();
}

async fn tokens_reserve_then_settle(b: Backend) {
    let s = &*b.store;
    let lim = ScopeLimits {
        tokens_per_minute: Some(100),
        tokens_per_day: Some(1_000),
        ..scope("s:carol")
    };
    let t1 = admit(s, &admission(vec![lim.clone()], 60, 0))
        .await
        .unwrap();
    let (kind, wait) = admit(s, &admission(vec![lim.clone()], 60, 0))
        .await
        .unwrap_err();
    assert_eq!(kind, LimitKind::Tokens);
    assert!(wait <= 60_000);
    // The call used far less than its estimate: settling frees the difference.
    s.settle(&t1, "carol", "m", Api::Grpc, &tally(5, 5, 0))
        .await
        .unwrap();
    admit(s, &admission(vec![lim.clone()], 60, 0))
        .await
        .unwrap();
    // An estimate over the limit itself never passes.
    let (kind, _) = admit(s, &admission(vec![lim], 101, 0)).await.unwrap_err();
    assert_eq!(kind, LimitKind::Tokens);
}

async fn budget_reserve_then_settle(b: Backend) {
    let s = &*b.store;
    let lim = ScopeLimits {
        budget_day_micro: Some(1_000),
        budget_month_micro: Some(1_000_000),
        ..scope("s:dave")
    };
    let t1 = admit(s, &admission(vec![lim.clone()], 0, 400))
        .await
        .unwrap();
    let t2 = admit(s, &admission(vec![lim.clone()], 0, 400))
        .await
        .unwrap();
    let (kind, wait) = admit(s, &admission(vec![lim.clone()], 0, 400))
        .await
        .unwrap_err();
    assert_eq!(kind, LimitKind::Budget);
    let to_midnight = time::ms_to_next_day(time::now_ms());
    assert!(
        wait.abs_diff(to_midnight) < 5_000,
        "{wait} vs {to_midnight}"
    );
    // Each call really cost 100 micro-USD (100 000 000 pico).
    s.settle(&t1, "dave", "m", Api::Grpc, &tally(1, 1, 100_000_000))
        .await
        .unwrap();
    s.settle(&t2, "dave", "m", Api::Grpc, &tally(1, 1, 100_000_000))
        .await
        .unwrap();
    admit(s, &admission(vec![lim], 0, 400)).await.unwrap();
}

async fn a_refusal_counts_nothing(b: Backend) {
    let s = &*b.store;
    let full = ScopeLimits {
        rpm: Some(1),
        ..scope("s:erin")
    };
    let total = ScopeLimits {
        rpm: Some(3),
        budget_day_micro: Some(300),
        ..scope("total")
    };
    admit(s, &admission(vec![full.clone(), total.clone()], 0, 100))
        .await
        .unwrap();
    for _ in 0..5 {
        let (kind, _) = admit(s, &admission(vec![full.clone(), total.clone()], 0, 100))
            .await
            .unwrap_err();
        assert_eq!(kind, LimitKind::Rpm);
    }
    // The refused calls took nothing from the shared scope.
    admit(s, &admission(vec![total.clone()], 0, 100))
        .await
        .unwrap();
    admit(s, &admission(vec![total.clone()], 0, 100))
        .await
        .unwrap();
    admit(s, &admission(vec![total], 0, 100)).await.unwrap_err();
}

async fn concurrent_admits_are_exact(b: Backend) {
    let lim = ScopeLimits {
        rpm: Some(10),
        ..scope("total")
    };
    let budget = ScopeLimits {
        budget_day_micro: Some(1_000),
        ..scope("s:frank")
    };
    let mut tasks = Vec::new();
    for _ in 0..40 {
        let s = Arc::clone(&b.store);
        let (lim, budget) = (lim.clone(), budget.clone());
        tasks.push(tokio::spawn(async move {
            let a = admission(vec![lim], 0, 0);
            let b = admission(vec![budget], 0, 100);
            let mut a = a;
            a.window_ms = 60_000;
            (admit(&*s, &a).await.is_ok(), admit(&*s, &b).await.is_ok())
        }));
    }
    let mut rpm_ok = 0;
    let mut budget_ok = 0;
    for t in tasks {
        let (r, b) = t.await.unwrap();
        rpm_ok += usize::from(r);
        budget_ok += usize::from(b);
    }
    assert_eq!(rpm_ok, 10);
    assert_eq!(budget_ok, 10);
}

async fn ledger_sums_and_filters(b: Backend) {
    let s = &*b.store;
    let mk = |u: &str| admission(vec![scope(&format!("s:{u}"))], 10, 10);
    for (subject, model, t) in [
        ("gina", "m1", tally(10, 20, 7_875_000_000)),
        ("gina", "m1", tally(1, 2, 3)),
        ("gina", "m2", tally(5, 5, 5)),
        ("hank", "m1", tally(100, 0, 0)),
    ] {
        let ticket = admit(s, &mk(subject)).await.unwrap();
        s.settle(&ticket, subject, model, Api::Grpc, &t)
            .await
            .unwrap();
    }
    let mut err = tally(0, 0, 0);
    err.errors = 1;
    let ticket = admit(s, &mk("hank")).await.unwrap();
    s.settle(&ticket, "hank", "m1", Api::Grpc, &err)
        .await
        .unwrap();

    let rows = s.usage(&UsageQuery::default()).await.unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    let today = time::day(time::now_ms());
    let g1 = &rows[0];
    assert_eq!(
        (g1.day.as_str(), g1.subject.as_str(), g1.model.as_str()),
        (today.as_str(), "gina", "m1")
    );
    assert_eq!(g1.tally.requests, 2);
    assert_eq!(g1.tally.input_tokens, 11);
    assert_eq!(g1.tally.output_tokens, 22);
    assert_eq!(g1.tally.cost_pico, 7_875_000_003);
    let h = &rows[2];
    assert_eq!(
        (h.subject.as_str(), h.tally.requests, h.tally.errors),
        ("hank", 2, 1)
    );

    let only = s
        .usage(&UsageQuery {
            subject: Some("hank".into()),
            since: None,
            api: None,
        })
        .await
        .unwrap();
    assert_eq!(only.len(), 1);
    let future = s
        .usage(&UsageQuery {
            subject: None,
            since: Some("9999-01-01".into()),
            api: None,
        })
        .await
        .unwrap();
    assert!(future.is_empty());
}

/// One subject's calls to one model through the three APIs: three rows, each with its API,
/// the API filter picks one, and the subject's budget counts all three.
async fn ledger_keeps_apis_apart_and_budgets_whole(b: Backend) {
    let s = &*b.store;
    // 2500 micro-USD a day; each call reserves 10 and settles to 1000.
    let lim = ScopeLimits {
        budget_day_micro: Some(2_500),
        ..scope("s:pia")
    };
    for (api, t) in [
        (Api::Grpc, tally(1, 2, 1_000_000_000)),
        (Api::OpenAi, tally(3, 4, 1_000_000_000)),
        (Api::Anthropic, tally(5, 6, 1_000_000_000)),
    ] {
        let ticket = admit(s, &admission(vec![lim.clone()], 0, 10))
            .await
            .unwrap_or_else(|e| panic!("{api} refused: {e:?}"));
        s.settle(&ticket, "pia", "m", api, &t).await.unwrap();
    }
    // 3000 of 2500 spent across the APIs (no single API passed it): the next call is refused.
    let (kind, _) = admit(s, &admission(vec![lim], 0, 10)).await.unwrap_err();
    assert_eq!(kind, LimitKind::Budget);

    let rows = s.usage(&UsageQuery::default()).await.unwrap();
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r.subject.as_str(),
                r.model.as_str(),
                r.api,
                r.tally.input_tokens,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("pia", "m", Api::Anthropic, 5),
            ("pia", "m", Api::Grpc, 1),
            ("pia", "m", Api::OpenAi, 3),
        ]
    );
    for api in Api::ALL {
        let only = s
            .usage(&UsageQuery {
                api: Some(api),
                ..UsageQuery::default()
            })
            .await
            .unwrap();
        assert_eq!(only.len(), 1, "{api}: {only:?}");
        assert_eq!(only[0].api, api);
    }
    let json = serde_json::to_value(&rows[2]).unwrap();
    assert_eq!(json["api"], "openai", "{json}");
}

/// A limit or budget of 0 allows nothing, even a call that would count nothing (never "unlimited").
async fn zero_limits_allow_nothing(b: Backend) {
    let s = &*b.store;
    let zeros = [
        (
            LimitKind::Rpm,
            ScopeLimits {
                rpm: Some(0),
                ..scope("s:zed")
            },
        ),
        (
            LimitKind::Concurrency,
            ScopeLimits {
                concurrency: Some(0),
                ..scope("s:zed")
            },
        ),
        (
            LimitKind::Tokens,
            ScopeLimits {
                tokens_per_minute: Some(0),
                ..scope("s:zed")
            },
        ),
        (
            LimitKind::Tokens,
            ScopeLimits {
                tokens_per_day: Some(0),
                ..scope("s:zed")
            },
        ),
        (
            LimitKind::Budget,
            ScopeLimits {
                budget_day_micro: Some(0),
                ..scope("s:zed")
            },
        ),
        (
            LimitKind::Budget,
            ScopeLimits {
                budget_month_micro: Some(0),
                ..scope("s:zed")
            },
        ),
    ];
    for (kind, lim) in zeros {
        for (t, c) in [(0, 0), (5, 5)] {
            let got = admit(s, &admission(vec![lim.clone()], t, c)).await;
            assert_eq!(
                got.map_err(|e| e.0),
                Err(kind),
                "{lim:?} with estimate {t}/{c}"
            );
        }
    }
    // Unset limits stay unlimited.
    admit(s, &admission(vec![scope("s:zed")], 1 << 40, 1 << 40))
        .await
        .unwrap();
}

fn with_output(mut a: Admission, max_out: u64, pico_per_token: u64) -> Admission {
    a.max_output_tokens = max_out;
    a.output_pico_per_token = pico_per_token;
    a
}

/// A call is admitted when what remains covers its prompt bound; its output is capped to what
/// remains, so a small budget is used up call by call instead of locking after the first.
async fn output_is_capped_to_what_remains(b: Backend) {
    let s = &*b.store;
    // 1 micro-USD per output token; 1000 micro-USD a day; the prompt bound costs 100.
    let budget = ScopeLimits {
        budget_day_micro: Some(1_000),
        ..scope("s:olga")
    };
    let mk = || with_output(admission(vec![budget.clone()], 0, 100), 600, 1_000_000);
    let t1 = admit(s, &mk()).await.unwrap();
    assert_eq!((t1.output_tokens, t1.est_cost_micro), (600, 700));
    let t2 = admit(s, &mk()).await.unwrap();
    assert_eq!((t2.output_tokens, t2.est_cost_micro), (200, 300));
    let (kind, _) = admit(s, &mk()).await.unwrap_err();
    assert_eq!(kind, LimitKind::Budget);
    // Settled at what it really cost (150 micro-USD): the difference is free again.
    s.settle(&t1, "olga", "m", Api::Grpc, &tally(10, 10, 150_000_000))
        .await
        .unwrap();
    let t3 = admit(s, &mk()).await.unwrap();
    assert_eq!(t3.output_tokens, 450, "1000 - 150 - 300 - 100 left");
    // Prompt covered but not one output token: refused.
    let (kind, _) = admit(s, &mk()).await.unwrap_err();
    assert_eq!(kind, LimitKind::Budget);

    // Tokens the same way: 1000 a day, prompt bound 100, up to 600 out.
    let tokens = ScopeLimits {
        tokens_per_day: Some(1_000),
        ..scope("s:pete")
    };
    let mk = || with_output(admission(vec![tokens.clone()], 100, 0), 600, 0);
    assert_eq!(admit(s, &mk()).await.unwrap().output_tokens, 600);
    let t = admit(s, &mk()).await.unwrap();
    assert_eq!((t.output_tokens, t.est_tokens), (200, 300));
    assert_eq!(admit(s, &mk()).await.unwrap_err().0, LimitKind::Tokens);
    // Free output is bounded by the tokens only; no limit at all grants the whole cap.
    let free = with_output(admission(vec![scope("s:quin")], 10, 10), 600, 0);
    assert_eq!(admit(s, &free).await.unwrap().output_tokens, 600);
}

/// Many calls at once: what they reserve together never passes the budget.
async fn concurrent_grants_never_pass_a_budget(b: Backend) {
    let budget = ScopeLimits {
        budget_day_micro: Some(10_000),
        ..scope("s:rita")
    };
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let s = Arc::clone(&b.store);
        let a = with_output(admission(vec![budget.clone()], 50, 250), 1_000, 2_500_000);
        tasks.push(tokio::spawn(async move { admit(&*s, &a).await }));
    }
    let mut reserved = 0;
    let mut admitted = 0;
    for t in tasks {
        if let Ok(ticket) = t.await.unwrap() {
            reserved += ticket.est_cost_micro;
            admitted += 1;
            assert!(ticket.output_tokens >= 1);
        }
    }
    assert!(reserved <= 10_000, "reserved {reserved} of 10000");
    assert!(
        admitted >= 4,
        "the budget is used, not locked: {admitted} admitted"
    );
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod embedded_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::embedded().await).await;
                }
            )*
        }
        mod redis_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(super::redis().await).await;
                }
            )*
        }
    };
}

conformance!(
    rpm_window_refuses_then_reopens,
    concurrency_leases_release_and_expire,
    tokens_reserve_then_settle,
    budget_reserve_then_settle,
    a_refusal_counts_nothing,
    concurrent_admits_are_exact,
    ledger_sums_and_filters,
    ledger_keeps_apis_apart_and_budgets_whole,
    zero_limits_allow_nothing,
    output_is_capped_to_what_remains,
    concurrent_grants_never_pass_a_budget,
);

#[tokio::test]
async fn embedded_usage_and_spend_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("usage.sqlite3");
    let lim = ScopeLimits {
        budget_day_micro: Some(1_000),
        tokens_per_day: Some(100),
        ..scope("s:ivy")
    };
    {
        let s = EmbeddedStore::open(&path).unwrap();
        let t = admit(&s, &admission(vec![lim.clone()], 10, 10))
            .await
            .unwrap();
        s.settle(&t, "ivy", "m", Api::Grpc, &tally(40, 40, 900_000_000))
            .await
            .unwrap();
        s.flush().await.unwrap();
    }
    let s = EmbeddedStore::open(&path).unwrap();
    let rows = s.usage(&UsageQuery::default()).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].tally.cost_pico, 900_000_000);
    // 900 of 1000 micro-USD and 80 of 100 tokens are spent today: a 200-micro call is refused.
    let (kind, _) = admit(&s, &admission(vec![lim.clone()], 10, 200))
        .await
        .unwrap_err();
    assert_eq!(kind, LimitKind::Budget);
    let (kind, _) = admit(&s, &admission(vec![lim], 30, 0)).await.unwrap_err();
    assert_eq!(kind, LimitKind::Tokens);
}

#[tokio::test]
async fn two_redis_clients_share_limits() {
    let r = RedisProcess::start().unwrap();
    let a = RedisStore::connect(&r.url(), "t:", Duration::from_secs(2), 30)
        .await
        .unwrap();
    let b = RedisStore::connect(&r.url(), "t:", Duration::from_secs(2), 30)
        .await
        .unwrap();
    let lim = ScopeLimits {
        rpm: Some(4),
        ..scope("total")
    };
    let mut ok = 0;
    for i in 0..10 {
        let s: &dyn StateStore = if i % 2 == 0 { &a } else { &b };
        let mut adm = admission(vec![lim.clone()], 0, 0);
        adm.window_ms = 60_000;
        ok += usize::from(admit(s, &adm).await.is_ok());
    }
    assert_eq!(ok, 4);
}

#[tokio::test]
async fn redis_outage_is_an_error_and_recovery_works() {
    let mut r = RedisProcess::start().unwrap();
    let s = RedisStore::connect(&r.url(), "t:", Duration::from_millis(500), 30)
        .await
        .unwrap();
    let lim = ScopeLimits {
        rpm: Some(100),
        ..scope("total")
    };
    admit(&s, &admission(vec![lim.clone()], 0, 0))
        .await
        .unwrap();
    r.kill();
    assert!(s.admit(&admission(vec![lim.clone()], 0, 0)).await.is_err());
    r.restart().unwrap();
    let mut recovered = false;
    for _ in 0..50 {
        if s.admit(&admission(vec![lim.clone()], 0, 0)).await.is_ok() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "the store reconnects when redis is back");
}

mod token_registry {
    use super::*;
    use vibectl_server::auth::{FileTokenStore, IssuedToken, TokenStore};
    use vibectl_server::state::RedisTokenStore;

    fn tok(jti: &str, sub: &str, iat: u64) -> IssuedToken {
        IssuedToken {
            jti: jti.into(),
            sub: sub.into(),
            iat,
            exp: iat + 100,
            aud: None,
        }
    }

    /// The registry contract, whatever holds it.
    fn issue_list_and_revoke(store: &dyn TokenStore) {
        assert_eq!(
            store.version().unwrap(),
            None,
            "an empty registry has no version"
        );
        store.record_issued(&tok("a", "alice", 10)).unwrap();
        store.record_issued(&tok("b", "alice", 20)).unwrap();
        store.record_issued(&tok("c", "bob", 30)).unwrap();
        let v1 = store.version().unwrap();
        assert!(v1.is_some());
        assert!(store.revoke_jti("c", 40).unwrap());
        assert!(!store.revoke_jti("python-made", 41).unwrap());
        assert!(store.revoke_jti("c", 99).unwrap());
        assert_ne!(store.version().unwrap(), v1);
        assert_eq!(store.revoke_subject("alice", 15).unwrap(), 1);
        assert_eq!(store.revoke_subject("alice", 12).unwrap(), 1);
        let rows = store.list().unwrap();
        let revoked: Vec<_> = rows
            .iter()
            .map(|r| (r.token.jti.as_str(), r.revoked_at))
            .collect();
        assert_eq!(revoked, [("a", Some(15)), ("b", None), ("c", Some(40))]);
        let rev = store.revocations().unwrap();
        assert!(rev.is_revoked("alice", Some("a"), Some(10)).is_some());
        assert!(rev.is_revoked("alice", Some("b"), Some(20)).is_none());
        assert!(rev.is_revoked("alice", None, None).is_some());
        assert!(rev
            .is_revoked("bob", Some("python-made"), Some(1))
            .is_some());
    }

    #[test]
    fn file_registry() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileTokenStore::new(dir.path().join("tokens.jsonl"));
        issue_list_and_revoke(&store);
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(!text.contains("eyJ"), "no token in the registry");
    }

    #[test]
    fn redis_registry_is_shared_and_survives_a_reconnect() {
        let mut r = RedisProcess::start().unwrap();
        let a = RedisTokenStore::new(&r.url(), "t:", Duration::from_secs(2));
        let b = RedisTokenStore::new(&r.url(), "t:", Duration::from_secs(2));
        issue_list_and_revoke(&a);
        // Another replica sees the same registry.
        assert_eq!(b.list().unwrap().len(), 3);
        assert!(b
            .revocations()
            .unwrap()
            .is_revoked("bob", Some("c"), Some(30))
            .is_some());
        // Redis restarted (empty: nothing persisted in this test): the store reconnects.
        r.restart().unwrap();
        assert!(a.list().unwrap().is_empty());
        a.record_issued(&tok("d", "dan", 1)).unwrap();
        assert_eq!(b.list().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn a_retried_redis_settlement_counts_once() {
    // The server retries a settlement whose answer was lost (a timeout after Redis ran it).
    let b = redis().await;
    let s = &*b.store;
    let t = admit(s, &admission(vec![scope("s:kim")], 10, 10))
        .await
        .unwrap();
    s.settle(&t, "kim", "m", Api::Grpc, &tally(1, 1, 1))
        .await
        .unwrap();
    s.settle(&t, "kim", "m", Api::Grpc, &tally(1, 1, 1))
        .await
        .unwrap();
    let rows = s.usage(&UsageQuery::default()).await.unwrap();
    assert_eq!(rows[0].tally.requests, 1);
    assert_eq!(rows[0].tally.cost_pico, 1);
}
