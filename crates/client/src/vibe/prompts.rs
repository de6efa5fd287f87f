//! Prompt fragments for planning, summaries and recovery, and the reference's templates that a
//! plugin's mapping fills in place of ours (`plugin_summary`, `plugin_planning`).

/// System prompt of the planner.
pub const PLANNER_SYSTEM: &str = "You are vibectl, a careful Kubernetes assistant. You plan exactly one next step \
for the user's request and answer with one JSON object of the form {\"action\": {...}} and nothing else.\n\
action_type COMMAND: `commands` is the kubectl argument list with the verb first and without the word kubectl \
(e.g. [\"get\", \"pods\", \"-n\", \"web\"]); put a manifest in `yaml_manifest` (it is sent on stdin with -f -); \
add a short `explanation`.\n\
action_type THOUGHT (`text`), FEEDBACK (`message`, optional `explanation`, `suggestion`), WAIT (`duration_seconds`), \
ERROR (`message`) when the request cannot be done, DONE (optional `exit_code`, `explanation`) when the goal is reached.\n\
Rules: never use shell syntax (no pipes, ;, &&, redirections, $(...), backticks); never name another program; \
never use interactive or endless commands (edit, port-forward, proxy, attach, exec -it, --watch, logs -f); \
prefer read-only commands when the request is a question.";

/// System prompt for summarising kubectl output.
pub const SUMMARY_SYSTEM: &str =
    "You summarise kubectl output for a Kubernetes user in a few short lines: \
what is there, what is wrong, what to look at next. Plain text, no preamble, no code fences.";

/// System prompt for suggesting a recovery after kubectl failed.
pub const RECOVERY_SYSTEM: &str =
    "A kubectl command failed. In two or three short lines, say what the error \
means and suggest the next command or fix. Plain text, no code fences.";

/// What the memory-update call is asked after a command (the reference's wording).
pub const MEMORY_SYSTEM: &str = "Based on the context and interaction, give the updated memory.";

/// What `memory update TEXT` asks.
pub const MEMORY_FUZZY_SYSTEM: &str =
    "Based on the user's new information, give the updated memory.";

/// The memory assistant's system prompt, with the reference's concision rule.
pub fn memory_system(instruction: &str, max_chars: usize) -> String {
    format!(
        "You are an assistant maintaining a short memory of a Kubernetes session: the cluster's \
relevant state, the user's goals and preferences, and what was done. Be concise: the memory must \
stay under {max_chars} characters. Keep only what helps the next steps; never include secret \
values. Answer with the new memory text only, no preamble. {instruction}"
    )
}

/// The system prompt of `check`: read-only steps, then DONE with the reference's exit codes.
pub const CHECK_SYSTEM: &str = "You are vibectl check. Decide whether the user's predicate about the \
Kubernetes cluster is true. Plan one read-only kubectl step at a time (get, describe, logs, events, ...) \
as a COMMAND action; never plan a command that changes anything. When you know, answer DONE with \
exit_code 0 if the predicate is TRUE, 1 if it is FALSE, 2 if it is poorly posed or ambiguous, 3 if it \
cannot be determined, and a one-line explanation.";

/// The system prompt of intelligent apply: draft the manifest to apply.
pub const APPLY_SYSTEM: &str = "You are vibectl apply. Draft the Kubernetes manifest that fulfils the \
user's request and answer with a COMMAND action whose commands are [\"apply\"] (plus -n NAMESPACE if \
needed) and whose yaml_manifest is the complete manifest. The user reviews `kubectl diff` against the \
live objects before anything is applied.";

/// The system prompt of intelligent edit: draft a patch of one live object.
pub const EDIT_SYSTEM: &str = "You are vibectl edit. The live object is given as YAML. Draft the change \
the user asks for as a COMMAND action whose commands are [\"apply\"] and whose yaml_manifest is the \
complete edited object (keep apiVersion, kind, metadata.name and metadata.namespace; drop status, \
resourceVersion, uid, creationTimestamp and managedFields). The user reviews `kubectl diff` before \
anything is applied.";

/// Largest output handed to the model, in characters (head and tail are kept).
pub const MAX_OUTPUT_CHARS: usize = 20_000;

/// Shortens long kubectl output, keeping its beginning and end.
pub fn clip(output: &str) -> String {
    if output.chars().count() <= MAX_OUTPUT_CHARS {
        return output.to_owned();
    }
    let half = MAX_OUTPUT_CHARS / 2;
    let head: String = output.chars().take(half).collect();
    let tail: Vec<char> = output.chars().rev().take(half).collect();
    let tail: String = tail.into_iter().rev().collect();
    format!("{head}\n[... output truncated ...]\n{tail}")
}

/// The planner's user fragments: memory, then the request.
pub fn planner_user(memory: &str, request: &str, namespace: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if !memory.trim().is_empty() {
        out.push(format!("Memory from earlier steps:\n{memory}"));
    }
    if let Some(ns) = namespace {
        out.push(format!("The default namespace is {ns}."));
    }
    let request = request.trim();
    if request.is_empty() {
        out.push("Request: continue with the next step toward the goal in memory.".into());
    } else {
        out.push(format!("Request: {request}"));
    }
    out
}

/// The reference's summary prompt (`create_summary_prompt`) from a plugin's parts: the task with
/// its focus points, then the expected output format (and presentation hints, if given).
pub fn plugin_summary(m: &crate::plugins::Mapping) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(hints) = m.text("presentation_hints") {
        out.push(format!("Presentation hints:\n{hints}"));
    }
    let focus: Vec<String> = m
        .lines("focus_points")
        .iter()
        .map(|p| format!("- {p}"))
        .collect();
    out.push(format!(
        "Summarize kubectl output. {}\n\nFocus on:\n{}",
        m.text("description").unwrap_or_else(|| "None".into()),
        focus.join("\n")
    ));
    let format = m.lines("example_format");
    if !format.is_empty() {
        out.push(format!("Expected output format:\n{}", format.join("\n")));
    }
    out
}

/// The reference's planning prompt (`create_planning_prompt`) for `kubectl COMMAND`: the task,
/// the schema, the examples (`[target, action]` pairs). The plan's `commands` are the arguments
/// after the verb.
pub fn plugin_planning(
    command: &str,
    description: &str,
    examples: Option<&serde_json::Value>,
) -> Vec<String> {
    let schema =
        serde_json::to_string_pretty(&super::plan::schema()).unwrap_or_else(|_| "{}".into());
    let task = format!(
        "You are planning arguments for the 'kubectl {command}' command,\nwhich is used for {description}.\n\n\
Given a natural language request describing the target resource(s), determine the\nappropriate arguments *following* 'kubectl {command}'.\n\n\
The kubectl command '{command}' is implied by the context of this planning task.\n\n\
Focus on extracting resource names, types, namespaces, selectors, and flags\nfrom the request to populate the 'commands' field of the 'COMMAND' action."
    );
    let format = format!(
        "Your response MUST be a valid JSON object conforming to this schema:\n```json\n{schema}\n```\n\n\
Key fields within the nested \"COMMAND\" action object:\n\
- `action_type`: MUST be \"COMMAND\".\n\
- `commands`: List of string arguments *following* `kubectl {command}`. Include flags\n  like `-n`, `-f -`, but *exclude* the command verb itself. MUST be a JSON array of strings.\n\
- `yaml_manifest`: YAML content as a string (for actions like `create` that use stdin).\n\
- `allowed_exit_codes`: Optional. List of integers representing allowed exit codes.\n\
- `explanation`: Optional. A brief string explaining why this command was chosen."
    );
    let rendered: Vec<String> = examples
        .and_then(serde_json::Value::as_array)
        .map(|list| {
            list.iter()
                .map(|ex| match ex.as_array().map(Vec::as_slice) {
                    Some([target, output]) => format!(
                        "- Target: \"{}\" -> \nExpected JSON output:\n{}",
                        target
                            .as_str()
                            .map_or_else(|| target.to_string(), str::to_owned),
                        serde_json::to_string_pretty(&serde_json::json!({"action": output}))
                            .unwrap_or_default()
                    ),
                    _ => format!("- {ex}"),
                })
                .collect()
        })
        .unwrap_or_default();
    vec![
        task,
        format,
        format!(
            "Example inputs (natural language target descriptions) and expected JSON outputs \
(LLMPlannerResponse wrapping a CommandAction):\n{}",
            rendered.join("\n")
        ),
    ]
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_both_ends() {
        let long = format!("start{}end", "x".repeat(MAX_OUTPUT_CHARS * 2));
        let c = clip(&long);
        assert!(c.starts_with("start") && c.ends_with("end") && c.contains("truncated"));
        assert_eq!(clip("short"), "short");
    }
}
