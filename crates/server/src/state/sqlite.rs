//! The embedded usage ledger: one SQLite file in the state dir, written by one background thread
//! in batched transactions (at most one commit per 100 ms) so the request path never waits on disk.
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};

use super::{sort_rows, Api, StoreError, Tally, UsageQuery, UsageRow};

/// The ledger file name inside the state dir.
pub const LEDGER_FILE: &str = "usage.sqlite3";

/// Longest a usage row waits in memory before its batch is committed.
pub const COMMIT_EVERY: Duration = Duration::from_millis(100);

/// Schema version kept in `PRAGMA user_version`: 1 keyed rows by (day, subject, model); 2 adds
/// the API a call came through to the key.
const SCHEMA_VERSION: i64 = 2;

/// The version 2 table, under a name of the caller's choosing (`usage`, or a temporary name
/// while migrating).
fn usage_table_ddl(name: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (
            day TEXT NOT NULL, subject TEXT NOT NULL, model TEXT NOT NULL, api TEXT NOT NULL,
            requests INTEGER NOT NULL DEFAULT 0, errors INTEGER NOT NULL DEFAULT 0,
            input_tokens INTEGER NOT NULL DEFAULT 0, output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0, cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            cost_pico INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (day, subject, model, api))"
    )
}

enum Msg {
    Row(UsageRow),
    Flush(mpsc::Sender<Result<(), StoreError>>),
}

/// The ledger: reads on a shared connection, writes through the writer thread.
#[derive(Debug)]
pub struct Ledger {
    path: PathBuf,
    read: Arc<Mutex<Connection>>,
    tx: Mutex<mpsc::Sender<Msg>>,
}

fn db_err(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("{}: {e}", path.display()))
}

fn connect(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(|e| db_err(path, e))?;
    conn.busy_timeout(Duration::from_secs(5))
        .map_err(|e| db_err(path, e))?;
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        .map_err(|e| db_err(path, e))?;
    Ok(conn)
}

/// Brings the file to [`SCHEMA_VERSION`] in one transaction (a second process opening the file
/// meanwhile waits, then finds it done). Version 1 rows all came through gRPC, the only API
/// there was, so they move over as `grpc`.
fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let e = |e: rusqlite::Error| db_err(path, e);
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(e)?;
    let v: i64 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(e)?;
    if v > SCHEMA_VERSION {
        return Err(db_err(
            path,
            format!("schema version {v} is newer than this server understands ({SCHEMA_VERSION}); upgrade the server"),
        ));
    }
    if v == SCHEMA_VERSION {
        return Ok(());
    }
    let columns: Vec<String> = tx
        .prepare("SELECT name FROM pragma_table_info('usage')")
        .and_then(|mut st| st.query_map([], |r| r.get(0))?.collect())
        .map_err(e)?;
    if columns.is_empty() {
        tx.execute_batch(&usage_table_ddl("usage")).map_err(e)?;
    } else if !columns.iter().any(|c| c == "api") {
        tx.execute_batch(&format!(
            "{};
             INSERT INTO usage_v2 (day, subject, model, api, requests, errors, input_tokens,
                output_tokens, cache_read_tokens, cache_write_tokens, cost_pico)
             SELECT day, subject, model, 'grpc', requests, errors, input_tokens, output_tokens,
                cache_read_tokens, cache_write_tokens, cost_pico FROM usage;
             DROP TABLE usage;
             ALTER TABLE usage_v2 RENAME TO usage;",
            usage_table_ddl("usage_v2")
        ))
        .map_err(e)?;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)
        .map_err(e)?;
    tx.commit().map_err(e)
}

fn as_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn as_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn write_batch(conn: &mut Connection, rows: &[UsageRow]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut st = tx.prepare_cached(
            "INSERT INTO usage (day, subject, model, api, requests, errors, input_tokens,
                output_tokens, cache_read_tokens, cache_write_tokens, cost_pico)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (day, subject, model, api) DO UPDATE SET
                requests = requests + excluded.requests, errors = errors + excluded.errors,
                input_tokens = input_tokens + excluded.input_tokens,
                output_tokens = output_tokens + excluded.output_tokens,
                cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                cost_pico = cost_pico + excluded.cost_pico",
        )?;
        for r in rows {
            let t = &r.tally;
            st.execute(params![
                r.day,
                r.subject,
                r.model,
                r.api.as_str(),
                as_i64(t.requests),
                as_i64(t.errors),
                as_i64(t.input_tokens),
                as_i64(t.output_tokens),
                as_i64(t.cache_read_tokens),
                as_i64(t.cache_write_tokens),
                as_i64(t.cost_pico),
            ])?;
        }
    }
    tx.commit()
}

fn writer(mut conn: Connection, path: PathBuf, rx: mpsc::Receiver<Msg>) {
    let mut pending = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut flushes = Vec::new();
        let take = |m: Msg, pending: &mut Vec<UsageRow>, flushes: &mut Vec<_>| match m {
            Msg::Row(r) => pending.push(r),
            Msg::Flush(done) => flushes.push(done),
        };
        take(first, &mut pending, &mut flushes);
        // At most one commit per COMMIT_EVERY under load (each commit costs far more than a
        // row); a flush request (shutdown, reports) writes at once.
        let deadline = Instant::now() + COMMIT_EVERY;
        while flushes.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match rx.recv_timeout(left) {
                Ok(m) => take(m, &mut pending, &mut flushes),
                Err(_) => break,
            }
        }
        while let Ok(m) = rx.try_recv() {
            take(m, &mut pending, &mut flushes);
        }
        let result = if pending.is_empty() {
            Ok(())
        } else {
            write_batch(&mut conn, &pending).map_err(|e| db_err(&path, e))
        };
        match &result {
            Ok(()) => pending.clear(),
            Err(e) => tracing::error!("usage ledger write failed (kept for retry): {e}"),
        }
        for f in flushes {
            let _ = f.send(result.clone());
        }
    }
    if !pending.is_empty() {
        let _ = write_batch(&mut conn, &pending);
    }
}

impl Ledger {
    /// Opens (creating) the ledger at `path` and starts its writer thread.
    pub fn open(path: &Path) -> Result<Ledger, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| db_err(dir, e))?;
        }
        let mut write = connect(path)?;
        migrate(&mut write, path)?;
        let read = connect(path)?;
        let (tx, rx) = mpsc::channel();
        let p = path.to_path_buf();
        std::thread::Builder::new()
            .name("usage-ledger".into())
            .spawn(move || writer(write, p, rx))
            .map_err(|e| db_err(path, e))?;
        Ok(Ledger {
            path: path.to_path_buf(),
            read: Arc::new(Mutex::new(read)),
            tx: Mutex::new(tx),
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues a row to be added (never blocks on disk).
    pub fn add(&self, row: UsageRow) {
        if let Ok(tx) = self.tx.lock() {
            let _ = tx.send(Msg::Row(row));
        }
    }

    /// Waits until every queued row is on disk (blocking; call off the async runtime).
    pub fn flush_blocking(&self) -> Result<(), StoreError> {
        let (done_tx, done_rx) = mpsc::channel();
        self.tx
            .lock()
            .map_err(|_| db_err(&self.path, "writer lock poisoned"))?
            .send(Msg::Flush(done_tx))
            .map_err(|_| db_err(&self.path, "writer thread stopped"))?;
        done_rx
            .recv()
            .map_err(|_| db_err(&self.path, "writer thread stopped"))?
    }

    /// Rows matching `q` (blocking).
    pub fn query_blocking(&self, q: &UsageQuery) -> Result<Vec<UsageRow>, StoreError> {
        let conn = self
            .read
            .lock()
            .map_err(|_| db_err(&self.path, "reader lock poisoned"))?;
        let mut st = conn
            .prepare_cached(
                "SELECT day, subject, model, api, requests, errors, input_tokens, output_tokens,
                    cache_read_tokens, cache_write_tokens, cost_pico FROM usage
                 WHERE (?1 IS NULL OR subject = ?1) AND (?2 IS NULL OR day >= ?2)
                    AND (?3 IS NULL OR api = ?3)",
            )
            .map_err(|e| db_err(&self.path, e))?;
        let rows = st
            .query_map(params![q.subject, q.since, q.api.map(Api::as_str)], |r| {
                let api: String = r.get(3)?;
                let api = Api::parse(&api).ok_or_else(|| {
                    rusqlite::Error::FromSqlConversionFailure(
                        3,
                        rusqlite::types::Type::Text,
                        format!("unknown api `{api}` in the ledger").into(),
                    )
                })?;
                Ok(UsageRow {
                    day: r.get(0)?,
                    subject: r.get(1)?,
                    model: r.get(2)?,
                    api,
                    tally: Tally {
                        requests: as_u64(r.get(4)?),
                        errors: as_u64(r.get(5)?),
                        input_tokens: as_u64(r.get(6)?),
                        output_tokens: as_u64(r.get(7)?),
                        cache_read_tokens: as_u64(r.get(8)?),
                        cache_write_tokens: as_u64(r.get(9)?),
                        cost_pico: as_u64(r.get(10)?),
                    },
                })
            })
            .map_err(|e| db_err(&self.path, e))?;
        let mut out = rows
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| db_err(&self.path, e))?;
        sort_rows(&mut out);
        Ok(out)
    }

    /// Whether the file has a ledger table (for read-only tools on a fresh state dir).
    pub fn exists(path: &Path) -> bool {
        path.exists()
            && Connection::open(path)
                .ok()
                .and_then(|c| {
                    c.query_row(
                        "SELECT name FROM sqlite_master WHERE type='table' AND name='usage'",
                        [],
                        |r| r.get::<_, String>(0),
                    )
                    .optional()
                    .ok()
                    .flatten()
                })
                .is_some()
    }
}
