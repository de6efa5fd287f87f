//! The embedded store: exact in-process counters (one mutex, microseconds held) for windows,
//! leases and reservations; the ledger in SQLite. Day and month spend is re-read from the ledger
//! when the store opens, so budgets and daily token limits survive a restart.
use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::time::{self, now_ms};
use super::{
    output_cost_micro, room, subject_scope, tokens_for_budget, Admission, Api, Decision, Ledger,
    LimitKind, Refusal, StateStore, StoreError, Tally, Ticket, UsageQuery, UsageRow, TOTAL_SCOPE,
};

/// Retry hint for a full concurrency limit, which frees on no schedule.
pub const CONCURRENCY_RETRY_MS: u64 = 250;

#[derive(Debug, Default)]
struct Inner {
    /// Scope → admission times in the sliding window.
    windows: HashMap<String, VecDeque<u64>>,
    /// Scope → lease → expiry (ms).
    leases: HashMap<String, HashMap<String, u64>>,
    /// Bucket key (`scope|kind|period`) → tokens or micro-USD.
    counters: HashMap<String, i64>,
    admits: u64,
}

fn key(scope: &str, kind: &str, period: &str) -> String {
    format!("{scope}|{kind}|{period}")
}

impl Inner {
    fn get(&self, k: &str) -> i64 {
        self.counters.get(k).copied().unwrap_or(0)
    }

    fn add(&mut self, k: String, v: i64) {
        *self.counters.entry(k).or_insert(0) += v;
    }

    fn add_existing(&mut self, k: &str, v: i64) {
        if let Some(c) = self.counters.get_mut(k) {
            *c += v;
        }
    }

    /// Drops buckets of past periods (kept: this and the previous minute, day and month).
    fn prune(&mut self, now: u64) {
        let minute = now / 60_000;
        let today = time::day(now);
        let yesterday = time::day(now.saturating_sub(86_400_000));
        let this_month = time::month(now);
        let last_month = time::month(now.saturating_sub(32 * 86_400_000));
        self.counters.retain(|k, _| {
            let mut parts = k.rsplitn(3, '|');
            let period = parts.next().unwrap_or("");
            match parts.next().unwrap_or("") {
                "tpm" => period.parse::<u64>().is_ok_and(|m| m + 1 >= minute),
                "tpd" | "cd" => period == today || period == yesterday,
                "cm" => period >= last_month.as_str() && period <= this_month.as_str(),
                _ => false,
            }
        });
        self.windows.retain(|_, w| !w.is_empty());
        self.leases.retain(|_, l| !l.is_empty());
    }
}

/// Single-process store with a persistent SQLite ledger.
#[derive(Debug)]
pub struct EmbeddedStore {
    inner: Mutex<Inner>,
    ledger: Arc<Ledger>,
}

impl EmbeddedStore {
    /// Opens the ledger at `path` and loads this month's spend from it.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let ledger = Ledger::open(path)?;
        let now = now_ms();
        let month = time::month(now);
        let rows = ledger.query_blocking(&UsageQuery {
            since: Some(format!("{month}-01")),
            ..UsageQuery::default()
        })?;
        // Budgets are per subject across APIs: every row of a subject, whichever API, adds to
        // the same buckets.
        let mut inner = Inner::default();
        for r in rows {
            let m = r.day.get(..7).unwrap_or_default().to_owned();
            let tokens = i64::try_from(r.tally.tokens()).unwrap_or(i64::MAX);
            let cost = i64::try_from(r.tally.cost_micro()).unwrap_or(i64::MAX);
            for scope in [subject_scope(&r.subject), TOTAL_SCOPE.to_owned()] {
                inner.add(key(&scope, "tpd", &r.day), tokens);
                inner.add(key(&scope, "cd", &r.day), cost);
                inner.add(key(&scope, "cm", &m), cost);
            }
        }
        Ok(EmbeddedStore {
            inner: Mutex::new(inner),
            ledger: Arc::new(ledger),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Inner>, StoreError> {
        self.inner
            .lock()
            .map_err(|_| StoreError("embedded state lock poisoned".into()))
    }

    fn admit_at(&self, a: &Admission, now: u64) -> Result<Decision, StoreError> {
        let mut g = self.lock()?;
        g.admits += 1;
        if g.admits % 1024 == 0 {
            g.prune(now);
        }
        let minute = now / 60_000;
        let (day, month) = (time::day(now), time::month(now));
        let (to_day, to_month) = (time::ms_to_next_day(now), time::ms_to_next_month(now));
        let to_minute = (minute + 1) * 60_000 - now;
        let mut refusal: Option<Refusal> = None;
        let mut refuse = |kind: LimitKind, wait: u64, scope: &str| match &mut refusal {
            None => {
                refusal = Some(Refusal {
                    kind,
                    retry_after_ms: wait,
                    scope: scope.to_owned(),
                })
            }
            Some(r) => r.retry_after_ms = r.retry_after_ms.max(wait),
        };
        // Output granted: the most every token limit and budget still leaves after the prompt.
        let mut out = a.max_output_tokens;
        let need = a.max_output_tokens.min(1);
        for s in &a.scopes {
            if let Some(max) = s.rpm {
                let w = g.windows.entry(s.scope.clone()).or_default();
                while w.front().is_some_and(|t| *t + a.window_ms <= now) {
                    w.pop_front();
                }
                let max = max as usize;
                if max == 0 {
                    refuse(LimitKind::Rpm, a.window_ms, &s.scope);
                } else if w.len() >= max {
                    let frees = w[w.len() - max] + a.window_ms;
                    refuse(LimitKind::Rpm, frees.saturating_sub(now).max(1), &s.scope);
                }
            }
            if let Some(max) = s.concurrency {
                let l = g.leases.entry(s.scope.clone()).or_default();
                l.retain(|_, exp| *exp > now);
                if l.len() >= max as usize {
                    refuse(LimitKind::Concurrency, CONCURRENCY_RETRY_MS, &s.scope);
                }
            }
            let token_limits = [
                (
                    s.tokens_per_minute,
                    key(&s.scope, "tpm", &minute.to_string()),
                    to_minute,
                ),
                (s.tokens_per_day, key(&s.scope, "tpd", &day), to_day),
            ];
            for (max, k, wait) in token_limits {
                let Some(max) = max else { continue };
                match room(max, g.get(&k), a.est_tokens) {
                    Some(left) if left >= need => out = out.min(left),
                    _ => refuse(LimitKind::Tokens, wait, &s.scope),
                }
            }
            let budgets = [
                (s.budget_day_micro, key(&s.scope, "cd", &day), to_day),
                (s.budget_month_micro, key(&s.scope, "cm", &month), to_month),
            ];
            for (max, k, wait) in budgets {
                let Some(max) = max else { continue };
                let pays = room(max, g.get(&k), a.est_cost_micro).map(|left| {
                    tokens_for_budget(left, a.output_pico_per_token, a.max_output_tokens)
                });
                match pays {
                    Some(n) if n >= need => out = out.min(n),
                    _ => refuse(LimitKind::Budget, wait, &s.scope),
                }
            }
        }
        if let Some(r) = refusal {
            return Ok(Decision::Refused(r));
        }
        let tokens = a.est_tokens.saturating_add(out);
        let cost = a
            .est_cost_micro
            .saturating_add(output_cost_micro(out, a.output_pico_per_token));
        let (est_t, est_c) = (
            i64::try_from(tokens).unwrap_or(i64::MAX),
            i64::try_from(cost).unwrap_or(i64::MAX),
        );
        for s in &a.scopes {
            if s.rpm.is_some() {
                g.windows.entry(s.scope.clone()).or_default().push_back(now);
            }
            if s.concurrency.is_some() {
                g.leases
                    .entry(s.scope.clone())
                    .or_default()
                    .insert(a.lease.clone(), now + a.lease_ttl_ms);
            }
            g.add(key(&s.scope, "tpm", &minute.to_string()), est_t);
            g.add(key(&s.scope, "tpd", &day), est_t);
            g.add(key(&s.scope, "cd", &day), est_c);
            g.add(key(&s.scope, "cm", &month), est_c);
        }
        Ok(Decision::Admitted(Ticket {
            lease: a.lease.clone(),
            scopes: a.scopes.iter().map(|s| s.scope.clone()).collect(),
            minute,
            day,
            est_tokens: tokens,
            est_cost_micro: cost,
            output_tokens: out,
        }))
    }

    fn settle_now(&self, t: &Ticket, actual: &Tally) -> Result<(), StoreError> {
        let d_tokens = i64::try_from(actual.tokens()).unwrap_or(i64::MAX)
            - i64::try_from(t.est_tokens).unwrap_or(i64::MAX);
        let d_cost = i64::try_from(actual.cost_micro()).unwrap_or(i64::MAX)
            - i64::try_from(t.est_cost_micro).unwrap_or(i64::MAX);
        let month = t.day.get(..7).unwrap_or_default();
        let mut g = self.lock()?;
        for scope in &t.scopes {
            if let Some(l) = g.leases.get_mut(scope) {
                l.remove(&t.lease);
            }
            g.add_existing(&key(scope, "tpm", &t.minute.to_string()), d_tokens);
            g.add_existing(&key(scope, "tpd", &t.day), d_tokens);
            g.add_existing(&key(scope, "cd", &t.day), d_cost);
            g.add_existing(&key(scope, "cm", month), d_cost);
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl StateStore for EmbeddedStore {
    async fn admit(&self, a: &Admission) -> Result<Decision, StoreError> {
        self.admit_at(a, now_ms())
    }

    async fn settle(
        &self,
        t: &Ticket,
        subject: &str,
        model: &str,
        api: Api,
        actual: &Tally,
    ) -> Result<(), StoreError> {
        self.settle_now(t, actual)?;
        self.ledger.add(UsageRow {
            day: t.day.clone(),
            subject: subject.to_owned(),
            model: model.to_owned(),
            api,
            tally: *actual,
        });
        Ok(())
    }

    async fn usage(&self, q: &UsageQuery) -> Result<Vec<UsageRow>, StoreError> {
        let ledger = Arc::clone(&self.ledger);
        let q = q.clone();
        tokio::task::spawn_blocking(move || {
            ledger.flush_blocking()?;
            ledger.query_blocking(&q)
        })
        .await
        .map_err(|e| StoreError(format!("ledger task: {e}")))?
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let ledger = Arc::clone(&self.ledger);
        tokio::task::spawn_blocking(move || ledger.flush_blocking())
            .await
            .map_err(|e| StoreError(format!("ledger task: {e}")))?
    }

    fn describe(&self) -> String {
        format!("embedded ({})", self.ledger.path().display())
    }
}
