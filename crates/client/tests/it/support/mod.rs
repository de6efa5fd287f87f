//! Shared set-up for the end-to-end tests: a private config dir, the fake API with a kubeconfig,
//! the mock provider, and a runner for the real `vibectl` binary (stdin is never a terminal).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use vibectl_testkit::fake_kube::FakeKube;
use vibectl_testkit::{MockProvider, MockReply};

/// Variables of the developer's shell that must not leak into a test run.
const SCRUBBED: &[&str] = &[
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "OLLAMA_HOST",
    "VIBECTL_JWT_TOKEN",
    "VIBECTL_CA_BUNDLE",
    "VIBECTL_ANTHROPIC_API_KEY",
    "VIBECTL_OPENAI_API_KEY",
    "XDG_CONFIG_HOME",
    "KUBECONFIG",
    "NO_COLOR",
];

/// What one `vibectl` run produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// stdout and stderr together, for assertions that do not care which.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// One test's world.
pub struct World {
    /// Temp dir holding config, kubeconfig and HOME.
    pub dir: tempfile::TempDir,
    /// The fake Kubernetes API.
    pub kube: FakeKube,
    /// The mock LLM provider.
    pub mock: MockProvider,
    /// Extra environment for every run.
    pub env: Vec<(String, String)>,
}

impl World {
    /// Starts the fake API (with a `web` pod, service and deployment) and the mock provider.
    pub async fn start() -> World {
        let dir = tempfile::tempdir().unwrap();
        let kube = FakeKube::start().await.unwrap();
        kube.add_pod("default", "web-1");
        kube.add_service("default", "web", 80);
        kube.add_deployment("default", "web", 2);
        let mock = MockProvider::start().await.unwrap();
        let kc = kube
            .write_kubeconfig(&dir.path().join("kubeconfig"))
            .unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        let env = vec![
            ("KUBECONFIG".to_owned(), kc.display().to_string()),
            ("VIBECTL_OPENAI_API_KEY".to_owned(), "test-key".to_owned()),
        ];
        let w = World {
            dir,
            kube,
            mock,
            env,
        };
        w.mock.set_responder(Some(memory_responder()));
        let url = w.mock.openai_base_url();
        w.vibectl(&["config", "set", "providers.openai.base_url", &url])
            .await;
        w.vibectl(&["config", "set", "llm.model", "gpt-4o"]).await;
        w.vibectl(&["config", "set", "kubectl.path", "/usr/bin/kubectl"])
            .await;
        w
    }

    /// The client config dir.
    pub fn config_dir(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// Runs `vibectl args` (off the async runtime), stdin not a terminal.
    pub async fn vibectl(&self, args: &[&str]) -> Run {
        self.vibectl_env(args, &[]).await
    }

    /// Runs `vibectl args` with extra environment.
    pub async fn vibectl_env(&self, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vibectl"));
        cmd.args(args)
            .env("VIBECTL_CLIENT_CONFIG_DIR", self.config_dir())
            .env("HOME", self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for k in SCRUBBED {
            cmd.env_remove(k);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `vibectl args` on a pseudo-terminal (util-linux `script`), typing `input`.
    pub async fn vibectl_tty(&self, args: &[&str], input: &str) -> Run {
        let quoted: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_vibectl"))
            .chain(args.iter().copied())
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        let mut cmd = Command::new("/usr/bin/script");
        cmd.args(["-qec", &quoted.join(" "), "/dev/null"])
            .env("VIBECTL_CLIENT_CONFIG_DIR", self.config_dir())
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for k in SCRUBBED.iter().filter(|k| **k != "NO_COLOR") {
            cmd.env_remove(k);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let input = input.to_owned();
        let out = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut child = cmd.spawn().unwrap();
            let mut stdin = child.stdin.take().unwrap();
            // Give the prompt time to appear before answering it.
            std::thread::sleep(std::time::Duration::from_millis(1500));
            stdin.write_all(input.as_bytes()).unwrap();
            drop(stdin);
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap();
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs `vibectl args` on a pseudo-terminal, typing `input` once `marker` has appeared in
    /// its output (so keys reach the live display, not the shell before it); panics if the
    /// marker never appears.
    pub async fn vibectl_tty_after(&self, args: &[&str], marker: &str, input: &str) -> Run {
        let quoted: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_vibectl"))
            .chain(args.iter().copied())
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect();
        let mut cmd = Command::new("/usr/bin/script");
        cmd.args(["-qec", &quoted.join(" "), "/dev/null"])
            .env("VIBECTL_CLIENT_CONFIG_DIR", self.config_dir())
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for k in SCRUBBED.iter().filter(|k| **k != "NO_COLOR") {
            cmd.env_remove(k);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let (marker, input) = (marker.to_owned(), input.to_owned());
        let out = tokio::task::spawn_blocking(move || {
            use std::io::{Read, Write};
            let mut child = cmd.spawn().unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
            let reader = {
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 4096];
                    while let Ok(n) = stdout.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        seen.lock().unwrap().extend_from_slice(&buf[..n]);
                    }
                })
            };
            let start = std::time::Instant::now();
            while !String::from_utf8_lossy(&seen.lock().unwrap()).contains(&marker) {
                assert!(
                    start.elapsed() < std::time::Duration::from_secs(60),
                    "`{marker}` never appeared: {}",
                    String::from_utf8_lossy(&seen.lock().unwrap())
                );
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            stdin.write_all(input.as_bytes()).unwrap();
            drop(stdin);
            let status = child.wait().unwrap();
            reader.join().unwrap();
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            let stdout = String::from_utf8_lossy(&seen.lock().unwrap()).into_owned();
            Run {
                code: status.code().unwrap_or(-1),
                stdout,
                stderr,
            }
        })
        .await
        .unwrap();
        out
    }

    /// Scripts a planner answer running `commands` (optionally with a manifest).
    pub fn plan(&self, commands: &[&str], manifest: Option<&str>) {
        self.mock
            .push_reply(vibectl_testkit::script::command(commands, manifest));
    }

    /// Scripts a plain text answer (a summary).
    pub fn say(&self, text: &str) {
        self.mock.push_reply(MockReply::text(text));
    }

    /// Model requests the mock has served, not counting memory updates.
    pub fn llm_calls(&self) -> usize {
        self.requests().len()
    }

    /// The bodies of the model requests, not counting memory updates.
    pub fn requests(&self) -> Vec<String> {
        self.mock
            .requests()
            .iter()
            .map(|r| r.body.to_string())
            .filter(|b| !b.contains(MEMORY_MARKER))
            .collect()
    }

    /// Memory-update calls the mock has served.
    pub fn memory_calls(&self) -> usize {
        self.mock
            .requests()
            .iter()
            .filter(|r| r.body.to_string().contains(MEMORY_MARKER))
            .count()
    }

    /// Sets a config key (the run must succeed).
    pub async fn set(&self, key: &str, value: &str) {
        let run = self.vibectl(&["config", "set", key, value]).await;
        assert_eq!(run.code, 0, "config set {key}: {run:?}");
    }

    /// Scripts a planner answer of any action.
    pub fn act(&self, action: serde_json::Value) {
        self.mock
            .push_reply(vibectl_testkit::script::action(action));
    }
}

/// The start of our built-in summary prompt (a plugin's summary prompt replaces it).
pub const BUILTIN_SUMMARY: &str = "You summarise kubectl output for a Kubernetes user";
/// The start of our built-in planner prompt (a plugin's planning prompt replaces it).
pub const BUILTIN_PLANNER: &str = "You are vibectl, a careful Kubernetes assistant.";

/// Every string in a recorded request body (its messages' text), one per line: what the model
/// received, with real newlines.
pub fn text_of(body: &str) -> String {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(m) => m.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        walk(&v, &mut out);
    }
    out.join("\n")
}

/// Text only the memory-update calls' prompt contains.
pub const MEMORY_MARKER: &str = "maintaining a short memory";

/// Answers the memory-update calls as a model would, without using the scripted queue: the new
/// memory is the old one plus the interaction's action line (or the user's new information).
pub fn memory_responder() -> vibectl_testkit::Responder {
    std::sync::Arc::new(|body: &[u8]| {
        let text = String::from_utf8_lossy(body).into_owned();
        if !text.contains(MEMORY_MARKER) {
            return None;
        }
        // The text after `marker` up to the end of its line in the JSON body.
        let after = |marker: &str| -> Option<String> {
            let rest = &text[text.find(marker)? + marker.len()..];
            let end = rest.find("\\n").into_iter().chain(rest.find('"')).min()?;
            Some(rest[..end].to_owned())
        };
        let old = text
            .find("Current memory:\\n")
            .map(|i| {
                let rest = &text[i + "Current memory:\\n".len()..];
                rest[..rest.find('"').unwrap_or(rest.len())].replace("\\n", "\n")
            })
            .unwrap_or_default();
        let old = if old.trim() == "(empty)" {
            String::new()
        } else {
            old
        };
        let new = after("Action: ")
            .or_else(|| after("User's new information:\\n"))
            .unwrap_or_default();
        Some(MockReply::text(
            format!("{}\n- {new}", old.trim()).trim().to_owned(),
        ))
    })
}

/// The server binary of this workspace (built if missing).
pub fn server_bin() -> PathBuf {
    vibectl_testkit::workspace_bin("vibectl-server")
}

/// A plain server config pointing both providers at `mock`, plus `extra` YAML.
pub fn server_config(mock: &MockProvider, extra: &str) -> String {
    format!(
        "server:\n  host: 127.0.0.1\n  default_model: gpt-4o\nproviders:\n  openai:\n    base_url: {}\n    api_key: test-key\n  anthropic:\n    base_url: {}\n    api_key: test-key\n{extra}",
        mock.openai_base_url(),
        mock.anthropic_base_url()
    )
}

/// Runs the server CLI (`generate-token`, `ca ...`) and returns stdout.
pub fn server_cli(config: &Path, state: &Path, args: &[&str]) -> String {
    vibectl_testkit::server_command_ok(&server_bin(), config, state, args)
        .unwrap_or_else(|e| panic!("{e}"))
}
