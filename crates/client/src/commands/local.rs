//! Commands that only touch local files: memory, instructions, theme, plugin, config info.
use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};

use crate::cli::{
    InstructionsCommand, MemoryCommand, PluginCommand, PrecedenceCommand, ThemeCommand,
};
use crate::config::Config;
use crate::outln;
use crate::settings::THEMES;

/// Largest text read from stdin or an editor for memory and instructions.
const MAX_TEXT: u64 = 64 * 1024;

/// Text from stdin when it is not a terminal (`echo ... | vibectl memory set`).
fn piped_stdin() -> Result<Option<String>> {
    if std::io::stdin().is_terminal() {
        return Ok(None);
    }
    let mut text = String::new();
    std::io::stdin()
        .take(MAX_TEXT)
        .read_to_string(&mut text)
        .context("reading stdin")?;
    Ok(Some(text).filter(|t| !t.trim().is_empty()))
}

/// Opens $VISUAL / $EDITOR on `initial`; `None` when the editor failed or saved nothing new.
fn edit(initial: &str) -> Result<Option<String>> {
    let editor = std::env::var("VISUAL")
        .or_else(|_| std::env::var("EDITOR"))
        .unwrap_or_else(|_| "vi".into());
    let dir = tempfile_dir()?;
    let path = dir.join(format!("vibectl-edit-{}.txt", std::process::id()));
    vibectl_fsutil::write_atomic(&path, initial, 0o600)?;
    // The editor may be a command with arguments (`code --wait`); no shell is involved.
    let mut parts = editor.split_whitespace();
    let program = parts.next().unwrap_or("vi");
    let status = std::process::Command::new(program)
        .args(parts)
        .arg(&path)
        .status()
        .with_context(|| format!("starting the editor `{editor}` (set VISUAL or EDITOR)"))?;
    let mut text = String::new();
    let read = std::fs::File::open(&path).and_then(|f| f.take(MAX_TEXT).read_to_string(&mut text));
    let _ = std::fs::remove_file(&path);
    read.context("reading the edited text")?;
    Ok((status.success() && text != initial).then_some(text))
}

fn tempfile_dir() -> Result<std::path::PathBuf> {
    let d = crate::config::config_dir()?;
    std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    Ok(d)
}

/// `vibectl memory ...` (all but `update`, which calls a model).
pub fn memory(cmd: MemoryCommand) -> Result<ExitCode> {
    let mut cfg = Config::load()?;
    let max = match cfg.get("memory.max_chars")?.as_i64() {
        Some(n) => usize::try_from(n).unwrap_or(1500),
        None => 1500,
    };
    match cmd {
        MemoryCommand::Show => {
            let m = crate::memory::get(&cfg);
            if m.trim().is_empty() {
                outln!("Memory is empty. Use 'vibectl memory set' to add content.");
            } else {
                outln!("{}", m.trim_end());
            }
        }
        MemoryCommand::Set { text, edit: true } if text.is_empty() => {
            match edit(&crate::memory::get(&cfg))? {
                Some(t) => {
                    crate::memory::save(&mut cfg, &t, max)?;
                    outln!("Memory updated from editor");
                }
                None => outln!("Memory update cancelled"),
            }
        }
        MemoryCommand::Set { text, edit: _ } => {
            let text = if text.is_empty() {
                match piped_stdin()? {
                    Some(t) => t,
                    None => bail!("no text given\n  use: vibectl memory set TEXT, --edit, or pipe the text on stdin"),
                }
            } else {
                text.join(" ")
            };
            crate::memory::save(&mut cfg, &text, max)?;
            outln!("Memory set");
        }
        MemoryCommand::Freeze => {
            cfg.set("memory.enabled", "false")?;
            cfg.save()?;
            outln!("Memory updates frozen (disabled)");
        }
        MemoryCommand::Unfreeze => {
            cfg.set("memory.enabled", "true")?;
            cfg.save()?;
            outln!("Memory updates unfrozen (enabled)");
        }
        MemoryCommand::Clear => {
            crate::memory::clear(&mut cfg)?;
            outln!("Memory content cleared");
        }
        MemoryCommand::Update { .. } => bail!("internal: memory update needs a model"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `vibectl instructions ...`.
pub fn instructions(cmd: InstructionsCommand) -> Result<ExitCode> {
    let mut cfg = Config::load()?;
    const KEY: &str = "system.custom_instructions";
    match cmd {
        InstructionsCommand::Set { text, edit: true } if text.is_none() => {
            let current = cfg.get(KEY)?.as_str().unwrap_or("").to_owned();
            match edit(&current)? {
                Some(t) => {
                    cfg.set_value(KEY, t.trim().to_owned().into());
                    cfg.save()?;
                    outln!("Custom instructions set successfully.");
                }
                None => outln!("Instructions not changed."),
            }
        }
        InstructionsCommand::Set { text, edit: _ } => {
            let text = match text.filter(|t| !t.trim().is_empty()) {
                Some(t) => t,
                None => match piped_stdin()? {
                    Some(t) => t,
                    None => bail!("no instructions given\n  use: vibectl instructions set TEXT, --edit, or pipe them on stdin"),
                },
            };
            cfg.set_value(KEY, text.trim().to_owned().into());
            cfg.save()?;
            outln!("Custom instructions set successfully.");
        }
        InstructionsCommand::Show => match cfg.get(KEY)?.as_str().filter(|s| !s.is_empty()) {
            Some(t) => outln!("Custom instructions:\n{t}"),
            None => outln!("No custom instructions set"),
        },
        InstructionsCommand::Clear => {
            cfg.remove(KEY);
            cfg.save()?;
            outln!("Custom instructions cleared.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `vibectl theme ...`.
pub fn theme(cmd: ThemeCommand) -> Result<ExitCode> {
    match cmd {
        ThemeCommand::List => {
            outln!("Available themes:");
            for t in THEMES {
                outln!("  - {t}");
            }
        }
        ThemeCommand::Set { name } => {
            if !THEMES.contains(&name.as_str()) {
                bail!(
                    "Invalid theme '{name}'. Available themes: {}",
                    THEMES.join(", ")
                );
            }
            let mut cfg = Config::load()?;
            cfg.set("display.theme", &name)?;
            cfg.save()?;
            outln!("Theme set to '{name}'.");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn precedence(cfg: &Config) -> Result<Vec<String>> {
    Ok(match cfg.get("plugins.precedence")? {
        serde_yaml_ng::Value::Sequence(s) => s
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    })
}

fn save_precedence(cfg: &mut Config, list: &[String]) -> Result<()> {
    let seq = list
        .iter()
        .map(|s| serde_yaml_ng::Value::String(s.clone()))
        .collect();
    cfg.set_value("plugins.precedence", serde_yaml_ng::Value::Sequence(seq));
    cfg.save()?;
    Ok(())
}

/// Says which of a plugin's mappings no step here uses, rather than dropping them silently.
fn warn_unused(cfg: &Config, p: &crate::plugins::Plugin) {
    let unused = p.unused_mappings();
    if unused.is_empty() {
        return;
    }
    crate::ui::Ui::new(cfg).warn(&format!(
        "plugin {} maps {}, which no step of this vibectl uses (its intelligent edit and apply \
         draft in one step); those mappings have no effect",
        p.plugin_metadata.name,
        unused
            .iter()
            .map(|k| format!("`{k}`"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
}

/// `vibectl plugin ...`.
pub fn plugin(cmd: PluginCommand) -> Result<ExitCode> {
    use crate::plugins;
    let mut cfg = Config::load()?;
    match cmd {
        PluginCommand::Install {
            path,
            force,
            precedence: place,
        } => {
            let p = plugins::install(std::path::Path::new(&path), force)?;
            let name = p.plugin_metadata.name.clone();
            outln!(
                "Installed plugin {name} {} ({} prompt mappings)",
                p.plugin_metadata.version,
                p.prompt_mappings.len()
            );
            warn_unused(&cfg, &p);
            if let Some(place) = place {
                let mut list = precedence(&cfg)?;
                list.retain(|n| n != &name);
                match place.as_str() {
                    "first" => list.insert(0, name),
                    "last" => list.push(name),
                    other => bail!("--precedence takes first or last, not `{other}`"),
                }
                save_precedence(&mut cfg, &list)?;
            }
        }
        PluginCommand::List => {
            let all = plugins::installed();
            if all.is_empty() {
                outln!("No plugins installed.");
            }
            for p in all {
                let m = &p.plugin_metadata;
                let keys: Vec<&str> = p.prompt_mappings.keys().map(String::as_str).collect();
                outln!(
                    "{} {}  {}  [{}]",
                    m.name,
                    m.version,
                    m.description,
                    keys.join(", ")
                );
            }
        }
        PluginCommand::Uninstall { id } => {
            plugins::uninstall(&id)?;
            let mut list = precedence(&cfg)?;
            if list.iter().any(|n| n == &id) {
                list.retain(|n| n != &id);
                save_precedence(&mut cfg, &list)?;
            }
            outln!("Uninstalled plugin {id}");
        }
        PluginCommand::Update { id, path } => {
            let new = plugins::Plugin::read(std::path::Path::new(&path))?;
            if new.plugin_metadata.name != id {
                bail!(
                    "{path} is plugin `{}`, not `{id}`",
                    new.plugin_metadata.name
                );
            }
            if !plugins::installed()
                .iter()
                .any(|p| p.plugin_metadata.name == id)
            {
                return Err(plugins::PluginError::NotFound(id).into());
            }
            let p = plugins::install(std::path::Path::new(&path), true)?;
            outln!("Updated plugin {id} to {}", p.plugin_metadata.version);
            warn_unused(&cfg, &p);
        }
        PluginCommand::Precedence(cmd) => {
            let mut list = precedence(&cfg)?;
            match cmd {
                PrecedenceCommand::List => {
                    if list.is_empty() {
                        outln!(
                            "No plugin precedence set (installed plugins are consulted by name)."
                        );
                    }
                    for (i, n) in list.iter().enumerate() {
                        outln!("{}. {n}", i + 1);
                    }
                }
                PrecedenceCommand::Set { plugins: names } => {
                    save_precedence(&mut cfg, &names)?;
                    outln!("Plugin precedence: {}", names.join(", "));
                }
                PrecedenceCommand::Add { plugin, position } => {
                    list.retain(|n| n != &plugin);
                    let at = position.map_or(list.len(), |p| p.saturating_sub(1).min(list.len()));
                    list.insert(at, plugin.clone());
                    save_precedence(&mut cfg, &list)?;
                    outln!("Added {plugin} at position {}", at + 1);
                }
                PrecedenceCommand::Remove { plugin } => {
                    if !list.iter().any(|n| n == &plugin) {
                        bail!("{plugin} is not in plugins.precedence; see: vibectl plugin precedence list");
                    }
                    list.retain(|n| n != &plugin);
                    save_precedence(&mut cfg, &list)?;
                    outln!("Removed {plugin} from the precedence list");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `vibectl config info`.
pub fn config_info() -> Result<ExitCode> {
    let dir = crate::config::config_dir()?;
    let file = dir.join("config.yaml");
    outln!("Configuration file: {}", file.display());
    match std::fs::metadata(&file) {
        Ok(m) => {
            outln!("File exists: Yes");
            if let Ok(t) = m.modified() {
                let t = time::OffsetDateTime::from(t);
                outln!(
                    "Last modified: {:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                    t.year(),
                    u8::from(t.month()),
                    t.day(),
                    t.hour(),
                    t.minute(),
                    t.second()
                );
            }
            outln!("File size: {} bytes", m.len());
        }
        Err(_) => outln!("File exists: No"),
    }
    outln!("Config directory: {}", dir.display());
    Ok(ExitCode::SUCCESS)
}
