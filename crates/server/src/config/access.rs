//! `server.limits.models`: which models each subject may use (ids, aliases, `*`/`?` globs).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use vibectl_llm::ModelSpec;

use super::ConfigError;

/// `server.limits.models`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelAccess {
    /// What every subject may use unless its own entry says otherwise; unset: every model.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<Vec<String>>,
    /// A subject's own list, replacing `default` for it.
    pub per_token: BTreeMap<String, Vec<String>>,
}

impl ModelAccess {
    /// Whether `subject` may use `model` (a pattern matching its id or one of its aliases).
    pub fn allows(&self, subject: &str, model: &ModelSpec) -> bool {
        match self.per_token.get(subject).or(self.default.as_ref()) {
            None => true,
            Some(list) => list
                .iter()
                .any(|p| glob(p, &model.id) || model.aliases.iter().any(|a| glob(p, a))),
        }
    }

    /// Every pattern with its key path.
    pub fn patterns(&self) -> impl Iterator<Item = (String, &str)> {
        let default = self
            .default
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, p)| (format!("server.limits.models.default[{i}]"), p.as_str()));
        let own = self.per_token.iter().flat_map(|(s, list)| {
            list.iter().enumerate().map(move |(i, p)| {
                (
                    format!("server.limits.models.per_token.{s}[{i}]"),
                    p.as_str(),
                )
            })
        });
        default.chain(own)
    }

    /// Patterns that cannot match anything.
    pub fn validate(&self) -> Vec<ConfigError> {
        self.patterns()
            .filter(|(_, p)| p.trim().is_empty() || p.chars().any(char::is_whitespace))
            .map(|(path, p)| {
                ConfigError::new(
                    path,
                    format!("`{p}` is not a model pattern: use a model id, an alias or a glob such as `claude-*`"),
                )
            })
            .collect()
    }
}

/// Whether a pattern has glob characters.
pub fn is_glob(p: &str) -> bool {
    p.contains(['*', '?'])
}

/// `*` matches any run of characters, `?` one character, anything else itself.
pub fn glob(pattern: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == '?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob("claude-*", "claude-sonnet-4-0"));
        assert!(glob("*", ""));
        assert!(glob("gpt-4?", "gpt-4o"));
        assert!(!glob("gpt-4?", "gpt-4o-mini"));
        assert!(glob("*mini*", "gpt-4o-mini"));
        assert!(!glob("claude", "claude-x"));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("a*b*c", "aXbY"));
    }

    #[test]
    fn own_list_replaces_the_default() {
        let m = ModelSpec {
            id: "anthropic/claude-x".into(),
            provider: "anthropic".into(),
            upstream: "claude-x".into(),
            display_name: "x".into(),
            aliases: vec!["claude".into()],
            max_context: None,
            max_output_tokens: 1,
            prices: Default::default(),
            is_default: false,
            retired: false,
        };
        let mut a = ModelAccess::default();
        assert!(a.allows("bob", &m));
        a.default = Some(vec!["openai/*".into()]);
        assert!(!a.allows("bob", &m));
        a.per_token.insert("bob".into(), vec!["claude".into()]);
        assert!(a.allows("bob", &m), "by alias");
        assert!(!a.allows("carol", &m));
        a.default = Some(vec![" ".into()]);
        assert_eq!(a.validate()[0].path, "server.limits.models.default[0]");
    }
}
