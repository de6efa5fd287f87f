//! What a planned kubectl command may do: run, confirm or refuse, decided from the whole plan
//! (arguments parsed as kubectl parses them, and the manifest) before anything runs.
//!
//! The policy is the data in this file's tables (COMMANDS, FLAGS, OUTPUTS, PROGRAMS, SHELL);
//! docs/client-safety.md prints them and a test keeps the two in step.
use std::path::Path;

use super::argv::{self, FlagUse, ParsedArgs};
use super::manifest::{self, ObjectRef};
use super::quote::{command_line, is_control, visible_char};

/// A rule's outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Runs without asking.
    Run,
    /// Runs after the user says yes (or `--yes`, auto mode).
    Confirm(&'static str),
    /// Never runs from a plan.
    Refuse(&'static str),
}

use Rule::{Confirm, Refuse, Run};

/// Command paths (most specific first wins); a command kubectl has but this table lacks needs
/// confirmation, and one kubectl lacks is a plugin.
pub const COMMANDS: &[(&str, Rule)] = &[
    ("get", Run),
    ("describe", Run),
    ("logs", Run),
    ("events", Run),
    ("top", Run),
    ("top node", Run),
    ("top pod", Run),
    ("explain", Run),
    ("api-resources", Run),
    ("api-versions", Run),
    ("version", Run),
    ("cluster-info", Run),
    ("cluster-info dump", Run),
    ("diff", Run),
    ("wait", Run),
    ("auth", Run),
    ("auth can-i", Run),
    ("auth whoami", Run),
    ("rollout", Run),
    ("rollout status", Run),
    ("rollout history", Run),
    ("config", Run),
    ("config view", Run),
    ("config get-contexts", Run),
    ("config current-context", Run),
    ("config get-clusters", Run),
    ("config get-users", Run),
    ("certificate", Run),
    ("plugin", Run),
    ("plugin list", Run),
    ("completion", Run),
    ("options", Run),
    ("apply view-last-applied", Run),
    (
        "config use-context",
        Confirm("changes the current context of your kubeconfig"),
    ),
    (
        "config set-context",
        Confirm("changes a context in your kubeconfig"),
    ),
    ("config", Confirm("changes your kubeconfig")),
    (
        "create token",
        Confirm("mints a service-account token (secret material)"),
    ),
    (
        "cp",
        Confirm("copies files between the local disk and a container"),
    ),
    ("exec", Confirm("runs a command inside a container")),
    (
        "kustomize",
        Confirm("builds manifests from a local directory or a URL"),
    ),
    (
        "debug",
        Confirm("starts a debugging container in the cluster"),
    ),
    (
        "edit",
        Refuse("opens an editor and needs a terminal; use `patch` or `apply -f -` instead"),
    ),
    (
        "apply edit-last-applied",
        Refuse("opens an editor and needs a terminal"),
    ),
    ("port-forward", Refuse("runs until interrupted")),
    (
        "proxy",
        Refuse("runs until interrupted and opens the API to local programs"),
    ),
    ("attach", Refuse("needs an interactive terminal")),
];

/// Verbs that change the cluster; any other command kubectl has needs confirmation too.
pub const WRITES: &[&str] = &[
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
    "certificate",
    "auth",
];

/// Flags: (command path or `*` for every command, long name, rule). A boolean set to false does
/// nothing and is not ruled on. OUTPUT, FILENAME and KUSTOMIZE values are ruled on below.
pub const FLAGS: &[(&str, &str, Rule)] = &[
    (
        "*",
        "kubeconfig",
        Refuse("changes which kubeconfig (cluster and credentials) kubectl uses"),
    ),
    (
        "*",
        "kuberc",
        Refuse("loads kubectl preferences (aliases, default flags) from a file"),
    ),
    (
        "*",
        "server",
        Refuse("sends your credentials to another API server"),
    ),
    (
        "*",
        "cluster",
        Refuse("changes which cluster kubectl connects to"),
    ),
    (
        "*",
        "context",
        Refuse("changes which context (cluster and user) kubectl uses"),
    ),
    (
        "*",
        "user",
        Refuse("changes which kubeconfig user kubectl authenticates as"),
    ),
    (
        "*",
        "token",
        Refuse("authenticates with a token the model chose"),
    ),
    (
        "*",
        "username",
        Refuse("authenticates with credentials the model chose"),
    ),
    (
        "*",
        "password",
        Refuse("authenticates with credentials the model chose"),
    ),
    ("*", "as", Refuse("impersonates another user")),
    ("*", "as-group", Refuse("impersonates another group")),
    ("*", "as-uid", Refuse("impersonates another user")),
    ("*", "as-user-extra", Refuse("impersonates another user")),
    (
        "*",
        "certificate-authority",
        Refuse("changes which CA kubectl trusts (reads a local file)"),
    ),
    (
        "*",
        "client-certificate",
        Refuse("authenticates with a local certificate file"),
    ),
    (
        "*",
        "client-key",
        Refuse("authenticates with a local key file"),
    ),
    (
        "*",
        "insecure-skip-tls-verify",
        Refuse("turns off TLS verification of the API server"),
    ),
    (
        "*",
        "tls-server-name",
        Refuse("changes how the API server's certificate is checked"),
    ),
    (
        "*",
        "cache-dir",
        Refuse("changes where kubectl reads and writes its discovery cache"),
    ),
    (
        "logs",
        "insecure-skip-tls-verify-backend",
        Refuse("turns off TLS verification of the kubelet"),
    ),
    (
        "*",
        "profile",
        Confirm("writes a CPU/heap profile file to the local disk"),
    ),
    (
        "*",
        "profile-output",
        Confirm("writes a profile file to the local disk"),
    ),
    (
        "*",
        "raw",
        Confirm("reaches an arbitrary API path (including proxies to in-cluster services)"),
    ),
    (
        "config view",
        "raw",
        Confirm("prints kubeconfig credentials in full"),
    ),
    (
        "cluster-info dump",
        "output-directory",
        Confirm("writes files to the local disk"),
    ),
    (
        "*",
        "watch",
        Refuse("never ends; ask for a single listing instead"),
    ),
    (
        "*",
        "watch-only",
        Refuse("never ends; ask for a single listing instead"),
    ),
    ("rollout status", "watch", Run),
    (
        "logs",
        "follow",
        Refuse("never ends; use `--tail N` instead"),
    ),
    ("exec", "stdin", Refuse("needs an interactive terminal")),
    ("exec", "tty", Refuse("needs an interactive terminal")),
    ("run", "stdin", Refuse("needs an interactive terminal")),
    ("run", "tty", Refuse("needs an interactive terminal")),
    ("run", "attach", Refuse("needs an interactive terminal")),
    ("debug", "stdin", Refuse("needs an interactive terminal")),
    ("debug", "tty", Refuse("needs an interactive terminal")),
    ("debug", "attach", Refuse("needs an interactive terminal")),
    ("debug", "custom", Refuse("reads a local file")),
    (
        "create secret generic",
        "from-file",
        Refuse("reads local files into the cluster"),
    ),
    (
        "create secret generic",
        "from-env-file",
        Refuse("reads local files into the cluster"),
    ),
    (
        "create secret docker-registry",
        "from-file",
        Refuse("reads local files into the cluster"),
    ),
    (
        "create secret tls",
        "cert",
        Refuse("reads a local certificate file"),
    ),
    (
        "create secret tls",
        "key",
        Refuse("reads a local private key file"),
    ),
    (
        "create configmap",
        "from-file",
        Refuse("reads local files into the cluster"),
    ),
    (
        "create configmap",
        "from-env-file",
        Refuse("reads local files into the cluster"),
    ),
    (
        "kustomize",
        "enable-alpha-plugins",
        Refuse("runs kustomize plugins (local programs)"),
    ),
    (
        "kustomize",
        "enable-exec",
        Refuse("runs kustomize exec plugins (local programs)"),
    ),
    ("kustomize", "enable-helm", Refuse("runs the helm program")),
    (
        "kustomize",
        "helm-command",
        Refuse("runs a program the model chose"),
    ),
    (
        "kustomize",
        "mount",
        Refuse("mounts local paths into plugin containers"),
    ),
    (
        "kustomize",
        "network",
        Refuse("gives plugin containers network access"),
    ),
];

/// `-o` formats: (name before `=`, reads a local file, prints whole objects including Secret data).
pub const OUTPUTS: &[(&str, bool, bool)] = &[
    ("wide", false, false),
    ("name", false, false),
    ("json", false, true),
    ("yaml", false, true),
    ("kyaml", false, true),
    ("jsonpath", false, true),
    ("jsonpath-as-json", false, true),
    ("go-template", false, true),
    ("template", false, true),
    ("custom-columns", false, true),
    ("go-template-file", true, true),
    ("templatefile", true, true),
    ("jsonpath-file", true, true),
    ("custom-columns-file", true, true),
];

/// Programs a plan might name instead of kubectl arguments.
pub const PROGRAMS: &[&str] = &[
    "kubectl", "sh", "bash", "zsh", "fish", "dash", "ksh", "rm", "curl", "wget", "python",
    "python3", "perl", "ruby", "node", "nc", "ncat", "ssh", "scp", "sudo", "su", "env", "xargs",
    "eval", "echo", "cat", "tee", "dd", "chmod", "chown", "mv", "helm", "docker", "kill", "awk",
    "sed", "find", "git", "make", "busybox",
];

/// Shell syntax: vibectl never uses a shell, so these mean the plan was written for one.
pub const SHELL: &[(&str, &str)] = &[
    (";", "a command separator `;`"),
    ("|", "a pipe `|`"),
    ("&", "`&`"),
    ("$(", "command substitution `$(...)`"),
    ("`", "command substitution with backticks"),
    ("${", "variable expansion `${...}`"),
    (">", "a redirection `>`"),
    ("<", "a redirection `<`"),
];

/// The outcome for a whole plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verdict {
    /// Runs without asking.
    Run,
    /// Needs the user's yes.
    Confirm,
    /// Never runs.
    Refuse,
}

/// The decision on one planned command, with every reason (one line each).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The outcome.
    pub verdict: Verdict,
    /// Why: the reasons of the outcome's class (refusals for Refuse, confirmations for Confirm).
    pub reasons: Vec<String>,
    /// The arguments that would run (`-f -` added for a manifest).
    pub args: Vec<String>,
    /// The manifest's objects, for the confirmation.
    pub objects: Vec<ObjectRef>,
    /// Whether its output holds Secret values (sanitised as such before the model sees it).
    pub prints_secret_data: bool,
}

impl Decision {
    /// One line: the reasons joined.
    pub fn why(&self) -> String {
        self.reasons.join("; ")
    }

    /// How the user runs it by hand.
    pub fn by_hand(&self) -> String {
        command_line("vibectl just", &self.args)
    }
}

struct Findings {
    refuse: Vec<String>,
    confirm: Vec<String>,
    secret_data: bool,
}

impl Findings {
    fn rule(&mut self, what: &str, rule: Rule) {
        match rule {
            Run => {}
            Confirm(why) => self.confirm.push(format!("{what} {why}")),
            Refuse(why) => self.refuse.push(format!("{what} {why}")),
        }
    }
}

/// Decides a planned command: `commands` as the model gave them, `manifest` its `yaml_manifest`.
pub fn decide(commands: &[String], manifest: Option<&str>) -> Decision {
    let mut f = Findings {
        refuse: Vec::new(),
        confirm: Vec::new(),
        secret_data: false,
    };
    let mut args = commands.to_vec();
    let mut objects = Vec::new();
    check_text(&args, &mut f);
    let mut parsed = argv::parse(&args);
    if let Some(text) = manifest {
        match manifest::check(text) {
            Ok(objs) => objects = objs,
            Err(e) => f.refuse.push(e.to_string()),
        }
        let takes_files = argv::table()
            .flags_of(&parsed.path)
            .iter()
            .any(|d| d.long == "filename");
        if !takes_files {
            f.refuse.push(format!(
                "the plan carries a manifest, but `kubectl {}` cannot use one",
                parsed.path
            ));
        } else if parsed.flag("filename").next().is_none() {
            args.extend(["-f".to_owned(), "-".to_owned()]);
            parsed = argv::parse(&args);
        }
    }
    check_command(&parsed, &mut f);
    check_flags(&parsed, &args, manifest.is_some(), &mut f);
    check_secret_read(&parsed, &objects, &mut f);
    let (verdict, reasons) = if !f.refuse.is_empty() {
        (Verdict::Refuse, f.refuse)
    } else if !f.confirm.is_empty() {
        (Verdict::Confirm, f.confirm)
    } else {
        (Verdict::Run, Vec::new())
    };
    Decision {
        verdict,
        reasons,
        args,
        objects,
        prints_secret_data: f.secret_data,
    }
}

/// Control characters, shell syntax, other programs.
fn check_text(args: &[String], f: &mut Findings) {
    let Some(first) = args.first() else {
        f.refuse.push("the plan has no kubectl arguments".into());
        return;
    };
    for arg in args {
        if let Some(c) = arg.chars().find(|c| is_control(*c)) {
            f.refuse.push(format!(
                "an argument contains the control character {} (it could redraw your terminal)",
                visible_char(c)
            ));
            return;
        }
        if let Some((_, what)) = SHELL.iter().find(|(m, _)| arg.contains(m)) {
            f.refuse.push(format!(
                "an argument contains {what}; vibectl runs kubectl without a shell and refuses shell syntax"
            ));
            return;
        }
    }
    if PROGRAMS.contains(&first.as_str()) || first.contains('/') {
        f.refuse.push(format!(
            "`{first}` is not a kubectl command; vibectl only runs kubectl, with the verb first"
        ));
    }
}

fn lookup_command(path: &str) -> Option<Rule> {
    COMMANDS.iter().find(|(p, _)| *p == path).map(|(_, r)| *r)
}

fn check_command(p: &ParsedArgs, f: &mut Findings) {
    if p.path.is_empty() {
        f.refuse.push("the plan names no kubectl command".into());
        return;
    }
    let what = format!("`kubectl {}`", p.path);
    if !p.known_command {
        f.confirm.push(format!(
            "{what} is not a kubectl command: kubectl would run the plugin `kubectl-{}` from your PATH",
            p.verb()
        ));
        return;
    }
    if let Some(rule) = lookup_command(&p.path) {
        return f.rule(&what, rule);
    }
    let parent = p.path.rsplit_once(' ').map_or("", |(a, _)| a);
    if let Some(rule @ (Confirm(_) | Refuse(_))) = lookup_command(parent) {
        return f.rule(&what, rule);
    }
    if WRITES.contains(&p.verb()) {
        f.confirm.push(format!("{what} changes the cluster"));
    } else {
        f.confirm
            .push(format!("{what} is not known to be read-only"));
    }
}

fn flag_rule(path: &str, name: &str) -> Option<Rule> {
    let specific = FLAGS.iter().find(|(p, n, _)| *p == path && *n == name);
    specific
        .or_else(|| FLAGS.iter().find(|(p, n, _)| *p == "*" && *n == name))
        .map(|(_, _, r)| *r)
}

fn check_flags(p: &ParsedArgs, args: &[String], has_manifest: bool, f: &mut Findings) {
    for flag in &p.flags {
        if !flag.known {
            f.confirm.push(format!(
                "`{}` is not a flag of `kubectl {}` that vibectl knows",
                flag.written, p.path
            ));
        }
        // Unknown here, kubectl would stop on it; its rules still apply in case it is not.
        check_flag(&p.path, flag, has_manifest, f);
    }
    // A flag hidden as another flag's value (`--chunk-size --kubeconfig=x`, `-o -s URL`) is
    // ruled on as a flag too: kubectl's parser and ours must not disagree about what is a value.
    let path: Vec<String> = p.path.split(' ').map(str::to_owned).collect();
    let before_tail: Vec<&String> = args.iter().take_while(|a| *a != "--").collect();
    for (i, a) in before_tail.iter().enumerate() {
        if a.len() < 2 || !a.starts_with('-') {
            continue;
        }
        let next = before_tail.get(i + 1).map_or("VALUE", |n| n.as_str());
        let mut probe_args = path.clone();
        if a.starts_with("--") && !a.contains('=') {
            // As if it took the next word as its value, whether or not kubectl has it here.
            probe_args.push(format!("{a}={next}"));
        } else {
            probe_args.extend([a.to_string(), next.to_owned()]);
        }
        let probe = argv::parse(&probe_args);
        let mut found = Findings {
            refuse: Vec::new(),
            confirm: Vec::new(),
            secret_data: false,
        };
        for flag in &probe.flags {
            check_flag(&p.path, flag, true, &mut found);
        }
        for line in found.refuse {
            if !f.refuse.contains(&line) {
                f.refuse.push(line);
            }
        }
    }
}

/// One known flag against the FLAGS table and its value's own rules.
fn check_flag(path: &str, flag: &FlagUse, has_manifest: bool, f: &mut Findings) {
    if flag.boolean && !flag.is_on() {
        return;
    }
    let what = format!("`{}`", flag.written);
    if let Some(rule) = flag_rule(path, &flag.name) {
        f.rule(&what, rule);
    }
    match flag.name.as_str() {
        "output" => check_output(flag, f),
        "filename" => check_filenames(flag, has_manifest, f),
        "kustomize" => check_kustomize(flag, f),
        _ => {}
    }
}

fn check_output(flag: &FlagUse, f: &mut Findings) {
    let value = flag.value.as_deref().unwrap_or("");
    let format = value.split('=').next().unwrap_or("");
    match OUTPUTS.iter().find(|(n, _, _)| *n == format) {
        Some((_, true, _)) => f.refuse.push(format!(
            "`-o {format}` reads a local file and prints it (the output goes to the model)"
        )),
        Some(_) => {}
        None => f.confirm.push(format!(
            "`-o {format}` is not an output format vibectl knows"
        )),
    }
}

fn is_url(v: &str) -> bool {
    v.contains("://") || v.starts_with("git@") || v.starts_with("github.com/")
}

/// Whether `path` is a device, a process file or a kernel file (or a link to one).
pub fn is_device_path(path: &str) -> bool {
    let special = |p: &Path| ["/dev", "/proc", "/sys"].iter().any(|d| p.starts_with(d));
    let p = Path::new(path);
    special(p) || std::fs::canonicalize(p).is_ok_and(|c| special(&c))
}

fn check_filenames(flag: &FlagUse, has_manifest: bool, f: &mut Findings) {
    let value = flag.value.as_deref().unwrap_or("");
    for v in value.split(',') {
        if v == "-" {
            if !has_manifest {
                f.refuse
                    .push("`-f -` reads stdin, but the plan carries no manifest".into());
            }
        } else if v.is_empty() {
        } else if is_url(v) {
            f.confirm.push(format!("`-f {v}` fetches from the network"));
        } else if is_device_path(v) {
            f.refuse
                .push(format!("`-f {v}` reads a device or kernel file"));
        } else {
            f.confirm.push(format!("`-f {v}` reads the local path {v}"));
        }
    }
}

fn check_kustomize(flag: &FlagUse, f: &mut Findings) {
    let v = flag.value.as_deref().unwrap_or("");
    if is_url(v) {
        f.confirm.push(format!("`-k {v}` fetches from the network"));
    } else if is_device_path(v) {
        f.refuse
            .push(format!("`-k {v}` reads a device or kernel file"));
    } else {
        f.confirm
            .push(format!("`-k {v}` reads the local directory {v}"));
    }
}

/// `get secret ... -o yaml` and the like print Secret values in full.
fn check_secret_read(p: &ParsedArgs, objects: &[ObjectRef], f: &mut Findings) {
    if !matches!(p.path.as_str(), "get" | "apply view-last-applied") {
        return;
    }
    let prints_data = p.flag("output").any(|o| {
        let format = o
            .value
            .as_deref()
            .unwrap_or("")
            .split('=')
            .next()
            .unwrap_or("");
        OUTPUTS.iter().any(|(n, _, data)| *n == format && *data)
    }) || p.path == "apply view-last-applied";
    let names_secret = p
        .positionals
        .iter()
        .flat_map(|a| a.split(','))
        .map(|t| t.split('/').next().unwrap_or("").to_ascii_lowercase())
        .any(|t| {
            let base = t.split('.').next().unwrap_or("");
            base == "secret" || base == "secrets"
        })
        || objects.iter().any(|o| o.kind == "Secret");
    if prints_data && names_secret {
        f.secret_data = true;
        f.confirm.push(
            "it prints Secret values in full (they are redacted before the model sees them)".into(),
        );
    }
}

/// The policy tables as Markdown rows, for docs/client-safety.md (a test compares them).
pub fn markdown_tables() -> String {
    let cell = |r: &Rule| match r {
        Run => "run".to_owned(),
        Confirm(w) => format!("confirm: {w}"),
        Refuse(w) => format!("refuse: {w}"),
    };
    let mut out = String::from("| command | outcome |\n|---|---|\n");
    for (p, r) in COMMANDS {
        out.push_str(&format!("| `{p}` | {} |\n", cell(r)));
    }
    out.push_str(&format!(
        "| other verbs that change the cluster (`{}`) | confirm |\n| any other command kubectl has | confirm |\n| a command kubectl does not have (a plugin) | confirm |\n",
        WRITES.join("`, `")
    ));
    out.push_str("\n| command | flag | outcome |\n|---|---|---|\n");
    for (p, n, r) in FLAGS {
        let scope = if *p == "*" {
            "any".to_owned()
        } else {
            format!("`{p}`")
        };
        out.push_str(&format!("| {scope} | `--{n}` | {} |\n", cell(r)));
    }
    out.push_str("\n| `-o` format | reads a local file | prints Secret data |\n|---|---|---|\n");
    for (n, file, data) in OUTPUTS {
        let yn = |b: bool| if b { "yes" } else { "no" };
        out.push_str(&format!("| `{n}` | {} | {} |\n", yn(*file), yn(*data)));
    }
    out
}

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
