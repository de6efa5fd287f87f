//! Runs the real kubectl with an argument vector (never a shell), bounded by a timeout.
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::cli::GlobalArgs;
use crate::config::Config;

/// A kubectl failure to start or finish.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    /// The binary is missing.
    #[error("cannot run kubectl ({program}): {detail}\n  install kubectl or point vibectl at it: vibectl config set kubectl.path /path/to/kubectl")]
    NotFound {
        /// What was tried.
        program: String,
        /// The OS error.
        detail: String,
    },
    /// I/O with the child failed.
    #[error("kubectl I/O failed: {0}")]
    Io(#[from] std::io::Error),
}

/// What a kubectl run produced.
#[derive(Clone, Debug, Default)]
pub struct KubectlOutput {
    /// Exit code (`None` when killed).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Whether the timeout stopped it.
    pub timed_out: bool,
}

impl KubectlOutput {
    /// Whether the exit code is one of `allowed`.
    pub fn succeeded(&self, allowed: &[i32]) -> bool {
        !self.timed_out && self.code.is_some_and(|c| allowed.contains(&c))
    }
}

/// How to invoke kubectl: the program and the connection flags to pass through.
#[derive(Clone, Debug)]
pub struct Kubectl {
    /// kubectl binary.
    pub program: PathBuf,
    /// `--kubeconfig`, `--context`.
    pub global_args: Vec<String>,
    /// Default namespace.
    pub namespace: Option<String>,
    /// Longest a command may run.
    pub timeout: Duration,
}

impl Kubectl {
    /// From config and command-line flags (flags win).
    pub fn new(cfg: &Config, global: &GlobalArgs) -> Self {
        let program = cfg
            .first_text(&["kubectl.path", "core.kubectl_command"])
            .map(|p| crate::proxy::connect::expand_home(&p))
            .unwrap_or_else(|| PathBuf::from("kubectl"));
        let mut global_args = Vec::new();
        if let Some(k) = global
            .kubeconfig
            .clone()
            .or_else(|| cfg.text("kubectl.kubeconfig"))
        {
            global_args.push(format!(
                "--kubeconfig={}",
                crate::proxy::connect::expand_home(&k).display()
            ));
        }
        if let Some(c) = global
            .context
            .clone()
            .or_else(|| cfg.text("kubectl.context"))
        {
            global_args.push(format!("--context={c}"));
        }
        Kubectl {
            program,
            global_args,
            namespace: global
                .namespace
                .clone()
                .or_else(|| cfg.text("kubectl.namespace")),
            timeout: Duration::from_secs(cfg.int("kubectl.timeout_seconds").clamp(1, 3600) as u64),
        }
    }

    /// The full argument vector for `args` (connection flags first, then the command).
    pub fn argv(&self, args: &[String]) -> Vec<String> {
        let mut out = self.global_args.clone();
        let names_namespace = args.iter().any(|a| {
            a == "-n"
                || a.starts_with("-n=")
                || a.starts_with("--namespace")
                || a == "-A"
                || a == "--all-namespaces"
        });
        if let (Some(ns), false) = (&self.namespace, names_namespace) {
            out.push(format!("--namespace={ns}"));
        }
        out.extend(args.iter().cloned());
        out
    }

    /// The command as a user would type it, for display.
    pub fn display(&self, args: &[String]) -> String {
        super::quote::command_line("kubectl", args)
    }

    /// Runs kubectl, capturing output, feeding `stdin` if given; killed after the timeout.
    pub async fn run(
        &self,
        args: &[String],
        stdin: Option<&str>,
    ) -> Result<KubectlOutput, KubeError> {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.args(self.argv(args))
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| KubeError::NotFound {
            program: self.program.display().to_string(),
            detail: e.to_string(),
        })?;
        // Feed stdin concurrently: kubectl may not read it (a plan naming another file), and a
        // blocked write must not escape the timeout.
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            let text = text.to_owned();
            tokio::spawn(async move {
                let _ = pipe.write_all(text.as_bytes()).await;
            });
        }
        match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(out) => {
                let out = out?;
                Ok(KubectlOutput {
                    code: out.status.code(),
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    timed_out: false,
                })
            }
            // Dropping the future kills the child (kill_on_drop).
            Err(_) => Ok(KubectlOutput {
                code: None,
                stdout: String::new(),
                stderr: format!("kubectl was stopped after {} s", self.timeout.as_secs()),
                timed_out: true,
            }),
        }
    }

    /// Runs kubectl attached to this terminal (for `vibectl just`), returning its exit code.
    pub fn run_attached(&self, args: &[String]) -> Result<i32, KubeError> {
        let status = std::process::Command::new(&self.program)
            .args(self.argv(args))
            .status()
            .map_err(|e| KubeError::NotFound {
                program: self.program.display().to_string(),
                detail: e.to_string(),
            })?;
        Ok(status.code().unwrap_or(1))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn kubectl() -> Kubectl {
        Kubectl {
            program: "kubectl".into(),
            global_args: vec!["--context=lab".into()],
            namespace: Some("web".into()),
            timeout: Duration::from_secs(5),
        }
    }

    #[test]
    fn namespace_added_unless_given() {
        let k = kubectl();
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            k.argv(&v(&["get", "pods"])),
            v(&["--context=lab", "--namespace=web", "get", "pods"])
        );
        assert_eq!(
            k.argv(&v(&["get", "pods", "-n", "x"])),
            v(&["--context=lab", "get", "pods", "-n", "x"])
        );
        assert_eq!(
            k.display(&v(&["get", "pods", "-l", "app in (a)"])),
            "kubectl get pods -l 'app in (a)'"
        );
    }

    #[tokio::test]
    async fn missing_binary_is_reported() {
        let mut k = kubectl();
        k.program = "/nonexistent/kubectl".into();
        let e = k.run(&["get".into()], None).await.unwrap_err().to_string();
        assert!(e.contains("kubectl.path"), "{e}");
    }

    #[tokio::test]
    async fn unread_stdin_does_not_escape_the_timeout() {
        let k = Kubectl {
            program: "/bin/sleep".into(),
            global_args: vec![],
            namespace: None,
            timeout: Duration::from_millis(500),
        };
        let big = "x".repeat(4 << 20);
        let start = std::time::Instant::now();
        let out = k.run(&["30".into()], Some(&big)).await.unwrap();
        assert!(out.timed_out);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn real_kubectl_runs_without_a_shell() {
        let mut k = kubectl();
        k.program = "/usr/bin/kubectl".into();
        let out = k
            .run(&["version".into(), "--client".into()], None)
            .await
            .unwrap();
        assert!(out.succeeded(&[0]), "{out:?}");
        assert!(out.stdout.contains("Client Version"));
    }
}
