//! Running long-running kubectl commands (wait, port-forward, logs -f, get -w, events -w) under
//! the live display (crate::display): kubectl's lines into the bounded buffer and the panel, the
//! reference's keys on a terminal, and a clean stop at the bound (`kubectl.timeout_seconds`), on
//! [E]xit or on Ctrl-C; then the usual summary of the kept lines.
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};

use super::{Session, VibeError};
use crate::display::{self, term, KeyOutcome, View};
use crate::kube::quote::terminal_safe;
use crate::kube::KubeError;
use crate::model::LlmCall;
use crate::sanitize::Hint;

/// Exit code when the bound stopped a command that would otherwise have gone on.
pub const EXIT_BOUND: i32 = 124;
/// Exit code after Ctrl-C.
pub const EXIT_INTERRUPTED: i32 = 130;

/// How a live command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// kubectl exited by itself with this code.
    Exited(i32),
    /// The bound was reached.
    Bound,
    /// Ctrl-C.
    Interrupted,
    /// The [E]xit key.
    UserExit,
}

impl Session<'_> {
    /// Runs kubectl `args` under the live display, then summarises the kept lines; returns the
    /// exit code (kubectl's, [`EXIT_BOUND`] or [`EXIT_INTERRUPTED`]; a port-forward that
    /// reaches its bound has done its job and exits 0, and so does a session ended by [E]xit).
    pub async fn run_live(&self, args: &[String], request: Option<&str>) -> Result<i32, VibeError> {
        let shown = self.kubectl.display(args);
        if self.settings.show_kubectl {
            self.ui.command(&shown);
        }
        let resource = args
            .iter()
            .skip(1)
            .find(|a| !a.starts_with('-'))
            .or(args.first())
            .map_or("output", String::as_str);
        let view = View::new(self.settings.live.clone(), resource).map_err(VibeError::Filter)?;
        let (ended, view) = self.live(args, view).await?;
        let code = match ended {
            Ended::Exited(c) => c,
            Ended::Bound if args.first().map(String::as_str) == Some("port-forward") => 0,
            Ended::Bound => EXIT_BOUND,
            Ended::Interrupted => EXIT_INTERRUPTED,
            Ended::UserExit => 0,
        };
        let how = match ended {
            Ended::Exited(c) => format!("kubectl exited with {c}"),
            Ended::Bound => format!(
                "stopped at its bound of {} s (kubectl.timeout_seconds)",
                self.kubectl.timeout.as_secs()
            ),
            Ended::Interrupted => "interrupted (Ctrl-C)".to_owned(),
            Ended::UserExit => "stopped with [E]xit".to_owned(),
        };
        self.ui.note(&format!("{shown}: {how}"));
        self.ui.note(&view.summary());
        if self.settings.show_vibe && ended != Ended::Interrupted {
            let (kept, dropped) = view.kept();
            let (text, found) = self.clean(&kept, Hint::None);
            let output = if dropped > 0 {
                format!("Output (the last lines; the {dropped} before them were not kept):")
            } else {
                "Output:".to_owned()
            };
            let call = LlmCall {
                system: self.summary_system(&super::run::summary_key(args)),
                user: vec![
                    format!("Command: {shown} ({how})"),
                    format!("{output}\n{}", super::prompts::clip(&text)),
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

    /// Runs kubectl with its output in `view`: redrawn in place with keys on a terminal, the
    /// final panel printed once otherwise; stops at the bound, on [E]xit or on Ctrl-C.
    pub async fn live(&self, args: &[String], mut view: View) -> Result<(Ended, View), KubeError> {
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
        let (tx, mut lines) = tokio::sync::mpsc::channel::<String>(1024);
        tokio::spawn(read_lines(out, tx.clone()));
        tokio::spawn(read_lines(err, tx));
        let mut lines_open = true;
        let start = Instant::now();
        let bound = self.kubectl.timeout;
        let deadline = tokio::time::sleep(bound);
        tokio::pin!(deadline);
        let mut screen = term::size().map(|_| term::Screen::default());
        let mut keys = if screen.is_some() {
            term::Keys::start()
        } else {
            None
        };
        let title = terminal_safe(&self.kubectl.display(args));
        // `running: false` is the last frame: the counters, no keys or bound left to offer.
        let draw = |screen: &mut term::Screen, view: &View, keys: bool, running: bool| {
            let (rows, cols) = term::size().unwrap_or((24, 80));
            let height = view.max_lines().min(rows.saturating_sub(3)).max(1);
            let status = if running {
                format!(
                    "{} | bound {}s{}",
                    view.status(start.elapsed(), keys),
                    bound.as_secs(),
                    if keys { "" } else { " | Ctrl-C stops" }
                )
            } else {
                view.status(start.elapsed(), false)
            };
            screen.draw(
                &title,
                &view.rows(height, cols.saturating_sub(1)),
                height,
                &status,
                cols,
            );
        };
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        let ended = loop {
            tokio::select! {
                biased;
                _ = &mut ctrl_c => break Ended::Interrupted,
                key = async { keys.as_mut()?.next().await }, if keys.is_some() => match key {
                    Some(k) => match view.key(k) {
                        KeyOutcome::Exit => break Ended::UserExit,
                        KeyOutcome::Redraw => if let Some(s) = screen.as_mut() {
                            draw(s, &view, true, true);
                        },
                        KeyOutcome::Nothing => {}
                    },
                    None => keys = None,
                },
                line = lines.recv(), if lines_open => match line {
                    Some(l) => view.push(terminal_safe(&l)),
                    None => lines_open = false,
                },
                status = child.wait(), if !lines_open => {
                    use std::os::unix::process::ExitStatusExt;
                    break match status {
                        // Ctrl-C on the terminal reaches kubectl too.
                        Ok(s) if s.signal() == Some(2) => Ended::Interrupted,
                        Ok(s) => Ended::Exited(s.code().unwrap_or(1)),
                        Err(_) => Ended::Exited(1),
                    };
                }
                _ = &mut deadline => break Ended::Bound,
                _ = tick.tick(), if screen.is_some() => {
                    if let Some(s) = screen.as_mut() {
                        draw(s, &view, keys.is_some(), true);
                    }
                }
            }
        };
        // Restore the terminal before anything else is printed.
        drop(keys);
        if !matches!(ended, Ended::Exited(_)) {
            let _ = child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
        }
        // Lines already read are still shown.
        while let Ok(l) = lines.try_recv() {
            view.push(terminal_safe(&l));
        }
        match screen.as_mut() {
            Some(s) => draw(s, &view, false, false),
            None => {
                // No terminal to redraw on: the final panel, once (as Rich prints a live
                // display's last frame to a file or pipe).
                let rows = view.rows(view.max_lines(), term::columns_off_terminal());
                if !rows.is_empty() {
                    crate::ui::write_stdout(&rows.join("\n"), true);
                }
            }
        }
        Ok((ended, view))
    }
}

/// Sends `pipe`'s lines, each cut to [`display::MAX_LINE_BYTES`], until it closes.
async fn read_lines(pipe: impl AsyncRead + Unpin, tx: tokio::sync::mpsc::Sender<String>) {
    let mut reader = BufReader::new(pipe);
    let mut line: Vec<u8> = Vec::new();
    let mut cut = 0usize;
    while let Ok(buf) = reader.fill_buf().await {
        if buf.is_empty() {
            break;
        }
        let newline = buf.iter().position(|b| *b == b'\n');
        let n = newline.map_or(buf.len(), |i| i + 1);
        let take = display::MAX_LINE_BYTES.saturating_sub(line.len()).min(n);
        line.extend_from_slice(&buf[..take]);
        let cut_here = n - take;
        // A newline cut off with the rest is not part of what was lost.
        cut += if newline.is_some() && cut_here > 0 {
            cut_here - 1
        } else {
            cut_here
        };
        reader.consume(n);
        if newline.is_some() {
            let text = display::bounded_line(&line, cut);
            line.clear();
            cut = 0;
            if tx.send(text).await.is_err() {
                return;
            }
        }
    }
    if !line.is_empty() || cut > 0 {
        let _ = tx.send(display::bounded_line(&line, cut)).await;
    }
}
