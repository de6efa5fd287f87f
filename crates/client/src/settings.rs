//! The settings of one run, typed and built once from the config file, the command line and
//! the environment, so that no code reads a setting by a string key (a mistyped key fails the
//! build of this struct, and its test, instead of silently reading as false).
use serde_yaml_ng::Value;

use crate::config::{Config, ConfigError};

/// `--show-metrics` / `display.show_metrics`: which LLM metrics are printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsMode {
    /// None.
    #[default]
    None,
    /// One total line per command.
    Total,
    /// One line per LLM call.
    Sub,
    /// Both.
    All,
}

impl MetricsMode {
    /// From the reference's words (case-insensitive).
    pub fn parse(s: &str) -> Option<MetricsMode> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "false" => Some(MetricsMode::None),
            "total" => Some(MetricsMode::Total),
            "sub" => Some(MetricsMode::Sub),
            "all" | "true" => Some(MetricsMode::All),
            _ => None,
        }
    }

    /// Print a line per call.
    pub fn per_call(self) -> bool {
        matches!(self, MetricsMode::Sub | MetricsMode::All)
    }

    /// Print the command's total.
    pub fn total(self) -> bool {
        matches!(self, MetricsMode::Total | MetricsMode::All)
    }
}

/// `--mode` / `security.confirmation_mode`: when vibectl asks before it runs a command.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Ask before commands that change the cluster (confirmation_mode per-command).
    #[default]
    Manual,
    /// Never ask; refused commands stay refused (confirmation_mode none).
    Auto,
    /// Ask at every step, with an exit choice (confirmation_mode per-session).
    Semiauto,
}

impl Mode {
    /// From a mode name or a confirmation_mode word, as the reference maps them.
    pub fn parse(s: &str) -> Option<Mode> {
        match s.to_ascii_lowercase().as_str() {
            "manual" | "per-command" => Some(Mode::Manual),
            "auto" | "none" => Some(Mode::Auto),
            "semiauto" | "per-session" => Some(Mode::Semiauto),
            _ => None,
        }
    }
}

/// `--log-level` / `system.log_level` / `VIBECTL_LOG_LEVEL`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum LogLevel {
    /// Every LLM call and kubectl argv on stderr.
    Debug,
    /// Progress notes.
    Info,
    /// Warnings (the default).
    #[default]
    Warning,
    /// Errors only.
    Error,
    /// Errors only.
    Critical,
}

impl LogLevel {
    fn parse(s: &str) -> Option<LogLevel> {
        match s.to_ascii_uppercase().as_str() {
            "DEBUG" => Some(LogLevel::Debug),
            "INFO" => Some(LogLevel::Info),
            "WARNING" | "WARN" => Some(LogLevel::Warning),
            "ERROR" => Some(LogLevel::Error),
            "CRITICAL" => Some(LogLevel::Critical),
            _ => None,
        }
    }
}

/// The themes `theme set` accepts (the reference's names).
pub const THEMES: &[&str] = &["default", "dark", "light", "accessible"];

/// What the command line asked for; `None` leaves the config's value.
#[derive(Clone, Copy, Debug, Default)]
pub struct Overrides {
    /// `--show-vibe` / `--no-show-vibe`.
    pub show_vibe: Option<bool>,
    /// `--show-kubectl` / `--no-show-kubectl`.
    pub show_kubectl: Option<bool>,
    /// `--show-streaming` / `--no-show-streaming`.
    pub show_streaming: Option<bool>,
    /// `--show-raw-output` / `--no-show-raw-output`.
    pub show_raw_output: Option<bool>,
    /// `--show-metrics`.
    pub show_metrics: Option<MetricsMode>,
    /// `--freeze-memory` (true) / `--unfreeze-memory` (false).
    pub memory_frozen: Option<bool>,
    /// `--mode` (or `--yes`, which is auto).
    pub mode: Option<Mode>,
    /// `--log-level` / `--verbose`.
    pub log_level: Option<LogLevel>,
}

/// Every setting a command reads, resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Print the model's summary (`display.show_vibe`); off: kubectl output only, no model call.
    pub show_vibe: bool,
    /// Print each kubectl command before it runs (`display.show_kubectl`).
    pub show_kubectl: bool,
    /// Print kubectl's output before the summary (`display.show_raw_output`).
    pub show_raw_output: bool,
    /// Stream summaries (`display.stream` and `display.show_streaming`).
    pub show_streaming: bool,
    /// Which metrics to print (`display.show_metrics`).
    pub show_metrics: MetricsMode,
    /// Print the memory's size after it changes (`display.show_memory`).
    pub show_memory: bool,
    /// Print `step N of M` in auto and semiauto (`display.show_iterations`).
    pub show_iterations: bool,
    /// Colour theme (`display.theme`).
    pub theme: String,
    /// Update memory after commands (`memory.enabled`, `--freeze-memory`, `--unfreeze-memory`).
    pub memory_enabled: bool,
    /// Largest memory kept, in characters (`memory.max_chars`).
    pub memory_max_chars: usize,
    /// Added to every prompt (`system.custom_instructions`).
    pub custom_instructions: Option<String>,
    /// Diagnostics level.
    pub log_level: LogLevel,
    /// Confirmation mode, by the reference's precedence.
    pub mode: Mode,
    /// Whether `--mode` or a confirmation_mode in the config chose `mode`; when not, the
    /// semiauto command's own context applies (the reference's third rule).
    pub mode_chosen: bool,
    /// Read-only steps `check` may take (`features.check_max_iterations`).
    pub check_max_iterations: u32,
    /// `apply vibe` drafts a manifest and shows the diff (`features.intelligent_apply`).
    pub intelligent_apply: bool,
    /// `edit vibe` drafts a patch and shows the diff (`features.intelligent_edit`).
    pub intelligent_edit: bool,
    /// Corrective re-plans after an invalid plan (`features.max_correction_retries`).
    pub max_correction_retries: u32,
    /// Plugin ids in the order they are consulted (`plugins.precedence`).
    pub plugin_precedence: Vec<String>,
    /// The live display of wait, port-forward, logs -f, get -w and events -w (`live_display.*`).
    pub live: crate::display::LiveOptions,
}

impl Settings {
    /// Resolves every setting: command line over environment over the profile over the config
    /// file over the defaults. `profile` is the proxy profile in use, if any.
    pub fn resolve(
        cfg: &Config,
        profile: Option<&str>,
        o: &Overrides,
    ) -> Result<Settings, ConfigError> {
        let mode_from_config = profile
            .and_then(|p| {
                cfg.stored(&format!("proxy.profiles.{p}.security.confirmation_mode"))
                    .and_then(|v| v.as_str().and_then(Mode::parse))
            })
            .or_else(|| {
                cfg.stored("security.confirmation_mode")
                    .and_then(|v| v.as_str().and_then(Mode::parse))
            });
        let env_level = std::env::var("VIBECTL_LOG_LEVEL")
            .ok()
            .and_then(|l| LogLevel::parse(&l));
        let metrics = match cfg.get("display.show_metrics")? {
            Value::Bool(true) => MetricsMode::All,
            Value::String(s) => MetricsMode::parse(&s).unwrap_or_default(),
            _ => MetricsMode::None,
        };
        let frozen = o.memory_frozen.unwrap_or(!bool_at(cfg, "memory.enabled")?);
        Ok(Settings {
            show_vibe: o.show_vibe.unwrap_or(bool_at(cfg, "display.show_vibe")?),
            show_kubectl: o
                .show_kubectl
                .unwrap_or(bool_at(cfg, "display.show_kubectl")?),
            show_raw_output: o
                .show_raw_output
                .unwrap_or(bool_at(cfg, "display.show_raw_output")?),
            show_streaming: o.show_streaming.unwrap_or(
                bool_at(cfg, "display.stream")? && bool_at(cfg, "display.show_streaming")?,
            ),
            show_metrics: o.show_metrics.unwrap_or(metrics),
            show_memory: bool_at(cfg, "display.show_memory")?,
            show_iterations: bool_at(cfg, "display.show_iterations")?,
            theme: text_at(cfg, "display.theme")?.unwrap_or_else(|| "default".into()),
            memory_enabled: !frozen,
            memory_max_chars: usize::try_from(int_at(cfg, "memory.max_chars")?).unwrap_or(1500),
            custom_instructions: text_at(cfg, "system.custom_instructions")?
                .filter(|s| !s.trim().is_empty()),
            log_level: o
                .log_level
                .or(env_level)
                .or_else(|| {
                    text_at(cfg, "system.log_level")
                        .ok()
                        .flatten()
                        .and_then(|l| LogLevel::parse(&l))
                })
                .unwrap_or_default(),
            mode: o.mode.or(mode_from_config).unwrap_or_default(),
            mode_chosen: o.mode.is_some() || mode_from_config.is_some(),
            check_max_iterations: u32::try_from(int_at(cfg, "features.check_max_iterations")?)
                .unwrap_or(10),
            intelligent_apply: bool_at(cfg, "features.intelligent_apply")?,
            intelligent_edit: bool_at(cfg, "features.intelligent_edit")?,
            max_correction_retries: u32::try_from(int_at(cfg, "features.max_correction_retries")?)
                .unwrap_or(1),
            plugin_precedence: match cfg.get("plugins.precedence")? {
                Value::Sequence(s) => s
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect(),
                _ => Vec::new(),
            },
            live: crate::display::LiveOptions::from_config(cfg)?,
        })
    }

    /// `--log-level DEBUG` (or `--verbose`): LLM calls and kubectl argv on stderr.
    pub fn debug(&self) -> bool {
        self.log_level == LogLevel::Debug
    }
}

fn bool_at(cfg: &Config, key: &str) -> Result<bool, ConfigError> {
    Ok(matches!(cfg.get(key)?, Value::Bool(true)))
}

fn int_at(cfg: &Config, key: &str) -> Result<i64, ConfigError> {
    Ok(cfg.get(key)?.as_i64().unwrap_or(0))
}

fn text_at(cfg: &Config, key: &str) -> Result<Option<String>, ConfigError> {
    Ok(cfg.get(key)?.as_str().map(str::to_owned))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cfg(yaml: &str) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).unwrap();
        let c = Config::load_from(path).unwrap();
        (dir, c)
    }

    #[test]
    fn defaults_resolve_from_the_schema_so_every_key_read_exists() {
        // `resolve` reads each key through `Config::get`, which fails on a key that is not in
        // the schema: a mistyped key is this test failing, not a silent false.
        let (_d, c) = cfg("");
        let s = Settings::resolve(&c, None, &Overrides::default()).unwrap();
        assert!(s.show_vibe && s.show_kubectl && s.show_streaming && s.memory_enabled);
        assert!(!s.show_raw_output);
        assert_eq!(s.show_metrics, MetricsMode::None);
        assert_eq!(s.mode, Mode::Manual);
        assert_eq!(s.check_max_iterations, 10);
        assert_eq!(s.memory_max_chars, 1500);
        assert_eq!(
            s.live,
            crate::display::LiveOptions {
                max_lines: 20,
                wrap_text: true,
                buffer_max_lines: 100_000,
                filter: None,
                save_dir: ".".into(),
            }
        );
    }

    #[test]
    fn command_line_beats_profile_beats_global_config() {
        let yaml = "security:\n  confirmation_mode: none\nproxy:\n  profiles:\n    p:\n      server_url: vibectl-server://h:443\n      security:\n        confirmation_mode: per-session\ndisplay:\n  show_metrics: total\n  show_vibe: false\nmemory:\n  enabled: false\n";
        let (_d, c) = cfg(yaml);
        let s = Settings::resolve(&c, None, &Overrides::default()).unwrap();
        assert_eq!(s.mode, Mode::Auto);
        assert_eq!(s.show_metrics, MetricsMode::Total);
        assert!(!s.show_vibe && !s.memory_enabled);
        let s = Settings::resolve(&c, Some("p"), &Overrides::default()).unwrap();
        assert_eq!(s.mode, Mode::Semiauto);
        let o = Overrides {
            mode: Some(Mode::Manual),
            show_vibe: Some(true),
            memory_frozen: Some(false),
            show_metrics: Some(MetricsMode::Sub),
            ..Overrides::default()
        };
        let s = Settings::resolve(&c, Some("p"), &o).unwrap();
        assert_eq!(s.mode, Mode::Manual);
        assert!(s.show_vibe && s.memory_enabled);
        assert_eq!(s.show_metrics, MetricsMode::Sub);
    }

    #[test]
    fn words_map_as_the_reference_maps_them() {
        assert_eq!(Mode::parse("per-command"), Some(Mode::Manual));
        assert_eq!(Mode::parse("NONE"), Some(Mode::Auto));
        assert_eq!(Mode::parse("per-session"), Some(Mode::Semiauto));
        assert_eq!(Mode::parse("sometimes"), None);
        assert_eq!(MetricsMode::parse("ALL"), Some(MetricsMode::All));
        assert!(MetricsMode::All.per_call() && MetricsMode::All.total());
        assert!(!MetricsMode::Total.per_call());
    }
}
