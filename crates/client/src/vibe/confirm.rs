//! The confirmation of a planned command: what exactly would run, why it needs a yes, the
//! manifest's objects with the full YAML one key away, and the reference's choices.
use super::calls::CallRecord;
use super::{Session, StepOutcome, VibeError};
use crate::kube::quote::{terminal_safe, visible};
use crate::kube::Decision;
use crate::ui::{NoTerminal, Ui};

/// What the user chose.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// Run it.
    Yes,
    /// Don't (the default).
    No,
    /// Run it, and remember this for the next steps.
    YesAnd(String),
    /// Don't run it; remember this instead.
    NoBut(String),
    /// Stop the semiauto loop.
    Exit,
}

/// The text shown above the question (also what a test reads on the pseudo-terminal).
pub fn describe(decision: &Decision, shown: &str, manifest: Option<&str>) -> String {
    let mut out = format!("About to run: {shown}\nThis needs your confirmation because:\n");
    for r in &decision.reasons {
        out.push_str(&format!("  - {}\n", visible(r)));
    }
    if !decision.objects.is_empty() {
        let list: Vec<String> = decision
            .objects
            .iter()
            .map(|o| visible(&o.to_string()))
            .collect();
        out.push_str(&format!(
            "Manifest ({} objects): {}\n",
            list.len(),
            list.join(", ")
        ));
    }
    if manifest.is_some() {
        out.push_str("  [v] shows the full manifest\n");
    }
    out
}

/// Asks until the user picks; `remember` stores a memory note (the `m` choice); `semiauto`
/// adds the exit choice and asks for read-only commands too.
pub fn ask(
    ui: &Ui,
    decision: &Decision,
    shown: &str,
    manifest: Option<&str>,
    semiauto: bool,
    remember: &mut dyn FnMut(&str),
) -> Result<Choice, NoTerminal> {
    if decision.reasons.is_empty() {
        eprintln!("About to run: {shown}");
    } else {
        eprint!("{}", describe(decision, shown, manifest));
    }
    let what = format!("`{shown}`");
    let prompt = if semiauto {
        "Run it? [y]es, [N]o, yes [a]nd, no [b]ut, [m]emory, [e]xit, [v]iew manifest:"
    } else {
        "Run it? [y]es, [N]o, yes [a]nd, no [b]ut, [m]emory, [v]iew manifest:"
    };
    loop {
        let line = ui.ask(&what, prompt)?;
        match line.trim().to_ascii_lowercase().as_str() {
            "e" | "exit" if semiauto => return Ok(Choice::Exit),
            "y" | "yes" => return Ok(Choice::Yes),
            "a" | "yes-and" | "yes and" => {
                let more = ui.ask(&what, "And what else should vibectl know?")?;
                return Ok(Choice::YesAnd(terminal_safe(more.trim())));
            }
            "b" | "no-but" | "no but" => {
                let more = ui.ask(&what, "What should vibectl do instead?")?;
                return Ok(Choice::NoBut(terminal_safe(more.trim())));
            }
            "m" | "memory" => {
                let note = ui.ask(&what, "Add to memory:")?;
                let note = terminal_safe(note.trim());
                if !note.is_empty() {
                    remember(&note);
                    ui.note("Remembered.");
                }
            }
            "v" | "view" => match manifest {
                Some(m) => {
                    let lines: Vec<String> = m.lines().map(visible).collect();
                    eprintln!("---\n{}\n---", lines.join("\n"));
                }
                None => ui.note("This plan has no manifest."),
            },
            _ => return Ok(Choice::No),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_description_shows_reasons_and_objects_without_raw_controls() {
        let m = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: api-1\n  namespace: web\n";
        let d = crate::kube::decide(&["create".to_owned()], Some(m));
        let text = describe(&d, "kubectl create -f -", Some(m));
        assert!(text.contains("About to run: kubectl create -f -"), "{text}");
        assert!(
            text.contains("`kubectl create` changes the cluster"),
            "{text}"
        );
        assert!(text.contains("Pod api-1 (namespace web)"), "{text}");
        assert!(text.contains("[v]"), "{text}");
        let m = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: \"a\\u001b[2Kb\"\n";
        let d = crate::kube::decide(&["create".to_owned()], Some(m));
        let text = describe(&d, "kubectl create -f -", Some(m));
        assert!(!text.contains('\x1b'), "{text:?}");
        assert!(text.contains("\\x1b"), "{text:?}");
    }
}

/// What a confirmed step does next.
#[derive(Debug)]
pub enum Confirmed {
    /// Go ahead; the user's "yes, and ..." note, if any.
    Go(Option<String>),
    /// Stop here (declined or exit); already audited, noted and remembered.
    Stop(StepOutcome),
}

/// The step's verb in messages: "run" or "apply".
#[derive(Clone, Copy, Debug)]
pub enum StepVerb {
    /// A planned kubectl command.
    Run,
    /// An intelligent apply or edit.
    Apply,
}

impl StepVerb {
    fn past(self) -> &'static str {
        match self {
            StepVerb::Run => "run",
            StepVerb::Apply => "applied",
        }
    }

    fn present(self) -> &'static str {
        match self {
            StepVerb::Run => "run",
            StepVerb::Apply => "apply",
        }
    }
}

impl Session<'_> {
    /// Asks about a planned step. The user's memory notes are remembered; a decline, an exit or
    /// no terminal is audited as not approved and remembered, so every path records the same.
    pub(super) async fn confirm_step(
        &self,
        request: &str,
        record: &CallRecord,
        decision: &Decision,
        shown: &str,
        manifest: Option<&str>,
        verb: StepVerb,
    ) -> Result<Confirmed, VibeError> {
        let mut notes = Vec::new();
        let choice = ask(
            &self.ui,
            decision,
            shown,
            manifest,
            self.semiauto(),
            &mut |n: &str| notes.push(n.to_owned()),
        );
        for n in notes {
            self.remember("", &format!("user note: {n}"), "").await;
        }
        let declined = |s: &Self| s.audit(record, Some(shown.to_owned()), Some(false));
        let choice = match choice {
            Ok(c) => c,
            Err(e) => {
                declined(self);
                return Err(e.into());
            }
        };
        match choice {
            Choice::Yes => Ok(Confirmed::Go(None)),
            Choice::YesAnd(more) => Ok(Confirmed::Go(Some(more))),
            Choice::Exit => {
                declined(self);
                self.ui
                    .note(&format!("Exiting at your request; not {}.", verb.past()));
                Ok(Confirmed::Stop(StepOutcome::Exit))
            }
            Choice::NoBut(instead) => {
                declined(self);
                self.ui.note(&format!("Not {}.", verb.past()));
                self.remember(
                    request,
                    &format!("user declined `{shown}` and said: {instead}"),
                    "",
                )
                .await;
                Ok(Confirmed::Stop(StepOutcome::Continue))
            }
            Choice::No => {
                declined(self);
                self.ui.note(&format!("Not {}.", verb.past()));
                self.remember(
                    request,
                    &format!("declined to {} `{shown}`", verb.present()),
                    "",
                )
                .await;
                Ok(Confirmed::Stop(StepOutcome::Failed(1)))
            }
        }
    }

    /// Remembers the user's "yes, and ..." note once the step is approved.
    pub(super) async fn remember_approval(&self, request: &str, shown: &str, more: Option<String>) {
        if let Some(more) = more.filter(|m| !m.is_empty()) {
            self.remember(
                request,
                &format!("user approved `{shown}` and added: {more}"),
                "",
            )
            .await;
        }
    }
}
