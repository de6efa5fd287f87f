//! Scripted answer sequences for vibectl's planner and summary calls, pushed onto a
//! [`MockProvider`](crate::MockProvider) in order.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use vibectl_testkit::script::Script;
//! let mock = vibectl_testkit::MockProvider::start().await?;
//! Script::new()
//!     .command(&["get", "services"])
//!     .say("One service, web, on port 80.")
//!     .done("All good.")
//!     .push_onto(&mock);
//! # Ok(()) }
//! ```
use serde_json::{json, Value};

use crate::{MockProvider, MockReply};

/// A planner answer (docs/client-safety.md, "The plan format") as the model would send it.
pub fn action(action: Value) -> MockReply {
    MockReply::text(json!({ "action": action }).to_string())
}

/// A COMMAND plan running kubectl `args`, with an optional manifest for `-f -`.
pub fn command(args: &[&str], manifest: Option<&str>) -> MockReply {
    action(
        json!({"action_type": "COMMAND", "commands": args, "yaml_manifest": manifest,
                  "explanation": "scripted plan"}),
    )
}

/// An ordered list of answers.
#[derive(Debug, Default)]
pub struct Script {
    replies: Vec<MockReply>,
}

impl Script {
    /// An empty script.
    pub fn new() -> Script {
        Script::default()
    }

    /// A COMMAND plan.
    pub fn command(mut self, args: &[&str]) -> Script {
        self.replies.push(command(args, None));
        self
    }

    /// A COMMAND plan with a manifest sent on stdin.
    pub fn apply(mut self, args: &[&str], manifest: &str) -> Script {
        self.replies.push(command(args, Some(manifest)));
        self
    }

    /// A THOUGHT.
    pub fn thought(mut self, text: &str) -> Script {
        self.replies
            .push(action(json!({"action_type": "THOUGHT", "text": text})));
        self
    }

    /// A DONE with an explanation.
    pub fn done(mut self, explanation: &str) -> Script {
        self.replies.push(action(
            json!({"action_type": "DONE", "exit_code": 0, "explanation": explanation}),
        ));
        self
    }

    /// Plain text (a summary, a recovery suggestion, or an invalid plan).
    pub fn say(mut self, text: &str) -> Script {
        self.replies.push(MockReply::text(text));
        self
    }

    /// Pushes every answer onto `mock`, in order.
    pub fn push_onto(self, mock: &MockProvider) {
        for r in self.replies {
            mock.push_reply(r);
        }
    }
}
