//! Limits and budgets on the request path: after a call is validated and its model resolved,
//! [`Limiter::admit`] counts it against its subject and the server-wide totals (reserving its
//! estimated tokens and cost) or refuses it with a [`LimitRefusal`]; the returned [`Charge`]
//! settles to the actual usage when the call ends, however it ends.
mod charge;

pub use charge::Charge;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vibectl_llm::{ModelSpec, Usage};

use crate::config::{Limits, LimitsSection, StateSection};
use crate::state::{
    subject_scope, Admission, Decision, EmbeddedStore, FailurePolicy, RedisStore, Refusal,
    ScopeLimits, StateStore, StoreError, TOTAL_SCOPE,
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

/// Estimated tokens of `chars` characters of text (4 characters a token, rounded up).
pub fn tokens_of_chars(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
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

    /// Counts a call of `subject` to `model` with `input_chars` of prompt, or refuses it.
    pub async fn admit(
        &self,
        method: &'static str,
        subject: &str,
        limits: &Limits,
        model: &Arc<ModelSpec>,
        input_chars: usize,
        timeout: Duration,
    ) -> Result<Charge, LimitRefusal> {
        let est_in = tokens_of_chars(input_chars);
        let est_out = u64::from(model.max_output_tokens);
        let est_usage = Usage {
            input_tokens: Some(u32::try_from(est_in).unwrap_or(u32::MAX)),
            output_tokens: Some(model.max_output_tokens),
            ..Usage::default()
        };
        let est_cost_micro = model
            .prices
            .cost_pico_usd(&est_usage)
            .unwrap_or(0)
            .div_ceil(1_000_000);
        let scopes = vec![
            scope_limits(subject_scope(subject), limits),
            scope_limits(TOTAL_SCOPE.to_owned(), &self.limits().total),
        ];
        // An estimate larger than a limit itself is cut to it: such a call passes when its
        // period is otherwise unused (and may then overspend by at most its own estimate)
        // instead of never.
        let cap = |f: fn(&ScopeLimits) -> [Option<u64>; 2]| {
            scopes
                .iter()
                .flat_map(f)
                .flatten()
                .min()
                .unwrap_or(u64::MAX)
        };
        let est_tokens = (est_in + est_out).min(cap(|s| [s.tokens_per_minute, s.tokens_per_day]));
        let est_cost_micro =
            est_cost_micro.min(cap(|s| [s.budget_day_micro, s.budget_month_micro]));
        let a = Admission {
            lease: uuid::Uuid::new_v4().to_string(),
            scopes,
            est_tokens,
            est_cost_micro,
            lease_ttl_ms: u64::try_from(timeout.as_millis())
                .unwrap_or(u64::MAX / 2)
                .saturating_add(60_000),
            window_ms: RPM_WINDOW_MS,
        };
        let decision = self.store.admit(&a).await;
        match decision {
            Ok(d) => {
                if self.store_down.swap(false, Ordering::Relaxed) {
                    tracing::warn!(store = %self.store.describe(), "state store reachable again; limits enforced");
                }
                match d {
                    Decision::Admitted(ticket) => Ok(Charge::new(
                        Some((Arc::clone(&self.store), ticket)),
                        method,
                        subject,
                        Arc::clone(model),
                        input_chars,
                    )),
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
                    FailurePolicy::Open => Ok(Charge::new(
                        None,
                        method,
                        subject,
                        Arc::clone(model),
                        input_chars,
                    )),
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
