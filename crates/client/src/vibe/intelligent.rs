//! Intelligent apply and edit (`apply vibe`, `edit vibe`): the model drafts a manifest (for
//! edit, from the live object), the user sees `kubectl diff` against the live objects, and
//! nothing is applied without a yes. The draft goes through the same policy as every plan.
use super::confirm::{Confirmed, StepVerb};
use super::plan::{self, Action};
use super::{prompts, Session, StepOutcome, VibeError};
use crate::kube::quote::terminal_safe;
use crate::kube::{decide, Verdict};
use crate::model::LlmCall;
use crate::sanitize::Hint;

impl Session<'_> {
    /// `vibectl apply vibe REQUEST`.
    pub async fn intelligent_apply(&self, request: &str) -> Result<StepOutcome, VibeError> {
        let memory = crate::memory::load();
        let mut user = prompts::planner_user(&memory, request, self.kubectl.namespace.as_deref());
        user.extend(self.plugin_context("apply_final_planning"));
        let call = LlmCall {
            system: self.system(prompts::APPLY_SYSTEM, "apply_final_planning"),
            user,
            schema: Some(plan::schema()),
            ..LlmCall::default()
        };
        self.draft_diff_apply(request, call).await
    }

    /// `vibectl edit vibe REQUEST`: find the object, read it, draft the edit.
    pub async fn intelligent_edit(&self, request: &str) -> Result<StepOutcome, VibeError> {
        let memory = crate::memory::load();
        let mut system = self.system(prompts::PLANNER_SYSTEM, "edit_scope_planning");
        system.push(
            "The user wants to edit one object. Plan the read-only `kubectl get KIND NAME -o yaml` \
             (commands start with \"get\") that fetches it."
                .to_owned(),
        );
        let mut user = prompts::planner_user(&memory, request, self.kubectl.namespace.as_deref());
        user.extend(self.plugin_context("edit_scope_planning"));
        let call = LlmCall {
            system,
            user,
            schema: Some(plan::schema()),
            ..LlmCall::default()
        };
        let (action, record) = self.ask_plan(call).await?;
        let Action::Command { commands, .. } = action else {
            self.audit(&record, None, None);
            return Ok(self.say(request, action).await);
        };
        let decision = decide(&commands, None);
        let shown = self.kubectl.display(&decision.args);
        let reads_yaml = commands.first().map(String::as_str) == Some("get")
            && commands.windows(2).any(|w| w == ["-o", "yaml"])
            || commands
                .iter()
                .any(|a| a == "-oyaml" || a == "--output=yaml");
        if decision.verdict != Verdict::Run || !reads_yaml {
            self.audit(&record, Some(shown.clone()), Some(false));
            let why = format!("`edit vibe` first reads the object with `kubectl get ... -o yaml`, and the plan was `{shown}`");
            self.ui.error(&format!("{why}; nothing was run"));
            return Err(VibeError::Refused(why));
        }
        self.audit(&record, Some(shown.clone()), Some(true));
        if self.settings.show_kubectl {
            self.ui.command(&shown);
        }
        let out = self.kubectl.run(&decision.args, None).await?;
        if !out.succeeded(&[0]) {
            eprint!("{}", terminal_safe(&out.stderr));
            return Ok(StepOutcome::Failed(out.code.unwrap_or(1).max(1)));
        }
        let hint = if decision.prints_secret_data {
            Hint::SecretOutput
        } else {
            Hint::None
        };
        let (live, found) = self.clean(&out.stdout, hint);
        if !found.is_empty() && self.security.warn {
            self.ui.warn(&format!(
                "{} in the live object before it was sent",
                found.summary()
            ));
        }
        let call = LlmCall {
            system: self.system(prompts::EDIT_SYSTEM, "edit_resource_summarization"),
            user: [
                format!("Live object:\n{}", prompts::clip(&live)),
                format!("Requested edit: {request}"),
            ]
            .into_iter()
            .chain(self.plugin_context("edit_resource_summarization"))
            .collect(),
            schema: Some(plan::schema()),
            ..LlmCall::default()
        };
        self.draft_diff_apply(request, call).await
    }

    /// Asks for the drafted `apply` with its manifest, shows the diff, asks, applies.
    async fn draft_diff_apply(
        &self,
        request: &str,
        call: LlmCall,
    ) -> Result<StepOutcome, VibeError> {
        let (action, record) = self.ask_plan(call).await?;
        let Action::Command {
            commands,
            yaml_manifest,
            explanation,
            ..
        } = action
        else {
            self.audit(&record, None, None);
            return Ok(self.say(request, action).await);
        };
        let mut decision = decide(&commands, yaml_manifest.as_deref());
        let Some(manifest) = yaml_manifest.filter(|m| !m.trim().is_empty()) else {
            self.audit(&record, None, Some(false));
            return Err(VibeError::Plan("the draft carries no manifest".into()));
        };
        if commands.first().map(String::as_str) != Some("apply") {
            decision.verdict = Verdict::Refuse;
            decision.reasons.push(format!(
                "the draft must be a `kubectl apply`, and it is `{}`",
                self.kubectl.display(&commands)
            ));
        }
        let shown = self.show_plan(&decision, explanation.as_deref());
        if decision.verdict == Verdict::Refuse {
            self.audit(&record, Some(shown.clone()), Some(false));
            let why = decision.why();
            self.ui.error(&format!("{why}\n  nothing was applied"));
            return Err(VibeError::Refused(why));
        }
        // The diff against the live objects: same arguments, `diff` for `apply`.
        let mut diff_args = decision.args.clone();
        diff_args[0] = "diff".to_owned();
        diff_args.retain(|a| !a.starts_with("--server-side") && a != "--force");
        let diff = self.kubectl.run(&diff_args, Some(&manifest)).await?;
        match diff.code {
            Some(0) => eprintln!("kubectl diff: no changes against the live objects."),
            Some(1) => {
                eprintln!("kubectl diff against the live objects:");
                crate::ui::write_stdout(&terminal_safe(&diff.stdout), false);
            }
            _ => {
                eprintln!("kubectl diff could not compare with the live objects:");
                eprint!("{}", terminal_safe(&diff.stderr));
            }
        }
        let mut extra_memory = None;
        if !self.yes() {
            match self
                .confirm_step(
                    request,
                    &record,
                    &decision,
                    &shown,
                    Some(&manifest),
                    StepVerb::Apply,
                )
                .await?
            {
                Confirmed::Go(more) => extra_memory = more,
                Confirmed::Stop(outcome) => return Ok(outcome),
            }
        }
        self.audit(&record, Some(shown.clone()), Some(true));
        self.remember_approval(request, &shown, extra_memory).await;
        let code = self
            .run_and_summarize(
                &decision.args,
                Some(&manifest),
                &[0],
                Hint::None,
                Some(request),
            )
            .await?;
        Ok(if code == 0 {
            StepOutcome::Continue
        } else {
            StepOutcome::Failed(code)
        })
    }
}
