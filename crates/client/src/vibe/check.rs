//! `vibectl check PREDICATE`: read-only steps until the model decides, with the reference's
//! exit codes (0 true, 1 false, 2 poorly posed, 3 cannot tell), at most
//! `features.check_max_iterations` steps. A planned command that is not read-only ends the
//! check (3) and is never run.
use super::plan::{self, Action};
use super::{prompts, Session, VibeError};
use crate::kube::{decide, Verdict};
use crate::model::LlmCall;
use crate::sanitize::Hint;

/// The predicate is true.
pub const TRUE: i32 = 0;
/// The predicate is false.
pub const FALSE: i32 = 1;
/// The predicate is poorly posed or ambiguous.
pub const POORLY_POSED: i32 = 2;
/// The predicate's truth cannot be determined.
pub const CANNOT_DETERMINE: i32 = 3;

impl Session<'_> {
    /// Evaluates `predicate`; returns the exit code.
    pub async fn check(&self, predicate: &str) -> Result<i32, VibeError> {
        let max = self.settings.check_max_iterations.max(1);
        let mut observations: Vec<String> = Vec::new();
        for step in 1..=max {
            if self.settings.show_iterations {
                self.ui
                    .note(&format!("check: step {step} of at most {max}"));
            }
            let memory = crate::memory::load();
            let mut user = vec![format!("Predicate: {predicate}")];
            if !memory.trim().is_empty() {
                user.push(format!("Memory Context:\n{memory}"));
            }
            for o in &observations {
                user.push(o.clone());
            }
            user.extend(self.plugin_context("check_plan"));
            let call = LlmCall {
                system: self.system(prompts::CHECK_SYSTEM, "check_plan"),
                user,
                schema: Some(plan::schema()),
                ..LlmCall::default()
            };
            let (action, record) = self.ask_plan(call).await?;
            match action {
                Action::Done {
                    exit_code,
                    explanation,
                } => {
                    self.audit(&record, None, None);
                    let code = exit_code
                        .filter(|c| (TRUE..=CANNOT_DETERMINE).contains(c))
                        .unwrap_or(CANNOT_DETERMINE);
                    let word = match code {
                        TRUE => "TRUE",
                        FALSE => "FALSE",
                        POORLY_POSED => "POORLY POSED",
                        _ => "CANNOT DETERMINE",
                    };
                    let why = explanation.map(|e| self.shown(&e)).unwrap_or_default();
                    crate::outln!("{word}: {why}");
                    self.remember(predicate, &format!("check: {word}"), &why)
                        .await;
                    return Ok(code);
                }
                Action::Command {
                    commands,
                    yaml_manifest,
                    allowed_exit_codes,
                    ..
                } => {
                    let decision = decide(&commands, yaml_manifest.as_deref());
                    let shown = self.kubectl.display(&decision.args);
                    if decision.verdict != Verdict::Run || yaml_manifest.is_some() {
                        self.audit(&record, Some(shown.clone()), Some(false));
                        self.ui.error(&format!(
                            "`vibectl check` only runs read-only commands, and the plan was `{shown}`; nothing was run"
                        ));
                        return Ok(CANNOT_DETERMINE);
                    }
                    self.audit(&record, Some(shown.clone()), Some(true));
                    if self.settings.show_kubectl {
                        self.ui.command(&shown);
                    }
                    let out = self.kubectl.run(&decision.args, None).await?;
                    let allowed = allowed_exit_codes.unwrap_or_else(|| vec![0]);
                    let hint = if decision.prints_secret_data {
                        Hint::SecretOutput
                    } else {
                        Hint::None
                    };
                    let (text, _) = self.clean(
                        if out.succeeded(&allowed) {
                            &out.stdout
                        } else {
                            &out.stderr
                        },
                        hint,
                    );
                    if self.settings.show_raw_output {
                        crate::ui::write_stdout(&text, false);
                    }
                    observations.push(format!(
                        "Step {step}: ran `{shown}` (exit {}):\n{}",
                        out.code.unwrap_or(-1),
                        prompts::clip(&text)
                    ));
                }
                Action::Thought { text } | Action::Feedback { message: text, .. } => {
                    self.audit(&record, None, None);
                    if self.settings.show_vibe {
                        self.ui.note(&format!("Thought: {}", self.shown(&text)));
                    }
                    observations.push(format!("Step {step}: your thought: {text}"));
                }
                Action::Wait { duration_seconds } => {
                    self.audit(&record, None, None);
                    let d = std::time::Duration::from_secs_f64(duration_seconds.clamp(0.0, 60.0));
                    tokio::time::sleep(d).await;
                }
                Action::Error { message } => {
                    self.audit(&record, None, None);
                    eprintln!("The model could not check this: {}", self.shown(&message));
                    return Ok(CANNOT_DETERMINE);
                }
            }
        }
        eprintln!(
            "Could not determine the predicate within {max} steps (features.check_max_iterations)."
        );
        Ok(CANNOT_DETERMINE)
    }
}
