//! Reading the log back: [`read_entries`].

use std::fs::File;
use std::io::{BufRead, BufReader, ErrorKind};
use std::path::Path;
use std::time::SystemTime;

use serde_json::Value;

use super::when::entry_time;
use super::{AuditError, MAX_READ_LINE_BYTES};

/// What [`read_entries`] found.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReadResult {
    /// The entries, in file order (oldest first), each a JSON object.
    pub entries: Vec<Value>,
    /// Lines passed over: not a JSON object (torn, binary, invalid UTF-8),
    /// longer than [`super::MAX_READ_LINE_BYTES`], or — only when `since` is
    /// given — without a readable `timestamp`. Blank lines are not counted.
    pub skipped: usize,
}

/// Reads the log's entries in file order, as the reference's
/// `get_audit_entries` does: entries whose `timestamp` is before `since` are
/// left out, and reading stops at the FIRST `limit` entries that match (so
/// `audit show --limit 20` shows the 20 oldest matching entries, as the
/// reference does); `None` or `Some(0)` means no limit. A missing file has no
/// entries. Malformed lines are skipped and counted instead of ending the read.
pub fn read_entries(
    path: &Path,
    since: Option<SystemTime>,
    limit: Option<usize>,
) -> Result<ReadResult, AuditError> {
    let read_error = |source| AuditError::Read {
        path: path.to_path_buf(),
        source,
    };
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(ReadResult::default()),
        Err(e) => return Err(read_error(e)),
    };
    let limit = limit.filter(|n| *n > 0);
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let mut result = ReadResult::default();
    let mut line = Vec::new();
    while let Some(fits) =
        next_line(&mut reader, &mut line, MAX_READ_LINE_BYTES).map_err(read_error)?
    {
        if !fits {
            result.skipped += 1;
            continue;
        }
        let text = trim_py_whitespace(&line);
        if text.is_empty() {
            continue;
        }
        let entry = match serde_json::from_slice::<Value>(text) {
            Ok(v @ Value::Object(_)) => v,
            _ => {
                result.skipped += 1;
                continue;
            }
        };
        if let Some(since) = since {
            match entry
                .get("timestamp")
                .and_then(Value::as_str)
                .and_then(entry_time)
            {
                Some(t) if t < since => continue,
                Some(_) => {}
                None => {
                    result.skipped += 1;
                    continue;
                }
            }
        }
        result.entries.push(entry);
        if limit.is_some_and(|n| result.entries.len() >= n) {
            break;
        }
    }
    Ok(result)
}

/// Reads the next line (without its `\n`) into `line`, holding at most `max`
/// bytes: `Some(true)` for a line, `Some(false)` for one longer than `max`
/// (its bytes are dropped as they are read), `None` at end of file.
fn next_line<R: BufRead>(
    reader: &mut R,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Option<bool>> {
    line.clear();
    let mut fits = true;
    let mut any = false;
    loop {
        let chunk = match reader.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(any.then_some(fits));
        }
        any = true;
        let (part, used, done) = match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => (&chunk[..i], i + 1, true),
            None => (chunk, chunk.len(), false),
        };
        if fits {
            if line.len() + part.len() > max {
                fits = false;
                line.clear();
            } else {
                line.extend_from_slice(part);
            }
        }
        reader.consume(used);
        if done {
            return Ok(Some(fits));
        }
    }
}

/// Drops the ASCII whitespace Python's `str.strip()` drops from both ends.
fn trim_py_whitespace(bytes: &[u8]) -> &[u8] {
    let is_space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c | 0x1c..=0x1f);
    let start = bytes
        .iter()
        .position(|b| !is_space(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_space(b))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or(&[])
}
