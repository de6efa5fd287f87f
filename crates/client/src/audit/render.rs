//! The text of `audit show`, `audit export` and `audit info`, as the
//! reference's `audit_cmd.py` prints it (tables as plain aligned text).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::SystemTime;

use serde::Serialize;
use serde_json::Value;

use super::json::{py_str, to_py_json, truthy, FileOrder};
use super::when::format_local_mtime;
use super::AuditError;

/// `audit show`: a title line (`Audit log (<profile>) - showing N entries`)
/// and a Timestamp / Event / Details table, the details being the
/// reference's `_summarize_entry` (`cmd=… model=… secrets=…` for
/// `llm_request`, `secrets=… types=…` for `sanitization`, `✓|✗ <url>` for
/// `proxy_connection`, `-` otherwise). Control characters in cells are shown
/// escaped. With no entries, the reference's note `No audit entries found.`
pub fn render_show(profile: &str, entries: &[Value]) -> String {
    if entries.is_empty() {
        return "No audit entries found.\n".into();
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let cell = |key: &str| match e.get(key) {
                None | Some(Value::Null) => String::new(),
                Some(v) => py_str(v),
            };
            vec![cell("timestamp"), cell("event_type"), summarize(e)]
        })
        .collect();
    let title = format!("Audit log ({profile}) - showing {} entries", entries.len());
    table(&title, &["Timestamp", "Event", "Details"], &rows)
}

/// The reference's `_summarize_entry`.
fn summarize(entry: &Value) -> String {
    let field = |key: &str| entry.get(key).unwrap_or(&Value::Null);
    let or_dash = |key: &str| match field(key) {
        v if truthy(v) => py_str(v),
        _ => "-".into(),
    };
    let secrets = || {
        entry
            .get("secrets_detected")
            .map_or_else(|| "0".into(), py_str)
    };
    match field("event_type").as_str() {
        Some("llm_request") => format!(
            "cmd={} model={} secrets={}",
            or_dash("command_generated"),
            or_dash("model_used"),
            secrets()
        ),
        Some("sanitization") => {
            let types = match entry.get("secrets_types") {
                None => String::new(),
                Some(Value::Array(items)) => items.iter().map(py_str).collect::<Vec<_>>().join(","),
                Some(other) => py_str(other),
            };
            format!("secrets={} types={types}", secrets())
        }
        Some("proxy_connection") => {
            let ok = if truthy(field("success")) {
                "✓"
            } else {
                "✗"
            };
            let url = entry.get("server_url").map_or_else(String::new, py_str);
            format!("{ok} {url}")
        }
        _ => "-".into(),
    }
}

/// `audit export --format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExportFormat {
    /// One JSON array, indented by 2 (the reference's default).
    #[default]
    Json,
    /// One compact JSON object per line.
    Jsonl,
    /// A header of the sorted union of keys, then one row per entry.
    Csv,
}

impl FromStr for ExportFormat {
    type Err = AuditError;
    /// `json`, `jsonl` or `csv`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "jsonl" => Ok(Self::Jsonl),
            "csv" => Ok(Self::Csv),
            _ => Err(AuditError::UnknownFormat {
                value: s.into(),
                valid: "json, jsonl, csv",
            }),
        }
    }
}

/// `audit export` text, exactly what the reference prints to stdout (it adds
/// one `\n` when writing to `--output`; do the same):
///
/// * `Json`: `json.dumps(entries, indent=2)` — `[]` when empty;
/// * `Jsonl`: compact objects joined by `\n`, no trailing newline;
/// * `Csv`: Python `csv.DictWriter` output — sorted union of keys as header,
///   `\r\n` row ends, minimal quoting (fields with `,` `"` CR or LF), lists
///   joined with `,`, `null`/missing as empty, `True`/`False` for booleans —
///   with the final `\n` stripped (so the text ends in `\r`), empty when there
///   are no entries.
///
/// JSON output is ASCII-only (`\uXXXX` escapes), as Python's default, with
/// each entry's keys in the order the reference and this client write them
/// (other keys after those, sorted).
pub fn render_export(entries: &[Value], format: ExportFormat) -> String {
    match format {
        ExportFormat::Json => {
            let ordered: Vec<FileOrder<'_>> = entries.iter().map(FileOrder).collect();
            to_py_json(&ordered, true, true).unwrap_or_else(|_| "[]".into())
        }
        ExportFormat::Jsonl => entries
            .iter()
            .map(|e| to_py_json(&FileOrder(e), false, true).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n"),
        ExportFormat::Csv => export_csv(entries),
    }
}

/// The CSV form of [`render_export`].
fn export_csv(entries: &[Value]) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let mut names: Vec<&str> = entries
        .iter()
        .filter_map(Value::as_object)
        .flat_map(|o| o.keys().map(String::as_str))
        .collect();
    names.sort_unstable();
    names.dedup();
    let mut out = String::new();
    push_csv_record(&mut out, names.iter().map(|n| n.to_string()));
    for entry in entries {
        push_csv_record(
            &mut out,
            names.iter().map(|name| match entry.get(*name) {
                None | Some(Value::Null) => String::new(),
                Some(Value::Array(items)) => items.iter().map(py_str).collect::<Vec<_>>().join(","),
                Some(v) => py_str(v),
            }),
        );
    }
    out.pop();
    out
}

/// One `csv.writer` record (QUOTE_MINIMAL, `\r\n` terminated); a record that
/// would be empty is written as `""`, as Python does.
fn push_csv_record(out: &mut String, fields: impl Iterator<Item = String>) {
    let mut record = String::new();
    for (i, field) in fields.enumerate() {
        if i > 0 {
            record.push(',');
        }
        if field.contains([',', '"', '\r', '\n']) {
            record.push('"');
            record.push_str(&field.replace('"', "\"\""));
            record.push('"');
        } else {
            record.push_str(&field);
        }
    }
    if record.is_empty() {
        record.push_str("\"\"");
    }
    out.push_str(&record);
    out.push_str("\r\n");
}

/// `audit info --format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InfoFormat {
    /// An aligned table (the reference's default).
    #[default]
    Table,
    /// `json.dumps(rows, indent=2, ensure_ascii=False)`.
    Json,
}

impl FromStr for InfoFormat {
    type Err = AuditError;
    /// `table` or `json`, in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "table" => Ok(Self::Table),
            "json" => Ok(Self::Json),
            _ => Err(AuditError::UnknownFormat {
                value: s.into(),
                valid: "table, json",
            }),
        }
    }
}

/// One row of `audit info`: a profile and its log file.
#[derive(Clone, Debug, PartialEq)]
pub struct InfoRow {
    /// The proxy profile.
    pub profile: String,
    /// Whether audit logging is on for it.
    pub enabled: bool,
    /// Its log file.
    pub path: PathBuf,
    /// Whether the file exists (set by [`InfoRow::new`]).
    pub exists: bool,
    /// Its size in bytes (set by [`InfoRow::new`]; 0 when absent).
    pub size: u64,
    /// Its modification time (set by [`InfoRow::new`]).
    pub last_modified: Option<SystemTime>,
}

impl InfoRow {
    /// A row for `profile`, with the file's existence, size and modification
    /// time read from disk. Like the reference, a disabled profile has no log
    /// to look at (shown as path `-`, not existing).
    pub fn new(profile: String, enabled: bool, path: PathBuf) -> Self {
        let meta = if enabled {
            std::fs::metadata(&path).ok()
        } else {
            None
        };
        Self {
            profile,
            enabled,
            path,
            exists: meta.is_some(),
            size: meta.as_ref().map_or(0, |m| m.len()),
            last_modified: meta.and_then(|m| m.modified().ok()),
        }
    }
}

/// One `audit info` row as the reference's JSON has it.
#[derive(Serialize)]
struct InfoJson {
    profile: String,
    enabled: bool,
    path: String,
    exists: bool,
    size: u64,
    last_modified: String,
}

impl From<&InfoRow> for InfoJson {
    fn from(row: &InfoRow) -> Self {
        let exists = row.enabled && row.exists;
        Self {
            profile: row.profile.clone(),
            enabled: row.enabled,
            path: if row.enabled {
                row.path.display().to_string()
            } else {
                "-".into()
            },
            exists,
            size: if exists { row.size } else { 0 },
            last_modified: match (exists, row.last_modified) {
                (true, Some(t)) => format_local_mtime(t),
                _ => "-".into(),
            },
        }
    }
}

/// `audit info`: with `paths_only`, the log paths one per line (disabled
/// profiles left out); else a JSON array of `{profile, enabled, path, exists,
/// size, last_modified}` (`last_modified` as local `YYYY-MM-DD HH:MM:SS`, `-`
/// when absent) or a table titled `Audit log information`. With no rows, the
/// reference's note `No proxy profiles configured.`
pub fn render_info(rows: &[InfoRow], format: InfoFormat, paths_only: bool) -> String {
    if rows.is_empty() {
        return "No proxy profiles configured.\n".into();
    }
    let rows: Vec<InfoJson> = rows.iter().map(InfoJson::from).collect();
    if paths_only {
        return rows
            .iter()
            .filter(|r| r.path != "-")
            .fold(String::new(), |mut out, r| {
                let _ = writeln!(out, "{}", r.path);
                out
            });
    }
    match format {
        InfoFormat::Json => {
            let mut out = to_py_json(&rows, true, false).unwrap_or_else(|_| "[]".into());
            out.push('\n');
            out
        }
        InfoFormat::Table => {
            let yes_no = |b: bool| if b { "Yes" } else { "No" }.to_string();
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.profile.clone(),
                        yes_no(r.enabled),
                        r.path.clone(),
                        yes_no(r.exists),
                        if r.exists {
                            format!("{} bytes", r.size)
                        } else {
                            "-".into()
                        },
                        r.last_modified.clone(),
                    ]
                })
                .collect();
            let headers = [
                "Profile",
                "Enabled",
                "Log path",
                "Exists",
                "Size",
                "Last modified",
            ];
            table("Audit log information", &headers, &cells)
        }
    }
}

/// A title line, then `headers` and `rows` in columns two spaces apart
/// (aligned by character count; the last column unpadded), a dashed rule
/// under the headers. Control characters in cells are escaped.
fn table(title: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .flat_map(|c| {
                let escaped: Vec<char> = if c.is_control() {
                    c.escape_default().collect()
                } else {
                    vec![c]
                };
                escaped
            })
            .collect()
    };
    let head: Vec<String> = headers.iter().map(|h| clean(h)).collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clean(c)).collect())
        .collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for row in &body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(cell);
            out.extend(std::iter::repeat_n(
                ' ',
                w.saturating_sub(cell.chars().count()),
            ));
        }
        out.trim_end().to_string()
    };
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut out = format!("{}\n{}\n{}\n", clean(title), line(&head), line(&rule));
    for row in &body {
        out.push_str(&line(row));
        out.push('\n');
    }
    out
}
