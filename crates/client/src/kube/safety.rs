//! Command safety: what a planned kubectl command may do, decided before anything runs.

/// The verdict on one planned command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Safety {
    /// Only reads the cluster: runs without asking.
    ReadOnly,
    /// Changes the cluster (or is unknown): runs only after confirmation or `--yes`.
    Mutating(String),
    /// Never runs, whatever the flags.
    Refused(String),
}

impl Safety {
    /// Whether it needs confirmation.
    pub fn needs_confirmation(&self) -> bool {
        matches!(self, Safety::Mutating(_))
    }
}

const READ_ONLY: &[&str] = &[
    "get",
    "describe",
    "logs",
    "events",
    "top",
    "explain",
    "api-resources",
    "api-versions",
    "cluster-info",
    "version",
    "diff",
    "wait",
];

const MUTATING: &[&str] = &[
    "apply",
    "create",
    "delete",
    "patch",
    "replace",
    "scale",
    "autoscale",
    "label",
    "annotate",
    "drain",
    "cordon",
    "uncordon",
    "taint",
    "set",
    "expose",
    "run",
    "rollout",
    "exec",
    "cp",
    "debug",
    "certificate",
    "kustomize",
];

/// Verbs that never finish on their own or need a terminal.
const INTERACTIVE: &[(&str, &str)] = &[
    (
        "edit",
        "opens an editor; use `patch` or `apply -f -` instead",
    ),
    (
        "port-forward",
        "runs until interrupted; run it yourself with `vibectl just port-forward ...`",
    ),
    (
        "proxy",
        "runs until interrupted; run it yourself with `vibectl just proxy`",
    ),
    (
        "attach",
        "needs an interactive terminal; run it yourself with `vibectl just attach ...`",
    ),
];

/// Programs a plan might name instead of kubectl arguments.
const PROGRAMS: &[&str] = &[
    "sh", "bash", "zsh", "fish", "dash", "ksh", "rm", "curl", "wget", "python", "python3", "perl",
    "ruby", "node", "nc", "ncat", "ssh", "scp", "sudo", "su", "env", "xargs", "eval", "exec",
    "echo", "cat", "tee", "dd", "chmod", "chown", "mv", "cp", "helm", "docker", "kill", "awk",
    "sed", "find", "git", "make", "busybox",
];

const METACHARACTERS: &[(&str, &str)] = &[
    (";", "a command separator `;`"),
    ("|", "a pipe `|`"),
    ("&", "`&`"),
    ("$(", "command substitution `$(...)`"),
    ("`", "command substitution with backticks"),
    ("${", "variable expansion `${...}`"),
    (">", "a redirection `>`"),
    ("<", "a redirection `<`"),
    ("\n", "a line break"),
];

/// Classifies kubectl arguments (verb first, without `kubectl`).
pub fn classify(args: &[String]) -> Safety {
    let Some(verb) = args.first() else {
        return Safety::Refused("the plan has no kubectl arguments".into());
    };
    for arg in args {
        if let Some((_, what)) = METACHARACTERS.iter().find(|(m, _)| arg.contains(m)) {
            return Safety::Refused(format!(
                "argument {arg:?} contains {what}; vibectl runs kubectl without a shell and refuses shell syntax"
            ));
        }
    }
    let verb = verb.as_str();
    if verb == "kubectl" || verb.ends_with("/kubectl") {
        return Safety::Refused(
            "the plan repeats `kubectl`; arguments must start with the verb".into(),
        );
    }
    if verb.contains('/') || PROGRAMS.contains(&verb) && !MUTATING.contains(&verb) {
        return Safety::Refused(format!(
            "`{verb}` is not a kubectl command; vibectl only runs kubectl"
        ));
    }
    if verb == "cp" {
        return Safety::Mutating("`kubectl cp` copies files into or out of containers".into());
    }
    if let Some((_, why)) = INTERACTIVE.iter().find(|(v, _)| *v == verb) {
        return Safety::Refused(format!("`kubectl {verb}` {why}"));
    }
    let has = |flags: &[&str]| {
        args.iter().any(|a| {
            let name = a.split('=').next().unwrap_or(a);
            flags.contains(&name) && !a.ends_with("=false")
        })
    };
    if has(&["-w", "--watch", "--watch-only"]) {
        return Safety::Refused("`--watch` never ends; ask for a single listing instead".into());
    }
    if verb == "logs" && has(&["-f", "--follow"]) {
        return Safety::Refused("`logs --follow` never ends; use `--tail N` instead".into());
    }
    if verb == "exec" || verb == "run" || verb == "debug" {
        let interactive = args.iter().any(|a| {
            let short = a
                .strip_prefix('-')
                .filter(|f| !f.starts_with('-') && !f.is_empty());
            a == "--stdin"
                || a == "--tty"
                || a.starts_with("--stdin=t")
                || a.starts_with("--tty=t")
                || short.is_some_and(|f| f.chars().all(|c| c == 'i' || c == 't'))
        });
        if interactive {
            return Safety::Refused(format!(
                "`kubectl {verb}` with -i/-t needs an interactive terminal; run it yourself with `vibectl just {verb} ...`"
            ));
        }
    }
    if verb == "config" {
        let sub = args.get(1).map(String::as_str).unwrap_or("");
        return if [
            "view",
            "get-contexts",
            "current-context",
            "get-clusters",
            "get-users",
        ]
        .contains(&sub)
        {
            Safety::ReadOnly
        } else {
            Safety::Mutating(format!("`kubectl config {sub}` changes your kubeconfig"))
        };
    }
    if verb == "auth" {
        return if args.get(1).is_some_and(|s| s == "can-i" || s == "whoami") {
            Safety::ReadOnly
        } else {
            Safety::Mutating("`kubectl auth` may change RBAC objects".into())
        };
    }
    if verb == "rollout" {
        let sub = args.get(1).map(String::as_str).unwrap_or("");
        return if sub == "status" || sub == "history" {
            // `rollout status` waits for the rollout; the runner's timeout bounds it.
            Safety::ReadOnly
        } else {
            Safety::Mutating(format!("`kubectl rollout {sub}` changes a workload"))
        };
    }
    if READ_ONLY.contains(&verb) {
        return Safety::ReadOnly;
    }
    if MUTATING.contains(&verb) {
        return Safety::Mutating(format!("`kubectl {verb}` changes the cluster"));
    }
    Safety::Mutating(format!(
        "`kubectl {verb}` is not a verb vibectl knows to be read-only"
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn c(s: &str) -> Safety {
        classify(&s.split(' ').map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn read_only_verbs_run() {
        for s in [
            "get pods -n web",
            "describe deploy web",
            "logs web-1 --tail 50",
            "rollout status deploy/web",
            "config view",
            "auth can-i get pods",
            "events -A",
        ] {
            assert_eq!(c(s), Safety::ReadOnly, "{s}");
        }
    }

    #[test]
    fn mutating_verbs_need_confirmation() {
        for s in [
            "delete pod web-1",
            "scale deploy/web --replicas=3",
            "apply -f -",
            "rollout restart deploy/web",
            "label pod a x=y",
            "drain node-1",
            "exec web-1 -- ls",
            "config use-context prod",
            "frobnicate pods",
        ] {
            assert!(c(s).needs_confirmation(), "{s}");
        }
    }

    #[test]
    fn shell_syntax_and_other_programs_are_refused() {
        let refused = |args: &[&str]| {
            matches!(
                classify(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>()),
                Safety::Refused(_)
            )
        };
        assert!(refused(&["get", "pods;", "rm", "-rf", "/"]));
        assert!(refused(&["get", "pods", "|", "grep", "x"]));
        assert!(refused(&["get", "$(whoami)"]));
        assert!(refused(&["get", "`id`"]));
        assert!(refused(&["bash", "-c", "echo hi"]));
        assert!(refused(&["rm", "-rf", "/"]));
        assert!(refused(&["/bin/sh"]));
        assert!(refused(&["kubectl", "get", "pods"]));
        assert!(refused(&["get", "pods", ">", "/tmp/x"]));
        assert!(refused(&[]));
    }

    #[test]
    fn interactive_and_endless_are_refused() {
        for s in [
            "edit deploy web",
            "port-forward svc/web 8080:80",
            "exec -it web-1 -- sh",
            "exec web-1 --stdin -- sh",
            "get pods -w",
            "get pods --watch",
            "logs web-1 -f",
            "attach web-1",
            "proxy",
        ] {
            assert!(matches!(c(s), Safety::Refused(_)), "{s}");
        }
        assert_eq!(c("get pods --watch=false"), Safety::ReadOnly);
    }
}
