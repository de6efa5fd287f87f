//! `vibe`, `auto` and the summarising wrappers: plan with the model, check, run kubectl, summarise.
pub mod plan;
pub mod prompts;

use std::io::Write;
use std::time::Duration;

use crate::kube::{classify, KubeError, Kubectl, KubectlOutput, Safety};
use crate::model::{LlmAnswer, LlmCall, ModelAccess, ModelError};
use crate::ui::{NoTerminal, Ui};
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
}

impl Session<'_> {
    async fn call(&self, call: &LlmCall, to_stdout: bool) -> Result<LlmAnswer, ModelError> {
        let answer = if to_stdout && self.stream {
            let mut wrote = false;
            let mut ends_newline = true;
            let mut sink = |t: &str| {
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
                crate::outln!("{}", a.text.trim_end());
            }
            a
        };
        if self.show_metrics {
            eprintln!("{}", answer.metrics.render());
        }
        Ok(answer)
    }

    /// Asks the planner for one action, with one corrective retry on an invalid answer.
    pub async fn plan(&self, request: &str) -> Result<Action, VibeError> {
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
        };
        let mut last_problem = String::new();
        for attempt in 0..2 {
            let problem = match self.call(&call, false).await {
                Ok(answer) => match plan::parse(&answer.text) {
                    Ok(action) => return Ok(action),
                    Err(p) => p,
                },
                Err(e) if e.is_schema_failure() => e.to_string(),
                Err(e) => return Err(e.into()),
            };
            if attempt == 0 {
                self.ui.note(&format!(
                    "The model's plan was invalid ({problem}); asking once more."
                ));
                call.user.push(format!(
                    "Your previous answer was invalid: {problem}\nAnswer again with exactly one JSON object {{\"action\": {{...}}}} matching the schema, nothing else."
                ));
            }
            last_problem = problem;
        }
        Err(VibeError::Plan(last_problem))
    }

    /// One vibe step: plan, check, run, summarise, remember.
    pub async fn step(&self, request: &str) -> Result<StepOutcome, VibeError> {
        match self.plan(request).await? {
            Action::Command {
                mut commands,
                yaml_manifest,
                explanation,
                allowed_exit_codes,
            } => {
                if yaml_manifest.is_some()
                    && !commands
                        .iter()
                        .any(|a| a == "-f" || a.starts_with("--filename") || a.starts_with("-f="))
                {
                    commands.extend(["-f".to_owned(), "-".to_owned()]);
                }
                let shown = self.kubectl.display(&commands);
                match &explanation {
                    Some(e) if !e.is_empty() => self.ui.plan(&format!("{shown}  # {e}")),
                    _ => self.ui.plan(&shown),
                }
                match classify(&commands) {
                    Safety::Refused(why) => {
                        self.ui.error(&why);
                        return Err(VibeError::Refused(why));
                    }
                    Safety::Mutating(why)
                        if !self.yes && !self.ui.confirm(&format!("{why}. Run `{shown}`?"))? =>
                    {
                        self.ui.note("Not run.");
                        self.remember(request, &format!("declined to run `{shown}`"));
                        return Ok(StepOutcome::Failed(1));
                    }
                    _ => {}
                }
                let allowed = allowed_exit_codes.unwrap_or_else(|| vec![0]);
                let code = self
                    .run_and_summarize(
                        &commands,
                        yaml_manifest.as_deref(),
                        &allowed,
                        false,
                        Some(request),
                    )
                    .await?;
                Ok(if code == 0 {
                    StepOutcome::Continue
                } else {
                    StepOutcome::Failed(code)
                })
            }
            Action::Thought { text } => {
                crate::outln!("{text}");
                self.remember(request, &format!("thought: {text}"));
                Ok(StepOutcome::Continue)
            }
            Action::Feedback {
                message,
                explanation,
                suggestion,
            } => {
                crate::outln!("{message}");
                if let Some(e) = explanation.filter(|e| !e.is_empty()) {
                    crate::outln!("{e}");
                }
                if let Some(s) = suggestion.filter(|s| !s.is_empty()) {
                    crate::outln!("Suggestion: {s}");
                }
                self.remember(request, &format!("feedback: {message}"));
                Ok(StepOutcome::Continue)
            }
            Action::Wait { duration_seconds } => {
                let d = Duration::from_secs_f64(duration_seconds.min(300.0));
                self.ui
                    .note(&format!("Waiting {:.0} s as planned.", d.as_secs_f64()));
                tokio::time::sleep(d).await;
                Ok(StepOutcome::Continue)
            }
            Action::Error { message } => {
                eprintln!("The model could not plan this: {message}");
                self.remember(request, &format!("error: {message}"));
                Ok(StepOutcome::Failed(1))
            }
            Action::Done {
                exit_code,
                explanation,
            } => {
                if let Some(e) = explanation.filter(|e| !e.is_empty()) {
                    crate::outln!("{e}");
                }
                self.remember(request, "done");
                Ok(StepOutcome::Done(exit_code.unwrap_or(0)))
            }
        }
    }

    /// Runs kubectl and prints a summary (or a recovery suggestion); returns the exit code to use.
    pub async fn run_and_summarize(
        &self,
        args: &[String],
        stdin: Option<&str>,
        allowed: &[i32],
        raw: bool,
        request: Option<&str>,
    ) -> Result<i32, VibeError> {
        let shown = self.kubectl.display(args);
        if self.show_kubectl {
            self.ui.command(&shown);
        }
        let out = self.kubectl.run(args, stdin).await?;
        if raw {
            crate::ui::write_stdout(&out.stdout, false);
            eprint!("{}", out.stderr);
            return Ok(exit_code(&out));
        }
        if out.succeeded(allowed) {
            if self.show_raw {
                crate::ui::write_stdout(&out.stdout, false);
            }
            let text = if out.stdout.trim().is_empty() {
                out.stderr.clone()
            } else {
                out.stdout.clone()
            };
            let call = LlmCall {
                system: vec![prompts::SUMMARY_SYSTEM.to_owned()],
                user: vec![
                    format!("Command: {shown}"),
                    format!("Output:\n{}", prompts::clip(&text)),
                ],
                schema: None,
            };
            let summary = self.call(&call, true).await?;
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
            let call = LlmCall {
                system: vec![prompts::RECOVERY_SYSTEM.to_owned()],
                user: vec![
                    format!("Command: {shown}"),
                    format!("Error:\n{}", prompts::clip(&out.stderr)),
                ],
                schema: None,
            };
            eprintln!("Suggestion:");
            match self.call(&call, true).await {
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

    fn remember(&self, request: &str, what: &str) {
        if self.memory_chars == 0 {
            return;
        }
        let line = if request.trim().is_empty() {
            format!("- {what}")
        } else {
            format!("- \"{}\": {what}", request.trim())
        };
        let line: String = line.chars().take(300).collect();
        if let Err(e) = crate::memory::append(&line, self.memory_chars) {
            self.ui.warn(&format!("could not update memory: {e}"));
        }
    }
}

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
