//! Pass 2: regular expressions over the text, for what the structure pass
//! can't see (logs, `describe`, env files, prompt fragments, …).
//!
//! Every rule runs over the stretches of text between existing markers, so
//! a marker is never redacted again and a replacement never merges with
//! its neighbours. All regexes are linear-time (the `regex` crate).

use super::keys::decode_base64_prefix;
use super::{is_placeholder, is_secret_key, looks_opaque, marker, Hint, Redactions};
use regex::{Captures, Regex};
use std::ops::Range;
use std::sync::LazyLock;

/// Picks the span to replace inside one match, and its kind.
type Handler = fn(&Captures<'_>) -> Option<(Range<usize>, &'static str)>;

/// A compiled rule.
struct Rule {
    re: Regex,
    handler: Handler,
}

/// A value: escaped-quoted (inside a JSON string), double-quoted,
/// single-quoted, or a bare token. Groups: 1, 2, 3, 4 after the key groups.
macro_rules! value {
    () => {
        r#"(?:\\"([^"\\\n]*)\\"|"((?:[^"\\\n]|\\.)*)"|'([^'\n]*)'|(\$[({][^\s)}]*[)}]?|[^\s"'\\,;&<>(){}\[\]]+))"#
    };
}

/// A key whose name has a secret word in it (a superset of what
/// `is_secret_key` accepts, so that the regex, not the handler, skips the
/// ordinary `key: value` lines). One group.
macro_rules! key {
    () => {
        r"((?:[A-Za-z_][A-Za-z0-9_.-]*)?(?i:pass|pwd|secret|token|auth|api[-_.]?key|access[-_.]?key|priv(?:ate)?[-_.]?key|encryption[-_.]?key|signing[-_.]?key|master[-_.]?key|shared[-_.]?key|hmac[-_.]?key)[A-Za-z0-9_.-]*)"
    };
}

/// Rules that run first: self-describing secrets.
const EARLY: &[(&str, Handler)] = &[
    (
        r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?s:.*?)-----END [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=:,\s-]|\\[nrt])*",
        |c| whole(c, "private-key"),
    ),
    (
        r"-----BEGIN [A-Z0-9 ]{0,20}CERTIFICATE[A-Z ]{0,20}-----(?s:.*?)-----END [A-Z0-9 ]{0,20}CERTIFICATE[A-Z ]{0,20}-----|-----BEGIN [A-Z0-9 ]{0,20}CERTIFICATE[A-Z ]{0,20}-----(?:[A-Za-z0-9+/=\s]|\\[nrt])*",
        |c| whole(c, "certificate"),
    ),
    // base64 of "-----BEGIN …" (kubeconfig `*-data`, Secret data printed raw).
    (r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{8,}={0,2}", base64_pem),
    (
        r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+){0,2}",
        |c| whole(c, "jwt"),
    ),
];

/// Rules that run after the `Hint::SecretOutput` sweep.
const LATE: &[(&str, Handler)] = &[
    // The token must end there: `Bearer expiresIn=3600` is not one.
    (
        r"(?i)\bbearer[ \t]+([A-Za-z0-9._~+/-]{8,}=*)(?:[^A-Za-z0-9._~+/=-]|$)",
        bearer,
    ),
    (
        r#"(?i)\b(?:proxy-)?authorization\\?["']?[ \t]*[:=][ \t]*\\?["']?(?:basic|token|apikey)[ \t]+([^\s"'\\,;]{4,})"#,
        |c| group_value(c, 1, "credential"),
    ),
    (r"\b((?:AKIA|ASIA)[A-Z0-9]{16})\b", |c| {
        group_value(c, 1, "cloud-credential")
    }),
    (
        concat!(
            r#"(?i)(?:^|[^A-Za-z0-9_])(aws_secret_access_key|aws_session_token|aws_security_token|secretaccesskey|sessiontoken|private_key_id)\\?["']?[ \t]*[:=][ \t]*"#,
            value!()
        ),
        |c| quoted_or_bare(c, 2, "cloud-credential"),
    ),
    (
        r#"(?i)\b(?:AccountKey|SharedAccessKey|SharedAccessSignature)=([^;\s"'<>]+)"#,
        |c| group_value(c, 1, "cloud-credential"),
    ),
    (
        r#"[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/?#@"'<>\[\]]*:([^\s/?#@"'<>\[\]]+)@"#,
        |c| group_value(c, 1, "url-credential"),
    ),
    (
        r#"[?&;]((?:[A-Za-z][A-Za-z0-9_.-]*)?(?i:sig|token|pass|pwd|secret|api[-_]?key|access[-_]?key)[A-Za-z0-9_.-]*)=([^&\s#"'<>;]+)"#,
        url_param,
    ),
    // LLM provider keys: Anthropic (`sk-ant-api03-…`, admin `sk-ant-admin01-…`), OpenAI project,
    // service-account and admin keys, and OpenAI's legacy `sk-…T3BlbkFJ…` (base64 of "OpenAI").
    // The part after the prefix must be long: "the sk-proj- prefix" in prose is no key.
    (
        r"\b(?:sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{20,}|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})",
        |c| whole(c, "credential"),
    ),
    (
        r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,}|xox[abprs]-[A-Za-z0-9-]{10,}|AIza[0-9A-Za-z_-]{35}|sk_live_[0-9A-Za-z]{24,}|glpat-[0-9A-Za-z_-]{20,})",
        |c| whole(c, "credential"),
    ),
    // Kubernetes env entries: `- name: DB_PASSWORD` / `value: …` (YAML).
    (
        concat!(
            r#"(?m)^[ \t]*(?:-[ \t]+)?name:[ \t]*["']?"#,
            key!(),
            r#"["']?[ \t]*\r?\n[ \t]*value:[ \t]*(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\n]|'')*)'|([^\s"'][^\n]*))"#
        ),
        env_entry,
    ),
    // … and JSON, plain and escaped inside a JSON string (last-applied).
    (
        r#""name"[ \t]*:[ \t]*"([^"\\\n]*)"\s*,\s*"value"[ \t]*:[ \t]*"((?:[^"\\\n]|\\.)*)""#,
        env_entry,
    ),
    (
        r#"\\"name\\"[ \t]*:[ \t]*\\"([^"\\\n]*)\\"[ \t]*,[ \t]*\\"value\\"[ \t]*:[ \t]*\\"([^"\\\n]*)\\""#,
        env_entry,
    ),
    // `key: value` at the start of a line (YAML, describe, env files).
    (
        concat!(
            r#"(?m)^[ \t]*(?:-[ \t]+)?\\?["']?"#,
            key!(),
            r#"\\?["']?[ \t]*([:=])[ \t]*(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\n]|'')*)'|([^\s"'][^\n]*))"#
        ),
        line_key_value,
    ),
    // `key=value`, `key: value`, `"key":"value"` anywhere.
    (
        concat!(
            r#"(?:^|[^A-Za-z0-9_./\\-])\\?["']?"#,
            key!(),
            r#"\\?["']?[ \t]*([:=])[ \t]*"#,
            value!()
        ),
        inline_key_value,
    ),
    // Command-line flags: `--password=x`, `--token x`, `--token` / `x`.
    (
        r#"(?:^|[\s"'=\[(,])--((?:[A-Za-z][A-Za-z0-9_-]*)?(?i:pass|pwd|secret|token|auth|api[-_]?key|access[-_]?key|priv(?:ate)?[-_]?key)[A-Za-z0-9_-]*)(?:=|[ \t]+|[ \t]*\r?\n[ \t]*(?:-[ \t]+)?)(?:"((?:[^"\\\n]|\\.)*)"|'([^'\n]*)'|([^\s"'-][^\s"',\]]*))"#,
        flag,
    ),
];

/// The `Hint::SecretOutput` sweep: any long opaque token (8+ characters
/// before padding), or padded base64 of 8+ characters in all.
const SECRET_OUTPUT: &str = r"[A-Za-z0-9+/_-]{4,}={0,2}";

const MARKER: &str = r"\[REDACTED-[a-z][a-z0-9-]{0,40}\]";

fn compile(specs: &[(&str, Handler)]) -> Vec<Rule> {
    specs
        .iter()
        .filter_map(|(p, h)| Regex::new(p).ok().map(|re| Rule { re, handler: *h }))
        .collect()
}

static EARLY_RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| compile(EARLY));
static LATE_RULES: LazyLock<Vec<Rule>> = LazyLock::new(|| compile(LATE));
static SECRET_OUTPUT_RULES: LazyLock<Vec<Rule>> =
    LazyLock::new(|| compile(&[(SECRET_OUTPUT, secret_output_token)]));
static MARKER_RE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(MARKER).ok());

/// Runs every rule over `text`; `None` when nothing was replaced.
pub(super) fn redact(text: &str, hint: Hint, counts: &mut Redactions) -> Option<String> {
    let mut current: Option<String> = None;
    let extra: &[Rule] = match hint {
        Hint::SecretOutput => &SECRET_OUTPUT_RULES,
        Hint::None => &[],
    };
    for rule in EARLY_RULES.iter().chain(extra).chain(LATE_RULES.iter()) {
        let src = current.as_deref().unwrap_or(text);
        if let Some(next) = apply(src, rule, counts) {
            current = Some(next);
        }
    }
    current
}

/// Applies one rule to the stretches of `text` between markers.
fn apply(text: &str, rule: &Rule, counts: &mut Redactions) -> Option<String> {
    // A match inside a stretch is a match of the whole text too (up to
    // `^` right after a marker), so one fast scan rules most rules out.
    if !rule.re.is_match(text) {
        return None;
    }
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut seg_start = 0;
    let markers = MARKER_RE.as_ref().map(|re| re.find_iter(text));
    let bounds = markers
        .into_iter()
        .flatten()
        .map(|m| (m.start(), m.end()))
        .chain(std::iter::once((text.len(), text.len())));
    for (m_start, m_end) in bounds {
        let seg = &text[seg_start..m_start];
        for caps in rule.re.captures_iter(seg) {
            let Some((range, kind)) = (rule.handler)(&caps) else {
                continue;
            };
            let (s, e) = (seg_start + range.start, seg_start + range.end);
            if s >= e || s < copied {
                continue;
            }
            let o = out.get_or_insert_with(|| String::with_capacity(text.len()));
            o.push_str(&text[copied..s]);
            o.push_str(&marker(kind));
            copied = e;
            counts.add(kind);
        }
        seg_start = m_end;
    }
    out.map(|mut o| {
        o.push_str(&text[copied..]);
        o
    })
}

fn whole(c: &Captures<'_>, kind: &'static str) -> Option<(Range<usize>, &'static str)> {
    c.get(0).map(|m| (m.range(), kind))
}

/// Group `i`, unless it is a placeholder.
fn group_value(
    c: &Captures<'_>,
    i: usize,
    kind: &'static str,
) -> Option<(Range<usize>, &'static str)> {
    let m = c.get(i)?;
    (!is_placeholder(m.as_str())).then(|| (m.range(), kind))
}

/// The first of the four value groups starting at `first`, trimmed,
/// unless it is a placeholder.
fn quoted_or_bare(
    c: &Captures<'_>,
    first: usize,
    kind: &'static str,
) -> Option<(Range<usize>, &'static str)> {
    let m = (first..first + 4).find_map(|i| c.get(i))?;
    trimmed(m.as_str(), m.start()).map(|r| (r, kind))
}

/// The range of `s` (starting at `start`) without surrounding blanks, or
/// `None` for a placeholder.
fn trimmed(s: &str, start: usize) -> Option<Range<usize>> {
    let lead = s.len() - s.trim_start().len();
    let t = s.trim();
    if is_placeholder(t) {
        return None;
    }
    Some(start + lead..start + lead + t.len())
}

fn bearer(c: &Captures<'_>) -> Option<(Range<usize>, &'static str)> {
    let m = c.get(1)?;
    let t = m.as_str();
    // Random tokens have digits or token punctuation; a long mixed-case
    // run counts too, a word ("Bearer authentication") does not.
    let opaque = t.contains(|ch: char| ch.is_ascii_digit() || "~.+/".contains(ch))
        || (t.len() >= 20 && looks_opaque(t));
    (opaque && !is_placeholder(t)).then(|| (m.range(), "bearer-token"))
}

/// Decodes the start of a base64 PEM to tell a key from a certificate.
fn base64_pem(c: &Captures<'_>) -> Option<(Range<usize>, &'static str)> {
    let m = c.get(0)?;
    let head: String = m.as_str().chars().take(80).collect();
    let decoded = decode_base64_prefix(&head);
    let text = String::from_utf8_lossy(&decoded);
    let kind = if text.contains("PRIVATE") {
        "private-key"
    } else if text.contains("CERTIFICATE") {
        "certificate"
    } else {
        return None;
    };
    Some((m.range(), kind))
}

fn url_param(c: &Captures<'_>) -> Option<(Range<usize>, &'static str)> {
    let name: String = c
        .get(1)?
        .as_str()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|ch| ch.to_ascii_lowercase())
        .collect();
    let secret = matches!(
        name.as_str(),
        "sig" | "signature" | "pass" | "pwd" | "apikey" | "xamzsignature" | "xgoogsignature"
    ) || [
        "token",
        "password",
        "passwd",
        "secret",
        "apikey",
        "accesskey",
    ]
    .iter()
    .any(|s| name.ends_with(s));
    if !secret {
        return None;
    }
    group_value(c, 2, "url-credential")
}

/// Kind for a secret env var: AWS secret keys are cloud credentials.
fn kind_for_name(name: &str) -> &'static str {
    let n = name.to_ascii_lowercase();
    if n.starts_with("aws_secret_access_key") || n.starts_with("aws_session_token") {
        "cloud-credential"
    } else {
        "credential"
    }
}

fn env_entry(c: &Captures<'_>) -> Option<(Range<usize>, &'static str)> {
    let name = c.get(1)?.as_str();
    if !is_secret_key(name) {
        return None;
    }
    let m = (2..=4).find_map(|i| c.get(i))?;
    trimmed(m.as_str(), m.start()).map(|r| (r, kind_for_name(name)))
}

fn line_key_value(c: &Captures<'_>) -> Option<(Range<usize>, &'static str)> {
    let key = c.get(1)?.as_str();
    if !is_secret_key(key) {
        return None;
    }
    if let Some(m) = c.get(3).or_else(|| c.get(4)) {
        return trimmed(m.as_str(), m.start()).map(|r| (r, "credential"));
    }
    let m = c.get(5)?;
    let sep = c.get(2).map_or(":", |s| s.as_str());
    let raw = m.as_str();
    // `KEY=value rest`: the value is one token; `key: value`: the line.
    let end = if sep == "=" {
        raw.find(char::is_whitespace).unwrap_or(raw.len())
    } else {
        raw.len()
    };
    let v = raw[..end].trim_end();
    let v = v.strip_suffix(',').unwrap_or(v);
    trimmed(v, m.start()).map(|r| (r, "credential"))
}

fn inline_key_value(c: &Captures<'_>) -> Option<(Range<usize>, &'static str)> {
    let key = c.get(1)?.as_str();
    if !is_secret_key(key) {
        return None;
    }
    if let Some(m) = (3..=5).find_map(|i| c.get(i)) {
        return trimmed(m.as_str(), m.start()).map(|r| (r, "credential"));
    }
    let m = c.get(6)?;
    let colon = c.get(2).is_some_and(|s| s.as_str() == ":");
    // After a colon in free text only an opaque-looking value counts:
    // "token: expired" is prose, "token: 9f2ab1c" is not.
    if colon && !looks_opaque(m.as_str()) {
        return None;
    }
    trimmed(m.as_str(), m.start()).map(|r| (r, "credential"))
}

fn flag(c: &Captures<'_>) -> Option<(Range<usize>, &'static str)> {
    let name = c.get(1)?.as_str();
    if !is_secret_key(name) {
        return None;
    }
    let m = (2..=4).find_map(|i| c.get(i))?;
    trimmed(m.as_str(), m.start()).map(|r| (r, "credential"))
}

fn secret_output_token(c: &Captures<'_>) -> Option<(Range<usize>, &'static str)> {
    let m = c.get(0)?;
    let t = m.as_str();
    let core = t.trim_end_matches('=').len();
    let padded_base64 = core < t.len() && t.len() >= 8 && t.len() % 4 == 0;
    ((core >= 8 || padded_base64) && looks_opaque(t)).then(|| (m.range(), "secret-data"))
}

#[cfg(test)]
pub(super) fn compiled_rule_counts() -> (usize, usize, usize, usize, bool) {
    (
        EARLY_RULES.len(),
        EARLY.len(),
        LATE_RULES.len(),
        LATE.len(),
        MARKER_RE.is_some() && SECRET_OUTPUT_RULES.len() == 1,
    )
}
