//! Shared state behind one trait: rate windows, concurrency leases, token and cost reservations
//! (reserve, then settle) and the usage ledger.
//!
//! Two implementations: [`EmbeddedStore`] (one process; counters in memory, the ledger in SQLite
//! under the state dir, budgets re-read from it at start) and [`RedisStore`] (several replicas;
//! every check-and-update is one versioned Lua script). Both pass the same conformance suite
//! (`tests/it/state_conformance.rs`).
mod embedded;
mod redis;
mod sqlite;
pub mod time;
mod tokens_redis;

pub use embedded::EmbeddedStore;
pub use redis::{FailurePolicy, RedisStore};
pub use sqlite::{Ledger, LEDGER_FILE};
pub use tokens_redis::RedisTokenStore;

use std::fmt;

use serde::Serialize;

/// The API a call came through: the ledger's `api` column and the metrics' `api` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    /// Our gRPC contract (`Execute`, `StreamExecute`).
    Grpc,
    /// OpenAI Chat Completions over HTTP.
    OpenAi,
    /// Anthropic Messages over HTTP.
    Anthropic,
}

impl Api {
    /// Every API, in the order reports list them.
    pub const ALL: [Api; 3] = [Api::Anthropic, Api::Grpc, Api::OpenAi];

    /// The wire name: `grpc`, `openai` or `anthropic`.
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Grpc => "grpc",
            Api::OpenAi => "openai",
            Api::Anthropic => "anthropic",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Api::ALL.into_iter().find(|a| a.as_str() == s)
    }

    /// The API of a method name as the limiter and metrics see it (`openai.…`, `anthropic.…`,
    /// else a gRPC method).
    pub fn of_method(method: &str) -> Self {
        if method.starts_with("openai.") {
            Api::OpenAi
        } else if method.starts_with("anthropic.") {
            Api::Anthropic
        } else {
            Api::Grpc
        }
    }
}

impl fmt::Display for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scope every call counts against, whoever makes it.
pub const TOTAL_SCOPE: &str = "total";

/// The scope of one subject's calls.
pub fn subject_scope(subject: &str) -> String {
    format!("s:{subject}")
}

/// Why the store could not answer.
#[derive(Clone, Debug, thiserror::Error)]
#[error("state store: {0}")]
pub struct StoreError(pub String);

/// Which limit refused a call (the `limit-type` metadata value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Requests per minute.
    Rpm,
    /// Calls in flight.
    Concurrency,
    /// Tokens per minute or per day.
    Tokens,
    /// USD per day or per month.
    Budget,
}

impl LimitKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Rpm => "rpm",
            LimitKind::Concurrency => "concurrency",
            LimitKind::Tokens => "tokens",
            LimitKind::Budget => "budget",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "rpm" => LimitKind::Rpm,
            "concurrency" => LimitKind::Concurrency,
            "tokens" => LimitKind::Tokens,
            "budget" => LimitKind::Budget,
            _ => return None,
        })
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The limits of one scope (a subject, or all callers together); `None` is unlimited.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScopeLimits {
    /// Scope name, e.g. `s:alice` or `total`.
    pub scope: String,
    /// Requests per rate window.
    pub rpm: Option<u32>,
    /// Calls in flight.
    pub concurrency: Option<u32>,
    /// Tokens per UTC minute.
    pub tokens_per_minute: Option<u64>,
    /// Tokens per UTC day.
    pub tokens_per_day: Option<u64>,
    /// Micro-USD per UTC day.
    pub budget_day_micro: Option<u64>,
    /// Micro-USD per UTC month.
    pub budget_month_micro: Option<u64>,
}

/// One call asking to start: its scopes, its estimate, its lease.
#[derive(Clone, Debug)]
pub struct Admission {
    /// Unique id of this call's lease.
    pub lease: String,
    /// Every scope the call counts against (all must allow it).
    pub scopes: Vec<ScopeLimits>,
    /// Upper bound of the prompt's tokens (its bytes: a BPE token is at least one byte); what
    /// remains of every token limit must cover it.
    pub est_tokens: u64,
    /// Upper bound of the prompt's cost in micro-USD; what remains of every budget must cover it.
    pub est_cost_micro: u64,
    /// Output tokens the call would like (the model's cap). The store grants what remains after
    /// the prompt, up to this, and at least one token, or refuses the call.
    pub max_output_tokens: u64,
    /// Price of one output token in pico-USD (the model's micro-USD per million tokens).
    pub output_pico_per_token: u64,
    /// How long a concurrency lease lives if never released (a crashed replica).
    pub lease_ttl_ms: u64,
    /// Length of the sliding request window (60 000 for requests per minute).
    pub window_ms: u64,
}

/// A refused call: which limit, and how long until a retry can succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The limit.
    pub kind: LimitKind,
    /// Milliseconds until a retry can pass (a hint for concurrency, which has no schedule).
    pub retry_after_ms: u64,
    /// The scope that refused.
    pub scope: String,
}

/// An admitted call; hand it back to [`StateStore::settle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    /// The lease id.
    pub lease: String,
    /// Scope names the call counts against.
    pub scopes: Vec<String>,
    /// Token bucket (UTC minute number) the estimate went to.
    pub minute: u64,
    /// UTC day (`YYYY-MM-DD`) the estimate went to.
    pub day: String,
    /// Tokens reserved (the prompt bound plus the output granted).
    pub est_tokens: u64,
    /// Micro-USD reserved (the prompt bound plus the output granted).
    pub est_cost_micro: u64,
    /// Output tokens granted: the call must ask its provider for no more than this.
    pub output_tokens: u64,
}

/// What a scope leaves a call, after its prompt bound: `None` refuses it. `max` is the limit,
/// `used` what is already counted, `est` the prompt bound; a limit of 0 allows nothing.
pub(crate) fn room(max: u64, used: i64, est: u64) -> Option<u64> {
    if max == 0 {
        return None;
    }
    let left = i128::from(max) - i128::from(used) - i128::from(est);
    u64::try_from(left).ok()
}

/// Output tokens that `room_micro` of budget pays for at `pico_per_token` (all of `want` when
/// output is free).
pub(crate) fn tokens_for_budget(room_micro: u64, pico_per_token: u64, want: u64) -> u64 {
    if pico_per_token == 0 {
        return want;
    }
    let n = u128::from(room_micro) * 1_000_000 / u128::from(pico_per_token);
    u64::try_from(n).unwrap_or(u64::MAX).min(want)
}

/// Micro-USD of `tokens` output tokens at `pico_per_token`, rounded up.
pub(crate) fn output_cost_micro(tokens: u64, pico_per_token: u64) -> u64 {
    let pico = u128::from(tokens) * u128::from(pico_per_token);
    u64::try_from(pico.div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// What the store answers to an [`Admission`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Go ahead.
    Admitted(Ticket),
    /// Refused; nothing was counted.
    Refused(Refusal),
}

/// Tokens and cost of one finished (or abandoned) call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Uncached input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cache-read input tokens.
    pub cache_read_tokens: u64,
    /// Cache-write input tokens.
    pub cache_write_tokens: u64,
    /// Cost in pico-USD (exact).
    pub cost_pico: u64,
}

impl Tally {
    /// All tokens.
    pub fn tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_read_tokens)
            .saturating_add(self.cache_write_tokens)
    }

    /// Cost in micro-USD, rounded up (budgets never undercount).
    pub fn cost_micro(&self) -> u64 {
        self.cost_pico.div_ceil(1_000_000)
    }

    /// Adds `o` to `self`.
    pub fn add(&mut self, o: &Tally) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.input_tokens += o.input_tokens;
        self.output_tokens += o.output_tokens;
        self.cache_read_tokens += o.cache_read_tokens;
        self.cache_write_tokens += o.cache_write_tokens;
        self.cost_pico += o.cost_pico;
    }
}

/// One ledger row: a subject's use of a model through one API on a UTC day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UsageRow {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Token subject (`anonymous` without auth).
    pub subject: String,
    /// Model id.
    pub model: String,
    /// The API the calls came through.
    pub api: Api,
    /// Counts.
    #[serde(flatten)]
    pub tally: Tally,
}

/// Which ledger rows to read.
#[derive(Clone, Debug, Default)]
pub struct UsageQuery {
    /// Only this subject.
    pub subject: Option<String>,
    /// Only days on or after this `YYYY-MM-DD`.
    pub since: Option<String>,
    /// Only calls through this API.
    pub api: Option<Api>,
}

impl UsageQuery {
    /// Whether a row of `day`, `subject` and `api` matches.
    pub fn matches(&self, day: &str, subject: &str, api: Api) -> bool {
        self.subject.as_deref().is_none_or(|s| s == subject)
            && self.since.as_deref().is_none_or(|d| day >= d)
            && self.api.is_none_or(|a| a == api)
    }
}

/// Where limits, reservations and usage live.
#[async_trait::async_trait]
pub trait StateStore: Send + Sync + fmt::Debug {
    /// Checks every limit of every scope and, only if all allow it, counts the call and reserves
    /// its estimate, atomically.
    async fn admit(&self, a: &Admission) -> Result<Decision, StoreError>;
    /// Releases the lease, corrects the reservation to `actual` and adds to the ledger row of
    /// `subject`/`model`/`api` on the ticket's day.
    async fn settle(
        &self,
        t: &Ticket,
        subject: &str,
        model: &str,
        api: Api,
        actual: &Tally,
    ) -> Result<(), StoreError>;
    /// Ledger rows matching `q`, sorted by day, subject, model, api.
    async fn usage(&self, q: &UsageQuery) -> Result<Vec<UsageRow>, StoreError>;
    /// Writes buffered ledger rows out (before exit).
    async fn flush(&self) -> Result<(), StoreError>;
    /// Short description for logs, e.g. `embedded (/var/lib/vibectl/usage.sqlite3)`.
    fn describe(&self) -> String;
}

/// Sorts rows the way [`StateStore::usage`] promises.
pub(crate) fn sort_rows(rows: &mut [UsageRow]) {
    rows.sort_by(|a, b| {
        (
            a.day.as_str(),
            a.subject.as_str(),
            a.model.as_str(),
            a.api.as_str(),
        )
            .cmp(&(
                b.day.as_str(),
                b.subject.as_str(),
                b.model.as_str(),
                b.api.as_str(),
            ))
    });
}
