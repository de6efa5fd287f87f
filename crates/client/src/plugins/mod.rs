//! Prompt plugins in the reference's file format: a JSON file with `plugin_metadata` (name,
//! version, description, author, compatible_vibectl_versions, created_at) and `prompt_mappings`
//! (prompt key such as `get_resource_summary` or `vibe_plan` → description, focus_points,
//! example_format, examples, ...). Installed as `~/.config/vibectl/plugins/NAME-VERSION.json`,
//! validated before use, consulted in `plugins.precedence` order; the first plugin mapping a
//! prompt key replaces that prompt's built-in parts (vibe/prompts.rs builds the replacement).
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

mod mapping;
use mapping::given;
pub use mapping::Mapping;

/// The reference version whose plugins we accept (`compatible_vibectl_versions` is checked
/// against it).
pub const COMPATIBLE_VERSION: &str = "0.11.6";

/// Largest plugin file read.
const MAX_PLUGIN_BYTES: u64 = 1 << 20;

/// What makes a plugin's content invalid (the reference's checks), in words for the user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidPlugin(pub String);

/// A plugin problem, naming the file or plugin and the fix.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not a valid plugin.
    #[error("{path}: not a valid vibectl plugin: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Installing over an existing plugin without --force.
    #[error("plugin `{0}` is already installed; replace it with --force or `vibectl plugin update {0} FILE`")]
    Exists(String),
    /// No such plugin.
    #[error("plugin `{0}` is not installed; see `vibectl plugin list`")]
    NotFound(String),
    /// The installed copy could not be written.
    #[error(transparent)]
    Write(#[from] vibectl_fsutil::WriteError),
    /// No home directory.
    #[error("cannot find the plugins directory: set HOME")]
    NoHome,
}

/// `plugin_metadata`: all six fields are required, as the reference's dataclass requires them.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Metadata {
    /// The plugin's id.
    pub name: String,
    /// Its version.
    pub version: String,
    /// What it does.
    pub description: String,
    /// Who wrote it.
    pub author: String,
    /// Version requirement such as `>=0.11.0,<1.0.0`.
    pub compatible_vibectl_versions: String,
    /// When it was made.
    pub created_at: String,
}

/// One plugin file.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Plugin {
    /// Who and what.
    pub plugin_metadata: Metadata,
    /// Prompt key → mapping.
    pub prompt_mappings: Map<String, Value>,
}

impl Plugin {
    /// Reads and validates a plugin file (the reference's rules).
    pub fn read(path: &Path) -> Result<Plugin, PluginError> {
        let io = |source| PluginError::Io {
            path: path.to_owned(),
            source,
        };
        let invalid = |reason: String| PluginError::Invalid {
            path: path.to_owned(),
            reason,
        };
        let len = std::fs::metadata(path).map_err(io)?.len();
        if len > MAX_PLUGIN_BYTES {
            return Err(invalid(format!(
                "the file is {len} bytes; plugins are at most {MAX_PLUGIN_BYTES}"
            )));
        }
        let text = std::fs::read_to_string(path).map_err(io)?;
        let plugin: Plugin = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        plugin.validate().map_err(|e| invalid(e.0))?;
        Ok(plugin)
    }

    /// The reference's checks, with its reasons: name, version, at least one mapping, typed
    /// mappings complete, a compatible version; and (ours) a name that is safe as a file name.
    pub fn validate(&self) -> Result<(), InvalidPlugin> {
        let m = &self.plugin_metadata;
        if m.name.is_empty() {
            return Err(InvalidPlugin("Plugin metadata missing name".into()));
        }
        if m.version.is_empty() {
            return Err(InvalidPlugin("Plugin metadata missing version".into()));
        }
        // The installed file is NAME-VERSION.json: neither may leave the plugins directory.
        let id_ok = |s: &str| {
            s.len() <= 100
                && !s.starts_with('.')
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !id_ok(&m.name) || !id_ok(&m.version) {
            return Err(InvalidPlugin(
                "plugin_metadata.name and .version must be letters, digits, - _ . (at most 100, not starting with .)".into(),
            ));
        }
        if self.prompt_mappings.is_empty() {
            return Err(InvalidPlugin("Plugin has no prompt mappings".into()));
        }
        for (key, mapping) in &self.prompt_mappings {
            let Some(obj) = mapping.as_object() else {
                return Err(InvalidPlugin(format!(
                    "Prompt mapping '{key}' must be an object"
                )));
            };
            let meta = obj.get("prompt_metadata");
            let flag = |k: &str| meta.and_then(|m| m.get(k)).is_some_and(given);
            let present = |k: &str| obj.get(k).is_some_and(given);
            if flag("is_planning_prompt") {
                if !present("examples") {
                    return Err(InvalidPlugin(format!(
                        "Planning prompt mapping '{key}' missing examples"
                    )));
                }
                if !present("command") {
                    return Err(InvalidPlugin(format!(
                        "Planning prompt mapping '{key}' missing command field"
                    )));
                }
            } else if flag("is_summary_prompt")
                && !present("focus_points")
                && !present("example_format")
            {
                return Err(InvalidPlugin(format!(
                    "Summary prompt mapping '{key}' missing focus_points or example_format"
                )));
            }
        }
        if !m.compatible_vibectl_versions.trim().is_empty() {
            if let Some(why) = incompatibility(&m.compatible_vibectl_versions, COMPATIBLE_VERSION) {
                return Err(InvalidPlugin(format!(
                    "Plugin version compatibility check failed: {why}"
                )));
            }
        }
        Ok(())
    }
}

/// The plugins directory, as the reference keeps it.
pub fn dir() -> Result<PathBuf, PluginError> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".config/vibectl/plugins"))
        .ok_or(PluginError::NoHome)
}

/// Every installed plugin (the newest version of each); unreadable files are skipped.
pub fn installed() -> Vec<Plugin> {
    let Ok(d) = dir() else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(&d) else {
        return Vec::new();
    };
    let mut out: Vec<Plugin> = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        if p.extension().and_then(|x| x.to_str()) != Some("json") {
            continue;
        }
        if let Ok(plugin) = Plugin::read(&p) {
            match out
                .iter_mut()
                .find(|o| o.plugin_metadata.name == plugin.plugin_metadata.name)
            {
                Some(o) if o.plugin_metadata.version < plugin.plugin_metadata.version => {
                    *o = plugin;
                }
                Some(_) => {}
                None => out.push(plugin),
            }
        }
    }
    out.sort_by(|a, b| a.plugin_metadata.name.cmp(&b.plugin_metadata.name));
    out
}

/// Reference prompt keys no step of this client asks for: our intelligent edit and apply draft
/// in one step, so a mapping of these loads and changes nothing (install warns about it).
pub const UNUSED_KEYS: [&str; 5] = [
    "edit_patch_generation",
    "edit_patch_summary",
    "apply_filescope",
    "apply_manifest_summary",
    "apply_manifest_correction",
];

impl Plugin {
    /// The keys of this plugin's mappings that nothing here uses ([`UNUSED_KEYS`]).
    pub fn unused_mappings(&self) -> Vec<&str> {
        UNUSED_KEYS
            .into_iter()
            .filter(|k| self.prompt_mappings.contains_key(*k))
            .collect()
    }
}

/// Installs the plugin at `path`; returns it.
pub fn install(path: &Path, force: bool) -> Result<Plugin, PluginError> {
    let plugin = Plugin::read(path)?;
    let name = plugin.plugin_metadata.name.clone();
    if installed().iter().any(|p| p.plugin_metadata.name == name) {
        if !force {
            return Err(PluginError::Exists(name));
        }
        remove_files(&name)?;
    }
    let d = dir()?;
    std::fs::create_dir_all(&d).map_err(|source| PluginError::Io {
        path: d.clone(),
        source,
    })?;
    let dest = d.join(format!("{name}-{}.json", plugin.plugin_metadata.version));
    let text = std::fs::read(path).map_err(|source| PluginError::Io {
        path: path.to_owned(),
        source,
    })?;
    vibectl_fsutil::write_atomic(&dest, &text, 0o600)?;
    Ok(plugin)
}

/// Removes every version of plugin `name`.
pub fn uninstall(name: &str) -> Result<(), PluginError> {
    if remove_files(name)? == 0 {
        return Err(PluginError::NotFound(name.to_owned()));
    }
    Ok(())
}

fn remove_files(name: &str) -> Result<usize, PluginError> {
    let d = dir()?;
    let mut n = 0;
    for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
        let p = e.path();
        let ours = Plugin::read(&p).is_ok_and(|pl| pl.plugin_metadata.name == name);
        if ours {
            std::fs::remove_file(&p).map_err(|source| PluginError::Io {
                path: p.clone(),
                source,
            })?;
            n += 1;
        }
    }
    Ok(n)
}

/// The installed plugins in the order they are consulted: `plugins.precedence` first, then the
/// rest by name.
#[derive(Clone, Debug, Default)]
pub struct Plugins {
    ordered: Vec<Plugin>,
}

impl Plugins {
    /// Loads the installed plugins in `precedence` order.
    pub fn load(precedence: &[String]) -> Plugins {
        let mut all = installed();
        let mut ordered = Vec::new();
        for name in precedence {
            if let Some(i) = all.iter().position(|p| &p.plugin_metadata.name == name) {
                ordered.push(all.remove(i));
            }
        }
        ordered.extend(all);
        Plugins { ordered }
    }

    /// The mapping for `key` of the first plugin (in precedence order) that maps it. As in the
    /// reference, that mapping decides: when it is not of the prompt's kind the built-in prompt
    /// is used, not the next plugin's.
    pub fn mapping(&self, key: &str) -> Option<Mapping> {
        self.ordered.iter().find_map(|p| {
            let fields = p.prompt_mappings.get(key)?.as_object()?.clone();
            Some(Mapping::new(&p.plugin_metadata.name, fields))
        })
    }

    /// Plugins in the order they are consulted (for tests and `plugin list`).
    pub fn names(&self) -> Vec<&str> {
        self.ordered
            .iter()
            .map(|p| p.plugin_metadata.name.as_str())
            .collect()
    }
}

/// A version (or requirement part) that is not dotted numbers.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a version")]
pub struct NotAVersion(pub String);

/// Whether `version` satisfies a requirement such as `>=0.11.0,<1.0.0`.
pub fn version_matches(req: &str, version: &str) -> Result<bool, NotAVersion> {
    let parse = |v: &str| -> Result<Vec<u64>, NotAVersion> {
        v.trim()
            .split('.')
            .map(|p| p.parse::<u64>().map_err(|_| NotAVersion(v.to_owned())))
            .collect()
    };
    let have = parse(version)?;
    for part in req.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (op, v) = ["==", ">=", "<=", "!=", ">", "<", "="]
            .iter()
            .find_map(|op| part.strip_prefix(op).map(|rest| (*op, rest)))
            .unwrap_or(("==", part));
        let want = parse(v)?;
        let ord = have.cmp(&want);
        let ok = match op {
            ">=" => ord.is_ge(),
            "<=" => ord.is_le(),
            ">" => ord.is_gt(),
            "<" => ord.is_lt(),
            "!=" => ord.is_ne(),
            _ => ord.is_eq(),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Why `version` does not satisfy `req`, in the reference's words (None: it does).
pub fn incompatibility(req: &str, version: &str) -> Option<String> {
    match version_matches(req, version) {
        Ok(true) => None,
        Err(e) => Some(format!("Invalid version requirement format: {e}")),
        Ok(false) => {
            let failing = req
                .split(',')
                .map(str::trim)
                .find(|p| !p.is_empty() && version_matches(p, version).is_ok_and(|ok| !ok))?;
            let (op, v) = ["==", ">=", "<=", "!=", ">", "<", "="]
                .iter()
                .find_map(|op| failing.strip_prefix(op).map(|rest| (*op, rest.trim())))
                .unwrap_or(("==", failing));
            Some(match op {
                "==" | "=" => format!("Requires exact version {v}, got {version}"),
                "!=" => format!("Incompatible with version {v}, got {version}"),
                op => format!("Requires version {op} {v}, got {version}"),
            })
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn plugin(json: &str) -> Result<(), String> {
        serde_json::from_str::<Plugin>(json)
            .map_err(|e| e.to_string())?
            .validate()
            .map_err(|e| e.to_string())
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(version_matches(">=0.11.0,<1.0.0", "0.11.6").unwrap());
        assert!(!version_matches(">=0.12", "0.11.6").unwrap());
        assert!(version_matches(">=0.9.0", "0.11.6").unwrap());
        assert!(version_matches("bogus", "0.11.6").is_err());
    }

    #[test]
    fn invalid_plugins_are_rejected_with_the_references_reasons() {
        let ok = r#"{"plugin_metadata":{"name":"p","version":"1.0.0","description":"","author":"","compatible_vibectl_versions":">=0.11.0","created_at":""},"prompt_mappings":{"get_resource_summary":{"description":"d","focus_points":["a"]}}}"#;
        assert_eq!(plugin(ok), Ok(()));
        let cases = [
            (ok.replace("\"name\":\"p\"", "\"name\":\"\""), "Plugin metadata missing name".to_owned()),
            (ok.replace("\"version\":\"1.0.0\"", "\"version\":\"\""), "Plugin metadata missing version".into()),
            (ok.replace("\"name\":\"p\"", "\"name\":\"../evil\""), "must be letters".into()),
            (ok.replace(",\"author\":\"\"", ""), "missing field `author`".into()),
            (
                ok.replace(r#"{"get_resource_summary":{"description":"d","focus_points":["a"]}}"#, "{}"),
                "Plugin has no prompt mappings".into(),
            ),
            (
                ok.replace(r#""focus_points":["a"]"#, r#""prompt_metadata":{"is_planning_prompt":true},"command":"get""#),
                "Planning prompt mapping 'get_resource_summary' missing examples".into(),
            ),
            (
                ok.replace(r#""focus_points":["a"]"#, r#""prompt_metadata":{"is_planning_prompt":true},"examples":[["a",{}]]"#),
                "Planning prompt mapping 'get_resource_summary' missing command field".into(),
            ),
            (
                ok.replace(r#""focus_points":["a"]"#, r#""prompt_metadata":{"is_summary_prompt":true},"focus_points":[]"#),
                "Summary prompt mapping 'get_resource_summary' missing focus_points or example_format".into(),
            ),
            (
                ok.replace(">=0.11.0", ">=2.0.0"),
                "Plugin version compatibility check failed: Requires version >= 2.0.0, got 0.11.6".into(),
            ),
            (
                ok.replace(">=0.11.0", "==0.10"),
                "Requires exact version 0.10, got 0.11.6".into(),
            ),
            (ok.replace(">=0.11.0", ">=x"), "Invalid version requirement format".into()),
        ];
        for (text, why) in cases {
            let err = plugin(&text).unwrap_err();
            assert!(err.contains(&why), "{text}: {err}");
        }
    }

    #[test]
    fn the_first_plugin_mapping_a_key_decides() {
        let mapping =
            |fields: serde_json::Value| Mapping::new("p", fields.as_object().unwrap().clone());
        // The reference's legacy detection when prompt_metadata says nothing.
        assert!(mapping(serde_json::json!({"examples": [["a", {}]]})).is_planning_prompt());
        assert!(mapping(serde_json::json!({"focus_points": ["x"]})).is_summary_prompt());
        assert!(!mapping(serde_json::json!({"description": "d"})).is_summary_prompt());
        let m = mapping(
            serde_json::json!({"prompt_metadata": {"is_summary_prompt": false}, "focus_points": ["x"]}),
        );
        assert!(!m.is_summary_prompt());
        assert_eq!(m.lines("focus_points"), ["x"]);
        assert_eq!(m.text("missing"), None);
    }
}
