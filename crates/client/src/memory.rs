//! What vibectl remembers between runs, kept where the reference keeps it: the config's
//! `memory_content` key.
use serde_yaml_ng::Value;

use crate::config::{Config, ConfigError};

/// The memory in `cfg` (empty when none).
pub fn get(cfg: &Config) -> String {
    cfg.text("memory_content").unwrap_or_default()
}

/// The memory of the config on disk (empty when none or unreadable).
pub fn load() -> String {
    Config::load().map(|c| get(&c)).unwrap_or_default()
}

/// Replaces the memory, keeping at most `max_chars` (the newest lines win), and saves.
pub fn save(cfg: &mut Config, text: &str, max_chars: usize) -> Result<(), ConfigError> {
    let text = clip_front(text.trim(), max_chars);
    let value = if text.is_empty() {
        Value::Null
    } else {
        Value::String(text)
    };
    cfg.set_value("memory_content", value);
    cfg.save()
}

/// Appends one line to the memory on disk, dropping the oldest lines beyond `max_chars`.
pub fn append(line: &str, max_chars: usize) -> Result<(), ConfigError> {
    let mut cfg = Config::load()?;
    let mut text = get(&cfg);
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line.trim());
    save(&mut cfg, &text, max_chars)
}

/// Forgets everything.
pub fn clear(cfg: &mut Config) -> Result<(), ConfigError> {
    cfg.remove("memory_content");
    cfg.save()
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

    #[test]
    fn lives_in_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::load_from(dir.path().join("config.yaml")).unwrap();
        save(&mut cfg, "we work in web", 100).unwrap();
        let again = Config::load_from(dir.path().join("config.yaml")).unwrap();
        assert_eq!(get(&again), "we work in web");
        clear(&mut cfg).unwrap();
        assert_eq!(get(&cfg), "");
    }
}
