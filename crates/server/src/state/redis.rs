//! The Redis store, for several replicas: each check-and-update is one Lua script, so no
//! read-then-write race is possible; keys carry a schema version and expire on their own.
//!
//! Scripts are run by SHA with a load on `NOSCRIPT`; a changed script has a new SHA and a new
//! file name (`admit_v1.lua` → `admit_v2.lua`), and an incompatible key layout a new prefix
//! (`v1:` → `v2:`), so replicas of two versions can run side by side during a rolling upgrade.
use std::collections::HashMap;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script, Value};
use serde::{Deserialize, Serialize};

use super::time::{self, now_ms};
use super::{
    sort_rows, Admission, Api, Decision, LimitKind, Refusal, StateStore, StoreError, Tally, Ticket,
    UsageQuery, UsageRow,
};

/// Version of the key layout; part of every key.
pub const KEY_SCHEMA: &str = "v1";
const ADMIT_LUA: &str = include_str!("lua/admit_v2.lua");
const SETTLE_LUA: &str = include_str!("lua/settle_v2.lua");

/// What to do with calls while Redis cannot be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailurePolicy {
    /// Let calls through unlimited (and unmetered) until Redis is back.
    Open,
    /// Refuse calls with `UNAVAILABLE` until Redis is back.
    #[default]
    Closed,
}

/// The shared store.
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    url_shown: String,
    timeout: Duration,
    ledger_ttl_secs: u64,
    admit: Script,
    settle: Script,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("url", &self.url_shown)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// `redis://user:secret@host` → `redis://user:***@host` for logs.
pub(crate) fn mask_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s + 3 => {
            let creds = &url[s + 3..at];
            let user = creds.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..s + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("redis: {e}"))
}

impl RedisStore {
    /// Connects to `url`; `prefix` namespaces the keys (e.g. `vibectl:`), `timeout` bounds every call.
    pub async fn connect(
        url: &str,
        prefix: &str,
        timeout: Duration,
        ledger_ttl_days: u32,
    ) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(err)?;
        let cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            .set_number_of_retries(2)
            .set_max_delay(1000);
        let conn =
            tokio::time::timeout(timeout * 4, ConnectionManager::new_with_config(client, cfg))
                .await
                .map_err(|_| err(format!("no answer from {} in time", mask_url(url))))?
                .map_err(|e| err(format!("{}: {e}", mask_url(url))))?;
        Ok(RedisStore {
            conn,
            prefix: format!("{prefix}{KEY_SCHEMA}:"),
            url_shown: mask_url(url),
            timeout,
            ledger_ttl_secs: u64::from(ledger_ttl_days.max(1)) * 86_400,
            admit: Script::new(ADMIT_LUA),
            settle: Script::new(SETTLE_LUA),
        })
    }

    async fn bounded<T>(
        &self,
        f: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.timeout, f)
            .await
            .map_err(|_| err(format!("no answer within {:?}", self.timeout)))?
            .map_err(err)
    }
}

fn as_u64(v: &Value) -> u64 {
    match v {
        Value::Int(i) => u64::try_from(*i).unwrap_or(0),
        Value::BulkString(b) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

fn as_string(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        _ => String::new(),
    }
}

#[async_trait::async_trait]
impl StateStore for RedisStore {
    async fn admit(&self, a: &Admission) -> Result<Decision, StoreError> {
        let now = now_ms();
        let day = time::day(now);
        // -1 is unlimited; 0 allows nothing (as in the embedded store).
        let opt = |v: Option<u64>| v.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        let opt32 = |v: Option<u32>| v.map_or(-1, i64::from);
        let mut inv = self.admit.prepare_invoke();
        inv.arg(&self.prefix)
            .arg(&a.lease)
            .arg(a.est_tokens)
            .arg(a.est_cost_micro)
            .arg(a.lease_ttl_ms)
            .arg(a.window_ms)
            .arg(&day)
            .arg(time::month(now))
            .arg(time::ms_to_next_day(now))
            .arg(time::ms_to_next_month(now))
            .arg(a.max_output_tokens)
            .arg(a.output_pico_per_token)
            .arg(a.scopes.len());
        for s in &a.scopes {
            inv.arg(&s.scope)
                .arg(opt32(s.rpm))
                .arg(opt32(s.concurrency))
                .arg(opt(s.tokens_per_minute))
                .arg(opt(s.tokens_per_day))
                .arg(opt(s.budget_day_micro))
                .arg(opt(s.budget_month_micro));
        }
        let mut conn = self.conn.clone();
        let out: Vec<Value> = self.bounded(inv.invoke_async(&mut conn)).await?;
        match out.first().map(as_u64) {
            Some(1) => Ok(Decision::Admitted(Ticket {
                lease: a.lease.clone(),
                scopes: a.scopes.iter().map(|s| s.scope.clone()).collect(),
                minute: out.get(1).map_or(0, as_u64),
                day,
                output_tokens: out.get(2).map_or(0, as_u64),
                est_tokens: out.get(3).map_or(a.est_tokens, as_u64),
                est_cost_micro: out.get(4).map_or(a.est_cost_micro, as_u64),
            })),
            Some(0) => {
                let kind = out.get(1).map(as_string).unwrap_or_default();
                Ok(Decision::Refused(Refusal {
                    kind: LimitKind::parse(&kind)
                        .ok_or_else(|| err(format!("admit script returned kind `{kind}`")))?,
                    retry_after_ms: out.get(2).map_or(1, as_u64).max(1),
                    scope: out.get(3).map(as_string).unwrap_or_default(),
                }))
            }
            _ => Err(err(format!("unexpected admit script answer {out:?}"))),
        }
    }

    async fn settle(
        &self,
        t: &Ticket,
        subject: &str,
        model: &str,
        api: Api,
        actual: &Tally,
    ) -> Result<(), StoreError> {
        let d_tokens = i128::from(actual.tokens()) - i128::from(t.est_tokens);
        let d_cost = i128::from(actual.cost_micro()) - i128::from(t.est_cost_micro);
        let mut inv = self.settle.prepare_invoke();
        inv.arg(&self.prefix)
            .arg(&t.lease)
            .arg(d_tokens.to_string())
            .arg(d_cost.to_string())
            .arg(t.minute)
            .arg(&t.day)
            .arg(t.day.get(..7).unwrap_or_default())
            .arg(subject)
            .arg(model)
            .arg(api.as_str())
            .arg(actual.requests)
            .arg(actual.errors)
            .arg(actual.input_tokens)
            .arg(actual.output_tokens)
            .arg(actual.cache_read_tokens)
            .arg(actual.cache_write_tokens)
            .arg(actual.cost_pico)
            .arg(self.ledger_ttl_secs)
            .arg(t.scopes.len());
        for s in &t.scopes {
            inv.arg(s);
        }
        let mut conn = self.conn.clone();
        let _: Value = self.bounded(inv.invoke_async(&mut conn)).await?;
        Ok(())
    }

    async fn usage(&self, q: &UsageQuery) -> Result<Vec<UsageRow>, StoreError> {
        let mut conn = self.conn.clone();
        let days: Vec<String> = self
            .bounded(conn.smembers(format!("{}udays", self.prefix)))
            .await?;
        // Keyed by (day, subject, model, api): a version 1 row (written by a replica of the
        // previous release during a rolling upgrade; no `api` field, all gRPC) adds to the
        // version 2 row of the same key.
        let mut rows: HashMap<(String, String, String, Api), Tally> = HashMap::new();
        for day in days
            .into_iter()
            .filter(|d| q.since.as_deref().is_none_or(|s| d.as_str() >= s))
        {
            let keys: Vec<String> = self
                .bounded(conn.smembers(format!("{}ud:{day}", self.prefix)))
                .await?;
            for k in keys {
                let h: HashMap<String, String> = self.bounded(conn.hgetall(&k)).await?;
                if h.is_empty() {
                    continue;
                }
                let get = |f: &str| h.get(f).and_then(|v| v.parse().ok()).unwrap_or(0u64);
                let subject = h.get("subject").cloned().unwrap_or_default();
                let api = match h.get("api") {
                    None => Api::Grpc,
                    Some(a) => Api::parse(a).ok_or_else(|| {
                        err(format!(
                            "ledger row {k} has unknown api `{a}`; upgrade the server"
                        ))
                    })?,
                };
                if !q.matches(&day, &subject, api) {
                    continue;
                }
                let model = h.get("model").cloned().unwrap_or_default();
                rows.entry((day.clone(), subject, model, api))
                    .or_default()
                    .add(&Tally {
                        requests: get("requests"),
                        errors: get("errors"),
                        input_tokens: get("input_tokens"),
                        output_tokens: get("output_tokens"),
                        cache_read_tokens: get("cache_read_tokens"),
                        cache_write_tokens: get("cache_write_tokens"),
                        cost_pico: get("cost_pico"),
                    });
            }
        }
        let mut out: Vec<UsageRow> = rows
            .into_iter()
            .map(|((day, subject, model, api), tally)| UsageRow {
                day,
                subject,
                model,
                api,
                tally,
            })
            .collect();
        sort_rows(&mut out);
        Ok(out)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn describe(&self) -> String {
        format!("redis ({}, keys {}*)", self.url_shown, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            mask_url("redis://app:s3cret@10.0.0.1:6379/0"),
            "redis://app:***@10.0.0.1:6379/0"
        );
        assert_eq!(mask_url("redis://h:6379"), "redis://h:6379");
    }
}
