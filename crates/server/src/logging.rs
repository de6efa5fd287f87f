//! Structured logs on stderr: human lines by default, JSON lines on request.
use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG`, when set, wins over `level`.
pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new(format!(
            "{level},h2=warn,hyper=warn,tower=warn,reqwest=warn"
        ))
    });
    // Colour only for a person at a terminal: not in files, journald or pipes, and never with NO_COLOR.
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .with_target(false);
    let _ = match format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// A `--log-level` or `server.log_level` that names no level.
#[derive(Debug, thiserror::Error)]
#[error(
    "log level `{0}` is not one of DEBUG, INFO, WARNING, ERROR (the reference's names, any case) \
     or trace, warn: set --log-level or server.log_level to one of them"
)]
pub struct LevelError(pub String);

/// The tracing level for a level name: the reference's DEBUG, INFO, WARNING, ERROR (any case),
/// and trace, warn.
pub fn normalise_level(name: &str) -> Result<&'static str, LevelError> {
    Ok(match name.trim().to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        "error" | "critical" => "error",
        _ => return Err(LevelError(name.to_owned())),
    })
}
