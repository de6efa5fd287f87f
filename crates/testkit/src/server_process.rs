//! Runs the real `vibectl-server` binary on a free port for end-to-end tests.
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Provider variables of the developer's shell that must not leak into a test server.
const SCRUBBED_ENV: [&str; 12] = [
    "OPENAI_API_KEY",
    "OPENAI_API_KEY_FILE",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_API_KEY_FILE",
    "ANTHROPIC_BASE_URL",
    "OLLAMA_HOST",
    "VIBECTL_JWT_SECRET",
    "VIBECTL_JWT_SECRET_FILE",
    "VIBECTL_SERVER_CONFIG",
    "VIBECTL_SERVER_CONFIG_DIR",
    "RUST_LOG",
];

/// The path of a binary built from this workspace (`target/<profile>/<name>`), building it
/// with cargo when it is missing (tests of one crate may need another crate's binary).
pub fn workspace_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // Test executables live in target/<profile>/deps/.
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .map_or_else(|| PathBuf::from("target/debug"), Path::to_path_buf);
    let bin = profile_dir.join(name);
    if !bin.exists() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args(["build", "--bin", name, "--manifest-path"])
            .arg(manifest)
            .status();
        assert!(
            status.is_ok_and(|s| s.success()),
            "could not build the `{name}` binary"
        );
    }
    bin
}

/// A running `vibectl-server serve`, killed when dropped.
pub struct ServerProcess {
    child: Child,
    /// The address it listens on.
    pub addr: SocketAddr,
    /// Whether it announced TLS.
    pub tls: bool,
    /// Its private directory (config file, state).
    pub dir: tempfile::TempDir,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
}

impl std::fmt::Debug for ServerProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerProcess")
            .field("addr", &self.addr)
            .field("pid", &self.child.id())
            .finish_non_exhaustive()
    }
}

/// What went wrong starting a server.
#[derive(Debug)]
pub struct SpawnError {
    /// Why it did not come up.
    pub message: String,
    /// Everything it wrote to stderr.
    pub stderr: String,
    /// Its exit status, if it exited.
    pub status: Option<ExitStatus>,
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}; stderr:\n{}", self.message, self.stderr)
    }
}

impl std::error::Error for SpawnError {}

impl ServerProcess {
    /// Writes `config_yaml` to a fresh directory and runs `serve --config <it> --port 0 <extra_args>`
    /// with `env` added to a scrubbed environment; waits for the listening line (10 s at most).
    pub fn spawn(
        bin: &Path,
        config_yaml: &str,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<ServerProcess, SpawnError> {
        Self::spawn_with(bin, "serve", config_yaml, 0, extra_args, env)
    }

    /// [`ServerProcess::spawn`] on a fixed `port` (for peers that must know it in advance, such
    /// as an ACME CA validating tls-alpn-01 there).
    pub fn spawn_on(
        bin: &Path,
        config_yaml: &str,
        port: u16,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<ServerProcess, SpawnError> {
        Self::spawn_with(bin, "serve", config_yaml, port, extra_args, env)
    }

    /// Like [`ServerProcess::spawn`] with another serve command (`serve-ca`, `serve-custom`, ...).
    pub fn spawn_command(
        bin: &Path,
        command: &str,
        config_yaml: &str,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<ServerProcess, SpawnError> {
        Self::spawn_with(bin, command, config_yaml, 0, extra_args, env)
    }

    /// The general form: serve command `command` on `port` (0 picks a free one).
    pub fn spawn_with(
        bin: &Path,
        command: &str,
        config_yaml: &str,
        port: u16,
        extra_args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<ServerProcess, SpawnError> {
        let fail = |message: String| SpawnError {
            message,
            stderr: String::new(),
            status: None,
        };
        let dir = tempfile::tempdir().map_err(|e| fail(format!("tempdir: {e}")))?;
        let config = dir.path().join("config.yaml");
        std::fs::write(&config, config_yaml).map_err(|e| fail(format!("write config: {e}")))?;
        let mut cmd = Command::new(bin);
        cmd.arg(command)
            .arg("--config")
            .arg(&config)
            .arg("--port")
            .arg(port.to_string())
            .args(extra_args)
            .env("VIBECTL_SERVER_STATE_DIR", dir.path())
            .env("HOME", dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for k in SCRUBBED_ENV {
            cmd.env_remove(k);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .map_err(|e| fail(format!("spawn {}: {e}", bin.display())))?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let stdout = Arc::new(Mutex::new(String::new()));
        if let Some(err) = child.stderr.take() {
            let sink = Arc::clone(&stderr);
            std::thread::spawn(move || drain(err, &sink));
        }
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        if let Some(out) = child.stdout.take() {
            let sink = Arc::clone(&stdout);
            std::thread::spawn(move || {
                let mut lines = BufReader::new(out).lines();
                if let Some(Ok(first)) = lines.next() {
                    let _ = tx.send(first.clone());
                    push(&sink, &first);
                }
                for line in lines.map_while(Result::ok) {
                    push(&sink, &line);
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        let first = loop {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(50)) {
                break Some(line);
            }
            if let Ok(Some(status)) = child.try_wait() {
                std::thread::sleep(Duration::from_millis(50));
                return Err(SpawnError {
                    message: format!("server exited with {status} before listening"),
                    stderr: text(&stderr),
                    status: Some(status),
                });
            }
            if Instant::now() > deadline {
                break None;
            }
        };
        let parsed = first.as_deref().and_then(|l| {
            let rest = l.strip_prefix("vibectl-server listening on ")?;
            let (addr, mode) = rest.split_once(' ')?;
            Some((addr.parse::<SocketAddr>().ok()?, mode.contains("tls")))
        });
        match parsed {
            Some((addr, tls)) => Ok(ServerProcess {
                child,
                addr,
                tls,
                dir,
                stderr,
                stdout,
            }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                Err(SpawnError {
                    message: format!("no listening line; first stdout line: {first:?}"),
                    stderr: text(&stderr),
                    status: None,
                })
            }
        }
    }

    /// `http://ADDR` (or `https://` with TLS), for tonic endpoints.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything written to stderr so far (the logs).
    pub fn stderr(&self) -> String {
        text(&self.stderr)
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        text(&self.stdout)
    }

    /// Sends a signal (`TERM`, `INT`, `HUP`) with the system's `kill`.
    pub fn signal(&self, name: &str) -> std::io::Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "kill -{name} failed: {status}"
            )))
        }
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn push(sink: &Mutex<String>, line: &str) {
    if let Ok(mut s) = sink.lock() {
        s.push_str(line);
        s.push('\n');
    }
}

fn drain(mut r: impl Read, sink: &Mutex<String>) {
    let mut buf = [0u8; 4096];
    while let Ok(n) = r.read(&mut buf) {
        if n == 0 {
            break;
        }
        if let Ok(mut s) = sink.lock() {
            s.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }
}

fn text(sink: &Mutex<String>) -> String {
    sink.lock().map(|s| s.clone()).unwrap_or_default()
}

/// Runs a one-shot `vibectl-server` command (`generate-token`, `tokens`, `ca ...`) with `config`
/// (when that file exists; otherwise the defaults of `state`) and state directory `state`, with
/// the JWT secret variables of the developer's shell removed.
pub fn server_command(
    bin: &Path,
    config: &Path,
    state: &Path,
    args: &[&str],
) -> std::io::Result<std::process::Output> {
    let mut cmd = Command::new(bin);
    if config.exists() {
        cmd.arg("--config").arg(config);
    } else {
        cmd.env("VIBECTL_SERVER_CONFIG_DIR", state);
    }
    cmd.args(args)
        .env("VIBECTL_SERVER_STATE_DIR", state)
        .env_remove("VIBECTL_JWT_SECRET")
        .env_remove("VIBECTL_JWT_SECRET_FILE")
        .output()
}

/// Like [`server_command`], but a failure is an error carrying the command's stderr; returns stdout.
pub fn server_command_ok(
    bin: &Path,
    config: &Path,
    state: &Path,
    args: &[&str],
) -> Result<String, String> {
    let out = server_command(bin, config, state, args)
        .map_err(|e| format!("cannot run {}: {e}", bin.display()))?;
    if !out.status.success() {
        return Err(format!(
            "vibectl-server {args:?} failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A private CA made with the server's own `ca init`, with a server certificate for
/// `localhost` and 127.0.0.1 from `ca create-server-cert`.
#[derive(Clone, Debug)]
pub struct TestCa {
    /// The CA directory.
    pub dir: PathBuf,
    /// `ca-bundle.crt`, what clients trust.
    pub bundle: PathBuf,
    /// The server certificate chain (PEM).
    pub server_cert: PathBuf,
    /// The server's private key (PEM).
    pub server_key: PathBuf,
}

impl TestCa {
    /// Creates the CA under `parent/ca`.
    pub fn create(bin: &Path, parent: &Path) -> Result<TestCa, String> {
        let dir = parent.join("ca");
        let ca_dir = dir.display().to_string();
        let unused = parent.join("unused-config.yaml");
        server_command_ok(bin, &unused, parent, &["ca", "init", "--ca-dir", &ca_dir])?;
        server_command_ok(
            bin,
            &unused,
            parent,
            &[
                "ca",
                "create-server-cert",
                "localhost",
                "--san",
                "127.0.0.1",
                "--ca-dir",
                &ca_dir,
            ],
        )?;
        let certs = dir.join("server_certs/localhost");
        Ok(TestCa {
            bundle: dir.join("ca-bundle.crt"),
            server_cert: certs.join("localhost.crt"),
            server_key: certs.join("localhost.key"),
            dir,
        })
    }
}
