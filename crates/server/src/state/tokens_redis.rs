//! The issued-token registry and revocations in Redis, so every replica sees a revocation made
//! anywhere (the embedded default is the auth module's JSON-lines file in the state dir).
//!
//! Keys (`<prefix>v1:tok:*`): `issued` (hash jti → token claims as JSON), `rjti` (hash jti →
//! revocation time, the first kept), `rsub` (hash subject → cut-off time, the latest kept) and
//! `ver` (a counter bumped on every change, polled by running servers). Registry keys do not
//! expire: they are the record of what was issued.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use redis::Commands;

use super::redis::KEY_SCHEMA;
use crate::auth::{IssuedToken, RegistryError, Revocations, TokenRow, TokenStore};

const REVOKE_SUBJECT_LUA: &str = "local c = redis.call('HGET', KEYS[1], ARGV[1]) \
if (not c) or tonumber(c) < tonumber(ARGV[2]) then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end \
redis.call('INCR', KEYS[2]) return 1";

/// [`TokenStore`] on Redis (blocking calls, as the trait is; each bounded by a timeout).
pub struct RedisTokenStore {
    client: Result<redis::Client, redis::RedisError>,
    shown: String,
    prefix: String,
    timeout: Duration,
    conn: Mutex<Option<redis::Connection>>,
}

impl std::fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTokenStore")
            .field("url", &self.shown)
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisTokenStore {
    /// A store on `url` under `prefix` (connects on first use).
    pub fn new(url: &str, prefix: &str, timeout: Duration) -> Self {
        RedisTokenStore {
            client: redis::Client::open(url),
            shown: super::redis::mask_url(url),
            prefix: format!("{prefix}{KEY_SCHEMA}:tok:"),
            timeout,
            conn: Mutex::new(None),
        }
    }

    fn err(&self, e: impl std::fmt::Display) -> RegistryError {
        RegistryError {
            path: self.shown.clone(),
            message: e.to_string(),
        }
    }

    fn key(&self, k: &str) -> String {
        format!("{}{k}", self.prefix)
    }

    /// Runs `f` on a connection, reconnecting once if the cached one failed.
    fn with<T>(
        &self,
        f: impl Fn(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, RegistryError> {
        let client = self.client.as_ref().map_err(|e| self.err(e))?;
        let mut slot = self.conn.lock().map_err(|_| self.err("lock poisoned"))?;
        for attempt in 0..2 {
            if slot.is_none() {
                let c = client
                    .get_connection_with_timeout(self.timeout)
                    .map_err(|e| self.err(e))?;
                c.set_read_timeout(Some(self.timeout))
                    .map_err(|e| self.err(e))?;
                c.set_write_timeout(Some(self.timeout))
                    .map_err(|e| self.err(e))?;
                *slot = Some(c);
            }
            let Some(conn) = slot.as_mut() else { continue };
            match f(conn) {
                Ok(v) => return Ok(v),
                Err(e) if attempt == 0 && (e.is_io_error() || e.is_connection_dropped()) => {
                    *slot = None;
                }
                Err(e) => return Err(self.err(e)),
            }
        }
        Err(self.err("no connection"))
    }

    fn issued(&self) -> Result<HashMap<String, IssuedToken>, RegistryError> {
        let raw: HashMap<String, String> = self.with(|c| c.hgetall(self.key("issued")))?;
        Ok(raw
            .into_iter()
            .filter_map(|(j, v)| Some((j, serde_json::from_str(&v).ok()?)))
            .collect())
    }

    fn times(&self, k: &str) -> Result<HashMap<String, u64>, RegistryError> {
        self.with(|c| c.hgetall(self.key(k)))
    }
}

impl TokenStore for RedisTokenStore {
    fn record_issued(&self, token: &IssuedToken) -> Result<(), RegistryError> {
        let json = serde_json::to_string(token).map_err(|e| self.err(e))?;
        self.with(|c| {
            redis::pipe()
                .atomic()
                .hset(self.key("issued"), &token.jti, &json)
                .incr(self.key("ver"), 1)
                .query::<()>(c)
        })
    }

    fn revoke_jti(&self, jti: &str, at: u64) -> Result<bool, RegistryError> {
        let (known, _, _): (bool, bool, u64) = self.with(|c| {
            redis::pipe()
                .atomic()
                .hexists(self.key("issued"), jti)
                .hset_nx(self.key("rjti"), jti, at)
                .incr(self.key("ver"), 1)
                .query(c)
        })?;
        Ok(known)
    }

    fn revoke_subject(&self, sub: &str, at: u64) -> Result<usize, RegistryError> {
        let script = redis::Script::new(REVOKE_SUBJECT_LUA);
        self.with(|c| {
            script
                .key(self.key("rsub"))
                .key(self.key("ver"))
                .arg(sub)
                .arg(at)
                .invoke::<i64>(c)
        })?;
        Ok(self
            .issued()?
            .values()
            .filter(|t| t.sub == sub && t.iat <= at)
            .count())
    }

    fn list(&self) -> Result<Vec<TokenRow>, RegistryError> {
        let (rjti, rsub) = (self.times("rjti")?, self.times("rsub")?);
        let mut rows: Vec<TokenRow> = self
            .issued()?
            .into_values()
            .map(|t| TokenRow {
                revoked_at: rjti
                    .get(&t.jti)
                    .copied()
                    .or_else(|| rsub.get(&t.sub).copied().filter(|cut| t.iat <= *cut)),
                token: t,
            })
            .collect();
        rows.sort_by(|a, b| (a.token.iat, &a.token.jti).cmp(&(b.token.iat, &b.token.jti)));
        Ok(rows)
    }

    fn revocations(&self) -> Result<Revocations, RegistryError> {
        Ok(Revocations {
            jtis: self.times("rjti")?.into_keys().collect(),
            subjects: self.times("rsub")?,
        })
    }

    fn version(&self) -> Result<Option<crate::auth::Version>, RegistryError> {
        self.with(|c| c.get(self.key("ver")))
    }
}
