//! `generate-keypair [--algorithm A] [--out-dir DIR] [--name N] [--force]`.
use std::path::Path;

use super::{emit, Context};
use crate::auth::issue::write_keypair;
use crate::cli::GenerateKeypairArgs;

/// Writes the pair and prints the config that uses it.
pub fn exec(cx: &Context, a: &GenerateKeypairArgs) -> anyhow::Result<()> {
    let dir = a
        .out_dir
        .as_deref()
        .map_or_else(|| cx.state_dir.join("keys"), Path::to_path_buf);
    let k = write_keypair(&dir, &a.algorithm, &a.name, a.force)?;
    let (alg, name) = (k.algorithm, &a.name);
    emit(&format!(
        "wrote {} (private, mode 0600: keep it where tokens are issued)\n\
         wrote {} (public: give it to every server that verifies)\n\n\
         config where tokens are issued:\n  jwt:\n    algorithm: {alg}\n    key_id: {name}\n    private_key_file: {}\n\
         config on servers that only verify:\n  jwt:\n    algorithm: {alg}\n    key_id: {name}\n    public_key_file: {}\n",
        k.private.display(),
        k.public.display(),
        k.private.display(),
        k.public.display()
    ))
}
