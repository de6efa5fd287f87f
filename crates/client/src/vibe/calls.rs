//! Every LLM call of a session: fragments sanitised before they leave, the answer made safe for
//! the terminal, and one audit line per call.
use std::io::Write;
use std::path::PathBuf;

use serde_yaml_ng::Value;

use crate::audit::{AuditLog, LlmRequestEvent};
use crate::config::Config;
use crate::kube::quote::terminal_safe;
use crate::model::{LlmAnswer, LlmCall, ModelError};
use crate::sanitize::{sanitize_with, Hint, Redactions};

use super::Session;

/// The profile's `security.*` settings (the reference's names and defaults).
#[derive(Debug)]
pub struct Security {
    /// `sanitize_requests`: redact secret material before any text goes to a model.
    pub sanitize: bool,
    /// `warn_sanitization`: say what was redacted (counts and kinds, never values).
    pub warn: bool,
    /// `audit_logging` and `audit_log_path`: where calls are recorded (None: off).
    pub audit: Option<AuditLog>,
}

impl Security {
    /// From the profile's `security.*` keys, else the global ones (defaults: all on).
    pub fn from_config(cfg: &Config, profile: Option<&str>) -> Security {
        let path = audit_path(cfg, profile);
        let on = |name: &str| security_value(cfg, profile, name).as_bool().unwrap_or(true);
        Security {
            sanitize: on("sanitize_requests"),
            warn: on("warn_sanitization"),
            audit: on("audit_logging")
                .then(|| AuditLog::new(path, profile.map(str::to_owned), true)),
        }
    }
}

/// A `security.<name>` value: the profile's when set, else the global one (or its default).
pub fn security_value(cfg: &Config, profile: Option<&str>, name: &str) -> Value {
    profile
        .and_then(|p| cfg.get(&format!("proxy.profiles.{p}.security.{name}")).ok())
        .filter(|v| !v.is_null())
        .or_else(|| cfg.get(&format!("security.{name}")).ok())
        .unwrap_or(Value::Null)
}

/// Where `profile`'s audit log is: `audit_log_path`, else the reference's default.
pub fn audit_path(cfg: &Config, profile: Option<&str>) -> PathBuf {
    match security_value(cfg, profile, "audit_log_path").as_str() {
        Some(p) => crate::proxy::connect::expand_home(p),
        None => AuditLog::default_path(profile),
    }
}

/// What one call was, for its audit line (written once the plan's fate is known).
#[derive(Debug, Default)]
pub struct CallRecord {
    /// Sent as the call's `request_id`.
    pub request_id: String,
    /// `plan`, `summary`, `recovery`, `memory`.
    pub kind: &'static str,
    /// The fragments as sent (sanitised), joined.
    pub request: String,
    /// The fragments before sanitising, joined (only their hash is kept).
    pub original: String,
    /// What was redacted.
    pub redactions: Redactions,
    /// The answer's text.
    pub response: Option<String>,
    /// The model that answered.
    pub model: Option<String>,
    /// Whether it was streamed.
    pub streamed: bool,
    /// The failure, if any.
    pub error: Option<String>,
}

impl Session<'_> {
    /// Sanitises `text` when the profile asks for it (the default).
    pub fn clean(&self, text: &str, hint: Hint) -> (String, Redactions) {
        if self.security.sanitize {
            sanitize_with(text, hint)
        } else {
            (text.to_owned(), Redactions::default())
        }
    }

    /// Runs one call: sanitised fragments out, the answer back (printed when `to_stdout`);
    /// `already` is what was redacted from its text before it was put in a fragment.
    pub(super) async fn call(
        &self,
        kind: &'static str,
        mut call: LlmCall,
        to_stdout: bool,
        already: Redactions,
    ) -> (Result<LlmAnswer, ModelError>, CallRecord) {
        let mut record = CallRecord {
            request_id: uuid::Uuid::new_v4().to_string(),
            kind,
            streamed: to_stdout && self.settings.show_streaming,
            redactions: already,
            ..CallRecord::default()
        };
        record.original = call
            .system
            .iter()
            .chain(&call.user)
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        for fragment in call.system.iter_mut().chain(call.user.iter_mut()) {
            let (clean, found) = self.clean(fragment, Hint::None);
            record.redactions.merge(&found);
            *fragment = clean;
        }
        record.request = call
            .system
            .iter()
            .chain(&call.user)
            .cloned()
            .collect::<Vec<_>>()
            .join(" ");
        if self.security.warn && !record.redactions.is_empty() {
            self.ui.warn(&format!(
                "{} before the request left this machine (see docs/client-safety.md)",
                record.redactions.summary()
            ));
        }
        call.request_id = record.request_id.clone();
        let answer = self.send(&call, to_stdout).await;
        match &answer {
            Ok(a) => {
                record.response = Some(a.text.clone());
                record.model = Some(a.metrics.model.clone()).filter(|m| !m.is_empty());
            }
            Err(e) => record.error = Some(e.to_string()),
        }
        (answer, record)
    }

    async fn send(&self, call: &LlmCall, to_stdout: bool) -> Result<LlmAnswer, ModelError> {
        let answer = if to_stdout && self.settings.show_streaming {
            let mut wrote = false;
            let mut ends_newline = true;
            let mut sink = |t: &str| {
                let t = terminal_safe(t);
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(t.as_bytes());
                let _ = out.flush();
                if !t.is_empty() {
                    wrote = true;
                    ends_newline = t.ends_with('\n');
                }
            };
            let a = self.model.stream(call, &mut sink).await?;
            if wrote && !ends_newline {
                crate::outln!();
            }
            a
        } else {
            let spinner = self.ui.spinner("thinking");
            let a = self.model.complete(call).await;
            drop(spinner);
            let a = a?;
            if to_stdout {
                crate::outln!("{}", terminal_safe(a.text.trim_end()));
            }
            a
        };
        if self.settings.show_metrics.per_call() {
            eprintln!("{}", answer.metrics.render());
        }
        if self.settings.debug() {
            eprintln!(
                "[debug] LLM call: model={} latency={}ms",
                answer.metrics.model,
                answer.metrics.latency.as_millis()
            );
        }
        if let Ok(mut all) = self.metrics.lock() {
            all.push(answer.metrics.clone());
        }
        Ok(answer)
    }

    /// Writes the call's audit line; a failing write warns and never stops the command.
    pub(super) fn audit(
        &self,
        record: &CallRecord,
        command: Option<String>,
        approved: Option<bool>,
    ) {
        let Some(log) = &self.security.audit else {
            return;
        };
        let event = LlmRequestEvent {
            request_id: record.request_id.clone(),
            request: record.original.clone(),
            sanitized_request: Some(record.request.clone()),
            response: record.response.clone(),
            secrets_detected: record.redactions.total(),
            secrets_types: record.redactions.kinds(),
            command_generated: command,
            user_approved: approved,
            model_used: record.model.clone(),
            call: record.kind,
            streamed: record.streamed,
            error: record.error.clone(),
        };
        if let Err(e) = log.record(&event) {
            self.ui.warn(&format!("could not write the audit log: {e}"));
        }
    }
}
