//! `vibectl-server usage`: the usage ledger, grouped and filtered, as a table or JSON.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use serde_json::json;

use crate::cli::{UsageArgs, UsageBy};
use crate::config::{ServerConfig, StateBackend};
use crate::state::{time, Ledger, Tally, UsageQuery, UsageRow, LEDGER_FILE};

/// Micro-USD of a pico-USD amount, rounded half up.
pub fn pico_to_micro(pico: u64) -> u64 {
    (pico + 500_000) / 1_000_000
}

/// `$1.234567` from micro-USD.
pub fn usd(micro: u64) -> String {
    format!("{}.{:06}", micro / 1_000_000, micro % 1_000_000)
}

/// Groups rows: `None` keeps (day, subject, model, api).
pub fn group(rows: &[UsageRow], by: Option<UsageBy>) -> Vec<(String, Tally)> {
    let mut out: BTreeMap<String, Tally> = BTreeMap::new();
    for r in rows {
        let k = match by {
            None => format!("{}\t{}\t{}\t{}", r.day, r.subject, r.model, r.api),
            Some(UsageBy::Model) => r.model.clone(),
            Some(UsageBy::Subject) => r.subject.clone(),
            Some(UsageBy::Day) => r.day.clone(),
            Some(UsageBy::Api) => r.api.as_str().to_owned(),
        };
        out.entry(k).or_default().add(&r.tally);
    }
    out.into_iter().collect()
}

async fn read(
    cfg: &ServerConfig,
    state_dir: &Path,
    q: &UsageQuery,
) -> anyhow::Result<Vec<UsageRow>> {
    if cfg.state.backend == StateBackend::Embedded {
        let path = cfg
            .state
            .ledger_file
            .clone()
            .unwrap_or_else(|| state_dir.join(LEDGER_FILE));
        if !Ledger::exists(&path) {
            return Ok(Vec::new());
        }
    }
    let store = crate::limits::open_store(&cfg.state, &state_dir.join(LEDGER_FILE))
        .await
        .context("cannot open the state store")?;
    Ok(store.usage(q).await?)
}

/// Runs `usage`.
pub fn exec(cx: &super::Context, args: &UsageArgs) -> anyhow::Result<()> {
    let (cfg, state_dir) = (&cx.cfg, cx.state_dir.as_path());
    let since = match args.since.as_deref() {
        None => None,
        Some(d) => Some(time::parse_day(d).with_context(|| {
            format!(
                "--since `{d}` is not a date; use YYYY-MM-DD, e.g. {}",
                time::day(time::now_ms())
            )
        })?),
    };
    let q = UsageQuery {
        subject: args.subject.clone(),
        since,
        api: args.api,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let rows = rt.block_on(read(cfg, state_dir, &q))?;
    let groups = group(&rows, args.by);
    let mut out = std::io::stdout().lock();
    if args.json {
        let items: Vec<_> = groups
            .iter()
            .map(|(k, t)| {
                let mut v = json!({
                    "requests": t.requests, "errors": t.errors,
                    "input_tokens": t.input_tokens, "output_tokens": t.output_tokens,
                    "cache_read_tokens": t.cache_read_tokens, "cache_write_tokens": t.cache_write_tokens,
                    "cost_pico_usd": t.cost_pico, "cost_micro_usd": pico_to_micro(t.cost_pico),
                    "cost_usd": usd(pico_to_micro(t.cost_pico)),
                });
                let mut parts = k.split('\t');
                let names: &[&str] = match args.by {
                    None => &["day", "subject", "model", "api"],
                    Some(UsageBy::Model) => &["model"],
                    Some(UsageBy::Subject) => &["subject"],
                    Some(UsageBy::Day) => &["day"],
                    Some(UsageBy::Api) => &["api"],
                };
                for n in names {
                    v[*n] = json!(parts.next().unwrap_or(""));
                }
                v
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&items)?)?;
        return Ok(());
    }
    if groups.is_empty() {
        writeln!(
            out,
            "no usage recorded{}",
            if q.subject.is_some() || q.since.is_some() || q.api.is_some() {
                " for this filter"
            } else {
                " yet"
            }
        )?;
        return Ok(());
    }
    let head = match args.by {
        None => "DAY\tSUBJECT\tMODEL\tAPI",
        Some(UsageBy::Model) => "MODEL",
        Some(UsageBy::Subject) => "SUBJECT",
        Some(UsageBy::Day) => "DAY",
        Some(UsageBy::Api) => "API",
    };
    let mut lines = vec![format!(
        "{head}\tREQUESTS\tERRORS\tINPUT\tOUTPUT\tCACHE_READ\tCACHE_WRITE\tCOST_USD"
    )];
    let mut total = Tally::default();
    for (k, t) in &groups {
        total.add(t);
        lines.push(line(k, t));
    }
    let pad = head.matches('\t').count();
    lines.push(line(&format!("TOTAL{}", "\t".repeat(pad)), &total));
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.len())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<w$}", w = widths[i]))
            .collect();
        writeln!(out, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

fn line(k: &str, t: &Tally) -> String {
    format!(
        "{k}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        t.requests,
        t.errors,
        t.input_tokens,
        t.output_tokens,
        t.cache_read_tokens,
        t.cache_write_tokens,
        usd(pico_to_micro(t.cost_pico))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::Api;

    fn row(day: &str, subject: &str, model: &str, api: Api, cost_pico: u64) -> UsageRow {
        UsageRow {
            day: day.into(),
            subject: subject.into(),
            model: model.into(),
            api,
            tally: Tally {
                requests: 1,
                cost_pico,
                ..Tally::default()
            },
        }
    }

    #[test]
    fn grouping_and_money_formatting() {
        let rows = [
            row("2026-11-01", "alice", "m1", Api::Grpc, 1_500_000),
            row("2026-11-01", "bob", "m1", Api::Grpc, 1),
            row("2026-11-02", "alice", "m2", Api::Grpc, 7),
            row("2026-11-02", "alice", "m2", Api::Anthropic, 2),
        ];
        let by_model = group(&rows, Some(UsageBy::Model));
        assert_eq!(by_model.len(), 2);
        assert_eq!(by_model[0].0, "m1");
        assert_eq!(by_model[0].1.requests, 2);
        assert_eq!(by_model[0].1.cost_pico, 1_500_001);
        assert_eq!(group(&rows, Some(UsageBy::Subject))[0].1.requests, 3);
        assert_eq!(group(&rows, Some(UsageBy::Day)).len(), 2);
        // One row per day, subject, model and API: alice's m2 calls through two APIs stay apart.
        let all = group(&rows, None);
        assert_eq!(all.len(), 4);
        assert_eq!(all[2].0, "2026-11-02\talice\tm2\tanthropic");
        let by_api = group(&rows, Some(UsageBy::Api));
        assert_eq!(by_api.len(), 2);
        assert_eq!(
            (by_api[0].0.as_str(), by_api[0].1.cost_pico),
            ("anthropic", 2)
        );
        assert_eq!((by_api[1].0.as_str(), by_api[1].1.requests), ("grpc", 3));
        assert_eq!(pico_to_micro(1_500_000), 2);
        assert_eq!(pico_to_micro(1_499_999), 1);
        assert_eq!(usd(12_345_678), "12.345678");
        assert_eq!(usd(5), "0.000005");
    }
}
