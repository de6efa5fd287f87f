//! `init-config [--force]`: the commented default config.
use std::path::Path;

use anyhow::bail;

use super::emit;

/// The commented default config written by `init-config`.
pub const CONFIG_TEMPLATE: &str = include_str!("../config/template.yaml");

/// `init-config [--force]`.
pub fn exec(path: &Path, force: bool) -> anyhow::Result<()> {
    if path.exists() && !force {
        bail!(
            "{} already exists; pass --force to overwrite it",
            path.display()
        );
    }
    vibectl_fsutil::write_atomic(path, CONFIG_TEMPLATE, 0o600)?;
    emit(&format!(
        "wrote {}\nnext: set ANTHROPIC_API_KEY or OPENAI_API_KEY, then `vibectl-server serve`\n",
        path.display()
    ))
}
