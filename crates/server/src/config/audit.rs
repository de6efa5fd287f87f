//! `audit:`: where the authentication audit log goes, when it rotates, how much one peer may write.
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `audit:`: the JSON-lines authentication audit log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditSection {
    /// Where it goes (default `<state dir>/audit.log`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Size at which the log is rotated to `<path>.1` (older files shift to `.2`, ...).
    pub max_file_bytes: u64,
    /// Rotated files kept besides the live one (0: the old log is deleted at rotation).
    pub keep_files: u32,
    /// Failure lines (`auth_failed`, `tls_failed`) written per peer address and second; the rest
    /// are counted and reported in one `audit_suppressed` line.
    pub max_failures_per_peer_per_second: u32,
}

impl Default for AuditSection {
    fn default() -> Self {
        AuditSection {
            path: None,
            max_file_bytes: 64 * 1024 * 1024,
            keep_files: 5,
            max_failures_per_peer_per_second: 5,
        }
    }
}

impl AuditSection {
    /// Checks the bounds of each key.
    pub fn check(&self, errs: &mut Vec<ConfigError>) {
        const MIN_BYTES: u64 = 64 * 1024;
        if self.max_file_bytes < MIN_BYTES {
            errs.push(ConfigError::new(
                "audit.max_file_bytes",
                format!(
                    "must be at least {MIN_BYTES} (64 KiB), got {}; e.g. 67108864 for 64 MiB",
                    self.max_file_bytes
                ),
            ));
        }
        if self.keep_files > 1000 {
            errs.push(ConfigError::new(
                "audit.keep_files",
                format!("must be at most 1000, got {}", self.keep_files),
            ));
        }
        if !(1..=1000).contains(&self.max_failures_per_peer_per_second) {
            errs.push(ConfigError::new(
                "audit.max_failures_per_peer_per_second",
                format!(
                    "must be between 1 and 1000, got {}",
                    self.max_failures_per_peer_per_second
                ),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_bad_values_name_their_key() {
        let mut errs = Vec::new();
        AuditSection::default().check(&mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        let bad = AuditSection {
            path: None,
            max_file_bytes: 10,
            keep_files: 5000,
            max_failures_per_peer_per_second: 0,
        };
        bad.check(&mut errs);
        let keys: Vec<&str> = errs.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            keys,
            [
                "audit.max_file_bytes",
                "audit.keep_files",
                "audit.max_failures_per_peer_per_second"
            ]
        );
    }
}
