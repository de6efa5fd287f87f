//! `vibe`, `auto` and the summarising wrappers: plan with the model, check the plan against the
//! policy, run kubectl, summarise; every model call sanitised and audited (calls.rs).
pub mod calls;
pub mod confirm;
pub mod plan;
pub mod prompts;

use std::time::Duration;

use crate::kube::quote::terminal_safe;
use crate::kube::{decide, KubeError, Kubectl, KubectlOutput, Verdict};
use crate::model::{LlmCall, ModelAccess, ModelError};
use crate::sanitize::{Hint, Redactions};
use crate::ui::{NoTerminal, Ui};
pub use calls::Security;
use confirm::Choice;
use plan::Action;

/// Why a vibe step stopped.
#[derive(Debug, thiserror::Error)]
pub enum VibeError {
    /// The model could not be reached or failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// kubectl could not run.
    #[error(transparent)]
    Kube(#[from] KubeError),
    /// Confirmation was needed without a terminal.
    #[error(transparent)]
    NoTerminal(#[from] NoTerminal),
    /// The model's plan was unusable even after a corrective retry.
    #[error("the model did not produce a valid plan after a corrective retry: {0}")]
    Plan(String),
    /// The plan was refused by the safety rules.
    #[error("the planned command was refused and nothing was run: {0}")]
    Refused(String),
}

/// How a step ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// More steps may follow.
    Continue,
    /// The model said DONE (with this exit code).
    Done(i32),
    /// The step failed (kubectl error, model ERROR, declined); exit code.
    Failed(i32),
}

/// Everything a step needs.
pub struct Session<'a> {
    /// Where LLM calls go.
    pub model: &'a dyn ModelAccess,
    /// How kubectl runs.
    pub kubectl: &'a Kubectl,
    /// Output style.
    pub ui: Ui,
    /// `--yes`: run mutating commands without asking.
    pub yes: bool,
    /// Print metrics per call.
    pub show_metrics: bool,
    /// Stream summaries.
    pub stream: bool,
    /// Print kubectl's output before the summary.
    pub show_raw: bool,
    /// Print each kubectl command before it runs.
    pub show_kubectl: bool,
    /// `system.custom_instructions`, added to every plan.
    pub custom_instructions: Option<String>,
    /// Largest memory kept (0 disables memory).
    pub memory_chars: usize,
    /// Sanitising and audit settings.
    pub security: Security,
}

impl Session<'_> {
    /// Asks the planner for one action, with one corrective retry on an invalid answer; the
    /// accepted answer's call record comes back for its audit line.
    pub async fn plan(&self, request: &str) -> Result<(Action, calls::CallRecord), VibeError> {
        let memory = if self.memory_chars > 0 {
            crate::memory::load()
        } else {
            String::new()
        };
        let mut system = vec![prompts::PLANNER_SYSTEM.to_owned()];
        if let Some(extra) = self
            .custom_instructions
            .as_ref()
            .filter(|s| !s.trim().is_empty())
        {
            system.push(format!("Custom instructions from the user: {extra}"));
        }
        let mut call = LlmCall {
            system,
            user: prompts::planner_user(&memory, request, self.kubectl.namespace.as_deref()),
            schema: Some(plan::schema()),
            ..LlmCall::default()
        };
        let mut last_problem = String::new();
        for attempt in 0..2 {
            let (answer, mut record) = self
                .call("plan", call.clone(), false, Redactions::default())
                .await;
            let problem = match answer {
                Ok(answer) => match plan::parse(&answer.text) {
                    Ok(action) => return Ok((action, record)),
                    Err(p) => p,
                },
                Err(e) if e.is_schema_failure() => e.to_string(),
                Err(e) => {
                    self.audit(&record, None, None);
                    return Err(e.into());
                }
            };
            record.error = Some(format!("invalid plan: {problem}"));
            self.audit(&record, None, None);
            if attempt == 0 {
                self.ui.note(&format!(
                    "The model's plan was invalid ({}); asking once more.",
                    terminal_safe(&problem)
                ));
                call.user.push(format!(
                    "Your previous answer was invalid: {problem}\nAnswer again with exactly one JSON object {{\"action\": {{...}}}} matching the schema, nothing else."
                ));
            }
            last_problem = problem;
        }
        Err(VibeError::Plan(terminal_safe(&last_problem)))
    }

    /// Model text for the terminal: sanitised (when on) and without control characters.
    fn shown(&self, text: &str) -> String {
        terminal_safe(&self.clean(text, Hint::None).0)
    }

    /// One vibe step: plan, check against the policy, confirm, run, summarise, remember.
    pub async fn step(&self, request: &str) -> Result<StepOutcome, VibeError> {
        let (action, record) = self.plan(request).await?;
        let Action::Command {
            commands,
            yaml_manifest,
            explanation,
            allowed_exit_codes,
        } = action
        else {
            self.audit(&record, None, None);
            return Ok(self.say(request, action).await);
        };
        let decision = decide(&commands, yaml_manifest.as_deref());
        let shown = self.kubectl.display(&decision.args);
        match explanation.as_deref().map(|e| self.shown(e)) {
            Some(e) if !e.is_empty() => self.ui.plan(&format!("{shown}  # {e}")),
            _ => self.ui.plan(&shown),
        }
        let mut extra_memory = None;
        match decision.verdict {
            Verdict::Refuse => {
                self.audit(&record, Some(shown.clone()), Some(false));
                let why = decision.why();
                self.ui.error(&format!(
                    "{why}\n  To run it yourself, without vibectl's checks: {}",
                    decision.by_hand()
                ));
                self.remember(request, &format!("refused to run `{shown}`: {why}"));
                return Err(VibeError::Refused(why));
            }
            Verdict::Confirm if !self.yes => {
                let mut notes = Vec::new();
                let choice = confirm::ask(
                    &self.ui,
                    &decision,
                    &shown,
                    yaml_manifest.as_deref(),
                    &mut |n: &str| notes.push(n.to_owned()),
                );
                for n in notes {
                    self.remember("", &format!("user note: {n}"));
                }
                let choice = match choice {
                    Ok(c) => c,
                    Err(e) => {
                        self.audit(&record, Some(shown.clone()), Some(false));
                        return Err(e.into());
                    }
                };
                match choice {
                    Choice::Yes => {}
                    Choice::YesAnd(more) => extra_memory = Some(more),
                    Choice::No | Choice::NoBut(_) => {
                        self.audit(&record, Some(shown.clone()), Some(false));
                        self.ui.note("Not run.");
                        if let Choice::NoBut(instead) = &choice {
                            self.remember(
                                request,
                                &format!("user declined `{shown}` and said: {instead}"),
                            );
                            return Ok(StepOutcome::Continue);
                        }
                        self.remember(request, &format!("declined to run `{shown}`"));
                        return Ok(StepOutcome::Failed(1));
                    }
                }
            }
            Verdict::Confirm | Verdict::Run => {}
        }
        self.audit(&record, Some(shown.clone()), Some(true));
        if let Some(more) = extra_memory.filter(|m| !m.is_empty()) {
            self.remember(
                request,
                &format!("user approved `{shown}` and added: {more}"),
            );
        }
        let allowed = allowed_exit_codes.unwrap_or_else(|| vec![0]);
        let hint = if decision.prints_secret_data {
            Hint::SecretOutput
        } else {
            Hint::None
        };
        let code = self
            .run_and_summarize(
                &decision.args,
                yaml_manifest.as_deref(),
                &allowed,
                hint,
                Some(request),
            )
            .await?;
        Ok(if code == 0 {
            StepOutcome::Continue
        } else {
            StepOutcome::Failed(code)
        })
    }

    /// The actions that are not commands: shown (made safe) and remembered.
    async fn say(&self, request: &str, action: Action) -> StepOutcome {
        match action {
            Action::Command { .. } => StepOutcome::Failed(1),
            Action::Thought { text } => {
                crate::outln!("{}", self.shown(&text));
                self.remember(request, &format!("thought: {text}"));
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
                self.remember(request, &format!("feedback: {message}"));
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
                self.remember(request, &format!("error: {message}"));
                StepOutcome::Failed(1)
            }
            Action::Done {
                exit_code,
                explanation,
            } => {
                if let Some(e) = explanation.filter(|e| !e.is_empty()) {
                    crate::outln!("{}", self.shown(&e));
                }
                self.remember(request, "done");
                StepOutcome::Done(exit_code.unwrap_or(0))
            }
        }
    }

    /// Runs kubectl and prints a summary (or a recovery suggestion); returns the exit code to use.
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
        if self.show_kubectl {
            self.ui.command(&shown);
        }
        let out = self.kubectl.run(args, stdin).await?;
        if out.succeeded(allowed) {
            if self.show_raw {
                crate::ui::write_stdout(&out.stdout, false);
            }
            let text = if out.stdout.trim().is_empty() {
                &out.stderr
            } else {
                &out.stdout
            };
            let (text, found) = self.clean(text, hint);
            let call = LlmCall {
                system: vec![prompts::SUMMARY_SYSTEM.to_owned()],
                user: vec![
                    format!("Command: {shown}"),
                    format!("Output:\n{}", prompts::clip(&text)),
                ],
                ..LlmCall::default()
            };
            let (summary, record) = self.call("summary", call, true, found).await;
            self.audit(&record, Some(shown.clone()), None);
            let summary = summary?;
            if let Some(r) = request {
                self.remember(r, &format!("ran `{shown}`: {}", first_line(&summary.text)));
            }
            Ok(0)
        } else {
            eprintln!(
                "kubectl failed ({}):",
                out.code.map_or("stopped".into(), |c| format!("exit {c}"))
            );
            eprint!("{}", out.stderr);
            let (stderr, found) = self.clean(&out.stderr, hint);
            let call = LlmCall {
                system: vec![prompts::RECOVERY_SYSTEM.to_owned()],
                user: vec![
                    format!("Command: {shown}"),
                    format!("Error:\n{}", prompts::clip(&stderr)),
                ],
                ..LlmCall::default()
            };
            eprintln!("Suggestion:");
            let (answer, record) = self.call("recovery", call, true, found).await;
            self.audit(&record, Some(shown.clone()), None);
            match answer {
                Ok(s) => {
                    if let Some(r) = request {
                        self.remember(r, &format!("`{shown}` failed: {}", first_line(&s.text)));
                    }
                }
                Err(e) => eprintln!("(no suggestion: {e})"),
            }
            Ok(exit_code(&out).max(1))
        }
    }

    /// Appends a memory line: sanitised, without control characters or line breaks, capped.
    fn remember(&self, request: &str, what: &str) {
        if self.memory_chars == 0 {
            return;
        }
        let line = if request.trim().is_empty() {
            format!("- {what}")
        } else {
            format!("- \"{}\": {what}", request.trim())
        };
        let line = self.clean(&line, Hint::None).0;
        let line: String = terminal_safe(&line)
            .replace(['\n', '\t'], " ")
            .chars()
            .take(MAX_MEMORY_LINE)
            .collect();
        if let Err(e) = crate::memory::append(&line, self.memory_chars) {
            self.ui.warn(&format!("could not update memory: {e}"));
        }
    }
}

/// Longest line one step adds to memory.
const MAX_MEMORY_LINE: usize = 300;

fn exit_code(out: &KubectlOutput) -> i32 {
    out.code.unwrap_or(124)
}

fn first_line(text: &str) -> String {
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    line.chars().take(200).collect()
}
