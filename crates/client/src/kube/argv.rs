//! The kubectl argument model: a planned argument vector parsed the way kubectl (cobra and pflag)
//! parses it, driven by the table of kubectl's own commands and flags (`kubectl-flags.txt`,
//! generated from kubectl's `--help` by `scripts/kubectl-table.py`).
//!
//! The parser never fails: what it cannot place is recorded as unknown, and the policy decides.
use std::collections::HashMap;
use std::sync::LazyLock;

/// The table as generated; one line per command path.
const TABLE: &str = include_str!("kubectl-flags.txt");

/// Flags whose value is optional (pflag `NoOptDefVal`): they take a value only as `--flag=value`.
const OPTIONAL_VALUE: &[&str] = &["dry-run", "validate", "cascade"];

/// One flag kubectl knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlagDef {
    /// Long name without dashes.
    pub long: &'static str,
    /// One-letter form.
    pub short: Option<char>,
    /// Whether it takes a value (not a boolean).
    pub takes_value: bool,
}

impl FlagDef {
    fn value_in_next_arg(&self) -> bool {
        self.takes_value && !OPTIONAL_VALUE.contains(&self.long)
    }
}

/// kubectl's commands and flags.
#[derive(Debug, Default)]
pub struct KubectlTable {
    global: Vec<FlagDef>,
    commands: HashMap<&'static str, Vec<FlagDef>>,
    aliases: HashMap<&'static str, &'static str>,
}

/// The table built into this binary.
pub fn table() -> &'static KubectlTable {
    static PARSED: LazyLock<KubectlTable> = LazyLock::new(|| KubectlTable::parse(TABLE));
    &PARSED
}

impl KubectlTable {
    /// Parses the generated text (malformed lines are skipped; a test checks there are none).
    pub fn parse(text: &'static str) -> KubectlTable {
        let mut t = KubectlTable::default();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let (path, flags) = line.split_once('\t').unwrap_or((line, ""));
            if let Some(target) = flags.strip_prefix('=') {
                t.aliases.insert(path, target);
                continue;
            }
            let defs = flags.split_whitespace().map(parse_flag).collect();
            if path == "*" {
                t.global = defs;
            } else {
                t.commands.insert(path, defs);
            }
        }
        t
    }

    /// The canonical form of a command path (resolving aliases), if kubectl has it.
    pub fn command(&self, path: &str) -> Option<&'static str> {
        let path = self.aliases.get(path).copied().unwrap_or(path);
        self.commands.get_key_value(path).map(|(k, _)| *k)
    }

    /// Whether `path` has a sub-command `word`; returns the canonical child path.
    fn child(&self, path: &str, word: &str) -> Option<&'static str> {
        if word.is_empty() || word.starts_with('-') {
            return None;
        }
        let joined = if path.is_empty() {
            word.to_owned()
        } else {
            format!("{path} {word}")
        };
        self.command(&joined)
    }

    /// The global flags (`kubectl options`).
    pub fn global_flags(&self) -> &[FlagDef] {
        &self.global
    }

    /// A command's own flags.
    pub fn flags_of(&self, path: &str) -> &[FlagDef] {
        self.command(path)
            .and_then(|p| self.commands.get(p))
            .map_or(&[], Vec::as_slice)
    }

    /// Every command path in the table.
    pub fn command_paths(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.commands.keys().copied()
    }

    /// The flag a letter stands for in every command that has it, if they all agree (`-o` is
    /// `--output` everywhere): an unknown short flag is read as that one.
    fn any_short(&self, c: char) -> Option<FlagDef> {
        let mut found = self
            .commands
            .values()
            .flatten()
            .filter(|f| f.short == Some(c));
        let first = *found.next()?;
        found.all(|f| f.long == first.long).then_some(first)
    }

    fn long(&self, path: &str, name: &str) -> Option<(FlagDef, bool)> {
        if let Some(f) = self.flags_of(path).iter().find(|f| f.long == name) {
            return Some((*f, false));
        }
        self.global
            .iter()
            .find(|f| f.long == name)
            .map(|f| (*f, true))
    }

    fn short(&self, path: &str, c: char) -> Option<(FlagDef, bool)> {
        if let Some(f) = self.flags_of(path).iter().find(|f| f.short == Some(c)) {
            return Some((*f, false));
        }
        self.global
            .iter()
            .find(|f| f.short == Some(c))
            .map(|f| (*f, true))
    }
}

fn parse_flag(spec: &'static str) -> FlagDef {
    let (spec, takes_value) = match spec.strip_suffix('=') {
        Some(s) => (s, true),
        None => (spec, false),
    };
    let (long, short) = match spec.split_once('/') {
        Some((l, s)) => (l, s.chars().next()),
        None => (spec, None),
    };
    FlagDef {
        long,
        short,
        takes_value,
    }
}

/// One flag as the plan used it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagUse {
    /// Long name (kubectl's `_`→`-` normalisation applied), or the letter for an unknown short flag.
    pub name: String,
    /// The value, inline or from the next argument; `None` for a bare boolean.
    pub value: Option<String>,
    /// Whether kubectl has this flag for this command (or globally).
    pub known: bool,
    /// Whether it is one of kubectl's global flags.
    pub global: bool,
    /// Whether kubectl knows it as a boolean (so `=false` turns it off).
    pub boolean: bool,
    /// The argument(s) as written, for messages.
    pub written: String,
}

impl FlagUse {
    /// Whether a boolean flag is on (`--f`, `--f=true`); values count as on.
    pub fn is_on(&self) -> bool {
        match self.value.as_deref() {
            None => true,
            Some(v) => !matches!(v, "0" | "f" | "F" | "false" | "FALSE" | "False"),
        }
    }
}

/// A planned argument vector, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedArgs {
    /// The canonical command path (`rollout restart`), or the unknown first word.
    pub path: String,
    /// Whether kubectl has this command (otherwise it is a plugin or a typo).
    pub known_command: bool,
    /// Flags in order.
    pub flags: Vec<FlagUse>,
    /// Positional arguments after the command path (resource types and names).
    pub positionals: Vec<String>,
    /// Everything after `--` (a container command for exec, run, debug).
    pub tail: Vec<String>,
}

impl ParsedArgs {
    /// The uses of the flag `long`.
    pub fn flag<'a>(&'a self, long: &'a str) -> impl Iterator<Item = &'a FlagUse> + 'a {
        self.flags.iter().filter(move |f| f.name == long)
    }

    /// The first word of the command path.
    pub fn verb(&self) -> &str {
        self.path.split(' ').next().unwrap_or("")
    }
}

/// Parses `args` (verb first, without `kubectl`) as kubectl would.
pub fn parse(args: &[String]) -> ParsedArgs {
    parse_with(table(), args)
}

/// [`parse`] against a given table.
pub fn parse_with(t: &KubectlTable, args: &[String]) -> ParsedArgs {
    let path = find_command(t, args);
    let known_command = t.command(&path).is_some() || path.is_empty();
    let mut out = ParsedArgs {
        path: path.clone(),
        known_command,
        ..ParsedArgs::default()
    };
    let mut path_words: Vec<&str> = path.split(' ').filter(|w| !w.is_empty()).collect();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            out.tail = args[i..].to_vec();
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (body, None),
            };
            let name = name.replace('_', "-");
            let def = t.long(&path, &name);
            let mut value = inline;
            let mut written = a.to_owned();
            if value.is_none() && def.is_some_and(|(d, _)| d.value_in_next_arg()) {
                if let Some(next) = args.get(i) {
                    value = Some(next.clone());
                    written = format!("{a} {next}");
                    i += 1;
                }
            }
            out.flags.push(FlagUse {
                name,
                value,
                known: def.is_some(),
                global: def.is_some_and(|(_, g)| g),
                boolean: def.is_some_and(|(d, _)| !d.takes_value),
                written,
            });
        } else if a.len() > 1 && a.starts_with('-') {
            i = parse_shorts(t, &path, a, args, i, &mut out.flags);
        } else if path_words.first() == Some(&a) {
            // A word of the command path (aliases were resolved by find_command).
            path_words.remove(0);
        } else if !path_words.is_empty() && t.command(&path).is_some() {
            // An alias word of the path (`top pods`): consumed like the canonical word.
            path_words.remove(0);
        } else {
            out.positionals.push(a.to_owned());
        }
    }
    out
}

/// pflag's short-flag cluster: `-it`, `-n web`, `-nweb`, `-n=web`, `-Aowide`.
fn parse_shorts(
    t: &KubectlTable,
    path: &str,
    a: &str,
    args: &[String],
    mut i: usize,
    flags: &mut Vec<FlagUse>,
) -> usize {
    let chars: Vec<char> = a.chars().skip(1).collect();
    let mut k = 0;
    while k < chars.len() {
        let c = chars[k];
        let rest: String = chars[k + 1..].iter().collect();
        let (def, known, global) = match t.short(path, c) {
            Some((def, global)) => (def, true, global),
            None => match t.any_short(c) {
                Some(def) => (def, false, false),
                None => {
                    flags.push(FlagUse {
                        name: c.to_string(),
                        value: (!rest.is_empty()).then_some(rest),
                        known: false,
                        global: false,
                        boolean: false,
                        written: a.to_owned(),
                    });
                    return i;
                }
            },
        };
        let mut use_ = FlagUse {
            name: def.long.to_owned(),
            value: None,
            known,
            global,
            boolean: known && !def.takes_value,
            written: a.to_owned(),
        };
        if let Some(v) = rest.strip_prefix('=') {
            use_.value = Some(v.to_owned());
            flags.push(use_);
            return i;
        }
        if !def.value_in_next_arg() {
            flags.push(use_);
            k += 1;
            continue;
        }
        if !rest.is_empty() {
            use_.value = Some(rest);
        } else if let Some(next) = args.get(i) {
            use_.value = Some(next.clone());
            use_.written = format!("{a} {next}");
            i += 1;
        }
        flags.push(use_);
        return i;
    }
    i
}

/// cobra's command lookup: walk the non-flag words while they name sub-commands, skipping the
/// value of a flag that takes one (an unknown flag is assumed to take one, as cobra does).
fn find_command(t: &KubectlTable, args: &[String]) -> String {
    let mut path = String::new();
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        i += 1;
        if a == "--" {
            break;
        }
        if let Some(body) = a.strip_prefix("--") {
            if !body.contains('=') {
                let name = body.replace('_', "-");
                let takes = t
                    .long(&path, &name)
                    .is_none_or(|(d, _)| d.value_in_next_arg());
                if takes {
                    i += 1;
                }
            }
            continue;
        }
        if a.len() > 1 && a.starts_with('-') {
            let mut chars = a.chars().skip(1);
            if a.chars().count() == 2 {
                let takes = chars
                    .next()
                    .and_then(|c| t.short(&path, c))
                    .is_none_or(|(d, _)| d.value_in_next_arg());
                if takes {
                    i += 1;
                }
            }
            continue;
        }
        match t.child(&path, a) {
            Some(child) => path = child.to_owned(),
            None if path.is_empty() => return a.to_owned(),
            None => break,
        }
    }
    path
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn p(s: &str) -> ParsedArgs {
        parse(&s.split(' ').map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn the_table_is_whole() {
        let t = table();
        assert!(t.global_flags().iter().any(|f| f.long == "kubeconfig"));
        assert!(t.global_flags().iter().any(|f| f.short == Some('n')));
        for path in [
            "get",
            "rollout restart",
            "config view",
            "auth can-i",
            "create token",
        ] {
            assert!(t.command(path).is_some(), "{path}");
        }
        assert_eq!(t.command("top pods"), Some("top pod"));
        assert_eq!(t.command("create cm"), Some("create configmap"));
        assert!(t.command("frobnicate").is_none());
        // Every line parsed: each command has a tab-separated flag list or an alias.
        for line in TABLE.lines().filter(|l| !l.starts_with('#')) {
            assert!(line.contains('\t'), "malformed table line {line:?}");
        }
    }

    #[test]
    fn command_paths_and_positionals() {
        let a = p("rollout restart deploy/web -n web");
        assert_eq!(a.path, "rollout restart");
        assert_eq!(a.positionals, vec!["deploy/web"]);
        assert_eq!(
            a.flag("namespace").next().unwrap().value.as_deref(),
            Some("web")
        );
        let a = p("-n web get pods");
        assert_eq!(a.path, "get");
        assert_eq!(a.positionals, vec!["pods"]);
        let a = p("top pods --containers");
        assert_eq!(a.path, "top pod");
        assert!(a.flags[0].known, "{a:?}");
        assert!(a.positionals.is_empty(), "{a:?}");
        let a = p("create deploy web --image=nginx");
        assert_eq!(a.path, "create deployment");
        assert_eq!(a.positionals, vec!["web"]);
        let a = p("frobnicate pods");
        assert_eq!(a.path, "frobnicate");
        assert!(!a.known_command);
    }

    #[test]
    fn every_flag_form() {
        for s in [
            "get pods --output=yaml",
            "get pods --output yaml",
            "get pods -o yaml",
            "get pods -oyaml",
            "get pods -o=yaml",
        ] {
            let a = p(s);
            let f = a
                .flag("output")
                .next()
                .unwrap_or_else(|| panic!("{s}: {a:?}"));
            assert_eq!(f.value.as_deref(), Some("yaml"), "{s}");
            assert_eq!(a.positionals, vec!["pods"], "{s}");
        }
        let a = p("get pods -Aowide");
        assert!(a.flag("all-namespaces").next().is_some());
        assert_eq!(
            a.flag("output").next().unwrap().value.as_deref(),
            Some("wide")
        );
        let a = p("exec -it web -- sh -c ls");
        assert!(a.flag("stdin").next().is_some() && a.flag("tty").next().is_some());
        assert_eq!(a.positionals, vec!["web"]);
        assert_eq!(a.tail, vec!["sh", "-c", "ls"]);
        let a = p("get pods --insecure_skip_tls_verify");
        assert_eq!(a.flags[0].name, "insecure-skip-tls-verify");
        assert!(a.flags[0].known && a.flags[0].global);
        let a = p("get pods --watch=false");
        assert!(!a.flag("watch").next().unwrap().is_on());
        let a = p("get pods --all-namespaces false");
        assert_eq!(a.positionals, vec!["pods", "false"]);
        // Optional-value flags take no separate value.
        let a = p("delete pod x --dry-run --kubeconfig=/k");
        assert_eq!(a.flag("dry-run").next().unwrap().value, None);
        assert!(a.flag("kubeconfig").next().is_some());
        let a = p("get pods --frobnicate");
        assert!(!a.flags[0].known);
    }

    #[test]
    fn never_panics_on_odd_input() {
        for s in [
            "",
            "-",
            "--",
            "-=",
            "--=",
            "-n",
            "get -",
            "get --",
            "é -é --é=é",
        ] {
            let _ = p(s);
        }
        let _ = parse(&[]);
    }
}
