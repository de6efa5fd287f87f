//! Memory updated as the reference does: after each command, a short model call folds the
//! interaction into the memory; the answer is sanitised, stripped of control characters and
//! capped at `memory.max_chars` before it is saved. `--freeze-memory` (or `memory freeze`)
//! skips the call.
use super::{prompts, Session};
use crate::kube::quote::terminal_safe;
use crate::model::LlmCall;
use crate::sanitize::{Hint, Redactions};

/// Why a memory update did not happen.
#[derive(Debug, thiserror::Error)]
pub enum MemoryUpdateError {
    /// The model call failed.
    #[error("the memory update call failed: {0}")]
    Model(#[from] crate::model::ModelError),
    /// The model answered nothing.
    #[error("the model returned an empty memory; the old memory was kept")]
    Empty,
    /// The config could not be saved.
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

impl Session<'_> {
    /// Folds one interaction into the memory (when memory updates are on); a failure warns and
    /// never stops the command.
    pub async fn remember(&self, request: &str, what: &str, vibe: &str) {
        if !self.settings.memory_enabled {
            return;
        }
        let action = if request.trim().is_empty() {
            what.to_owned()
        } else {
            format!("{what} (request: \"{}\")", request.trim())
        };
        let user = vec![
            format!("Interaction:\nAction: {action}\nVibe: {vibe}"),
            "New Memory Summary:".to_owned(),
        ];
        if let Err(e) = self.fold_memory(prompts::MEMORY_SYSTEM, user).await {
            self.ui.warn(&format!("could not update memory: {e}"));
        }
    }

    /// `vibectl memory update TEXT`: the model folds the user's text into the memory. A
    /// plugin's `memory_update` mapping replaces the instruction (`system_instructions`, else
    /// `description`) and the user turn (`user_template` with `{current_memory}`,
    /// `{update_text}` and `{current_time}`), as in the reference.
    pub async fn memory_update(&self, text: &str) -> Result<String, MemoryUpdateError> {
        let mapping = self.plugins.mapping("memory_update");
        let instruction = mapping
            .as_ref()
            .and_then(|m| {
                m.text("system_instructions")
                    .or_else(|| m.text("description"))
            })
            .unwrap_or_else(|| prompts::MEMORY_FUZZY_SYSTEM.to_owned());
        let user = match mapping.as_ref().and_then(|m| m.text("user_template")) {
            Some(template) => vec![template
                .replace("{current_memory}", &crate::memory::load())
                .replace("{update_text}", text)
                .replace("{current_time}", &current_time())],
            None => vec![
                format!("User's new information:\n{text}"),
                "New Memory Summary:".to_owned(),
            ],
        };
        self.fold_memory(&instruction, user).await
    }

    async fn fold_memory(
        &self,
        instruction: &str,
        user: Vec<String>,
    ) -> Result<String, MemoryUpdateError> {
        let max = self.settings.memory_max_chars;
        let current = crate::memory::load();
        let mut system = self.with_context(vec![prompts::memory_system(instruction, max)]);
        system.push(format!(
            "Current memory:\n{}",
            if current.trim().is_empty() {
                "(empty)"
            } else {
                current.trim()
            }
        ));
        let call = LlmCall {
            system,
            user,
            ..LlmCall::default()
        };
        let (answer, record) = self
            .call("memory", call, false, Redactions::default())
            .await;
        self.audit(&record, None, None);
        let answer = answer?;
        let text = capped(&self.clean(&answer.text, Hint::None).0, max);
        if text.is_empty() {
            return Err(MemoryUpdateError::Empty);
        }
        let mut cfg = crate::config::Config::load()?;
        crate::memory::save(&mut cfg, &text, max)?;
        if self.settings.show_memory && self.settings.debug() {
            self.ui.note(&format!(
                "memory updated ({} characters)",
                text.chars().count()
            ));
        }
        Ok(text)
    }
}

/// The reference's time fragment (`Current time is YYYY-MM-DD HH:MM:SS.`, UTC here).
fn current_time() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "Current time is {:04}-{:02}-{:02} {:02}:{:02}:{:02}.",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// The model's memory made safe to store and show: no control characters, at most `max`
/// characters (the beginning is kept, as the reference keeps it).
pub fn capped(text: &str, max: usize) -> String {
    terminal_safe(text.trim())
        .chars()
        .take(max)
        .collect::<String>()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_memory_is_capped_and_loses_its_controls() {
        let evil = format!("\x1b]0;owned\x07keep this{}", "x".repeat(5000));
        let c = capped(&evil, 100);
        assert!(!c.contains('\x1b') && !c.contains('\x07'), "{c:?}");
        assert_eq!(c.chars().count(), 100);
        assert!(c.starts_with("]0;ownedkeep this"), "{c:?}");
    }
}
