//! What the live display shows and how its keys change it (the reference's watch display:
//! [E]xit, [W]rap, [P]ause, [S]ave, [F]ilter, with a prompt line for the last two).
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::{compile_filter, rows, Buffer, LiveOptions};

/// What a key asks of the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOutcome {
    /// Nothing to do.
    Nothing,
    /// The panel or status line changed.
    Redraw,
    /// [E]xit: stop kubectl and summarise.
    Exit,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Prompt {
    Save,
    Filter,
}

#[derive(Debug)]
struct Input {
    prompt: Prompt,
    text: Vec<u8>,
    /// The file name [S]ave uses when none is typed.
    suggestion: String,
}

/// The state of one live display.
#[derive(Debug)]
pub struct View {
    opts: LiveOptions,
    buffer: Buffer,
    filter: Option<(String, regex::Regex)>,
    /// The newest kept lines passing the filter, at most `max_lines`.
    shown: VecDeque<(u64, Arc<str>)>,
    /// The lines on screen when [P]ause was pressed.
    frozen: Option<Vec<Arc<str>>>,
    wrap: bool,
    input: Option<Input>,
    message: Option<String>,
    /// Names the suggested save file (`vibectl_watch_{resource}_{time}.log`).
    resource: String,
}

impl View {
    /// A display for `opts`; `resource` names the suggested save file. Fails on a filter that
    /// does not compile (the config check refuses those first).
    pub fn new(opts: LiveOptions, resource: &str) -> Result<View, regex::Error> {
        let filter = match &opts.filter {
            Some(f) => Some((f.clone(), compile_filter(f)?)),
            None => None,
        };
        Ok(View {
            buffer: Buffer::new(opts.buffer_max_lines),
            wrap: opts.wrap_text,
            opts,
            filter,
            shown: VecDeque::new(),
            frozen: None,
            input: None,
            message: None,
            resource: file_part(resource),
        })
    }

    /// Adds a line from kubectl.
    pub fn push(&mut self, line: String) {
        let line: Arc<str> = Arc::from(line);
        let seq = self.buffer.push(line.clone());
        if self.passes(&line) {
            self.shown.push_back((seq, line));
        }
        self.trim_shown();
    }

    fn passes(&self, line: &str) -> bool {
        self.filter.as_ref().is_none_or(|(_, re)| re.is_match(line))
    }

    /// The panel shows only kept lines, at most `max_lines` of them.
    fn trim_shown(&mut self) {
        let first = self.buffer.first_seq();
        while self
            .shown
            .front()
            .is_some_and(|(s, _)| *s < first || self.shown.len() > self.opts.max_lines)
        {
            self.shown.pop_front();
        }
    }

    fn refilter(&mut self) {
        let mut shown = VecDeque::new();
        for (seq, line) in self.buffer.iter().rev() {
            if shown.len() >= self.opts.max_lines {
                break;
            }
            if self.passes(line) {
                shown.push_front((*seq, line.clone()));
            }
        }
        self.shown = shown;
    }

    /// The panel's rows for a panel `height` rows high and `width` columns wide.
    pub fn rows(&self, height: usize, width: usize) -> Vec<String> {
        match &self.frozen {
            Some(lines) => rows(lines.iter().map(|l| &**l), height, width, self.wrap),
            None => rows(
                self.shown.iter().map(|(_, l)| &**l),
                height,
                width,
                self.wrap,
            ),
        }
    }

    /// Lines the panel holds (at most `live_display.max_lines`).
    pub fn max_lines(&self) -> usize {
        self.opts.max_lines
    }

    /// The kept lines, unfiltered, for the summary; and how many were dropped before them.
    pub fn kept(&self) -> (String, u64) {
        let mut text = String::new();
        for (_, line) in self.buffer.iter() {
            text.push_str(line);
            text.push('\n');
        }
        (text, self.buffer.dropped())
    }

    /// One line saying what was streamed, kept and shown.
    pub fn summary(&self) -> String {
        let b = &self.buffer;
        let mut out = format!("{} lines streamed", b.streamed());
        if b.dropped() > 0 {
            out.push_str(&format!(
                ", the oldest {} dropped to keep the last {} (live_display.stream_buffer_max_lines = {})",
                b.dropped(),
                b.len(),
                self.opts.buffer_max_lines
            ));
        }
        if let Some((f, re)) = &self.filter {
            let hidden = b.iter().filter(|(_, l)| !re.is_match(l)).count();
            out.push_str(&format!(
                "; filter '{f}' hid {hidden} of the {} kept",
                b.len()
            ));
        }
        out
    }

    /// The status line: a prompt being typed, a message waiting for a key, or the counters and
    /// the keys.
    pub fn status(&self, elapsed: Duration, keys: bool) -> String {
        if let Some(input) = &self.input {
            let typed = String::from_utf8_lossy(&input.text);
            let prompt = match input.prompt {
                Prompt::Save => format!("Save to [{}]: ", input.suggestion),
                Prompt::Filter => match &self.filter {
                    Some((f, _)) => format!("Filter regex (empty to clear) (current: '{f}'): "),
                    None => "Filter regex (empty to clear) (off): ".to_owned(),
                },
            };
            return format!("{prompt}{typed}");
        }
        if let Some(m) = &self.message {
            return format!("{m} Press any key to continue...");
        }
        let mut out = format!(
            "{:.1}s | {} lines",
            elapsed.as_secs_f64(),
            self.buffer.streamed()
        );
        if keys {
            out.push_str(&format!(
                " | [E]xit | [W]rap: {} | [P]ause: {} | [S]ave | [F]ilter: {}",
                if self.wrap { "on" } else { "off" },
                if self.frozen.is_some() {
                    "paused"
                } else {
                    "running"
                },
                self.filter
                    .as_ref()
                    .map_or("off".to_owned(), |(f, _)| format!("'{f}'")),
            ));
        }
        out
    }

    /// Handles one byte typed on the terminal.
    pub fn key(&mut self, byte: u8) -> KeyOutcome {
        if self.message.take().is_some() {
            // Any key dismisses a message, and is used up doing so (as the reference).
            return KeyOutcome::Redraw;
        }
        if let Some(input) = self.input.as_mut() {
            match byte {
                b'\r' | b'\n' => {
                    if let Some(input) = self.input.take() {
                        self.submit(input);
                    }
                }
                0x1b => {
                    self.input = None;
                    self.message = Some("Input cancelled.".to_owned());
                }
                0x7f | 0x08 => {
                    input.text.pop();
                    // Drop the rest of a multi-byte character.
                    while input.text.last().is_some_and(|b| b & 0xC0 == 0x80) {
                        input.text.pop();
                    }
                }
                b if b >= 0x20 && input.text.len() < 4096 => input.text.push(b),
                _ => return KeyOutcome::Nothing,
            }
            return KeyOutcome::Redraw;
        }
        match byte.to_ascii_lowercase() {
            b'e' => KeyOutcome::Exit,
            b'w' => {
                self.wrap = !self.wrap;
                KeyOutcome::Redraw
            }
            b'p' => {
                self.frozen = match self.frozen.take() {
                    Some(_) => None,
                    None => Some(self.shown.iter().map(|(_, l)| l.clone()).collect()),
                };
                KeyOutcome::Redraw
            }
            b's' => {
                self.input = Some(Input {
                    prompt: Prompt::Save,
                    text: Vec::new(),
                    suggestion: self.suggestion(),
                });
                KeyOutcome::Redraw
            }
            b'f' => {
                self.input = Some(Input {
                    prompt: Prompt::Filter,
                    text: Vec::new(),
                    suggestion: String::new(),
                });
                KeyOutcome::Redraw
            }
            _ => KeyOutcome::Nothing,
        }
    }

    fn submit(&mut self, input: Input) {
        let typed = String::from_utf8_lossy(&input.text).trim().to_owned();
        match input.prompt {
            Prompt::Save => {
                let name = if typed.is_empty() {
                    input.suggestion
                } else {
                    typed
                };
                self.message = Some(match self.save(&name) {
                    Ok(path) => format!("Saved to {}.", path.display()),
                    Err(e) => format!("Save failed: {e}."),
                });
            }
            Prompt::Filter if typed.is_empty() => {
                self.filter = None;
                self.refilter();
                self.message = Some("Filter cleared.".to_owned());
            }
            Prompt::Filter => match compile_filter(&typed) {
                Ok(re) => {
                    self.message = Some(format!("Filter set to '{typed}'."));
                    self.filter = Some((typed, re));
                    self.refilter();
                }
                Err(e) => {
                    let first = e.to_string();
                    let first = first.lines().last().unwrap_or("").trim().to_owned();
                    self.message = Some(format!("Invalid regex: {first}. Filter unchanged."));
                }
            },
        }
    }

    /// Writes the kept lines that pass the filter to `name` in `live_display.save_dir` (an
    /// absolute name is used as is), atomically and readable by the user only: logs can hold
    /// secrets.
    pub fn save(&self, name: &str) -> Result<PathBuf, vibectl_fsutil::WriteError> {
        let path = self
            .opts
            .save_dir
            .join(crate::proxy::connect::expand_home(name));
        let mut text = String::new();
        for (_, line) in self.buffer.iter() {
            if self.passes(line) {
                text.push_str(line);
                text.push('\n');
            }
        }
        vibectl_fsutil::write_atomic(&path, text, 0o600)?;
        Ok(path)
    }

    fn suggestion(&self) -> String {
        let now = time::OffsetDateTime::now_utc();
        format!(
            "vibectl_watch_{}_{:04}{:02}{:02}_{:02}{:02}{:02}.log",
            self.resource,
            now.year(),
            u8::from(now.month()),
            now.day(),
            now.hour(),
            now.minute(),
            now.second()
        )
    }
}

/// The resource as part of a file name: `/` as `_` (as the reference), and nothing that could
/// leave the directory or confuse a shell.
fn file_part(resource: &str) -> String {
    let s: String = resource
        .chars()
        .take(80)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.').to_owned();
    if s.is_empty() {
        "output".to_owned()
    } else {
        s
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn opts(
        max_lines: usize,
        buffer: usize,
        filter: Option<&str>,
        dir: &std::path::Path,
    ) -> LiveOptions {
        LiveOptions {
            max_lines,
            wrap_text: true,
            buffer_max_lines: buffer,
            filter: filter.map(str::to_owned),
            save_dir: dir.to_owned(),
        }
    }

    fn typed(v: &mut View, keys: &str) -> Vec<KeyOutcome> {
        keys.bytes().map(|b| v.key(b)).collect()
    }

    #[test]
    fn the_panel_shows_the_newest_matching_kept_lines() {
        let d = tempfile::tempdir().unwrap();
        let mut v = View::new(opts(3, 100, Some("^err"), d.path()), "pod/web").unwrap();
        for i in 0..10 {
            v.push(format!("{} {i}", if i % 2 == 0 { "err" } else { "ok" }));
        }
        assert_eq!(v.rows(10, 80), ["err 4", "err 6", "err 8"]);
        assert!(
            v.summary().contains("filter '^err' hid 5 of the 10 kept"),
            "{}",
            v.summary()
        );
        // [F]ilter with an empty answer clears it.
        typed(&mut v, "f\r");
        assert_eq!(v.rows(10, 80), ["ok 7", "err 8", "ok 9"]);
        // A bad regex leaves the filter as it was and says why.
        typed(&mut v, "xf(\r");
        assert!(
            v.status(Duration::ZERO, true).starts_with("Invalid regex"),
            "{}",
            v.status(Duration::ZERO, true)
        );
    }

    #[test]
    fn only_kept_lines_are_shown() {
        let d = tempfile::tempdir().unwrap();
        let mut v = View::new(opts(20, 2, None, d.path()), "x").unwrap();
        for i in 0..5 {
            v.push(format!("l{i}"));
        }
        assert_eq!(v.rows(20, 80), ["l3", "l4"]);
        assert!(
            v.summary().contains("the oldest 3 dropped"),
            "{}",
            v.summary()
        );
    }

    #[test]
    fn keys_wrap_pause_save_and_exit() {
        let d = tempfile::tempdir().unwrap();
        let mut v = View::new(opts(5, 3, Some("keep"), d.path()), "pod/web-1").unwrap();
        v.push("keep 1 abcdefgh".into());
        assert_eq!(v.rows(5, 8), ["keep 1 a", "bcdefgh"]);
        typed(&mut v, "w");
        assert_eq!(v.rows(5, 8), ["keep 1 …"]);
        typed(&mut v, "p");
        v.push("keep 2".into());
        assert_eq!(v.rows(5, 80), ["keep 1 abcdefgh"]);
        typed(&mut v, "p");
        assert_eq!(v.rows(5, 80), ["keep 1 abcdefgh", "keep 2"]);
        for l in ["drop", "keep 3", "keep 4"] {
            v.push(l.into());
        }
        typed(&mut v, "sout.log\r");
        assert!(
            v.status(Duration::ZERO, true).starts_with("Saved to "),
            "{}",
            v.status(Duration::ZERO, true)
        );
        let saved = std::fs::read_to_string(d.path().join("out.log")).unwrap();
        assert_eq!(saved, "keep 3\nkeep 4\n");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.path().join("out.log"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // The message takes one key; then Enter on an empty name uses the suggestion.
        assert_eq!(typed(&mut v, "x"), [KeyOutcome::Redraw]);
        typed(&mut v, "s");
        assert!(v
            .status(Duration::ZERO, true)
            .contains("[vibectl_watch_pod_web-1_"));
        typed(&mut v, "\r");
        let names: Vec<String> = std::fs::read_dir(d.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("vibectl_watch_pod_web-1_") && n.ends_with(".log")),
            "{names:?}"
        );
        assert_eq!(typed(&mut v, "xe"), [KeyOutcome::Redraw, KeyOutcome::Exit]);
    }

    #[test]
    fn hostile_resource_names_stay_in_the_directory() {
        assert_eq!(file_part("../../etc/passwd"), "_.._etc_passwd");
        assert_eq!(file_part("$(rm -rf)"), "__rm_-rf_");
        assert_eq!(file_part(""), "output");
    }
}
