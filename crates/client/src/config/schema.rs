//! The typed schema of every client config key: kind, range, default, example.
use serde_yaml_ng::Value;

/// What values a key accepts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    /// `true`/`false` (also yes/no, on/off, 1/0).
    Bool,
    /// An integer within an inclusive range.
    Int {
        /// Smallest accepted value.
        min: i64,
        /// Largest accepted value.
        max: i64,
    },
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// Free text, not empty.
    Text,
    /// Free text or `null` (to clear it).
    OptionalText,
    /// A filesystem path.
    Path,
    /// A secret value: stored with mode 0600 and masked when shown.
    Secret,
    /// A `vibectl-server://` or `vibectl-server-insecure://` URL (may hold a token).
    ProxyUrl,
    /// An `http://` or `https://` URL.
    HttpUrl,
    /// A number within an inclusive range.
    Number {
        /// Smallest accepted value.
        min: f64,
        /// Largest accepted value.
        max: f64,
    },
    /// `true`/`false` or one of a fixed set of words (the reference's `show_metrics`).
    FlagOrWord(&'static [&'static str]),
    /// A list of strings.
    List,
    /// A regular expression (Rust regex syntax) or `null`; checked by compiling it.
    Regex,
}

/// One config key; `*` in the pattern matches one name (a profile, a provider).
#[derive(Clone, Copy, Debug)]
pub struct KeySpec {
    /// Dotted key pattern, e.g. `proxy.profiles.*.server_url`.
    pub pattern: &'static str,
    /// Accepted values.
    pub kind: Kind,
    /// Default as YAML text (`~` when unset).
    pub default: &'static str,
    /// An example value for error messages and help.
    pub example: &'static str,
    /// What the key does.
    pub help: &'static str,
}

pub use super::keys::KEYS;

/// Why a value does not fit its key.
#[derive(Debug, thiserror::Error)]
pub enum ValueError {
    /// The value has the wrong type or is out of range.
    #[error("expected {expected}, got {got}")]
    Mismatch {
        /// What the key takes.
        expected: String,
        /// What was given, described.
        got: String,
    },
    /// A proxy URL that does not parse.
    #[error(transparent)]
    ProxyUrl(#[from] crate::proxy::url::UrlError),
    /// A name filling a wildcard (provider, profile) that is not allowed.
    #[error("{0}")]
    Name(String),
    /// A regular expression that does not compile.
    #[error("not a valid regular expression (Rust regex syntax): {0}")]
    Regex(String),
}

/// Providers whose keys may be configured.
pub const PROVIDER_NAMES: &[&str] = &["anthropic", "openai", "ollama"];

impl KeySpec {
    /// Whether `key` (split on dots) matches this pattern.
    pub fn matches(&self, key: &[&str]) -> bool {
        let pat: Vec<&str> = self.pattern.split('.').collect();
        pat.len() == key.len() && pat.iter().zip(key).all(|(p, k)| *p == "*" || p == k)
    }

    /// The expected form, for error messages.
    pub fn expected(&self) -> String {
        match self.kind {
            Kind::Bool => "true or false".into(),
            Kind::Int { min, max } => format!("an integer from {min} to {max}"),
            Kind::Enum(words) => format!("one of {}", words.join(", ")),
            Kind::Text => "text".into(),
            Kind::OptionalText => "text, or null to clear".into(),
            Kind::Path => "a file path".into(),
            Kind::Secret => "a secret string".into(),
            Kind::ProxyUrl => {
                "vibectl-server://[TOKEN@]HOST[:PORT] or vibectl-server-insecure://...".into()
            }
            Kind::HttpUrl => "an http:// or https:// URL".into(),
            Kind::Number { min, max } => format!("a number from {min} to {max}"),
            Kind::FlagOrWord(words) => format!("true, false or one of {}", words.join(", ")),
            Kind::List => "a list".into(),
            Kind::Regex => "a regular expression, or null for none".into(),
        }
    }

    /// The default value.
    pub fn default_value(&self) -> Value {
        serde_yaml_ng::from_str(self.default).unwrap_or(Value::Null)
    }

    /// Whether values of this key are secrets (masked, file kept 0600).
    pub fn is_secret(&self) -> bool {
        matches!(self.kind, Kind::Secret | Kind::ProxyUrl)
    }

    /// Checks a value read from the file or given on the command line; the error says why.
    pub fn check(&self, value: &Value) -> Result<(), ValueError> {
        let ok = match (self.kind, value) {
            (_, Value::Null) => !matches!(
                self.kind,
                Kind::Bool
                    | Kind::Int { .. }
                    | Kind::Enum(_)
                    | Kind::Number { .. }
                    | Kind::FlagOrWord(_)
            ),
            (Kind::Number { min, max }, Value::Number(n)) => {
                n.as_f64().is_some_and(|f| f >= min && f <= max)
            }
            (Kind::FlagOrWord(_), Value::Bool(_)) => true,
            (Kind::FlagOrWord(words), Value::String(s)) => words.contains(&s.as_str()),
            (Kind::List, Value::Sequence(_)) => true,
            (Kind::Regex, Value::String(s)) => {
                return crate::display::compile_filter(s).map(|_| ()).map_err(|e| {
                    // The last line of regex's message says what is wrong, without the
                    // caret diagram.
                    let text = e.to_string();
                    ValueError::Regex(text.lines().last().unwrap_or("").trim().to_owned())
                });
            }
            (Kind::Bool, Value::Bool(_)) => true,
            (Kind::Int { min, max }, Value::Number(n)) => {
                n.as_i64().is_some_and(|i| i >= min && i <= max)
            }
            (Kind::Enum(words), Value::String(s)) => words.contains(&s.as_str()),
            (Kind::ProxyUrl, Value::String(s)) => {
                return crate::proxy::url::ProxyUrl::parse(s)
                    .map(|_| ())
                    .map_err(ValueError::from)
            }
            (Kind::HttpUrl, Value::String(s)) => {
                s.starts_with("http://") || s.starts_with("https://")
            }
            (Kind::Text | Kind::OptionalText | Kind::Path | Kind::Secret, Value::String(s)) => {
                !s.is_empty()
            }
            _ => false,
        };
        if ok {
            Ok(())
        } else {
            Err(ValueError::Mismatch {
                expected: self.expected(),
                got: describe(value),
            })
        }
    }

    /// Parses a command-line value into the YAML value to store.
    pub fn parse(&self, raw: &str) -> Result<Value, ValueError> {
        let raw = raw.trim();
        let value = match self.kind {
            Kind::Bool => match raw.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Value::Bool(true),
                "false" | "no" | "off" | "0" => Value::Bool(false),
                _ => Value::String(raw.to_owned()),
            },
            Kind::FlagOrWord(_) => match raw.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" => Value::Bool(true),
                "false" | "no" | "off" => Value::Bool(false),
                _ => Value::String(raw.to_owned()),
            },
            Kind::Number { .. } => match raw.parse::<f64>() {
                Ok(f) => Value::Number(f.into()),
                Err(_) => Value::String(raw.to_owned()),
            },
            Kind::List => serde_yaml_ng::from_str(raw).unwrap_or(Value::String(raw.to_owned())),
            Kind::Int { .. } => match raw.parse::<i64>() {
                Ok(i) => Value::Number(i.into()),
                Err(_) => Value::String(raw.to_owned()),
            },
            Kind::OptionalText | Kind::Path | Kind::Regex
                if matches!(raw, "null" | "none" | "~" | "") =>
            {
                Value::Null
            }
            _ => Value::String(raw.to_owned()),
        };
        self.check(&value)?;
        Ok(value)
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".into(),
        Value::String(s) => format!("{s:?}"),
        other => serde_yaml_ng::to_string(other)
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "an unreadable value".into()),
    }
}

/// Finds the spec of a concrete key such as `proxy.profiles.prod.server_url`.
pub fn lookup(key: &str) -> Option<&'static KeySpec> {
    let parts: Vec<&str> = key.split('.').collect();
    KEYS.iter().find(|k| k.matches(&parts))
}

/// Known keys closest to an unknown one, best first.
pub fn close_keys(key: &str) -> Vec<String> {
    let parts: Vec<&str> = key.split('.').collect();
    let mut scored: Vec<(f64, String)> = KEYS
        .iter()
        .map(|spec| {
            // Fill wildcards with the user's own segment so `proxy.profiles.prod.url` suggests
            // `proxy.profiles.prod.server_url`.
            let candidate: Vec<String> = spec
                .pattern
                .split('.')
                .enumerate()
                .map(|(i, p)| match (p, parts.get(i)) {
                    ("*", Some(seg)) => (*seg).to_owned(),
                    ("*", None) => "<name>".to_owned(),
                    (p, _) => p.to_owned(),
                })
                .collect();
            let candidate = candidate.join(".");
            (strsim::jaro_winkler(key, &candidate), candidate)
        })
        .filter(|(s, _)| *s >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let best = scored.first().map_or(0.0, |s| s.0);
    scored
        .into_iter()
        .take_while(|(s, _)| best - s < 0.04)
        .take(3)
        .map(|(_, k)| k)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn lookup_wildcards() {
        assert!(lookup("proxy.profiles.prod.server_url").is_some());
        assert!(lookup("providers.anthropic.key").is_some());
        assert!(lookup("proxy.timeout").is_none());
    }

    #[test]
    fn parse_checks_type_and_range() {
        let t = lookup("proxy.timeout_seconds").unwrap();
        assert_eq!(t.parse("60").unwrap(), Value::Number(60.into()));
        assert!(t.parse("0").unwrap_err().to_string().contains("1 to 300"));
        assert!(t.parse("soon").is_err());
        let c = lookup("display.color").unwrap();
        assert!(c
            .parse("purple")
            .unwrap_err()
            .to_string()
            .contains("auto, always, never"));
        assert_eq!(
            lookup("display.stream").unwrap().parse("off").unwrap(),
            Value::Bool(false)
        );
        assert_eq!(
            lookup("llm.model").unwrap().parse("null").unwrap(),
            Value::Null
        );
    }

    #[test]
    fn regexes_are_checked_by_compiling_them() {
        let r = lookup("live_display.default_filter_regex").unwrap();
        assert!(r.parse("err(or)?").is_ok());
        assert_eq!(r.parse("null").unwrap(), Value::Null);
        let e = r.parse("(unclosed").unwrap_err().to_string();
        assert!(e.contains("not a valid regular expression"), "{e}");
        assert!(r.parse("(\\w{1000}){1000}").is_err());
    }

    #[test]
    fn did_you_mean() {
        assert_eq!(close_keys("proxy.timeout")[0], "proxy.timeout_seconds");
        assert_eq!(close_keys("llm.modle")[0], "llm.model");
        assert!(close_keys("proxy.profiles.prod.url")
            .contains(&"proxy.profiles.prod.server_url".to_owned()));
    }
}
