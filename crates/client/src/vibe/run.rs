//! Running a planned or typed command and summarising it; the non-command actions.
use std::time::Duration;

use super::plan::Action;
use super::{exit_code, first_line, prompts, Session, StepOutcome, VibeError};
use crate::model::LlmCall;
use crate::sanitize::Hint;

impl Session<'_> {
    /// The actions that are not commands: shown (made safe) and remembered.
    pub(super) async fn say(&self, request: &str, action: Action) -> StepOutcome {
        match action {
            Action::Command { .. } => StepOutcome::Failed(1),
            Action::Thought { text } => {
                crate::outln!("{}", self.shown(&text));
                self.remember(request, &format!("thought: {text}"), "")
                    .await;
                StepOutcome::Continue
            }
            Action::Feedback {
                message,
                explanation,
                suggestion,
            } => {
                crate::outln!("{}", self.shown(&message));
                if let Some(e) = explanation.filter(|e| !e.is_empty()) {
                    crate::outln!("{}", self.shown(&e));
                }
                if let Some(s) = suggestion.filter(|s| !s.is_empty()) {
                    crate::outln!("Suggestion: {}", self.shown(&s));
                }
                self.remember(request, &format!("feedback: {message}"), "")
                    .await;
                StepOutcome::Continue
            }
            Action::Wait { duration_seconds } => {
                let d = Duration::from_secs_f64(duration_seconds.clamp(0.0, 300.0));
                self.ui
                    .note(&format!("Waiting {:.0} s as planned.", d.as_secs_f64()));
                tokio::time::sleep(d).await;
                StepOutcome::Continue
            }
            Action::Error { message } => {
                eprintln!("The model could not plan this: {}", self.shown(&message));
                self.remember(request, &format!("error: {message}"), "")
                    .await;
                StepOutcome::Failed(1)
            }
            Action::Done {
                exit_code,
                explanation,
            } => {
                if let Some(e) = explanation.filter(|e| !e.is_empty()) {
                    crate::outln!("{}", self.shown(&e));
                }
                self.remember(request, "done", "").await;
                StepOutcome::Done(exit_code.unwrap_or(0))
            }
        }
    }

    /// Runs kubectl and prints a summary (or a recovery suggestion); returns the exit code to use:
    /// kubectl's own, also when it is one of `allowed` (`kubectl diff` exits 1 when it finds
    /// differences: the summary prints and vibectl exits 1, as kubectl and the reference do).
    /// kubectl's output is sanitised before it is summarised (`hint` says when it holds Secret
    /// data in a format without structure).
    pub async fn run_and_summarize(
        &self,
        args: &[String],
        stdin: Option<&str>,
        allowed: &[i32],
        hint: Hint,
        request: Option<&str>,
    ) -> Result<i32, VibeError> {
        let shown = self.kubectl.display(args);
        if self.settings.show_kubectl {
            self.ui.command(&shown);
        }
        let out = self.kubectl.run(args, stdin).await?;
        if out.succeeded(allowed) {
            let code = exit_code(&out);
            if self.settings.show_raw_output || !self.settings.show_vibe {
                crate::ui::write_stdout(&out.stdout, false);
            }
            let text = if out.stdout.trim().is_empty() {
                &out.stderr
            } else {
                &out.stdout
            };
            if !self.settings.show_vibe {
                // --no-show-vibe: kubectl's output only, no summary call.
                return Ok(code);
            }
            let (text, found) = self.clean(text, hint);
            let call = LlmCall {
                system: self.summary_system(&self.summary_key(args, request.is_some())),
                user: vec![
                    format!("Command: {shown}"),
                    format!("Output:\n{}", prompts::clip(&text)),
                ],
                ..LlmCall::default()
            };
            let (summary, record) = self.call("summary", call, true, found).await;
            self.audit(&record, Some(shown.clone()), None);
            let summary = summary?;
            self.remember(
                request.unwrap_or(""),
                &format!("ran `{shown}`"),
                &format!(
                    "output (first lines): {}\nsummary: {}",
                    head(&text),
                    summary.text
                ),
            )
            .await;
            Ok(code)
        } else {
            eprintln!(
                "kubectl failed ({}):",
                out.code.map_or("stopped".into(), |c| format!("exit {c}"))
            );
            eprint!("{}", out.stderr);
            let (stderr, found) = self.clean(&out.stderr, hint);
            let mut user = vec![
                format!("Command: {shown}"),
                format!("Error:\n{}", prompts::clip(&stderr)),
            ];
            user.extend(self.plugin_context("recovery_suggestions"));
            let call = LlmCall {
                system: self.system(prompts::RECOVERY_SYSTEM, "recovery_suggestions"),
                user,
                ..LlmCall::default()
            };
            eprintln!("Suggestion:");
            let (answer, record) = self.call("recovery", call, true, found).await;
            self.audit(&record, Some(shown.clone()), None);
            match answer {
                Ok(s) => {
                    self.remember(
                        request.unwrap_or(""),
                        &format!("`{shown}` failed: {}", first_line(&out.stderr)),
                        &s.text,
                    )
                    .await;
                }
                Err(e) => eprintln!("(no suggestion: {e})"),
            }
            Ok(exit_code(&out).max(1))
        }
    }
}

impl Session<'_> {
    /// The reference's prompt key of a command's summary, which plugins replace: after a
    /// `vibectl vibe` / `auto` step `vibe_resource_summary`, else the command's own
    /// (`get_resource_summary`, `scale_summary`, `rollout_history_summary`, ...).
    pub fn summary_key(&self, args: &[String], planned: bool) -> String {
        if planned && self.verb.is_none() {
            return "vibe_resource_summary".to_owned();
        }
        summary_key(args)
    }
}

/// The reference's summary prompt key of a kubectl command.
pub fn summary_key(args: &[String]) -> String {
    let verb = args.first().map_or("vibe", String::as_str);
    match verb {
        "rollout" => match args.get(1).map(String::as_str) {
            Some("status") => "rollout_status_summary".into(),
            Some("history") => "rollout_history_summary".into(),
            _ => "rollout_general_summary".into(),
        },
        "scale" | "version" | "wait" => format!("{verb}_summary"),
        other => format!("{}_resource_summary", other.replace('-', "_")),
    }
}

/// The first lines of kubectl's output, for the memory call.
fn head(text: &str) -> String {
    text.lines().take(20).collect::<Vec<_>>().join("\n")
}
