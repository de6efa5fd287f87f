//! `vibe`, `auto` and the summarising wrappers: plan with the model, check the plan against the
//! policy, run kubectl, summarise; every model call sanitised and audited (calls.rs).
pub mod calls;
pub mod check;
pub mod confirm;
pub mod intelligent;
pub mod live;
pub mod memory;
pub mod plan;
pub mod prompts;
mod run;

use crate::kube::quote::terminal_safe;
use crate::kube::{decide, Decision, KubeError, Kubectl, KubectlOutput, Verdict};
use crate::model::{LlmCall, ModelAccess, ModelError};
use crate::sanitize::{Hint, Redactions};
use crate::settings::{Mode, Settings};
use crate::ui::{NoTerminal, Ui};
pub use calls::Security;
use confirm::{Confirmed, StepVerb};
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
    /// The live display's filter does not compile.
    #[error("live_display.default_filter_regex: {0}")]
    Filter(regex::Error),
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
    /// The user chose exit at a semiauto confirmation.
    Exit,
}

/// Everything a step needs.
pub struct Session<'a> {
    /// Where LLM calls go.
    pub model: &'a dyn ModelAccess,
    /// How kubectl runs.
    pub kubectl: &'a Kubectl,
    /// Output style.
    pub ui: Ui,
    /// Display, memory and mode settings, resolved once.
    pub settings: Settings,
    /// Sanitising and audit settings.
    pub security: Security,
    /// For `vibectl VERB vibe "..."`: the kubectl verb the plan must use.
    pub verb: Option<String>,
    /// Prompt plugins, in precedence order.
    pub plugins: crate::plugins::Plugins,
    /// Metrics of every call so far (`--show-metrics total`).
    pub metrics: std::sync::Mutex<Vec<crate::model::CallMetrics>>,
}

impl<'a> Session<'a> {
    /// A session for one command.
    pub fn new(
        model: &'a dyn ModelAccess,
        kubectl: &'a Kubectl,
        ui: Ui,
        settings: Settings,
        security: Security,
    ) -> Session<'a> {
        let plugins = crate::plugins::Plugins::load(&settings.plugin_precedence);
        Session {
            model,
            kubectl,
            ui,
            settings,
            security,
            verb: None,
            plugins,
            metrics: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Mutating commands run without asking (`--yes`, `--mode auto`, confirmation_mode none).
    pub fn yes(&self) -> bool {
        self.settings.mode == Mode::Auto
    }

    /// Every step is confirmed, with an exit choice.
    pub fn semiauto(&self) -> bool {
        self.settings.mode == Mode::Semiauto
    }
}

impl Session<'_> {
    /// Asks the planner for one action, with one corrective retry on an invalid answer; the
    /// accepted answer's call record comes back for its audit line.
    pub async fn plan(&self, request: &str) -> Result<(Action, calls::CallRecord), VibeError> {
        let memory = crate::memory::load();
        let system = match self.plugin_planning() {
            Some(fragments) => self.with_context(fragments),
            None => {
                let mut system = self.with_context(vec![prompts::PLANNER_SYSTEM.to_owned()]);
                if let Some(verb) = &self.verb {
                    system.push(format!(
                        "The user ran `vibectl {verb} vibe`: plan a `kubectl {verb} ...` command (commands start with \"{}\").",
                        verb.replace(' ', "\", \"")
                    ));
                }
                system
            }
        };
        let call = LlmCall {
            system,
            user: prompts::planner_user(&memory, request, self.kubectl.namespace.as_deref()),
            schema: Some(plan::schema()),
            ..LlmCall::default()
        };
        self.ask_plan(call).await
    }

    /// The planning prompt's key, as the reference names it: `vibe_plan`, or `VERB_plan` for
    /// `vibectl VERB vibe` (`rollout_plan`, `port_forward_plan`, ...).
    fn plan_key(&self) -> String {
        format!(
            "{}_plan",
            self.verb
                .as_deref()
                .and_then(|v| v.split(' ').next())
                .unwrap_or("vibe")
                .replace('-', "_")
        )
    }

    /// A plugin's planning prompt for this plan, when one replaces ours: for `vibe_plan` any
    /// mapping (defaults `vibe`, `autonomous vibe commands`), for `VERB_plan` a planning prompt.
    fn plugin_planning(&self) -> Option<Vec<String>> {
        let m = self.plugins.mapping(&self.plan_key())?;
        let (command, description) = match &self.verb {
            None => ("vibe", "autonomous vibe commands"),
            Some(_) if m.is_planning_prompt() => ("unknown", ""),
            Some(_) => return None,
        };
        Some(prompts::plugin_planning(
            &m.text("command").unwrap_or_else(|| command.to_owned()),
            &m.text("description")
                .unwrap_or_else(|| description.to_owned()),
            m.value("examples"),
        ))
    }

    /// The plan's kubectl arguments. A plugin's planning prompt for `VERB vibe` asks, as the
    /// reference's does, for the arguments after the verb, so the verb is put back in front
    /// (unless the model gave it anyway); the policy then sees the whole command.
    fn full_command(&self, commands: Vec<String>) -> Vec<String> {
        let Some(verb) = &self.verb else {
            return commands;
        };
        let path: Vec<String> = verb.split(' ').map(str::to_owned).collect();
        if commands.starts_with(&path) || self.plugin_planning().is_none() {
            return commands;
        }
        path.into_iter().chain(commands).collect()
    }

    /// Sends a planning call, with corrective re-plans (`features.max_correction_retries`) on
    /// an invalid answer; the accepted answer's call record comes back for its audit line.
    pub async fn ask_plan(
        &self,
        mut call: LlmCall,
    ) -> Result<(Action, calls::CallRecord), VibeError> {
        let mut last_problem = String::new();
        let attempts = self.settings.max_correction_retries + 1;
        for attempt in 0..attempts {
            let (answer, mut record) = self
                .call("plan", call.clone(), false, Redactions::default())
                .await;
            let problem = match answer {
                Ok(answer) => match plan::parse(&answer.text) {
                    Ok(action) => return Ok((action, record)),
                    Err(p) => p.to_string(),
                },
                Err(e) if e.is_schema_failure() => e.to_string(),
                Err(e) => {
                    self.audit(&record, None, None);
                    return Err(e.into());
                }
            };
            record.error = Some(format!("invalid plan: {problem}"));
            self.audit(&record, None, None);
            if attempt + 1 < attempts {
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

    /// Prints the planned command with the model's explanation (sanitised); returns the
    /// command as shown.
    fn show_plan(&self, decision: &Decision, explanation: Option<&str>) -> String {
        let shown = self.kubectl.display(&decision.args);
        match explanation.map(|e| self.shown(e)) {
            Some(e) if !e.is_empty() => self.ui.plan(&format!("{shown}  # {e}")),
            _ => self.ui.plan(&shown),
        }
        shown
    }

    /// `fragments` followed by the user's custom instructions (every prompt carries them).
    pub fn with_context(&self, mut fragments: Vec<String>) -> Vec<String> {
        if let Some(extra) = &self.settings.custom_instructions {
            fragments.push(format!("Custom instructions from the user: {extra}"));
        }
        fragments
    }

    /// The system fragments of a call whose built-in prompt is `base`: a plugin's
    /// `task_description` for `prompt_key` replaces it (the reference's custom prompts:
    /// check_plan, recovery_suggestions, edit_*, apply_*), then the custom instructions.
    pub fn system(&self, base: &str, prompt_key: &str) -> Vec<String> {
        let task = self
            .plugins
            .mapping(prompt_key)
            .and_then(|m| m.text("task_description"))
            .unwrap_or_else(|| base.to_owned());
        self.with_context(vec![task])
    }

    /// A plugin's `context_instructions` for `prompt_key`: the instruction that closes the
    /// user turn in the reference's custom prompts.
    pub fn plugin_context(&self, prompt_key: &str) -> Option<String> {
        self.plugins
            .mapping(prompt_key)
            .and_then(|m| m.text("context_instructions"))
    }

    /// The system fragments of a summary: a plugin's summary prompt for `prompt_key`
    /// (description, focus_points, example_format) in place of ours, then the custom
    /// instructions.
    pub fn summary_system(&self, prompt_key: &str) -> Vec<String> {
        match self.plugins.mapping(prompt_key) {
            Some(m) if m.is_summary_prompt() => self.with_context(prompts::plugin_summary(&m)),
            _ => self.with_context(vec![prompts::SUMMARY_SYSTEM.to_owned()]),
        }
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
        let commands = self.full_command(commands);
        let mut decision = decide(&commands, yaml_manifest.as_deref());
        let live = self.bounded_live(&mut decision);
        if let Some(verb) = &self.verb {
            let path = verb.split(' ').map(str::to_owned).collect::<Vec<_>>();
            if !commands.starts_with(&path) {
                decision.verdict = Verdict::Refuse;
                decision.reasons.push(format!(
                    "`vibectl {verb} vibe` may only run `kubectl {verb}`, and the plan is `{}`",
                    self.kubectl.display(&commands)
                ));
            }
        }
        let shown = self.show_plan(&decision, explanation.as_deref());
        let mut extra_memory = None;
        let ask = match decision.verdict {
            Verdict::Refuse => {
                self.audit(&record, Some(shown.clone()), Some(false));
                let why = decision.why();
                self.ui.error(&format!(
                    "{why}\n  To run it yourself, without vibectl's checks: {}",
                    decision.by_hand()
                ));
                self.remember(request, &format!("refused to run `{shown}`: {why}"), "")
                    .await;
                return Err(VibeError::Refused(why));
            }
            Verdict::Confirm => !self.yes(),
            Verdict::Run => self.semiauto(),
        };
        if ask {
            match self
                .confirm_step(
                    request,
                    &record,
                    &decision,
                    &shown,
                    yaml_manifest.as_deref(),
                    StepVerb::Run,
                )
                .await?
            {
                Confirmed::Go(more) => extra_memory = more,
                Confirmed::Stop(outcome) => return Ok(outcome),
            }
        }
        self.audit(&record, Some(shown.clone()), Some(true));
        self.remember_approval(request, &shown, extra_memory).await;
        if live {
            let code = self.run_live(&decision.args, Some(request)).await?;
            return Ok(if code == 0 {
                StepOutcome::Continue
            } else {
                StepOutcome::Failed(code)
            });
        }
        let mut allowed = allowed_exit_codes.unwrap_or_else(|| vec![0]);
        if decision.args.first().map(String::as_str) == Some("diff") && !allowed.contains(&1) {
            // `kubectl diff` exits 1 when it finds differences: its answer, not a failure.
            allowed.push(1);
        }
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

    /// `port-forward vibe`: a planned port-forward, refused elsewhere because it runs until
    /// interrupted, needs confirmation here and runs under the live display's bound.
    fn bounded_live(&self, decision: &mut Decision) -> bool {
        let is_pf = decision.args.first().map(String::as_str) == Some("port-forward");
        if self.verb.as_deref() != Some("port-forward") || !is_pf {
            return false;
        }
        let before = decision.reasons.len();
        decision
            .reasons
            .retain(|r| !r.contains("runs until interrupted"));
        if decision.verdict == Verdict::Refuse && decision.reasons.len() < before {
            if decision.reasons.is_empty() {
                decision.verdict = Verdict::Confirm;
            }
            decision.reasons.push(format!(
                "forwards local ports until Ctrl-C or {} s pass (kubectl.timeout_seconds)",
                self.kubectl.timeout.as_secs()
            ));
        }
        true
    }

    /// Prints the command's total metrics when `--show-metrics total|all`.
    pub fn print_total_metrics(&self) {
        if !self.settings.show_metrics.total() {
            return;
        }
        let all = self.metrics.lock().map(|m| m.clone()).unwrap_or_default();
        eprintln!("{}", crate::model::CallMetrics::total(&all));
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
