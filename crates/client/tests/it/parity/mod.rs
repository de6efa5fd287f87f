//! Parity with the Python reference client 0.11.6: its own `--help` text (click renders it
//! from the real command tree; `reference_help.py` prints it for every command) names every
//! command and option, and ours must accept each one. The reference is installed from PyPI
//! into `target/interop/refvenv`, shared with the server's parity test (scripts/test-deps.sh does it too); nothing is skipped.
use std::path::{Path, PathBuf};
use std::process::Command;

const REFERENCE: &str = "vibectl==0.11.6";

/// The reference client's interpreter, installing it on first use.
fn reference_python() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/interop/refvenv");
    let python = root.join("bin/python");
    // The server's parity test and scripts/test-deps.sh install the same package here.
    let marker = root.join("bin/vibectl");
    if marker.exists() {
        return python;
    }
    std::fs::create_dir_all(root.parent().unwrap_or(&root)).unwrap();
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&root)
        .status()
        .expect("python3 runs")
        .success();
    assert!(ok, "could not create a virtualenv at {}", root.display());
    let ok = Command::new(&python)
        .args([
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            REFERENCE,
        ])
        .status()
        .expect("pip runs")
        .success();
    assert!(ok, "could not install the reference client {REFERENCE}");
    python
}

/// One reference command: its path and its options (`--x` and `-x`), with whether each
/// takes a value.
#[derive(Debug)]
pub struct RefCommand {
    /// `["rollout", "status"]`.
    pub path: Vec<String>,
    /// (option, takes a value).
    pub options: Vec<(String, bool)>,
}

/// Parses click's help text: the option column of the `Options:` section.
fn options_of(help: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut in_options = false;
    for line in help.lines() {
        if line.starts_with("Options:") {
            in_options = true;
            continue;
        }
        if !line.starts_with(' ') && !line.is_empty() {
            in_options = false;
        }
        if !in_options || !line.starts_with("  -") {
            continue;
        }
        let head = line.trim().split("  ").next().unwrap_or("");
        let words: Vec<&str> = head.split_whitespace().collect();
        // `-l, --limit INTEGER`: every name on the line takes the value.
        let takes = words.iter().any(|w| {
            w.starts_with('[') || w.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        });
        for w in &words {
            let name = w.trim_end_matches(',');
            if !name.starts_with('-') || name == "--help" {
                continue;
            }
            out.push((name.to_owned(), takes));
        }
    }
    out
}

/// Every reference command with its options, from the reference's own help.
pub fn reference_commands() -> Vec<RefCommand> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/parity/reference_help.py");
    let out = Command::new(reference_python())
        .args(["-W", "ignore"])
        .arg(&script)
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("the reference runs");
    assert!(
        out.status.success(),
        "reference help failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            RefCommand {
                path: v["path"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p.as_str().unwrap().to_owned())
                    .collect(),
                options: options_of(v["help"].as_str().unwrap()),
            }
        })
        .collect()
}

/// A value for an option that takes one.
fn sample(option: &str) -> &'static str {
    match option {
        "--show-metrics" => "all",
        "--mode" => "auto",
        "--log-level" => "debug",
        "--format" => "json",
        "--since" => "1h",
        "--limit" | "-l" | "--interval" | "-i" | "--timeout" | "-t" | "--position" => "1",
        "--precedence" => "first",
        _ => "x",
    }
}

fn ours(args: &[String]) -> (bool, String) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vibectl"))
        .args(args)
        .env("VIBECTL_CLIENT_CONFIG_DIR", home.path())
        .env("HOME", home.path())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn every_reference_command_and_option_is_accepted() {
    let reference = reference_commands();
    // The reference has about 70 commands and 300 command/option pairs; a broken extraction
    // must not pass as "nothing to check".
    assert!(reference.len() >= 60, "{reference:?}");
    let pairs: usize = reference.iter().map(|c| c.options.len() + 1).sum();
    assert!(pairs >= 300, "{pairs}");
    let mut missing = Vec::new();
    for cmd in &reference {
        // The command itself: `vibectl PATH --help` parses.
        let mut base = cmd.path.clone();
        base.push("--help".into());
        let (ok, text) = ours(&base);
        if !ok {
            missing.push(format!(
                "vibectl {}: {}",
                cmd.path.join(" "),
                first_line(&text)
            ));
            continue;
        }
        // Each option, given before --help so that an unknown one is an error.
        for (opt, takes) in &cmd.options {
            let mut args = cmd.path.clone();
            args.push(opt.clone());
            if *takes {
                args.push(sample(opt).into());
            }
            if opt == "--version" {
                let (ok, text) = ours(&args);
                if !ok || !text.contains("vibectl") {
                    missing.push(format!("vibectl --version: {}", first_line(&text)));
                }
                continue;
            }
            args.push("--help".into());
            let (ok, text) = ours(&args);
            if !ok {
                missing.push(format!("vibectl {}: {}", args.join(" "), first_line(&text)));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {pairs} reference command/option pairs are not accepted:\n{}",
        missing.len(),
        missing.join("\n")
    );
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .to_owned()
}

#[test]
fn click_option_columns_parse() {
    let help = "Usage: x\n\nOptions:\n  --show-vibe / --no-show-vibe\n  -l, --limit INTEGER    Maximum\n  --show-metrics [none|total|sub|all]\n                                  Show\n  --help  Show this message and exit.\n\nCommands:\n  get  Get\n";
    assert_eq!(
        options_of(help),
        vec![
            ("--show-vibe".to_owned(), false),
            ("--no-show-vibe".to_owned(), false),
            ("-l".to_owned(), true),
            ("--limit".to_owned(), true),
            ("--show-metrics".to_owned(), true),
        ]
    );
}
