//! The live, bounded display of long-running kubectl commands (wait, port-forward, logs -f):
//! output lines as they arrive, an elapsed/bound status line on a terminal, and a clean stop
//! at the bound (`kubectl.timeout_seconds`) or on Ctrl-C; then the usual summary.
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};

use super::{Session, VibeError};
use crate::kube::quote::terminal_safe;
use crate::kube::KubeError;
use crate::model::LlmCall;
use crate::sanitize::Hint;

/// Exit code when the bound stopped a command that would otherwise have gone on.
pub const EXIT_BOUND: i32 = 124;
/// Exit code after Ctrl-C.
pub const EXIT_INTERRUPTED: i32 = 130;
/// Most output kept for the summary.
const MAX_CAPTURE: usize = 256 * 1024;

/// How a live command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// kubectl exited by itself with this code.
    Exited(i32),
    /// The bound was reached.
    Bound,
    /// Ctrl-C.
    Interrupted,
}

impl Session<'_> {
    /// Runs kubectl `args` under the live display, then summarises what it printed; returns
    /// the exit code (kubectl's, [`EXIT_BOUND`] or [`EXIT_INTERRUPTED`]; a port-forward
    /// that reaches its bound has done its job and exits 0).
    pub async fn run_live(&self, args: &[String], request: Option<&str>) -> Result<i32, VibeError> {
        let shown = self.kubectl.display(args);
        if self.settings.show_kubectl {
            self.ui.command(&shown);
        }
        let (ended, output) = self.live(args, true).await?;
        let code = match ended {
            Ended::Exited(c) => c,
            Ended::Bound if args.first().map(String::as_str) == Some("port-forward") => 0,
            Ended::Bound => EXIT_BOUND,
            Ended::Interrupted => EXIT_INTERRUPTED,
        };
        let how = match ended {
            Ended::Exited(c) => format!("kubectl exited with {c}"),
            Ended::Bound => format!(
                "stopped at its bound of {} s (kubectl.timeout_seconds)",
                self.kubectl.timeout.as_secs()
            ),
            Ended::Interrupted => "interrupted (Ctrl-C)".to_owned(),
        };
        self.ui.note(&format!("{shown}: {how}"));
        if self.settings.show_vibe && ended != Ended::Interrupted {
            let (text, found) = self.clean(&output, Hint::None);
            let call = LlmCall {
                system: self.summary_system(&super::run::summary_key(args)),
                user: vec![
                    format!("Command: {shown} ({how})"),
                    format!("Output:\n{}", super::prompts::clip(&text)),
                ],
                ..LlmCall::default()
            };
            let (summary, record) = self.call("summary", call, true, found).await;
            self.audit(&record, Some(shown.clone()), None);
            if let Ok(s) = summary {
                self.remember(
                    request.unwrap_or(""),
                    &format!("ran `{shown}` ({how})"),
                    &s.text,
                )
                .await;
            }
        }
        Ok(code)
    }

    /// Runs kubectl with its output shown live; stops at the bound or on Ctrl-C.
    pub async fn live(&self, args: &[String], show: bool) -> Result<(Ended, String), KubeError> {
        let mut child = tokio::process::Command::new(&self.kubectl.program)
            .args(self.kubectl.argv(args))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| KubeError::NotFound {
                program: self.kubectl.program.display().to_string(),
                detail: e.to_string(),
            })?;
        let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(KubeError::Io(std::io::Error::other(
                "kubectl's pipes are missing",
            )));
        };
        let mut out = BufReader::new(out).lines();
        let mut err = BufReader::new(err).lines();
        let (mut out_open, mut err_open) = (true, true);
        let start = Instant::now();
        let bound = self.kubectl.timeout;
        let deadline = tokio::time::sleep(bound);
        tokio::pin!(deadline);
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut captured = String::new();
        let status_line = show && self.ui.progress;
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let ended = loop {
            tokio::select! {
                biased;
                _ = &mut ctrl_c => break Ended::Interrupted,
                line = out.next_line(), if out_open => match line {
                    Ok(Some(l)) => self.show_line(&l, false, status_line, show, &mut captured),
                    _ => out_open = false,
                },
                line = err.next_line(), if err_open => match line {
                    Ok(Some(l)) => self.show_line(&l, true, status_line, show, &mut captured),
                    _ => err_open = false,
                },
                status = child.wait(), if !out_open && !err_open => {
                    use std::os::unix::process::ExitStatusExt;
                    break match status {
                        // Ctrl-C on the terminal reaches kubectl too.
                        Ok(s) if s.signal() == Some(2) => Ended::Interrupted,
                        Ok(s) => Ended::Exited(s.code().unwrap_or(1)),
                        Err(_) => Ended::Exited(1),
                    };
                }
                _ = &mut deadline => break Ended::Bound,
                _ = tick.tick(), if status_line => {
                    eprint!(
                        "\r\x1b[K[{:>3}s / {}s] {} (Ctrl-C stops)",
                        start.elapsed().as_secs(),
                        bound.as_secs(),
                        terminal_safe(&self.kubectl.display(args))
                    );
                    let _ = std::io::stderr().flush();
                }
            }
        };
        if status_line {
            eprint!("\r\x1b[K");
        }
        if ended != Ended::Exited(0) {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
        Ok((ended, captured))
    }

    fn show_line(&self, line: &str, stderr: bool, erase: bool, show: bool, captured: &mut String) {
        let line = terminal_safe(line);
        if show {
            if erase {
                eprint!("\r\x1b[K");
            }
            if stderr {
                eprintln!("{line}");
            } else {
                crate::outln!("{line}");
            }
        }
        if captured.len() < MAX_CAPTURE {
            captured.push_str(&line);
            captured.push('\n');
        }
    }
}
