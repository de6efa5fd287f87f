//! What vibectl remembers between runs: a short text file beside the config.
use std::path::PathBuf;

use crate::config::{config_dir, write_atomic, ConfigError};

fn path() -> Result<PathBuf, ConfigError> {
    Ok(config_dir()?.join("memory.md"))
}

/// The memory (empty when none).
pub fn load() -> String {
    path()
        .ok()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
}

/// Replaces the memory, keeping at most `max_chars` (the newest lines win).
pub fn save(text: &str, max_chars: usize) -> Result<(), ConfigError> {
    write_atomic(
        &path()?,
        clip_front(text.trim(), max_chars).as_bytes(),
        0o600,
    )
}

/// Appends one line, dropping the oldest lines beyond `max_chars`.
pub fn append(line: &str, max_chars: usize) -> Result<(), ConfigError> {
    let mut text = load();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line.trim());
    save(&text, max_chars)
}

/// Forgets everything.
pub fn clear() -> Result<(), ConfigError> {
    match std::fs::remove_file(path()?) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(ConfigError::Io {
            path: path()?,
            source: e,
        }),
        _ => Ok(()),
    }
}

fn clip_front(text: &str, max_chars: usize) -> String {
    let n = text.chars().count();
    if n <= max_chars {
        return text.to_owned();
    }
    let tail: String = text.chars().skip(n - max_chars).collect();
    // Start at a line boundary when there is one.
    match tail.find('\n') {
        Some(i) => tail[i + 1..].to_owned(),
        None => tail,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn keeps_newest_lines() {
        assert_eq!(clip_front("one\ntwo\nthree", 9), "three");
        assert_eq!(clip_front("short", 100), "short");
    }
}
