//! Terminal output: colour when wanted, plain text otherwise, and confirmation prompts.
use std::io::{BufRead, IsTerminal, Write};

use crate::config::Config;

/// How to print.
#[derive(Clone, Copy, Debug)]
pub struct Ui {
    /// ANSI colours on stderr/stdout.
    pub color: bool,
    /// stderr is a terminal (progress notes are shown and erased).
    pub progress: bool,
    /// The colours of `display.theme`.
    pub palette: Palette,
}

/// The ANSI styles of one theme: command, plan, note, warning, error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Palette {
    /// `Running:` label.
    pub command: &'static str,
    /// `Plan:` label.
    pub plan: &'static str,
    /// Notes.
    pub note: &'static str,
    /// `Warning:` label and prompts.
    pub warn: &'static str,
    /// `Refused:` label.
    pub error: &'static str,
}

impl Palette {
    /// The palette of a theme name (`default` for unknown names).
    pub fn of(theme: &str) -> Palette {
        match theme {
            "dark" => Palette {
                command: "1;96",
                plan: "1;94",
                note: "37",
                warn: "1;93",
                error: "1;91",
            },
            "light" => Palette {
                command: "1;36",
                plan: "1;34",
                note: "90",
                warn: "1;33",
                error: "1;31",
            },
            // No meaning carried by hue alone: bold, underline and reverse video.
            "accessible" => Palette {
                command: "1",
                plan: "1;4",
                note: "0",
                warn: "1;7",
                error: "1;7",
            },
            _ => Palette {
                command: "1;36",
                plan: "1;34",
                note: "2",
                warn: "1;33",
                error: "1;31",
            },
        }
    }
}

/// Why a confirmation could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("{what} needs confirmation and there is no terminal to ask on; nothing was run\n  re-run with --yes to allow mutating commands (refused commands are never run)")]
pub struct NoTerminal {
    /// What needed confirmation.
    pub what: String,
}

impl Ui {
    /// From `display.color`, `NO_COLOR` and whether the streams are terminals.
    pub fn new(cfg: &Config) -> Ui {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let color = match cfg.text("display.color").as_deref() {
            Some("always") => true,
            Some("never") => false,
            _ => !no_color && std::io::stderr().is_terminal(),
        };
        Ui {
            color,
            progress: std::io::stderr().is_terminal(),
            palette: Palette::of("default"),
        }
    }

    /// The same, with the colours of `theme`.
    pub fn with_theme(mut self, theme: &str) -> Ui {
        self.palette = Palette::of(theme);
        self
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// A command about to run.
    pub fn command(&self, text: &str) {
        eprintln!("{} {}", self.paint(self.palette.command, "Running:"), text);
    }

    /// A plan line.
    pub fn plan(&self, text: &str) {
        eprintln!("{} {}", self.paint(self.palette.plan, "Plan:"), text);
    }

    /// A note.
    pub fn note(&self, text: &str) {
        eprintln!("{}", self.paint(self.palette.note, text));
    }

    /// A warning.
    pub fn warn(&self, text: &str) {
        eprintln!("{} {}", self.paint(self.palette.warn, "Warning:"), text);
    }

    /// A refusal or failure.
    pub fn error(&self, text: &str) {
        eprintln!("{} {}", self.paint(self.palette.error, "Refused:"), text);
    }

    /// Starts a spinner on stderr when it is a terminal; it stops and erases itself when dropped.
    pub fn spinner(&self, text: &str) -> Option<Spinner> {
        if !self.progress {
            return None;
        }
        let label = text.to_owned();
        let task = tokio::spawn(async move {
            const FRAMES: [&str; 4] = ["|", "/", "-", "\\"];
            let mut i = 0usize;
            loop {
                eprint!("\r{} {label}…", FRAMES[i % FRAMES.len()]);
                let _ = std::io::stderr().flush();
                i += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        });
        Some(Spinner { task })
    }

    /// Asks yes/no on the terminal (default no); fails closed when stdin is not a terminal.
    pub fn confirm(&self, question: &str) -> Result<bool, NoTerminal> {
        let line = self.ask(question, &format!("{question} [y/N] "))?;
        Ok(matches!(
            line.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    }

    /// Prints `prompt` and reads one line from the terminal (empty at end of input); fails
    /// closed when stdin is not a terminal, naming `what` needed the answer.
    pub fn ask(&self, what: &str, prompt: &str) -> Result<String, NoTerminal> {
        if !std::io::stdin().is_terminal() {
            return Err(NoTerminal {
                what: what.to_owned(),
            });
        }
        eprint!("{} ", self.paint(self.palette.warn, prompt.trim_end()));
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        if std::io::stdin().lock().read_line(&mut line).is_err() {
            return Ok(String::new());
        }
        Ok(line)
    }
}

/// Writes to stdout; a closed pipe (`vibectl config show | head -1`) ends the process quietly
/// instead of panicking.
pub fn write_stdout(text: &str, newline: bool) {
    let mut out = std::io::stdout().lock();
    let result = out
        .write_all(text.as_bytes())
        .and_then(|()| {
            if newline {
                out.write_all(b"\n")
            } else {
                Ok(())
            }
        })
        .and_then(|()| out.flush());
    if let Err(e) = result {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
    }
}

/// `println!` that survives a closed pipe.
#[macro_export]
macro_rules! outln {
    () => {
        $crate::ui::write_stdout("", true)
    };
    ($($arg:tt)*) => {
        $crate::ui::write_stdout(&format!($($arg)*), true)
    };
}

/// A running spinner (see [`Ui::spinner`]).
#[derive(Debug)]
pub struct Spinner {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.task.abort();
        eprint!("\r\x1b[K");
        let _ = std::io::stderr().flush();
    }
}
