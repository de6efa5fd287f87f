//! Line-based fallback of pass 1, for text that is not one parseable
//! document but holds a Secret printed as YAML or pretty JSON: a prompt
//! fragment with a fenced block, a warning line before `-o yaml` output,
//! truncated output.
//!
//! A `data:`/`stringData:` block (YAML, or `"data": {` in JSON) whose
//! siblings at the same indentation include `kind: Secret` gets each child
//! value replaced, keys kept; a last-applied annotation whose JSON says
//! `"kind":"Secret"` is replaced whole.

use super::{is_marker, marker, Redactions};

const KIND: &str = "secret-data";
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// One line, split into indentation, key and value.
struct Line<'a> {
    /// Column of the key (after any `- ` item prefixes); `None` if blank.
    col: Option<usize>,
    /// True when the line starts a sequence item (`- key: …`).
    item: bool,
    /// Key without quotes, if the line is `key: …` or `"key": …`.
    key: Option<&'a str>,
    /// Byte offset of the value (after the colon and blanks) in the line.
    value_at: usize,
    /// The value, without trailing blanks and newline.
    value: &'a str,
    /// `---` or a code fence: a document boundary.
    boundary: bool,
    /// The whole line without its newline.
    body: &'a str,
}

fn parse_line(line: &str) -> Line<'_> {
    let body = line.trim_end_matches(['\n', '\r']);
    let indent = body.len() - body.trim_start_matches(' ').len();
    let mut rest = &body[indent..];
    let mut col = indent;
    let mut item = false;
    while let Some(r) = rest.strip_prefix("- ") {
        item = true;
        let r2 = r.trim_start_matches(' ');
        col += rest.len() - r2.len();
        rest = r2;
    }
    let trimmed = rest.trim();
    let boundary = trimmed == "---" || trimmed.starts_with("```") || trimmed.starts_with("~~~");
    let mut out = Line {
        col: (!trimmed.is_empty()).then_some(col),
        item,
        key: None,
        value_at: body.len(),
        value: "",
        boundary,
        body,
    };
    let (key, after) = if let Some(q) = rest.strip_prefix('"') {
        match q.find('"') {
            Some(end) => (&q[..end], &q[end + 1..]),
            None => return out,
        }
    } else {
        match rest.find(':') {
            Some(end) if !rest[..end].contains(char::is_whitespace) => {
                (rest[..end].trim_matches(['\'', '"']), &rest[end..])
            }
            _ => return out,
        }
    };
    let Some(after_colon) = after.trim_start_matches(' ').strip_prefix(':') else {
        return out;
    };
    if !(after_colon.is_empty() || after_colon.starts_with([' ', '\t'])) || key.is_empty() {
        return out;
    }
    let value = after_colon.trim();
    out.key = Some(key);
    out.value_at = body.len() - after_colon.trim_start().len();
    out.value = value;
    out
}

fn is_secret_kind(l: &Line<'_>) -> bool {
    l.key == Some("kind") && l.value.trim_end_matches(',').trim_matches(['"', '\'']) == "Secret"
}

fn is_block_indicator(v: &str) -> bool {
    matches!(v, "" | "|" | "|-" | "|+" | ">" | ">-" | ">+")
}

/// For each line, whether its mapping (the lines at its column with no
/// shallower line, boundary or new `- ` item between them) has a
/// `kind: Secret` line. One pass with a stack of open mappings.
fn secret_mappings(lines: &[Line<'_>]) -> Vec<bool> {
    let mut group_of = vec![usize::MAX; lines.len()];
    let mut secret: Vec<bool> = Vec::new();
    let mut open: Vec<(usize, usize)> = Vec::new(); // (column, group)
    for (i, l) in lines.iter().enumerate() {
        let Some(col) = l.col else { continue };
        if l.boundary {
            open.clear();
            continue;
        }
        while open.last().is_some_and(|&(c, _)| c > col) {
            open.pop();
        }
        let group = match open.last() {
            Some(&(c, g)) if c == col && !l.item => g,
            top => {
                if top.is_some_and(|&(c, _)| c == col) {
                    open.pop();
                }
                secret.push(false);
                open.push((col, secret.len() - 1));
                secret.len() - 1
            }
        };
        group_of[i] = group;
        if is_secret_kind(l) {
            secret[group] = true;
        }
    }
    group_of
        .iter()
        .map(|&g| secret.get(g).copied().unwrap_or(false))
        .collect()
}

/// What happens to a line on output.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Edit {
    Keep,
    /// Replace the line's value from its `value_at` on (JSON quotes kept).
    Redact,
    Drop,
}

/// Runs the fallback; `None` when nothing was replaced.
pub(super) fn redact(text: &str, counts: &mut Redactions) -> Option<String> {
    if !text.contains("Secret") {
        return None;
    }
    let raw: Vec<&str> = text.split_inclusive('\n').collect();
    let lines: Vec<Line<'_>> = raw.iter().map(|l| parse_line(l)).collect();
    let in_secret = secret_mappings(&lines);
    let mut edits = vec![Edit::Keep; lines.len()];
    let mut found = Redactions::default();
    for (i, l) in lines.iter().enumerate() {
        let (Some(c), Some(key)) = (l.col, l.key) else {
            continue;
        };
        if (key == "data" || key == "stringData")
            && (l.value.is_empty() || l.value == "{")
            && in_secret[i]
        {
            mark_children(&lines, i + 1, c, &mut edits, &mut found);
        } else if key == LAST_APPLIED {
            mark_last_applied(&lines, i, c, &mut edits, &mut found);
        }
    }
    if found.is_empty() {
        return None;
    }
    counts.merge(&found);
    let mut out = String::with_capacity(text.len());
    for ((line, info), edit) in raw.iter().zip(&lines).zip(&edits) {
        match edit {
            Edit::Keep => out.push_str(line),
            Edit::Drop => {}
            Edit::Redact => {
                let end = line.trim_end_matches(['\n', '\r']).len();
                let v = info.value.trim_end_matches(',');
                let quoted = v.len() >= 2 && v.starts_with('"') && v.ends_with('"');
                out.push_str(&line[..info.value_at]);
                if quoted {
                    out.push('"');
                }
                out.push_str(&marker(KIND));
                if quoted {
                    out.push('"');
                }
                if info.value.ends_with(',') {
                    out.push(',');
                }
                out.push_str(&line[end..]);
            }
        }
    }
    Some(out)
}

/// Marks the children of a data block that starts at line `from`.
fn mark_children(
    lines: &[Line<'_>],
    from: usize,
    c: usize,
    edits: &mut [Edit],
    found: &mut Redactions,
) {
    let mut child_col = None;
    let mut dropping_below: Option<usize> = None;
    for (j, l) in lines.iter().enumerate().skip(from) {
        let Some(col) = l.col else { continue };
        if l.boundary || col <= c {
            break;
        }
        if let Some(limit) = dropping_below {
            if col > limit {
                edits[j] = Edit::Drop;
                continue;
            }
            dropping_below = None;
        }
        let cc = *child_col.get_or_insert(col);
        if col != cc || l.key.is_none() {
            continue;
        }
        let v = l.value.trim_end_matches(',').trim();
        let has_deeper = lines[j + 1..]
            .iter()
            .find_map(|n| n.col)
            .is_some_and(|n| n > cc);
        if is_block_indicator(v) {
            if has_deeper {
                edits[j] = Edit::Redact;
                found.add(KIND);
                dropping_below = Some(cc);
            }
            continue;
        }
        let inner = v.trim_matches(['"', '\'']);
        if inner.is_empty() || is_marker(inner) || v == "{}" {
            continue;
        }
        edits[j] = Edit::Redact;
        found.add(KIND);
        if has_deeper {
            // A plain scalar continued on deeper lines.
            dropping_below = Some(cc);
        }
    }
}

/// Marks a last-applied annotation at line `i` whose JSON is a Secret.
fn mark_last_applied(
    lines: &[Line<'_>],
    i: usize,
    c: usize,
    edits: &mut [Edit],
    found: &mut Redactions,
) {
    let says_secret =
        |s: &str| s.contains(r#""kind":"Secret""#) || s.contains(r#"\"kind\":\"Secret\""#);
    let v = lines[i].value;
    if is_marker(v.trim_matches(['"', '\''])) {
        return;
    }
    if !is_block_indicator(v) {
        if says_secret(v) {
            edits[i] = Edit::Redact;
            found.add(KIND);
        }
        return;
    }
    let mut block = Vec::new();
    for (j, l) in lines.iter().enumerate().skip(i + 1) {
        match l.col {
            Some(col) if col <= c || l.boundary => break,
            _ => block.push(j),
        }
    }
    let secret = block.iter().any(|&j| says_secret(lines[j].body));
    if !secret || block.is_empty() {
        return;
    }
    edits[i] = Edit::Redact;
    found.add(KIND);
    for j in block {
        edits[j] = Edit::Drop;
    }
}
