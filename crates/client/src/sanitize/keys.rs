//! Classifiers shared by both passes: which keys name secrets, which
//! values are placeholders, what looks opaque, and the marker format.

/// The marker that replaces a value of `kind`.
pub(super) fn marker(kind: &str) -> String {
    format!("[REDACTED-{kind}]")
}

/// True when `s` is exactly one marker (blanks around allowed).
pub(super) fn is_marker(s: &str) -> bool {
    s.trim()
        .strip_prefix("[REDACTED-")
        .and_then(|r| r.strip_suffix(']'))
        .is_some_and(|k| {
            !k.is_empty()
                && k.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

/// Substrings that make a key name a secret (on the lower-case,
/// alphanumeric-only form of the key).
const SECRET_WORDS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "accesskey",
    "privatekey",
    "privkey",
    "encryptionkey",
    "signingkey",
    "masterkey",
    "sharedkey",
    "hmackey",
];

/// Endings of a normalised key that name something about a secret rather
/// than hold one: a reference, a name, a path, a setting.
const NOT_SECRET_ENDINGS: &[&str] = &[
    "ref",
    "refs",
    "name",
    "names",
    "namespace",
    "file",
    "files",
    "filename",
    "path",
    "paths",
    "dir",
    "url",
    "uri",
    "endpoint",
    "type",
    "types",
    "ttl",
    "expiry",
    "expires",
    "expiresat",
    "expiration",
    "seconds",
    "timeout",
    "interval",
    "duration",
    "period",
    "length",
    "len",
    "size",
    "count",
    "enabled",
    "enable",
    "disabled",
    "required",
    "policy",
    "mode",
    "header",
    "prefix",
    "format",
    "version",
    "source",
    "from",
    "store",
    "provider",
    "class",
    "audience",
    "audiences",
    "issuer",
    "template",
    "selector",
    "volume",
    "volumes",
    "mount",
    "secrets",
    "tokens",
    "passwordkey",
    "tokenkey",
    "usernamekey",
    "keys",
    "field",
    "location",
    "generator",
    "status",
    "state",
    "checksum",
    "digest",
    "request",
    "requests",
    "review",
    "reviews",
    "manager",
    "backend",
    "engine",
    "annotation",
    "annotations",
    "label",
    "labels",
    "createdat",
    "updatedat",
    "lastused",
    "rotation",
    "stdin",
];

/// File extensions of source code, which log lines cite as `file.go:42`.
const SOURCE_EXTENSIONS: &[&str] = &[
    "go", "py", "rb", "js", "ts", "java", "kt", "scala", "rs", "c", "cc", "cpp", "h", "hpp", "cs",
    "php", "sh", "swift",
];

/// Splits a key into lower-case words at `-`, `_`, `.`, spaces and
/// camelCase boundaries.
fn key_words(key: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in key.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// True when a key's name says its value is a secret (`password`,
/// `DB_PASSWORD`, `api-key`, `clientSecret`, `token`, …) and not a
/// reference to one (`secretName`, `secretKeyRef`, `tokenFile`, …).
pub(super) fn is_secret_key(key: &str) -> bool {
    if key.contains('/') || key.len() > 80 {
        // Qualified annotation/label keys and long junk are not keys.
        return false;
    }
    let norm: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if norm.is_empty() {
        return false;
    }
    let words = key_words(key);
    let says_secret = SECRET_WORDS.iter().any(|w| norm.contains(w))
        || norm == "auth"
        || words.iter().any(|w| w == "pass")
        || (words.len() > 1 && words.iter().any(|w| w == "pwd"));
    if !says_secret {
        return false;
    }
    // `token_cleaner.go:42]` in klog lines: a source file, not a key.
    let source_file = key
        .rsplit_once('.')
        .is_some_and(|(_, ext)| SOURCE_EXTENSIONS.contains(&ext.to_ascii_lowercase().as_str()));
    let excluded = source_file
        || NOT_SECRET_ENDINGS.iter().any(|e| norm.ends_with(e))
        || norm.starts_with("existing")
        || norm.starts_with("automount")
        || norm.contains("tokeniz")
        || norm == "serviceaccounttoken";
    !excluded
}

/// True for values that are not secrets even under a secret-looking key:
/// empty, booleans, `<set to the key …>`/`<none>`, `$(VAR)` references,
/// templates, nested-structure openers, masks, YAML block indicators,
/// `N bytes` from `describe secret`, and markers.
pub(super) fn is_placeholder(value: &str) -> bool {
    let t = value.trim();
    let t = t.strip_suffix(',').unwrap_or(t).trim();
    if t.is_empty() || t == "\"\"" || t == "''" {
        return true;
    }
    let lower = t.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "nil" | "none" | "~"
    ) || matches!(t, "|" | "|-" | "|+" | ">" | ">-" | ">+")
    {
        return true;
    }
    if t.starts_with('<')
        || t.starts_with('{')
        || t.starts_with('[')
        || t.starts_with('*')
        || t.starts_with('&')
        || t.starts_with("$(")
        || t.starts_with("${")
    {
        return true;
    }
    // `$DB_PASSWORD`: an upper-case shell variable, not a value.
    if let Some(var) = t.strip_prefix('$') {
        let upper = var
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        if upper && var.starts_with(|c: char| c.is_ascii_uppercase() || c == '_') {
            return true;
        }
    }
    if t.chars()
        .all(|c| c == '*' || c == 'x' || c == 'X' || c == '•')
    {
        return true;
    }
    // `describe secret` prints sizes, not values.
    if let Some(n) = lower
        .strip_suffix(" bytes")
        .or_else(|| lower.strip_suffix(" byte"))
    {
        if n.trim().chars().all(|c| c.is_ascii_digit()) {
            return true;
        }
    }
    false
}

/// True when `s` is not a plain word: it has a digit, `+`, `/`, `=`, or
/// mixed case beyond a capital first letter.
pub(super) fn looks_opaque(s: &str) -> bool {
    if s.chars()
        .any(|c| c.is_ascii_digit() || c == '+' || c == '/' || c == '=')
    {
        return true;
    }
    let mut chars = s.chars();
    chars.next();
    let rest: Vec<char> = chars.collect();
    let upper_after_first = rest.iter().any(char::is_ascii_uppercase);
    let lower_anywhere = s.chars().any(|c| c.is_ascii_lowercase());
    upper_after_first && lower_anywhere
}

/// Decodes whole 4-character groups of standard base64 (stops at the
/// first character outside the alphabet).
pub(super) fn decode_base64_prefix(s: &str) -> Vec<u8> {
    fn val(b: u8) -> Option<u32> {
        match b {
            b'A'..=b'Z' => Some(u32::from(b - b'A')),
            b'a'..=b'z' => Some(u32::from(b - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(b - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks_exact(4) {
        let mut n: u32 = 0;
        for &b in chunk {
            match val(b) {
                Some(v) => n = (n << 6) | v,
                None => return out,
            }
        }
        let [_, a, b, c] = n.to_be_bytes();
        out.extend_from_slice(&[a, b, c]);
    }
    out
}
