//! The live display of long-running kubectl commands (`logs -f`, `get -w`, `events -w`, `wait`,
//! `port-forward`), as the reference's watch display: a panel of the newest `live_display.max_lines`
//! lines that pass `live_display.default_filter_regex`, wrapped or cut (`live_display.wrap_text`),
//! over a bounded buffer of kept lines (`live_display.stream_buffer_max_lines`, oldest dropped and
//! counted), and on a terminal the reference's keys: [E]xit, [W]rap, [P]ause, [S]ave (to
//! `live_display.save_dir`), [F]ilter.
pub mod term;
mod view;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;

use serde_yaml_ng::Value;

use crate::config::{Config, ConfigError};
pub use view::{KeyOutcome, View};

/// Longest line kept, in bytes; the rest of a longer line is cut (and the cut marked), so one
/// endless line cannot exhaust memory.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Most bytes the buffer keeps whatever `live_display.stream_buffer_max_lines` says; the
/// oldest lines are dropped (and counted) beyond it.
pub const MAX_BUFFER_BYTES: usize = 64 * 1024 * 1024;
/// What one kept line costs beyond its text (its allocation and bookkeeping), so a flood of
/// empty lines is bounded too.
const LINE_OVERHEAD: usize = 48;
/// Compiled size allowed to a filter regex: a pathological pattern is refused, not built.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// The `live_display.*` settings of one run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveOptions {
    /// Lines shown in the panel (`live_display.max_lines`).
    pub max_lines: usize,
    /// Wrap long lines instead of cutting them (`live_display.wrap_text`).
    pub wrap_text: bool,
    /// Lines kept for saving and the summary (`live_display.stream_buffer_max_lines`).
    pub buffer_max_lines: usize,
    /// Only lines matching this regex are shown and saved (`live_display.default_filter_regex`).
    pub filter: Option<String>,
    /// Where [S]ave writes (`live_display.save_dir`, `~` expanded).
    pub save_dir: PathBuf,
}

impl LiveOptions {
    /// From the config (its values were checked against the schema when it was loaded).
    pub fn from_config(cfg: &Config) -> Result<LiveOptions, ConfigError> {
        let int = |key: &str| -> Result<usize, ConfigError> {
            Ok(usize::try_from(cfg.get(key)?.as_i64().unwrap_or(1).max(1)).unwrap_or(1))
        };
        let text = |key: &str| -> Result<Option<String>, ConfigError> {
            Ok(cfg.get(key)?.as_str().map(str::to_owned))
        };
        Ok(LiveOptions {
            max_lines: int("live_display.max_lines")?,
            wrap_text: matches!(cfg.get("live_display.wrap_text")?, Value::Bool(true)),
            buffer_max_lines: int("live_display.stream_buffer_max_lines")?,
            filter: text("live_display.default_filter_regex")?.filter(|f| !f.is_empty()),
            save_dir: crate::proxy::connect::expand_home(
                &text("live_display.save_dir")?.unwrap_or_else(|| ".".to_owned()),
            ),
        })
    }
}

/// Compiles a filter as the config check and the [F]ilter key do: Rust regex syntax, searched
/// anywhere in the line (as the reference's `re.search`), compiled size bounded.
pub fn compile_filter(pattern: &str) -> Result<regex::Regex, regex::Error> {
    regex::RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
}

/// The kept lines, oldest first, bounded by count and bytes; every line gets a sequence number.
#[derive(Debug)]
pub struct Buffer {
    lines: VecDeque<(u64, Arc<str>)>,
    max_lines: usize,
    bytes: usize,
    streamed: u64,
    dropped: u64,
}

impl Buffer {
    /// An empty buffer keeping at most `max_lines` lines.
    pub fn new(max_lines: usize) -> Buffer {
        Buffer {
            lines: VecDeque::new(),
            max_lines: max_lines.max(1),
            bytes: 0,
            streamed: 0,
            dropped: 0,
        }
    }

    /// Keeps `line`, dropping the oldest lines beyond the bounds; returns its sequence number.
    pub fn push(&mut self, line: Arc<str>) -> u64 {
        let seq = self.streamed;
        self.streamed += 1;
        self.bytes += line.len() + LINE_OVERHEAD;
        self.lines.push_back((seq, line));
        while self.lines.len() > 1
            && (self.lines.len() > self.max_lines || self.bytes > MAX_BUFFER_BYTES)
        {
            if let Some((_, old)) = self.lines.pop_front() {
                self.bytes -= old.len() + LINE_OVERHEAD;
                self.dropped += 1;
            }
        }
        seq
    }

    /// The kept lines with their sequence numbers, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &(u64, Arc<str>)> {
        self.lines.iter()
    }

    /// The sequence number of the oldest kept line.
    pub fn first_seq(&self) -> u64 {
        self.lines.front().map_or(self.streamed, |(s, _)| *s)
    }

    /// Lines received in all.
    pub fn streamed(&self) -> u64 {
        self.streamed
    }

    /// Lines dropped to stay within the bounds.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Lines kept.
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

/// Cuts a line read from kubectl to [`MAX_LINE_BYTES`] (on a character boundary), saying so.
pub fn bounded_line(bytes: &[u8], cut: usize) -> String {
    let text = String::from_utf8_lossy(bytes);
    let text = text.trim_end_matches(['\n', '\r']);
    if cut == 0 {
        return text.to_owned();
    }
    format!("{text} … [{cut} more bytes of this line not kept]")
}

/// The rows of a panel `height` rows high and `width` columns wide that show the newest of
/// `lines` (oldest first): each line wrapped onto several rows, or cut to one row with `…`.
pub fn rows<'a>(
    lines: impl DoubleEndedIterator<Item = &'a str>,
    height: usize,
    width: usize,
    wrap: bool,
) -> Vec<String> {
    let width = width.max(2);
    let mut out: Vec<String> = Vec::new();
    for line in lines.rev() {
        if out.len() >= height {
            break;
        }
        let chars: Vec<char> = expand_tabs(line).chars().collect();
        let pieces: Vec<String> = if chars.len() <= width {
            vec![chars.iter().collect()]
        } else if wrap {
            chars.chunks(width).map(|c| c.iter().collect()).collect()
        } else {
            let mut s: String = chars[..width - 1].iter().collect();
            s.push('…');
            vec![s]
        };
        for piece in pieces.into_iter().rev() {
            if out.len() >= height {
                break;
            }
            out.push(piece);
        }
    }
    out.reverse();
    out
}

fn expand_tabs(line: &str) -> String {
    if !line.contains('\t') {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len() + 8);
    let mut col = 0usize;
    for c in line.chars() {
        if c == '\t' {
            let n = 8 - col % 8;
            out.extend(std::iter::repeat_n(' ', n));
            col += n;
        } else {
            out.push(c);
            col += 1;
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_keeps_the_newest_and_counts_what_it_drops() {
        let mut b = Buffer::new(3);
        for i in 0..10 {
            b.push(Arc::from(format!("line {i}")));
        }
        let kept: Vec<&str> = b.iter().map(|(_, l)| &**l).collect();
        assert_eq!(kept, ["line 7", "line 8", "line 9"]);
        assert_eq!((b.streamed(), b.dropped(), b.first_seq()), (10, 7, 7));
    }

    #[test]
    fn the_buffer_is_bounded_in_bytes_too() {
        let mut b = Buffer::new(1_000_000);
        let big: Arc<str> = Arc::from("x".repeat(MAX_LINE_BYTES));
        for _ in 0..(MAX_BUFFER_BYTES / MAX_LINE_BYTES + 50) {
            b.push(big.clone());
        }
        assert!(b.bytes <= MAX_BUFFER_BYTES, "{}", b.bytes);
        assert!(b.dropped() >= 50);
    }

    #[test]
    fn rows_show_the_newest_lines_wrapped_or_cut() {
        let lines = ["one", "two", "three", "abcdefghij"];
        assert_eq!(
            rows(lines.iter().copied(), 2, 20, true),
            ["three", "abcdefghij"]
        );
        assert_eq!(
            rows(lines.iter().copied(), 3, 4, true),
            ["abcd", "efgh", "ij"]
        );
        assert_eq!(rows(lines.iter().copied(), 2, 4, false), ["thr…", "abc…"]);
        assert_eq!(rows(["a\tb"].into_iter(), 1, 20, true), ["a       b"]);
    }

    #[test]
    fn filters_are_bounded_and_errors_say_why() {
        assert!(compile_filter("err(or)?").unwrap().is_match("an error"));
        assert!(compile_filter("(").is_err());
        // A pattern whose compiled form would be huge is refused, not built.
        assert!(compile_filter("(\\w{1000}){1000}").is_err());
    }

    #[test]
    fn long_lines_are_cut_with_a_mark() {
        assert_eq!(bounded_line(b"abc\r\n", 0), "abc");
        assert!(bounded_line(b"abc", 10).ends_with("[10 more bytes of this line not kept]"));
    }
}
