//! Limits and budgets on the request path: after a call is validated and its model resolved,
//! [`Limiter::admit`] counts it against its subject and the server-wide totals (reserving its
//! estimated tokens and cost) or refuses it with a [`LimitRefusal`]; the returned [`Charge`]
//! settles to the actual usage when the call ends, however it ends.
mod charge;

pub use charge::Charge;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vibectl_llm::ModelSpec;

use crate::config::{Limits, LimitsSection, StateSection};
use crate::state::{
    subject_scope, Admission, Decision, EmbeddedStore, FailurePolicy, RedisStore, Refusal,
    ScopeLimits, StateStore, StoreError, Ticket, TOTAL_SCOPE,
};
use crate::telemetry;

/// The sliding window of the requests-per-minute limit.
pub const RPM_WINDOW_MS: u64 = 60_000;

/// Opens the store the `state:` section names (`ledger` is the default embedded ledger file).
pub async fn open_store(
    cfg: &StateSection,
    default_ledger: &std::path::Path,
) -> Result<Arc<dyn StateStore>, StoreError> {
    match cfg.backend {
        crate::config::StateBackend::Embedded => {
            let path = cfg
                .ledger_file
                .clone()
                .unwrap_or_else(|| default_ledger.to_path_buf());
            let store = tokio::task::spawn_blocking(move || EmbeddedStore::open(&path))
                .await
                .map_err(|e| StoreError(format!("opening the ledger: {e}")))??;
            Ok(Arc::new(store))
        }
        crate::config::StateBackend::Redis => {
            let url = cfg
                .redis_url
                .as_deref()
                .ok_or_else(|| StoreError("state.redis_url is not set".into()))?;
            let store = RedisStore::connect(
                url,
                &cfg.redis_key_prefix,
                Duration::from_millis(cfg.redis_timeout_ms),
                cfg.ledger_retention_days,
            )
            .await?;
            Ok(Arc::new(store))
        }
    }
}

/// Applies the configured limits through a [`StateStore`].
#[derive(Debug)]
pub struct Limiter {
    store: Arc<dyn StateStore>,
    limits: arc_swap::ArcSwap<LimitsSection>,
    policy: FailurePolicy,
    store_down: AtomicBool,
}

/// Estimated tokens of `chars` characters of text (4 characters a token, rounded up): what a
/// call is charged for text the provider reported no usage for.
pub fn tokens_of_chars(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

/// Tokens a provider may add around a prompt (roles, message framing, tool definitions), on
/// top of one per byte of text.
pub const PROMPT_OVERHEAD_TOKENS: u64 = 64;
/// Framing tokens a provider may add per piece of prompt (each fragment, the schema).
pub const PIECE_OVERHEAD_TOKENS: u64 = 16;

/// What a call can cost at most, as [`Limiter::admit_bounded`] reserves it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallBound {
    /// Bytes of prompt sent upstream (fragments and schema): the providers' BPE tokenizers
    /// never make a token of less than one byte, so this bounds the prompt's tokens.
    pub prompt_bytes: usize,
    /// Pieces the prompt is sent as (fragments, the schema).
    pub pieces: usize,
    /// Characters of the fragments (what usage is estimated from when the provider reports none).
    pub input_chars: usize,
    /// Output tokens the call asks for (the model's cap).
    pub max_output_tokens: u32,
}

impl CallBound {
    /// The upper bound of the prompt's tokens: one per byte, plus framing.
    pub fn prompt_tokens(&self) -> u64 {
        (self.prompt_bytes as u64)
            .saturating_add(PROMPT_OVERHEAD_TOKENS)
            .saturating_add(PIECE_OVERHEAD_TOKENS.saturating_mul(self.pieces as u64))
    }
}

impl Limiter {
    /// A limiter over `store` with `limits`; `policy` says what to do while the store fails.
    pub fn new(store: Arc<dyn StateStore>, limits: LimitsSection, policy: FailurePolicy) -> Self {
        Limiter {
            store,
            limits: arc_swap::ArcSwap::from_pointee(limits),
            policy,
            store_down: AtomicBool::new(false),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn StateStore> {
        &self.store
    }

    /// The limits in force.
    pub fn limits(&self) -> Arc<LimitsSection> {
        self.limits.load_full()
    }

    /// Replaces the limits for calls that start from now on (hot reload).
    pub fn set_limits(&self, limits: LimitsSection) {
        self.limits.store(Arc::new(limits));
    }

    /// The limits of `subject`: its `per_token` entry over `global`, key by key.
    pub fn effective(&self, subject: &str) -> Limits {
        let all = self.limits();
        match all.per_token.get(subject) {
            Some(own) => all.global.overlay(own),
            None => all.global,
        }
    }

    /// Whether `subject` may use `model` (`server.limits.models`, reloaded with the limits).
    pub fn allows(&self, subject: &str, model: &ModelSpec) -> bool {
        self.limits().models.allows(subject, model)
    }

    /// Counts a call of `subject` to `model` with `input_chars` of prompt, or refuses it (its
    /// prompt bound is 4 bytes a character, the most UTF-8 takes; [`Limiter::admit_bounded`]
    /// is tighter when the bytes are known).
    pub async fn admit(
        &self,
        method: &'static str,
        subject: &str,
        limits: &Limits,
        model: &Arc<ModelSpec>,
        input_chars: usize,
        timeout: Duration,
    ) -> Result<Charge, LimitRefusal> {
        let bound = CallBound {
            prompt_bytes: input_chars.saturating_mul(4),
            pieces: 1,
            input_chars,
            max_output_tokens: model.max_output_tokens,
        };
        self.admit_bounded(method, subject, limits, model, &bound, timeout)
            .await
    }

    /// Counts a call against its limits with its prompt bound and the output it asks for, or
    /// refuses it. It is admitted when what remains of every token limit and budget covers its
    /// prompt bound and at least one output token; its output is capped to what remains
    /// ([`Charge::output_cap`]), so N calls at once cannot together pass a limit.
    pub async fn admit_bounded(
        &self,
        method: &'static str,
        subject: &str,
        limits: &Limits,
        model: &Arc<ModelSpec>,
        bound: &CallBound,
        timeout: Duration,
    ) -> Result<Charge, LimitRefusal> {
        let input_chars = bound.input_chars;
        let est_tokens = bound.prompt_tokens();
        let p = &model.prices;
        // Every prompt token at the dearest input price (uncached, cache write or read).
        let in_pico = p.input.max(p.cache_write).max(p.cache_read);
        let est_cost_micro =
            u64::try_from((u128::from(est_tokens) * u128::from(in_pico)).div_ceil(1_000_000))
                .unwrap_or(u64::MAX);
        let scopes = vec![
            scope_limits(subject_scope(subject), limits),
            scope_limits(TOTAL_SCOPE.to_owned(), &self.limits().total),
        ];
        let a = Admission {
            lease: uuid::Uuid::new_v4().to_string(),
            scopes,
            est_tokens,
            est_cost_micro,
            max_output_tokens: u64::from(bound.max_output_tokens),
            output_pico_per_token: p.output,
            lease_ttl_ms: u64::try_from(timeout.as_millis())
                .unwrap_or(u64::MAX / 2)
                .saturating_add(60_000),
            window_ms: RPM_WINDOW_MS,
        };
        let reservation = self
            .decide(method, subject, model, &a)
            .await?
            .map(|ticket| (Arc::clone(&self.store), ticket));
        Ok(Charge::new(
            reservation,
            method,
            subject,
            Arc::clone(model),
            input_chars,
        ))
    }

    /// Counts a request that uses no tokens (a token count) against the requests-per-minute
    /// limits of `subject` and the total, or refuses it; concurrency, token limits and
    /// budgets do not apply and nothing goes to the ledger (no lease is taken, so there is
    /// nothing to settle).
    pub async fn admit_request(
        &self,
        method: &'static str,
        subject: &str,
        limits: &Limits,
        model: &Arc<ModelSpec>,
    ) -> Result<(), LimitRefusal> {
        let rpm_only = |scope: String, l: &Limits| ScopeLimits {
            scope,
            rpm: l.max_requests_per_minute,
            ..ScopeLimits::default()
        };
        let a = Admission {
            lease: uuid::Uuid::new_v4().to_string(),
            scopes: vec![
                rpm_only(subject_scope(subject), limits),
                rpm_only(TOTAL_SCOPE.to_owned(), &self.limits().total),
            ],
            est_tokens: 0,
            est_cost_micro: 0,
            max_output_tokens: 0,
            output_pico_per_token: 0,
            lease_ttl_ms: 60_000,
            window_ms: RPM_WINDOW_MS,
        };
        self.decide(method, subject, model, &a).await.map(drop)
    }

    /// Asks the store about `a`: its ticket, `None` when the store is down and the policy lets
    /// calls through unmetered, or the refusal (counted in the metrics).
    async fn decide(
        &self,
        method: &'static str,
        subject: &str,
        model: &ModelSpec,
        a: &Admission,
    ) -> Result<Option<Ticket>, LimitRefusal> {
        match self.store.admit(a).await {
            Ok(d) => {
                if self.store_down.swap(false, Ordering::Relaxed) {
                    tracing::warn!(store = %self.store.describe(), "state store reachable again; limits enforced");
                }
                match d {
                    Decision::Admitted(ticket) => Ok(Some(ticket)),
                    Decision::Refused(r) => {
                        telemetry::refusal(r.kind.as_str());
                        telemetry::request(method, &model.id, subject, "refused");
                        Err(LimitRefusal::Limit {
                            refusal: r,
                            subject: subject.to_owned(),
                        })
                    }
                }
            }
            Err(e) => {
                telemetry::store_error();
                if !self.store_down.swap(true, Ordering::Relaxed) {
                    tracing::error!(
                        store = %self.store.describe(), policy = ?self.policy,
                        "state store unreachable: {e}; {}",
                        match self.policy {
                            FailurePolicy::Open => "letting calls through WITHOUT limits or metering until it returns",
                            FailurePolicy::Closed => "refusing calls until it returns",
                        }
                    );
                }
                match self.policy {
                    FailurePolicy::Open => Ok(None),
                    FailurePolicy::Closed => {
                        telemetry::refusal("state-store");
                        telemetry::request(method, &model.id, subject, "refused");
                        Err(LimitRefusal::StoreDown)
                    }
                }
            }
        }
    }
}

fn scope_limits(scope: String, l: &Limits) -> ScopeLimits {
    ScopeLimits {
        scope,
        rpm: l.max_requests_per_minute,
        concurrency: l.max_concurrent_requests,
        tokens_per_minute: l.max_tokens_per_minute,
        tokens_per_day: l.max_tokens_per_day,
        budget_day_micro: l.budget_usd_per_day.map(|u| u.micro()),
        budget_month_micro: l.budget_usd_per_month.map(|u| u.micro()),
    }
}

/// Why [`Limiter::admit`] refused a call; each front end maps it to its own status once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LimitRefusal {
    /// A limit or budget of the subject, or of the server's total, is reached.
    Limit {
        /// Which limit, in which scope, and when a retry can pass.
        refusal: Refusal,
        /// The caller.
        subject: String,
    },
    /// The state store cannot be reached and `state.on_redis_failure` is `closed`.
    StoreDown,
}

impl LimitRefusal {
    /// The `limit-type` the caller is told (`rpm`, `concurrency`, `tokens`, `budget`, `state-store`).
    pub fn limit_type(&self) -> &'static str {
        match self {
            LimitRefusal::Limit { refusal, .. } => refusal.kind.as_str(),
            LimitRefusal::StoreDown => "state-store",
        }
    }

    /// Milliseconds until a retry can succeed.
    pub fn retry_after_ms(&self) -> u64 {
        match self {
            LimitRefusal::Limit { refusal, .. } => refusal.retry_after_ms,
            LimitRefusal::StoreDown => 1000,
        }
    }
}

impl std::fmt::Display for LimitRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LimitRefusal::Limit { refusal: r, subject } => {
                let whose = if r.scope == TOTAL_SCOPE {
                    "this server's total".to_owned()
                } else {
                    format!("the limit of `{subject}`")
                };
                let what = match r.kind {
                    crate::state::LimitKind::Rpm => "requests per minute",
                    crate::state::LimitKind::Concurrency => "concurrent requests",
                    crate::state::LimitKind::Tokens => "tokens",
                    crate::state::LimitKind::Budget => "USD budget",
                };
                write!(
                    f,
                    "{what}: {whose} is reached; retry in {:.1} s",
                    r.retry_after_ms as f64 / 1000.0
                )
            }
            LimitRefusal::StoreDown => f.write_str(
                "the server cannot reach its limits store and is configured to refuse calls meanwhile; retry shortly",
            ),
        }
    }
}
