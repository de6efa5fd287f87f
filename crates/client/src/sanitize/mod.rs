//! Redaction of secret material before any text is sent to an LLM.
//!
//! Text handed to the model (kubectl tables, `-o yaml|json` output,
//! `kubectl config view --raw`, `describe`, logs, prompt fragments) goes
//! through [`sanitize`] / [`sanitize_with`] first. Every secret value is
//! replaced by a marker `[REDACTED-<kind>]`; the returned [`Redactions`]
//! counts what was replaced, by kind, never the values.
//!
//! Kinds: `secret-data`, `kubeconfig-credential`, `bearer-token`, `jwt`,
//! `private-key`, `certificate`, `cloud-credential`, `url-credential` and
//! `credential`.
//!
//! Two passes run:
//! 1. **Structure** (`structure.rs`): when the whole text is JSON or a YAML
//!    stream of mappings/sequences, Secrets (`data`, `stringData`, the
//!    last-applied annotation; also in `List`s) and kubeconfigs
//!    (`users[].user` credentials) are redacted in the parsed tree, keys
//!    kept. The text is re-serialised only when something was replaced.
//!    A line-based fallback (`blocks.rs`) finds Secret `data:` blocks the
//!    parser could not reach: inside a prompt or after a warning line.
//! 2. **Patterns** (`patterns.rs`): regular expressions for PEM blocks,
//!    JWTs, bearer tokens, cloud keys, URL credentials, env entries and
//!    `password: …`-style key/values (`keys.rs` decides which keys count).
//!
//! Sanitising is idempotent: markers are never redacted again, so a second
//! pass returns the same text and reports nothing.
//!
//! Limits, by design: in free text (not in a parsed Secret or kubeconfig) a
//! value under a secret-named key is kept when it looks like a placeholder
//! (empty, `true`/`false`, `<…>`, `$(VAR)`, `${VAR}`, `$UPPER_VAR`, or it
//! starts with `{`, `[`, `*` or `&`); after `key:` in the middle of a line
//! only an opaque-looking value (digit, `+`, `/`, `=` or mixed case) is
//! taken, so "token: expired" stays prose. Short decoded values that are
//! plain words can't be told from text, even with [`Hint::SecretOutput`].

use std::collections::BTreeMap;

mod blocks;
mod keys;
mod patterns;
mod structure;

use keys::{is_marker, is_placeholder, is_secret_key, looks_opaque, marker};

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_edge;
#[cfg(test)]
mod tests_prop;

/// What kind of command produced the text, when known.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Hint {
    /// Nothing is known about the text: structure and patterns only.
    #[default]
    None,
    /// Output of a command that printed Secret data in a non-structured
    /// format (e.g. `get secret -o jsonpath=...`): every base64-looking or
    /// long opaque token is redacted too, as `secret-data`.
    SecretOutput,
}

/// Counts of what was redacted, by kind (never the values).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Redactions {
    counts: BTreeMap<&'static str, usize>,
}

impl Redactions {
    /// Total number of values redacted, all kinds together.
    #[must_use]
    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    /// True when nothing was redacted.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.total() == 0
    }

    /// The kinds that were redacted at least once, sorted and unique.
    #[must_use]
    pub fn kinds(&self) -> Vec<String> {
        self.counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, _)| (*k).to_string())
            .collect()
    }

    /// How many values of one kind (e.g. `"jwt"`) were redacted.
    #[must_use]
    pub fn count(&self, kind: &str) -> usize {
        self.counts.get(kind).copied().unwrap_or(0)
    }

    /// Adds the counts of `other` to these.
    pub fn merge(&mut self, other: &Redactions) {
        for (kind, n) in &other.counts {
            *self.counts.entry(kind).or_insert(0) += n;
        }
    }

    /// One line for a human, e.g.
    /// `"3 secret values redacted (jwt 1, secret-data 2)"`, or
    /// `"no secret values redacted"`.
    #[must_use]
    pub fn summary(&self) -> String {
        let total = self.total();
        if total == 0 {
            return "no secret values redacted".to_string();
        }
        let parts: Vec<String> = self
            .counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let noun = if total == 1 { "value" } else { "values" };
        format!("{total} secret {noun} redacted ({})", parts.join(", "))
    }

    /// Records one redaction of `kind`.
    fn add(&mut self, kind: &'static str) {
        *self.counts.entry(kind).or_insert(0) += 1;
    }
}

/// Redacts secret material in `text`; same as `sanitize_with(text, Hint::None)`.
#[must_use]
pub fn sanitize(text: &str) -> (String, Redactions) {
    sanitize_with(text, Hint::None)
}

/// Redacts secret material in `text`, using what `hint` says about its origin.
///
/// Returns the redacted text and the counts by kind. Never panics; runs in
/// time linear in the input size (a fixed number of linear scans).
#[must_use]
pub fn sanitize_with(text: &str, hint: Hint) -> (String, Redactions) {
    let mut counts = Redactions::default();
    let mut out: Option<String> = None;
    let mut structure_done = false;
    // Rounds repeat until one changes nothing (a replacement can change
    // the context of a neighbour, or make text parse that did not): that
    // makes a second `sanitize` a no-op. Each round only turns text into
    // markers, so this ends quickly; the cap bounds the cost.
    for _ in 0..MAX_ROUNDS {
        let current = out.as_deref().unwrap_or(text);
        match round(current, hint, &mut structure_done, &mut counts) {
            Some(next) => out = Some(next),
            None => break,
        }
    }
    (out.unwrap_or_else(|| text.to_string()), counts)
}

/// Upper bound on [`round`]s per call.
const MAX_ROUNDS: usize = 4;

/// One round of both passes; `None` when nothing was replaced.
///
/// Once pass 1 has parsed the text, later rounds skip it: the patterns
/// only add markers, which can't give pass 1 anything new to replace.
fn round(
    text: &str,
    hint: Hint,
    structure_done: &mut bool,
    counts: &mut Redactions,
) -> Option<String> {
    let after_structure = if *structure_done {
        None
    } else {
        match structure::redact(text, counts) {
            structure::Outcome::Replaced(s) => {
                *structure_done = true;
                Some(s)
            }
            structure::Outcome::Unchanged => {
                *structure_done = true;
                None
            }
            structure::Outcome::NotStructured => None,
        }
    };
    let current = after_structure.as_deref().unwrap_or(text);
    // Secrets the parser could not reach (embedded in other text, or nested
    // too deep) get the line-based fallback.
    let after_blocks = blocks::redact(current, counts).or(after_structure);
    let current = after_blocks.as_deref().unwrap_or(text);
    patterns::redact(current, hint, counts).or(after_blocks)
}
